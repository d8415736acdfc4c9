//! Snapshot operations shared by the hooks and `lumina snapshot`: take, delete, prune,
//! rollback, diff. Each keeps Lumina's records and the backend in step: a snapshot whose
//! record cannot be written is deleted again, and a record is removed only after its
//! backend snapshots are gone.

use std::collections::BTreeMap;

use serde::Serialize;

use super::store::Store;
use super::{Backend, Kind, Meta, Part, RollbackReport, Target, retention};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::pacman::glob_match;
use crate::root::Root;

/// What a transaction snapshot is about.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Shared by the pre and the post.
    pub txid: String,
    /// The pacman command line.
    pub command: String,
    /// Packages with versions.
    pub targets: Vec<Target>,
}

/// Take one Lumina snapshot (every subject) and record it.
///
/// # Errors
/// The first backend failure; the parts already taken are deleted again.
pub fn take(
    backend: &dyn Backend,
    store: &Store,
    config: &Config,
    kind: Kind,
    tx: &Transaction,
    pair: Option<&Meta>,
    now: u64,
) -> Result<Meta> {
    let id = store.next_id()?;
    let important = tx
        .targets
        .iter()
        .any(|t| config.important.iter().any(|p| glob_match(p, &t.name)));
    let description = if tx.command.is_empty() {
        format!("lumina: {} packages", tx.targets.len())
    } else {
        tx.command.clone()
    };
    let subjects = backend.subjects();
    let meta_with = |parts: Vec<Part>| Meta {
        id,
        kind,
        pair: pair.map(|m| m.id),
        txid: tx.txid.clone(),
        time: now,
        command: tx.command.clone(),
        targets: tx.targets.clone(),
        backend: backend.name().into(),
        parts,
        important,
    };
    // The record first, when the snapshot itself will make it durable (btrfs, record on
    // a snapshotted subvolume): no fsync of its own, and no window in which a snapshot
    // exists without a record.
    let ahead: Option<Vec<Part>> = subjects
        .iter()
        .map(|s| {
            backend.id_ahead(s, id, kind).map(|backend_id| Part {
                subject: s.clone(),
                backend_id,
            })
        })
        .collect();
    if let Some(parts) = ahead
        && subjects
            .iter()
            .any(|s| backend.commit_covers(s, store.dir()))
    {
        let meta = meta_with(parts);
        let fs = Fs::new();
        store.save_ahead(&meta, &fs)?;
        let mut made: Vec<String> = Vec::new();
        for part in &meta.parts {
            let pre = pair
                .and_then(|m| m.parts.iter().find(|p| p.subject == part.subject))
                .map(|p| p.backend_id.as_str());
            let result = backend.create(&part.subject, id, kind, &description, pre);
            let failure = match result {
                Ok(backend_id) if backend_id == part.backend_id => {
                    made.push(backend_id);
                    continue;
                }
                Ok(other) => {
                    made.push(other.clone());
                    Error::Snapshot(format!(
                        "{}: made `{other}`, expected `{}`",
                        backend.name(),
                        part.backend_id
                    ))
                }
                Err(e) => e,
            };
            for b in &made {
                let _ = backend.delete(b);
            }
            let _ = store.remove(id, &fs);
            return Err(failure);
        }
        return Ok(meta);
    }
    let mut parts: Vec<Part> = Vec::new();
    for subject in subjects {
        let pre = pair
            .and_then(|m| m.parts.iter().find(|p| p.subject == subject))
            .map(|p| p.backend_id.as_str());
        match backend.create(&subject, id, kind, &description, pre) {
            Ok(backend_id) => parts.push(Part {
                subject,
                backend_id,
            }),
            Err(e) => {
                for p in &parts {
                    let _ = backend.delete(&p.backend_id);
                }
                return Err(e);
            }
        }
    }
    let meta = meta_with(parts);
    if let Err(e) = store.save(&meta, &Fs::new()) {
        for p in &meta.parts {
            let _ = backend.delete(&p.backend_id);
        }
        return Err(e);
    }
    Ok(meta)
}

