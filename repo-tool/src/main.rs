//! `lumina-repo`: the maintainers' tool for Lumina-Stable, a mirror of Arch's repositories
//! that lags upstream and promotes packages only after compatibility checks.
//!
//! Parse the command line, dispatch, print one error chain, map it to an exit status. The
//! pipeline commands (`sync`, `promote`, `status`, ...) are not wired to the command line
//! yet; `--help` lists only the commands that exist.

mod maintain;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lumina_core::exit::ExitStatus;
use lumina_repo::add::{AddRequest, Change};
use lumina_repo::syncdb::Limits;

const AFTER_HELP: &str = "\
Exit status:
  0  done
  1  an operational error (I/O, a locked repository, an invalid existing database)
  2  bad input: the command line, an invalid `repo.yaml`, or a file that is not a valid package;
     nothing was changed";

/// Lumina-Stable repository maintenance.
///
/// Lumina-Stable mirrors Arch's repositories with a 24-48 h lag and promotes each package
/// only after compatibility checks. This build maintains a repository of Lumina's own
/// packages the way `repo-add` does (`add`), checks `repo.yaml` (`check`), records holds
/// and expedites in the audit log, and rolls back or garbage-collects the published tree;
/// `sync`, `promote` and `status` are not available from the command line in this version.
#[derive(Debug, Parser)]
#[command(name = "lumina-repo", version, about, long_about, after_long_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add package files to a repository, like `repo-add`.
    ///
    /// Creates or updates `DIR/NAME.db.tar.zst` and `DIR/NAME.files.tar.zst` (with the links
    /// `NAME.db` and `NAME.files`), which pacman lists exactly as it lists repo-add's
    /// databases for the same packages. An entry of the same name is replaced. Every file is
    /// read and checked first: a file that is not a valid package changes nothing. A
    /// package outside DIR is copied into it. The lock is repo-add's (`NAME.db.lck`).
    Add(AddArgs),
    #[command(long_about = maintain::CHECK_LONG_ABOUT)]
    /// Check `repo.yaml` and print what it configures.
    Check(maintain::CheckArgs),
    /// Hold a package (or pkgbase) back from promotion, with a reason (audit-logged).
    Hold(maintain::MarkArgs),
    /// Release a package held with `hold` (audit-logged).
    Unhold(maintain::UnholdArgs),
    /// Let a package's next version skip the quarantine, not the checks (audit-logged).
    Expedite(maintain::MarkArgs),
    /// Serve an older (or, with `--to`, any kept) published generation, atomically.
    Rollback(maintain::RollbackArgs),
    /// Delete pool files that no kept generation links to.
    Gc(maintain::GcArgs),
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The repository directory (it must exist).
    #[arg(long, value_name = "DIR")]
    repo_dir: PathBuf,

    /// The repository name: the databases are `NAME.db.tar.zst` and `NAME.files.tar.zst`,
    /// and pacman.conf names the repository `[NAME]`.
    #[arg(long, value_name = "NAME")]
    repo: String,

    /// Print one line per added or replaced package.
    #[arg(short, long)]
    verbose: bool,

    /// The package files (`.pkg.tar.zst`, `.xz`, `.gz`, ...). A detached signature
    /// `PKGFILE.sig` beside one is embedded in its entry.
    #[arg(required = true, value_name = "PKGFILE")]
    packages: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitStatus::Success.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_for(&err).into()
        }
    }
}

fn exit_for(err: &anyhow::Error) -> ExitStatus {
    match err.downcast_ref::<lumina_repo::Error>() {
        Some(
            lumina_repo::Error::InvalidPackage { .. }
            | lumina_repo::Error::AddRefused { .. }
            | lumina_repo::Error::Config(_),
        ) => ExitStatus::BadInput,
        _ => ExitStatus::Failure,
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Add(args) => add(&args),
        Command::Check(args) => maintain::check(&args),
        Command::Hold(args) => maintain::hold(&args),
        Command::Unhold(args) => maintain::unhold(&args),
        Command::Expedite(args) => maintain::expedite(&args),
        Command::Rollback(args) => maintain::rollback(&args),
        Command::Gc(args) => maintain::gc(&args),
    }
}

fn add(args: &AddArgs) -> anyhow::Result<()> {
    let fs = lumina_core::fs::Fs::new();
    let request = AddRequest {
        dir: &args.repo_dir,
        repo: &args.repo,
        packages: &args.packages,
        limits: Limits::default(),
    };
    let report = lumina_repo::add::add(&fs, &request, None)?;
    let (mut added, mut replaced) = (0, 0);
    for change in &report.changes {
        match change {
            Change::Added { name, version } => {
                added += 1;
                if args.verbose {
                    eprintln!("added `{name}` {version}");
                }
            }
            Change::Replaced { name, old, new } => {
                replaced += 1;
                if args.verbose {
                    eprintln!("replaced `{name}` {old} with {new}");
                }
            }
            Change::Downgraded { name, old, new } => {
                replaced += 1;
                eprintln!("warning: `{name}` {old} was replaced with the older {new}");
            }
            Change::Skipped { file, newer } => {
                eprintln!("warning: skipped `{file}`: `{newer}` is newer");
            }
        }
    }
    for path in &report.copied {
        if args.verbose {
            eprintln!("copied `{}`", path.display());
        }
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "`{}`: {} package{} ({added} added, {replaced} replaced)",
        report.db.display(),
        report.total,
        if report.total == 1 { "" } else { "s" }
    );
    Ok(())
}
