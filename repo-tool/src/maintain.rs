//! The maintainers' commands on `repo.yaml`, the ledger and the published tree: `check`,
//! `hold`, `unhold`, `expedite`, `rollback` and `gc`. Each one is thin: it reads the
//! configuration, takes the repository lock where it changes something, calls the library
//! and says in one line what it did.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lumina_core::fs::Fs;
use lumina_repo::clock;
use lumina_repo::config::{RepoConfig, format_duration};
use lumina_repo::ledger::Ledger;
use lumina_repo::lock::RepoLock;
use lumina_repo::publish;

/// Where `repo.yaml` is.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "LUMINA_REPO_CONFIG",
        default_value = "/etc/lumina-repo/repo.yaml"
    )]
    pub config: PathBuf,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<RepoConfig> {
        Ok(RepoConfig::load(&self.config)?)
    }
}

/// `check`: the keys of `repo.yaml`, in the long help.
pub const CHECK_LONG_ABOUT: &str = "\
Check `repo.yaml` and print what it configures.

An invalid file is reported with its file, line and column, what was expected and a hint, \
and the exit status is 2.

Keys (`upstream`, `repositories`, `output` and `signing` are required):
  version: 1                   optional
  upstream: URL                https://, http:// or file://: a pacman `Server =` URL
                               with $repo and $arch, or a mirror root
  repositories: [core, extra]  the upstream repositories mirrored
  architecture: x86_64         $arch (default x86_64)
  min_age: 24h                 quarantine before a version is published (default 24h);
                               units s, m, h, d, w: `90m`, `2d`, `1d12h`
  max_age: 48h                 held longer than this is overdue (default 48h)
  output: /srv/lumina-stable   the output directory; serve OUTPUT/current
  signing:
    key: FINGERPRINT           the signing key's full fingerprint
    gnupg_home: DIR            its GnuPG home (default: GnuPG's own)
  upstream_keyring: DIR        GnuPG home trusted for upstream packagers' signatures
                               (default /etc/pacman.d/gnupg)
  modules: {hyprland: \"<0.50\"} requirements new versions must meet
  holds: {linux: REASON}       packages (or pkgbases) held, and why
  keep_generations: 5          generations kept for rollback (default 5, at least 2)";

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
}

/// `hold` and `expedite`.
#[derive(Debug, Args)]
pub struct MarkArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Why; recorded in the audit log.
    #[arg(long)]
    reason: String,
    /// The package name or pkgbase.
    #[arg(value_name = "PKG", value_parser = package_name)]
    package: String,
}

/// `unhold`.
#[derive(Debug, Args)]
pub struct UnholdArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Why; recorded in the audit log.
    #[arg(long, default_value = "released")]
    reason: String,
    /// The package name or pkgbase.
    #[arg(value_name = "PKG", value_parser = package_name)]
    package: String,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The generation to serve (default: the newest one older than the served one).
    #[arg(long, value_name = "GENERATION")]
    to: Option<u64>,
}

/// `gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    config: ConfigArg,
}

/// `lumina-repo check`.
pub fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let c = args.config.load()?;
    println!(
        "`{}`: {} ({}) from {}, quarantine {}..{}, signed by {}, serving `{}`",
        args.config.config.display(),
        c.repositories.join(", "),
        c.architecture,
        c.upstream.url,
        format_duration(c.min_age),
        format_duration(c.max_age),
        c.signing.key,
        c.output.join(publish::CURRENT).display()
    );
    Ok(())
}

/// clap's parser for a package name argument (a bad one is a usage error: status 2).
fn package_name(name: &str) -> Result<String, String> {
    if lumina_repo::config::is_package_name(name) {
        Ok(name.to_owned())
    } else {
        Err("not a package name (letters, digits and `@._+-`, not starting with `.` or `-`)".into())
    }
}

/// The ledger, changed by `change` under the lock and saved.
fn with_ledger(
    config: &ConfigArg,
    command: &str,
    change: impl FnOnce(&mut Ledger, u64) -> bool,
) -> anyhow::Result<bool> {
    let c = config.load()?;
    let fs = Fs::new();
    let lock = RepoLock::acquire(&fs, &c.output, command)?;
    let mut ledger = Ledger::load(&c.ledger_path())?;
    let changed = change(&mut ledger, clock::now());
    ledger
        .save(&fs, &lock)
        .with_context(|| format!("cannot save the ledger `{}`", ledger.path().display()))?;
    Ok(changed)
}

/// `lumina-repo hold`.
pub fn hold(args: &MarkArgs) -> anyhow::Result<()> {
    let changed = with_ledger(&args.config, "lumina-repo hold", |l, now| {
        l.hold(&args.package, &args.reason, now)
    })?;
    if changed {
        eprintln!("held `{}`: {}", args.package, args.reason);
    } else {
        eprintln!("`{}` was already held for this reason", args.package);
    }
    Ok(())
}

/// `lumina-repo unhold`.
pub fn unhold(args: &UnholdArgs) -> anyhow::Result<()> {
    let changed = with_ledger(&args.config, "lumina-repo unhold", |l, now| {
        l.unhold(&args.package, &args.reason, now)
    })?;
    if changed {
        eprintln!("released `{}`", args.package);
    } else {
        eprintln!("`{}` was not held (by `lumina-repo hold`)", args.package);
    }
    Ok(())
}

/// `lumina-repo expedite`.
pub fn expedite(args: &MarkArgs) -> anyhow::Result<()> {
    let changed = with_ledger(&args.config, "lumina-repo expedite", |l, now| {
        l.expedite(&args.package, &args.reason, now)
    })?;
    if changed {
        eprintln!(
            "expedited `{}`: its next version skips the quarantine, not the checks",
            args.package
        );
    } else {
        eprintln!("`{}` was already expedited for this reason", args.package);
    }
    Ok(())
}

/// `lumina-repo rollback`.
pub fn rollback(args: &RollbackArgs) -> anyhow::Result<()> {
    let c = args.config.load()?;
    let fs = Fs::new();
    let lock = RepoLock::acquire(&fs, &c.output, "lumina-repo rollback")?;
    let r = publish::rollback(&lock, &fs, args.to, clock::now())?;
    if r.from == r.to {
        eprintln!("generation {} is already served", r.to);
    } else {
        eprintln!("serving generation {} (was {})", r.to, r.from);
    }
    Ok(())
}

/// `lumina-repo gc`.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let c = args.config.load()?;
    let fs = Fs::new();
    let lock = RepoLock::acquire(&fs, &c.output, "lumina-repo gc")?;
    // Files the upstream snapshot lists stay: verified downloads `promote` may publish yet.
    let (removed, incoming) = lumina_repo::sync::gc(
        &lock,
        &fs,
        &c.repositories,
        clock::now(),
        lumina_repo::sync::INCOMING_MAX_AGE,
    )?;
    eprintln!(
        "deleted {} pool files no kept generation links to",
        removed.len()
    );
    if !incoming.is_empty() {
        eprintln!(
            "deleted {} partial downloads older than a day",
            incoming.len()
        );
    }
    Ok(())
}
