//! `lumina-repo`: the maintainers' tool for Lumina-Stable, a mirror of Arch's repositories
//! that lags upstream and promotes packages only after compatibility checks.
//!
//! Parse the command line, dispatch, print one error chain, map it to an exit status.
//! `maintain` holds the maintainers' commands on the ledger and the tree, `pipeline` the
//! pipeline's `promote` and `status`, `sync_cmd` `sync` and `verify`.

mod maintain;
mod pipeline;
mod sync_cmd;

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
     nothing was changed
  3  done, but with something to look at: `promote --strict` found a change held past
     `max_age`; `sync` rejected entries (each command's `--help` says more)";

/// Lumina-Stable repository maintenance.
///
/// Lumina-Stable mirrors Arch's repositories with a 24-48 h lag and promotes each package
/// only after compatibility checks: `promote` publishes what waited `min_age` and keeps
/// the published set installable, `status` says what waits and why. It also maintains a
/// repository of Lumina's own packages the way `repo-add` does (`add`), checks `repo.yaml`
/// (`check`), records holds and expedites in the audit log, and rolls back or
/// garbage-collects the published tree.
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
    /// Delete pool files that no kept generation and no upstream snapshot names.
    Gc(maintain::GcArgs),
    /// Fetch upstream's databases and package files, verify them, keep them for `promote`.
    #[command(long_about = sync_cmd::SYNC_LONG_ABOUT, after_long_help = sync_cmd::SYNC_AFTER_HELP)]
    Sync(sync_cmd::SyncArgs),
    /// Check a published tree: database signatures, every package's file, SHA-256, signature.
    #[command(
        long_about = sync_cmd::VERIFY_LONG_ABOUT,
        after_long_help = sync_cmd::VERIFY_AFTER_HELP
    )]
    Verify(sync_cmd::VerifyArgs),
    /// Promote what waited long enough and passes the checks; publish a signed generation.
    #[command(long_about = pipeline::PROMOTE_LONG_ABOUT, after_long_help = pipeline::PROMOTE_AFTER_HELP)]
    Promote(pipeline::PromoteArgs),
    /// Show the lag, what waits and why, and the generations kept (read-only).
    #[command(long_about = pipeline::STATUS_LONG_ABOUT)]
    Status(pipeline::StatusArgs),
    /// Print a shell completion script.
    ///
    /// For example: `lumina-repo completions zsh > /usr/share/zsh/site-functions/_lumina-repo`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page of `lumina-repo`, or write one page per command (`--dir`).
    ///
    /// With `--dir DIR`: `lumina-repo.1`, `lumina-repo-promote.1`, ... in DIR.
    Manpage {
        /// Write the pages into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
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

    /// Sign, like `repo-add --sign`: both databases (`NAME.db.tar.zst.sig` and
    /// `NAME.files.tar.zst.sig`, with the links `NAME.db.sig` and `NAME.files.sig`), and each
    /// added package that has no `.sig` yet (`PKGFILE.sig` beside it in DIR, embedded as
    /// `%PGPSIG%`). Example: `lumina-repo add --sign --key FPR --repo-dir . --repo lumina
    /// *.pkg.tar.zst`.
    #[arg(long)]
    sign: bool,

    /// The key to sign with (its fingerprint); default `$GPGKEY`, as for repo-add.
    #[arg(long, value_name = "KEY", requires = "sign")]
    key: Option<String>,

    /// The GnuPG home holding the secret key (default: GnuPG's own, `$GNUPGHOME` or
    /// `~/.gnupg`).
    #[arg(long, value_name = "DIR", requires = "sign")]
    gnupg_home: Option<PathBuf>,

    /// The package files (`.pkg.tar.zst`, `.xz`, `.gz`, ...). A detached signature
    /// `PKGFILE.sig` beside one is embedded in its entry.
    #[arg(required = true, value_name = "PKGFILE")]
    packages: Vec<PathBuf>,
}

/// mimalloc rather than glibc's malloc: see `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    if let Some(done) = err.downcast_ref::<sync_cmd::Finished>() {
        return done.status;
    }
    if err.downcast_ref::<pipeline::Overdue>().is_some() {
        // `promote --strict`: 3, as documented in its help.
        return ExitStatus::Conflict;
    }
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
        Command::Sync(args) => sync_cmd::sync(&args),
        Command::Verify(args) => sync_cmd::verify(&args),
        Command::Promote(args) => pipeline::promote(&args),
        Command::Status(args) => pipeline::status(&args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "lumina-repo",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Manpage { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => {
                    lumina_core::manpage::write_pages(&cmd, &dir, "1")?;
                }
                None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
            }
            Ok(())
        }
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
    let mut signer = if args.sign {
        let key = args
            .key
            .clone()
            .or_else(|| std::env::var("GPGKEY").ok().filter(|k| !k.is_empty()))
            .ok_or_else(|| lumina_repo::Error::AddRefused {
                dir: args.repo_dir.clone(),
                message: "--sign needs a key: pass --key FINGERPRINT or set GPGKEY".into(),
            })?;
        Some(lumina_repo::sign::Signer::new(
            args.gnupg_home.as_deref(),
            &key,
        )?)
    } else {
        None
    };
    let report = lumina_repo::add::add(
        &fs,
        &request,
        signer
            .as_mut()
            .map(|s| s as &mut dyn lumina_repo::sign::DetachedSigner),
    )?;
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
