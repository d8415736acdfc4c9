//! `lumina-hook`: the binary Lumina's ALPM hooks run inside every pacman transaction.
//!
//! `pre` takes the pre-transaction snapshot and hands its id to `post` through
//! `/run/lumina/transaction.json`; `post` takes the paired snapshot, re-runs the linker
//! (system links as root, each enrolled user's links as that user), reports `.pacnew` and
//! `.pacsave` files under linked targets, and prunes Lumina's own snapshots.
//!
//! Output contract: silent on success but for one line naming the snapshot; on failure one
//! line starting with `lumina:` saying what failed and what to do. It never prompts.
//! Exit status: 0, or 1 when `pre` could not take its snapshot under `on_failure: abort`
//! (pacman then aborts the transaction, `AbortOnFail`).

mod handoff;
mod run;
mod sweep;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Lumina's ALPM hook runner.
///
/// pacman runs this binary from Lumina's `.hook` files (in `/usr/share/libalpm/hooks/`):
/// `pre` before a transaction (a snapshot), `post` after it (a paired snapshot, a relink,
/// retention). It reads the transaction's package names on standard input. It is not meant
/// to be run by hand, but doing so is harmless: `echo bash | lumina-hook pre` takes a
/// snapshot as a transaction would.
///
/// Environment: `LUMINA_SKIP_SNAPSHOT=1` skips the snapshots of one transaction
/// (`sudo LUMINA_SKIP_SNAPSHOT=1 pacman -S foo`). Policy: `/etc/lumina/config.yaml`.
#[derive(Debug, Parser)]
#[command(name = "lumina-hook", version, about, long_about)]
struct Cli {
    /// The system root (pacman's hooks run chrooted, so the default `/` is right there).
    #[arg(long, default_value = "/", value_name = "DIR", env = "LUMINA_ROOT")]
    root: PathBuf,

    /// Which hook.
    #[command(subcommand)]
    hook: Hook,
}

#[derive(Debug, Subcommand)]
enum Hook {
    /// Before the transaction: take the pre snapshot (`05-lumina-pre.hook`).
    Pre,
    /// After the transaction: paired snapshot, relink, report, prune (`zz-lumina-post.hook`).
    Post,
    /// Write the man page `lumina-hook.8` into a directory (for packaging).
    #[command(hide = true)]
    Manpage {
        /// The directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Hook::Manpage { dir } = &cli.hook {
        return match lumina_core::manpage::write_pages(
            &<Cli as clap::CommandFactory>::command(),
            dir,
            "8",
        ) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lumina-hook: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let root = lumina_core::root::Root::new(cli.root);
    let mut input = String::new();
    // NeedsTargets: the names arrive on stdin; by hand there may be none.
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input);
    let names = targets::parse(&input);
    let skip = std::env::var_os("LUMINA_SKIP_SNAPSHOT").is_some_and(|v| v == "1");
    let outcome = match cli.hook {
        Hook::Pre => run::pre(&root, &names, skip),
        Hook::Post => run::post(&root, &names, skip),
        Hook::Manpage { .. } => return ExitCode::SUCCESS,
    };
    for line in &outcome.lines {
        println!("lumina: {line}");
    }
    if outcome.abort {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
