//! `lumina-hook`: the binary that Lumina's ALPM hooks run inside every pacman transaction.
//!
//! The snapshot and relink subcommands (`pre`, `post`) arrive with the hooks issue; until
//! then this binary only answers `--help` and `--version`, so packaging and tests can rely
//! on it existing without it pretending to do work it does not do.

use clap::Parser;

/// Lumina's ALPM hook runner.
///
/// pacman runs this binary from Lumina's `.hook` files: once before a transaction
/// (a snapshot) and once after it (a paired snapshot and a relink). It is not meant to
/// be run by hand. This build does not take snapshots yet: it has no subcommands.
#[derive(Debug, Parser)]
#[command(name = "lumina-hook", version, about, long_about)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
    // With no subcommand there is nothing to do: say so instead of pretending.
    eprintln!("lumina-hook: no hook actions exist in this build; see `lumina-hook --help`");
    std::process::exit(2);
}
