//! What `pre` and `post` do. Each returns the lines to print (already decided: one on
//! success, one per problem) and whether pacman must abort.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lumina_core::config::{Config, OnFailure};
use lumina_core::root::{self, Root};
use lumina_core::snapshot::ops::{self, Transaction};
use lumina_core::snapshot::store::Store;
use lumina_core::snapshot::{self, Kind, Target};

use crate::handoff::{self, Handoff};
use crate::sweep;

/// The hook's result.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines to print, each prefixed with `lumina: `.
    pub lines: Vec<String>,
    /// Make pacman abort the transaction.
    pub abort: bool,
}

impl Outcome {
    fn line(mut self, l: impl Into<String>) -> Self {
        self.lines.push(l.into());
        self
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One line for any error: a registry-style diagnostic keeps `file:line:column: message`.
fn one_line(err: &anyhow::Error) -> String {
    if let Some(lumina_core::Error::Registry(d)) = err.downcast_ref::<lumina_core::Error>() {
        let at = d
            .pos
            .map(|p| format!(":{}:{}", p.line, p.column))
            .unwrap_or_default();
        return format!("{}{at}: {}", d.file.display(), d.message);
    }
    format!("{err:#}").replace('\n', "; ")
}

/// The pacman command line that started this transaction, if `/proc` shows it.
fn parent_command() -> String {
    let ppid = nix::unistd::getppid();
    match std::fs::read(format!("/proc/{ppid}/cmdline")) {
        Ok(b) => b
            .split(|c| *c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => String::new(),
    }
}

fn load_config(root: &Root) -> Result<Config, (String, OnFailure)> {
    Config::load(root).map_err(|e| {
        let text = std::fs::read_to_string(root.join(root::CONFIG)).unwrap_or_default();
        (
            one_line(&anyhow::Error::new(e)),
            Config::on_failure_of_broken(&text),
        )
    })
}

/// Tell `post` when the transaction started, without a pre snapshot: so it can sweep the
/// links instead of running the whole linker. Best effort: without it, `post` relinks.
fn handoff_without_snapshot(root: &Root) {
    let _ = handoff::write(
        root,
        &Handoff {
            pre: None,
            txid: txid(),
            started: now(),
            command: parent_command(),
            targets: Vec::new(),
        },
    );
}

/// `lumina-hook pre`.
pub fn pre(root: &Root, names: &[String], skip: bool) -> Outcome {
    let out = Outcome::default();
    if skip {
        handoff_without_snapshot(root);
        return out;
    }
    let config = match load_config(root) {
        Ok(c) => c,
        Err((msg, OnFailure::Abort)) => {
            return Outcome {
                lines: vec![format!(
                    "cannot read the snapshot policy: {msg}; the transaction was not run (fix \
                     the file, or run with LUMINA_SKIP_SNAPSHOT=1)"
                )],
                abort: true,
            };
        }
        Err((msg, OnFailure::Warn)) => {
            return out.line(format!(
                "cannot read the snapshot policy: {msg}; no snapshot taken"
            ));
        }
    };
    if config.skip {
        handoff_without_snapshot(root);
        return out;
    }
    // A stale Lumina-Stable mirror never goes unnoticed (unless `stable: { warn: false }`):
    // one line, never an abort.
    let stale = config
        .stable
        .warn
        .then(|| lumina_core::stable::freshness(root, now(), config.stable.max_age))
        .flatten();
    let out = match stale {
        Some(warning) => out.line(warning),
        None => out,
    };
    match take_pre(root, &config, names) {
        Ok(Some((id, backend))) => out.line(format!("snapshot {id} (pre) taken with {backend}")),
        Ok(None) => {
            handoff_without_snapshot(root);
            out
        }
        Err(e) => {
            // The post hook still relinks; it learns there is no pre snapshot.
            handoff_without_snapshot(root);
            match config.on_failure {
                OnFailure::Abort => Outcome {
                    lines: vec![format!(
                        "cannot take the pre-transaction snapshot: {}; the transaction was not \
                         run (free space or fix the snapshot directory, or run with \
                         LUMINA_SKIP_SNAPSHOT=1; `on_failure: warn` in /etc/lumina/config.yaml \
                         lets transactions run without one)",
                        one_line(&e)
                    )],
                    abort: true,
                },
                OnFailure::Warn => out.line(format!(
                    "cannot take the pre-transaction snapshot: {}; continuing without one \
                     (on_failure: warn)",
                    one_line(&e)
                )),
            }
        }
    }
}

fn txid() -> String {
    format!(
        "{}-{}",
        lumina_core::link::utc_stamp(SystemTime::now()),
        std::process::id()
    )
}

fn take_pre(
    root: &Root,
    config: &Config,
    names: &[String],
) -> anyhow::Result<Option<(u64, String)>> {
    let Some(backend) = snapshot::open(config, root)? else {
        return Ok(None);
    };
    let installed = lumina_core::pacman::installed(&root.join(root::PACMAN_DB))?;
    let targets: Vec<Target> = names
        .iter()
        .map(|n| Target {
            name: n.clone(),
            old: installed.get(n).cloned(),
            new: None,
        })
        .collect();
    let tx = Transaction {
        txid: txid(),
        command: parent_command(),
        targets,
    };
    let store = Store::new(root);
    let meta = ops::take(
        backend.as_ref(),
        &store,
        config,
        Kind::Pre,
        &tx,
        None,
        now(),
    )?;
    handoff::write(
        root,
        &Handoff {
            pre: Some(meta.id),
            txid: tx.txid,
            started: meta.time,
            command: tx.command,
            targets: tx.targets,
        },
    )?;
    Ok(Some((meta.id, backend.name().to_owned())))
}

/// `lumina-hook post`.
pub fn post(root: &Root, names: &[String], skip: bool) -> Outcome {
    let mut out = Outcome::default();
    let h = match handoff::take(root) {
        Ok(h) => h,
        Err(e) => {
            out.lines.push(format!(
                "cannot read the pre-transaction hand-off: {}",
                one_line(&e)
            ));
            None
        }
    };
    let config = match load_config(root) {
        Ok(c) => c,
        Err((msg, _)) => {
            return out.line(format!(
                "cannot read the snapshot policy: {msg}; no post snapshot taken, no relink"
            ));
        }
    };
    let started = h.as_ref().map(|h| h.started);
    if !skip && !config.skip {
        match take_post(root, &config, names, h) {
            Ok(Some(line)) => out.lines.push(line),
            Ok(None) => {}
            Err(e) => out.lines.push(format!(
                "cannot take the post-transaction snapshot: {}",
                one_line(&e)
            )),
        }
    }
    relink(root, &config, started, &mut out);
    if !config.skip
        && let Err(e) = prune(root, &config)
    {
        out.lines
            .push(format!("cannot prune old snapshots: {}", one_line(&e)));
    }
    out
}

fn take_post(
    root: &Root,
    config: &Config,
    names: &[String],
    h: Option<Handoff>,
) -> anyhow::Result<Option<String>> {
    let Some(backend) = snapshot::open(config, root)? else {
        return Ok(None);
    };
    let installed = lumina_core::pacman::installed(&root.join(root::PACMAN_DB))?;
    let store = Store::new(root);
    let (pre, txid, command, mut targets) = match h {
        Some(h) => (
            h.pre.and_then(|id| store.get(id).ok()),
            h.txid,
            h.command,
            h.targets,
        ),
        None => (None, txid(), parent_command(), Vec::new()),
    };
    for n in names {
        if !targets.iter().any(|t| &t.name == n) {
            targets.push(Target {
                name: n.clone(),
                old: None,
                new: None,
            });
        }
    }
    for t in &mut targets {
        t.new = installed.get(&t.name).cloned();
    }
    let kind = if pre.is_some() {
        Kind::Post
    } else {
        Kind::Single
    };
    let tx = Transaction {
        txid,
        command,
        targets,
    };
    let meta = ops::take(
        backend.as_ref(),
        &store,
        config,
        kind,
        &tx,
        pre.as_ref(),
        now(),
    )?;
    Ok(Some(match pre {
        Some(p) => format!(
            "snapshots {} (pre) and {} (post) taken with {}",
            p.id,
            meta.id,
            backend.name()
        ),
        None => format!(
            "snapshot {} (post, no pre snapshot) taken with {}",
            meta.id,
            backend.name()
        ),
    }))
}

fn prune(root: &Root, config: &Config) -> anyhow::Result<()> {
    if let Some(backend) = snapshot::open(config, root)? {
        ops::prune(backend.as_ref(), &Store::new(root), config, root, false)?;
    }
    Ok(())
}

/// The system profile: configured, or `/etc/lumina/system` when it has a registry.
fn system_profile(root: &Root, config: &Config) -> Option<PathBuf> {
    let p = config
        .system_profile
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/lumina/system"));
    root.join(&p)
        .join(lumina_core::registry::FILE_NAME)
        .exists()
        .then_some(p)
}

/// Is the profile's registry newer than the linker's record of it (an edit not linked
/// yet)? Unknown counts as newer.
fn registry_newer_than_record(home: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let registry = lumina_core::fs::lstat(&home.join(lumina_core::registry::FILE_NAME));
    let record = lumina_core::fs::lstat(&lumina_core::link::record::path(home));
    match (registry, record) {
        (Ok(Some(reg)), Ok(Some(rec))) => {
            (reg.ctime(), reg.ctime_nsec()) >= (rec.mtime(), rec.mtime_nsec())
        }
        _ => true,
    }
}

fn relink(root: &Root, config: &Config, started: Option<u64>, out: &mut Outcome) {
    let lumina = &config.tools.lumina;
    if let Some(profile) = system_profile(root, config) {
        let home = root.join(&profile);
        // The sweep: relink only when the transaction disturbed a link, or when that
        // cannot be ruled out (see `sweep`).
        let record = lumina_core::link::Record::load(&home).ok();
        let verdict = match (&record, started) {
            (Some(record), Some(started))
                if !record.links.iter().any(|(_, e)| e.pending.is_some())
                    && !registry_newer_than_record(&home) =>
            {
                sweep::plan(sweep::observe(record.links.iter(), started))
            }
            _ => sweep::Verdict {
                relink: true,
                why: Some("no usable record or transaction start".into()),
                leftovers: Vec::new(),
            },
        };
        let leftovers = if verdict.relink {
            let args = [
                "--home".into(),
                home.display().to_string(),
                "--quiet".into(),
                "link".into(),
                "--reclaim".into(),
            ];
            if let Err(e) = lumina_core::cmd::run(lumina, args) {
                out.lines.push(format!(
                    "relinking the system profile failed: {}; run `lumina --home {} status`",
                    one_line(&anyhow::Error::new(e)),
                    profile.display()
                ));
            }
            // The relink may have moved a package's file to `.pacnew`: look again.
            let record = lumina_core::link::Record::load(&home).unwrap_or_default();
            sweep::plan(sweep::observe(
                record.links.iter(),
                started.unwrap_or_else(now),
            ))
            .leftovers
        } else {
            verdict.leftovers
        };
        for p in leftovers {
            let shown = root.to_system(&p).unwrap_or(p);
            out.lines.push(format!(
                "`{}` appeared: the package's version of a file Lumina links; merge it into \
                 the profile's source and delete it",
                shown.display()
            ));
        }
    }
    for user in &config.users {
        let args = [
            "--user".into(),
            user.clone(),
            "--quiet".into(),
            "link".into(),
        ];
        if let Err(e) = lumina_core::cmd::run(lumina, args) {
            out.lines.push(format!(
                "relinking {user}'s links failed: {}; run `lumina status` as {user}",
                one_line(&anyhow::Error::new(e))
            ));
        }
    }
}
