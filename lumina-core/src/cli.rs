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
  lumina init                  a registry (git repository) from this machine
  lumina apply --dry-run       what `apply` would install, link and set
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
    /// Links: `missing` (declared, not linked), `stale` (Lumina's link to an old source),
    /// `broken` (Lumina's link, source gone), `foreign` (something else is in the way),
    /// `orphaned` (Lumina's link, no longer declared). Packages (read from pacman's local
    /// database under `--root`): `undeclared` (explicitly installed, not in the registry:
    /// `lumina capture` adds them) and `missing` (declared, not installed: `lumina apply`
    /// installs them). Exit 4 when there is drift.
    Status(JsonArgs),
    /// Create the virtual root: a git repository with a `lumina.yaml` describing this machine.
    ///
    /// The registry declares the packages installed explicitly (from pacman's local database
    /// under `--root`) and the hardware profile's packages, each with a reason; the profile's
    /// kernel parameters and system files are listed in its header. Then the user is enrolled
    /// so the post-transaction hook relinks their links (as root: written to
    /// `/etc/lumina/config.yaml`; otherwise the exact `sudo` command is printed). An existing
    /// registry is never overwritten (exit 2).
    ///
    /// For example: `lumina init --dry-run`, `lumina init --hardware none`, or
    /// `lumina init --from https://example.org/me/dotfiles.git --yes` (clone, then apply).
    Init(InitArgs),
    /// Make this machine match the registry: install missing packages, link, set themes.
    ///
    /// Packages are installed with `pacman -S --needed` after asking (on a terminal) or with
    /// `--yes`; a declared package that no repository has stops the run before anything is
    /// installed. Links are made as `lumina link` makes them (conflicts: exit 3, nothing
    /// changed). Themes set GTK 3 and GTK 4 `settings.ini` and the default cursor theme,
    /// keeping every other setting. Explicitly installed packages the registry does not
    /// declare are reported (`lumina capture` adds them).
    ///
    /// For example: `lumina apply --dry-run`, then `lumina apply --yes`.
    Apply(ApplyArgs),
    /// Add explicitly installed packages the registry does not declare to `lumina.yaml`, and
    /// commit the change to the registry's git repository.
    ///
    /// The file is edited in place: comments, blank lines and order are kept, and the result
    /// is parsed again before it is written (atomically). For example: `lumina capture
    /// --dry-run`, then `lumina capture --yes`.
    Capture(CaptureArgs),
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
    /// Use Lumina-Stable, the lagged and checked mirror of Arch's repositories, or stop.
    ///
    /// `enable` adds Lumina-Stable to pacman.conf in place of Arch's [core], [extra] (and
    /// [multilib]); `disable` undoes exactly that. For example:
    /// `sudo lumina stable enable --mirror https://stable.example.org --dry-run`.
    #[command(subcommand, after_long_help = STABLE_HELP)]
    Stable(StableCommand),
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

/// How Lumina runs pacman (like paru's options).
#[derive(Debug, Args)]
pub struct PacmanArgs {
    /// The pacman binary.
    #[arg(
        long = "pacman",
        env = "LUMINA_PACMAN",
        value_name = "BIN",
        default_value = "pacman"
    )]
    pub pacman: PathBuf,

    /// pacman's configuration file (default: `/etc/pacman.conf`, or `ROOT/etc/pacman.conf`
    /// with `--root`).
    #[arg(long, env = "LUMINA_PACMAN_CONF", value_name = "FILE")]
    pub pacman_conf: Option<PathBuf>,

    /// pacman's database directory (default: `ROOT/var/lib/pacman`).
    #[arg(long, value_name = "DIR")]
    pub dbpath: Option<PathBuf>,

    /// Installs run through this program when Lumina is not root.
    #[arg(long, env = "LUMINA_SUDO", value_name = "BIN", default_value = "sudo")]
    pub sudo: PathBuf,
}

/// Options of `lumina init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Clone this registry (a git URL or a path) into the virtual root instead of capturing
    /// this machine, then apply it.
    #[arg(long, value_name = "GIT_URL_OR_PATH")]
    pub from: Option<String>,

    /// The hardware profile: `auto` (detect), `none`, or a profile's name
    /// (`framework-13-amd`, ...).
    #[arg(long, value_name = "auto|none|PROFILE", default_value = "auto")]
    pub hardware: String,

    /// Detect the hardware from a captured tree (`DIR/sys/...`, `DIR/proc/cpuinfo`) instead of
    /// this machine's; see `lumina-core/tests/fixtures/sysroot/README.md`.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,

    /// Print what would be written and change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// With `--from`: install the registry's packages without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Only enrol this user in `/etc/lumina/config.yaml` (as root), so the post-transaction
    /// hook relinks their links; what a non-root `lumina init` asks you to run with `sudo`.
    #[arg(long, value_name = "USER", conflicts_with_all = ["from", "dry_run"])]
    pub enrol: Option<String>,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// How to run pacman (for `--from`).
    #[command(flatten)]
    pub pacman: PacmanArgs,
}

