//! `lumina-repo`: the maintainers' tool for Lumina-Stable, a mirror of Arch's repositories
//! that lags upstream and promotes packages only after compatibility checks.
//!
//! The pipeline (`sync`, `promote`, `status`, ...) arrives with the repository issue; until
//! then this binary only answers `--help` and `--version` truthfully.

use clap::Parser;

/// Lumina-Stable repository maintenance.
///
/// Lumina-Stable mirrors Arch's repositories with a 24-48 h lag and promotes each package
/// only after compatibility checks. This build has no subcommands yet: the sync, promote
/// and publish pipeline is not implemented in this version.
#[derive(Debug, Parser)]
#[command(name = "lumina-repo", version, about, long_about)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
    eprintln!("lumina-repo: no commands exist in this build; see `lumina-repo --help`");
    std::process::exit(2);
}
