//! `lumina snapshot`: Lumina's snapshot records and the backend behind them.

use anyhow::Context as _;
use lumina_core::config::Config;
use lumina_core::exit::ExitStatus;
use lumina_core::root::Root;
use lumina_core::snapshot::store::Store;
use lumina_core::snapshot::{self, Backend, Meta, ops};
use serde_json::json;

use crate::cli::SnapshotCommand;
use crate::printer::Printer;

fn backend(root: &Root) -> anyhow::Result<(Config, Box<dyn Backend>)> {
    let config = Config::load(root)?;
    let b = snapshot::open(&config, root)?
        .context("`backend: none` in /etc/lumina/config.yaml: there are no snapshots to act on")?;
    Ok((config, b))
}

fn utc(secs: u64) -> String {
    let s =
        lumina_core::link::utc_stamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    // 20261125T190312Z -> 2026-11-25 19:03:12
    format!(
        "{}-{}-{} {}:{}:{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// Run `lumina snapshot ...`.
pub fn run(root: &Root, cmd: SnapshotCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::new(root);
    match cmd {
        SnapshotCommand::List(a) => {
            let all = store.list()?;
            if a.json {
                printer.out(&serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                printer.note("no Lumina snapshots yet");
            } else {
                printer.out(&format!(
                    "{:>6}  {:<6}  {:>4}  {:<19}  {:<7}  {}",
                    "id", "kind", "pair", "time (UTC)", "backend", "transaction"
                ));
                for m in &all {
                    let pair = m.pair.map(|p| p.to_string()).unwrap_or_default();
                    let what = if m.command.is_empty() {
                        format!("{} packages", m.targets.len())
                    } else {
                        m.command.clone()
                    };
                    let imp = if m.important { " (important)" } else { "" };
                    printer.out(&format!(
                        "{:>6}  {:<6}  {:>4}  {:<19}  {:<7}  {what}{imp}",
                        m.id,
                        m.kind.as_str(),
                        pair,
                        utc(m.time),
                        m.backend
                    ));
                }
            }
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Show { id, json } => {
            let m = store.get(id)?;
            if json {
                printer.out(&serde_json::to_string_pretty(&m)?);
            } else {
                show(&m, printer);
            }
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Diff { id, json } => {
            let m = store.get(id)?;
            let (pre, post) = ops::pair_of(&store, &m)?;
            let changes = ops::diff(pre.as_ref(), post.as_ref());
            if json {
                printer.out(&serde_json::to_string_pretty(&json!({
                    "pre": pre.as_ref().map(|m| m.id),
                    "post": post.as_ref().map(|m| m.id),
                    "changes": changes,
                }))?);
            } else {
                for t in &changes {
                    let line = match (&t.old, &t.new) {
                        (Some(o), Some(n)) => format!("{} {o} -> {n}", t.name),
                        (None, Some(n)) => format!("{} (installed) {n}", t.name),
                        (Some(o), None) => format!("{} {o} (removed)", t.name),
                        (None, None) => format!("{} (unknown)", t.name),
                    };
                    printer.out(&line);
                }
                if post.is_none() {
                    printer
                        .note("no post snapshot for this transaction: new versions are not known");
                }
            }
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Delete { id } => {
            let m = store.get(id)?;
            let (_, b) = backend(root)?;
            ops::delete(b.as_ref(), &store, &m)?;
            printer.note(&format!("deleted snapshot {id}"));
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Prune { dry_run, json } => {
            let (config, b) = backend(root)?;
            let p = ops::prune(b.as_ref(), &store, &config, root, dry_run)?;
            if json {
                printer.out(&serde_json::to_string_pretty(
                    &json!({ "dry_run": dry_run, "pruned": p }),
                )?);
            } else {
                let verb = if dry_run { "would delete" } else { "deleted" };
                let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
                printer.note(&format!(
                    "{verb} {} snapshots by count [{}] and {} for free space [{}]",
                    p.by_count.len(),
                    ids(&p.by_count),
                    p.by_space.len(),
                    ids(&p.by_space)
                ));
            }
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Rollback { id, dry_run, yes } => {
            let m = store.get(id)?;
            let (_, b) = backend(root)?;
            let reports = ops::rollback(b.as_ref(), &m, dry_run, yes)?;
            let prefix = if dry_run { "would " } else { "" };
            for r in &reports {
                for a in &r.actions {
                    printer.out(&format!("{prefix}{a}"));
                }
                for d in &r.destroys {
                    printer.out(&format!("{prefix}destroy {d}"));
                }
            }
            if !dry_run && reports.iter().any(|r| r.reboot) {
                printer.note("rolled back: reboot to start the restored system");
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn show(m: &Meta, printer: &Printer) {
    printer.out(&format!("id:          {}", m.id));
    printer.out(&format!("kind:        {}", m.kind.as_str()));
    if let Some(p) = m.pair {
        printer.out(&format!("pre:         {p}"));
    }
    printer.out(&format!("time:        {} UTC", utc(m.time)));
    printer.out(&format!("transaction: {}", m.txid));
    printer.out(&format!(
        "command:     {}",
        if m.command.is_empty() {
            "(unknown)"
        } else {
            &m.command
        }
    ));
    printer.out(&format!(
        "important:   {}",
        if m.important { "yes" } else { "no" }
    ));
    printer.out(&format!("backend:     {}", m.backend));
    for p in &m.parts {
        printer.out(&format!("  {} -> {}", p.subject, p.backend_id));
    }
    printer.out("packages:");
    for t in &m.targets {
        printer.out(&format!(
            "  {} {} -> {}",
            t.name,
            t.old.as_deref().unwrap_or("(none)"),
            t.new.as_deref().unwrap_or("(pending)")
        ));
    }
}