/// Options of `lumina apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print the plan (packages to install, links, theme files, undeclared packages) and
    /// change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Install without asking. Without it, Lumina asks on a terminal and otherwise refuses
    /// (exit 2).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the plan or the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// How to run pacman.
    #[command(flatten)]
    pub pacman: PacmanArgs,
}

/// Options of `lumina capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Print the packages that would be added and the edited registry; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Edit and commit without asking. Without it, Lumina asks on a terminal and otherwise
    /// refuses (exit 2).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// pacman's database directory (default: `ROOT/var/lib/pacman`).
    #[arg(long, value_name = "DIR")]
    pub dbpath: Option<PathBuf>,
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

const STABLE_HELP: &str = "\
Exit status:
  0  done (or nothing to do)
  1  an operational error (I/O, `gpg` or `pacman-key` failed); run the command again
  2  bad input: pacman.conf without [options], a damaged block, a bad --mirror, a missing
     key file or keyring, a file that is not root's or that others can write, an invalid
     /etc/lumina/config.yaml (`status` reads its `stable:` section); nothing changed
  3  /etc/pacman.d/lumina-stable.conf exists and is not Lumina's; nothing changed

Examples:
  sudo lumina stable enable --mirror https://stable.example.org --dry-run
  sudo lumina stable enable --mirror https://stable.example.org
  lumina stable status
  sudo lumina stable disable";

/// `lumina stable` subcommands.
#[derive(Debug, Subcommand)]
pub enum StableCommand {
    /// Add Lumina-Stable to pacman.conf, import and trust its key.
    ///
    /// Writes `/etc/pacman.d/lumina-stable.conf` (Lumina-Stable's [core], [extra] and, if you
    /// use it, [multilib]) from `/usr/share/lumina/lumina-stable.conf` with your mirror, and
    /// adds one marked block that includes it to pacman.conf, before your [core]. pacman
    /// accepts only one section of a name, so your [core], [extra] and [multilib] lines are
    /// turned off with the prefix `#lumina-stable-off# `; nothing else you wrote changes. A
    /// backup `pacman.conf.lumina-backup-<UTC time>` is kept and the diff is printed. The key
    /// is added with `pacman-key --add` and locally signed with `pacman-key --lsign-key`.
    /// Running it again changes nothing. Then run `pacman -Syyu`.
    ///
    /// For example: `sudo lumina stable enable --mirror https://stable.example.org`.
    Enable(StableEnableArgs),
    /// Remove Lumina-Stable: exactly what `enable` added, and the key if `enable` imported it.
    ///
    /// pacman.conf becomes byte for byte what it was before `enable` (with your own later
    /// edits kept). Then run `pacman -Syyu` to go back to Arch's mirrors.
    ///
    /// For example: `sudo lumina stable disable --dry-run`.
    Disable(StableDisableArgs),
    /// Show whether Lumina-Stable is enabled, its mirror, and how old the synced databases
    /// are.
    ///
    /// For example: `lumina stable status --json`.
    Status(JsonArgs),
}

/// Options of `lumina stable enable`.
#[derive(Debug, Args)]
pub struct StableEnableArgs {
    /// The Lumina-Stable mirror: `https://HOST/PATH`, `http://...` or `file:///...`.
    /// `/$repo/os/$arch` is appended unless the URL contains `$repo`. Default: the mirror
    /// of an existing `/etc/pacman.d/lumina-stable.conf`, else the template's.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,

    /// Print the diff of pacman.conf and the `pacman-key` commands; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// The Lumina-Stable public key (default `/usr/share/lumina/lumina-stable.asc`).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// pacman's configuration file.
    #[arg(long, value_name = "FILE", default_value = "/etc/pacman.conf")]
    pub pacman_conf: PathBuf,

    /// pacman's keyring (`pacman-key --gpgdir`).
    #[arg(long, value_name = "DIR", default_value = "/etc/pacman.d/gnupg")]
    pub gpgdir: PathBuf,

    /// Print what was done (or would be done) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `lumina stable disable`.
#[derive(Debug, Args)]
pub struct StableDisableArgs {
    /// Print the diff of pacman.conf and the `pacman-key` commands; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// pacman's configuration file (default: the one `enable` edited).
    #[arg(long, value_name = "FILE")]
    pub pacman_conf: Option<PathBuf>,

    /// pacman's keyring (default: the one `enable` used).
    #[arg(long, value_name = "DIR")]
    pub gpgdir: Option<PathBuf>,

    /// Print what was done (or would be done) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