/// Delete one of Lumina's snapshots: backend snapshots first, then the record.
///
/// # Errors
/// When a backend snapshot cannot be deleted (the record then stays).
pub fn delete(backend: &dyn Backend, store: &Store, meta: &Meta) -> Result<()> {
    if meta.backend != backend.name() {
        return Err(Error::Snapshot(format!(
            "snapshot {} was taken with {}, but the configured backend is {}",
            meta.id,
            meta.backend,
            backend.name()
        )));
    }
    for p in &meta.parts {
        backend.delete(&p.backend_id)?;
    }
    store.remove(meta.id, &Fs::new())
}

/// What pruning did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Ids deleted by the count rules.
    pub by_count: Vec<u64>,
    /// Ids deleted to get back above the free-space floor.
    pub by_space: Vec<u64>,
}

/// Apply retention to Lumina's snapshots of this backend.
///
/// # Errors
/// The first failed deletion.
pub fn prune(
    backend: &dyn Backend,
    store: &Store,
    config: &Config,
    root: &Root,
    dry_run: bool,
) -> Result<Pruned> {
    let mine: Vec<Meta> = store
        .list()?
        .into_iter()
        .filter(|m| m.backend == backend.name())
        .collect();
    let by_id: BTreeMap<u64, &Meta> = mine.iter().map(|m| (m.id, m)).collect();
    let mut out = Pruned {
        by_count: retention::select(&mine, &config.retention),
        ..Pruned::default()
    };
    if !dry_run {
        for id in &out.by_count {
            if let Some(m) = by_id.get(id) {
                delete(backend, store, m)?;
            }
        }
    }
    if let Some(floor) = config.retention.min_free {
        let left: Vec<Meta> = mine
            .iter()
            .filter(|m| !out.by_count.contains(&m.id))
            .cloned()
            .collect();
        let probe = root.path();
        for group in retention::oldest_groups(&left) {
            let st = nix::sys::statvfs::statvfs(probe)
                .map_err(|e| Error::io(probe, "measuring free space", e.into()))?;
            let (free, total) = (
                st.blocks_available() as u64 * st.fragment_size() as u64,
                st.blocks() as u64 * st.fragment_size() as u64,
            );
            if free >= retention::floor_bytes(floor, total) {
                break;
            }
            out.by_space.extend(&group);
            if dry_run {
                continue;
            }
            for id in &group {
                if let Some(m) = by_id.get(id) {
                    delete(backend, store, m)?;
                }
            }
            // btrfs frees a deleted snapshot's space in the background: wait for it, so the
            // next measurement sees it and no more is deleted than needed.
            backend.settle();
        }
    }
    Ok(out)
}

/// Roll back to snapshot `meta`. ZFS rollbacks that destroy later snapshots need `yes`.
///
/// # Errors
/// [`Error::Snapshot`] when refused or failed.
pub fn rollback(
    backend: &dyn Backend,
    meta: &Meta,
    dry_run: bool,
    yes: bool,
) -> Result<Vec<RollbackReport>> {
    let mut reports = Vec::new();
    for p in &meta.parts {
        reports.push(backend.rollback(p, true)?);
    }
    let destroys: Vec<&String> = reports.iter().flat_map(|r| &r.destroys).collect();
    if dry_run {
        return Ok(reports);
    }
    if !destroys.is_empty() && !yes {
        let list = destroys
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Error::Snapshot(format!(
            "rolling back destroys these later snapshots:\n{list}\nre-run with `--yes` to proceed"
        )));
    }
    let mut done = Vec::new();
    for p in &meta.parts {
        done.push(backend.rollback(p, false)?);
    }
    Ok(done)
}

/// The transaction a snapshot belongs to, as `(pre, post)` records.
///
/// # Errors
/// As [`Store::list`].
pub fn pair_of(store: &Store, meta: &Meta) -> Result<(Option<Meta>, Option<Meta>)> {
    let all = store.list()?;
    let pre = all
        .iter()
        .find(|m| m.txid == meta.txid && m.kind == Kind::Pre)
        .cloned();
    let post = all
        .iter()
        .find(|m| m.txid == meta.txid && m.kind != Kind::Pre)
        .cloned();
    Ok((pre, post))
}

/// Packages that changed in a transaction: `(name, old, new)`, from the post's record (it
/// has both versions), or the pre's while the post is missing.
pub fn diff(pre: Option<&Meta>, post: Option<&Meta>) -> Vec<Target> {
    let src = post.or(pre);
    let mut out: Vec<Target> = src.map(|m| m.targets.clone()).unwrap_or_default();
    out.retain(|t| t.old != t.new);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
