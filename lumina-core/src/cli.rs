//! The `lumina` command line, as clap derive types. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit status:
  0  done; the machine matches the registry
  1  an operational error (I/O, permissions)
  2  bad input: command line, registry or unsafe permissions; nothing was changed
  3  conflicts: something Lumina does not own is in the way; nothing was changed
  4  `lumina status` found drift

Environment:
  LUMINA_HOME  the virtual root (default ~/.lumina)
  NO_COLOR     disables colour when set to a non-empty value

Examples:
  lumina link --dry-run        show what would change
  lumina link                  make every declared link
  lumina link --backup         move files in the way aside, then link
  lumina status --json         drift, for scripts
  sudo lumina --user ana link  as root: link ana's profile, as ana";

/// Lumina: a reproducible, safe-to-upgrade Arch Linux machine.
///
/// `lumina.yaml` in the virtual root (`~/.lumina`) declares the machine: packages,
/// dotfile links and themes. The safe linker makes plain symlinks from each target to its
/// source in the virtual root, touches only what changed and never removes what it did not
/// create.
#[derive(Debug, Parser)]
#[command(name = "lumina", version, about, long_about, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// The virtual root: the directory holding `lumina.yaml` and the sources of the links.
    #[arg(long, global = true, env = "LUMINA_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// The system root: every system path (`/etc/lumina/config.yaml`, snapshot records,
    /// pacman's database) is resolved under it, like `pacman --root`.
    #[arg(
        long,
        global = true,
        env = "LUMINA_ROOT",
        value_name = "DIR",
        default_value = "/"
    )]
    pub root: PathBuf,

    /// As root: act on this user's profile and home, as that user (uid, gid and groups
    /// dropped in a child process). Root never follows a path in a user's home itself.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// When to use colour. `auto` colours a terminal unless `NO_COLOR` is set.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,

    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Lumina's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Link every target declared in `lumina.yaml` to its source.
    ///
    /// Correct links are left alone; stale links Lumina made are replaced atomically; links
    /// Lumina made that the registry no longer declares are removed. Anything else in the
    /// way is a conflict: by default nothing at all is changed and every conflict is listed
    /// (exit 3). Choose `--adopt` or `--backup` to resolve them.
    Link(LinkArgs),
    /// Report drift between the registry and the machine, without changing anything.
    ///
    /// States: `missing` (declared, not linked), `stale` (Lumina's link to an old source),
    /// `broken` (Lumina's link, source gone), `foreign` (something else is in the way),
    /// `orphaned` (Lumina's link, no longer declared). Exit 4 when there is drift.
    Status(JsonArgs),
    /// Replace every link Lumina made with a copy of its source, and forget it.
    ///
    /// After `detach` the machine no longer depends on the virtual root, and Lumina can be
    /// removed without losing a working configuration.
    Detach(JsonArgs),
    /// List, inspect, compare, delete, prune and roll back Lumina's snapshots.
    ///
    /// Lumina's hooks take a pre and a post snapshot around every pacman transaction
    /// (policy: `/etc/lumina/config.yaml`). Only snapshots Lumina took are listed, pruned or
    /// deleted; snapshots made by snapper timelines or by hand are never touched.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Print the JSON Schema of `lumina.yaml`, for editors with a YAML language server.
    ///
    /// For example: `lumina schema > ~/.lumina/.schema.json`, then start `lumina.yaml` with
    /// `# yaml-language-server: $schema=.schema.json`.
    Schema,
    /// Print a shell completion script.
    ///
    /// For example: `lumina completions bash > /usr/share/bash-completion/completions/lumina`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of `lumina`, or write one page per command into a directory.
    Manpage {
        /// Write `lumina.1`, `lumina-link.1`, ... into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Options of `lumina link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Print the plan (create / replace / remove / keep / conflict per target) and change
    /// nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Move a file that is in the way into the virtual root as the declared source, then
    /// link it. Refused when the source already exists with other content.
    #[arg(long, conflicts_with = "backup")]
    pub adopt: bool,

    /// Rename whatever is in the way to `TARGET.lumina-backup-<UTC time>`, then link.
    #[arg(long, conflicts_with = "reclaim")]
    pub backup: bool,

    /// Restore links that a package upgrade replaced with its own file: the package's file
    /// moves to `TARGET.pacnew` (as pacman names a new config it did not install) and the
    /// link comes back. Only for targets Lumina linked before; the post-transaction hook
    /// uses it for system links.
    #[arg(long, conflicts_with = "adopt")]
    pub reclaim: bool,

    /// Print the plan or the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A `--json` flag.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `lumina snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// List Lumina's snapshots, oldest first.
    List(JsonArgs),
    /// Show one snapshot: time, pairing, pacman command, packages, backend ids.
    Show {
        /// Snapshot id (from `lumina snapshot list`).
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Packages that changed in the transaction of a snapshot, with old and new versions.
    Diff {
        /// Snapshot id (pre or post of the transaction).
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one of Lumina's snapshots (and its backend snapshots).
    Delete {
        /// Snapshot id.
        id: u64,
    },
    /// Apply the retention policy now.
    Prune {
        /// Show what would be deleted.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore the system as it was in a snapshot.
    ///
    /// btrfs: a writable copy of the snapshot becomes the default subvolume (reboot to use
    /// it); the copy's stale pacman lock is cleared, and its pacman database matches its
    /// files. ZFS: `zfs rollback -r`, which destroys later snapshots: they are listed and
    /// `--yes` is required. snapper: `snapper rollback`.
    Rollback {
        /// Snapshot id (usually the pre snapshot of the transaction to undo).
        id: u64,
        /// Say what would be done.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Proceed even though later snapshots are destroyed (ZFS).
        #[arg(long)]
        yes: bool,
    },
}
