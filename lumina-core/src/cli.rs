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
    #[arg(long)]
    pub backup: bool,

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
