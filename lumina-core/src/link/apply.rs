//! Carry out a plan, through [`Fs`] only.
//!
//! Order: write-ahead record (targets about to change marked `pending`), crash leftovers,
//! removals, then creations and replacements in path order (parents before children), one
//! fsync per touched directory, then the final record. Every replacement is atomic: a new
//! link is made beside the target (`TARGET.lumina-new`) and renamed or exchanged over it.
//! A crash at any step leaves every target either as it was or as declared, and the next
//! run converges (tested by injecting a failure after every step).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::observe::TMP_SUFFIX;
use super::plan::{Action, Adopt, Cleanup, Item, Plan};
use super::record::{Entry, Record, Stamp};
use crate::error::{Error, Result};
use crate::fs::{Fs, sibling};

/// What a run did, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Whether the record was written.
    pub record_written: bool,
    /// Backups made: (target, backup path).
    pub backups: Vec<(PathBuf, PathBuf)>,
    /// Crash leftovers recovered: (leftover, where it went or "removed").
    pub recovered: Vec<(PathBuf, String)>,
}

/// Apply a conflict-free plan.
///
/// # Errors
/// The first failing step's error. The record is saved with what was done before it
/// (unless the failure is an injected crash, which saves nothing, as a crash would).
pub fn apply(plan: &Plan, old: &Record, home: &Path, fs: &Fs) -> Result<Outcome> {
    let mut rec = old.clone();
    let mut out = Outcome::default();
    // The record a finished run leaves, for the no-op check: Keep items refresh stamps.
    let mut changes = false;
    for item in &plan.items {
        if item.action.mutates() || item.cleanup.is_some() || item.action == Action::Forget {
            changes = true;
        }
        if let (Action::Keep, Some(src)) = (&item.action, &item.source) {
            let fresh = keep_entry(item, src, rec.links.get(&item.target));
            if rec.links.get(&item.target) != Some(&fresh) {
                changes = true;
            }
        }
    }
    if !changes {
        return Ok(out);
    }
    // Write-ahead: every target about to change is marked, so that a crash's leftovers are
    // found and recognised as Lumina's by the next run.
    let mut ahead = rec.clone();
    for item in plan
        .items
        .iter()
        .filter(|i| i.action.mutates() && i.action != Action::Remove)
    {
        if let Some(src) = &item.source {
            let e = ahead
                .links
                .entry(item.target.clone())
                .or_insert_with(|| Entry {
                    text: src.clone(),
                    pending: None,
                    stamp: None,
                });
            e.pending = Some(src.clone());
        }
    }
    if ahead != rec {
        ahead.save(home, fs)?;
        rec = ahead;
    }
    let result = run(plan, &mut rec, fs, &mut out);
    match result {
        Err(e @ Error::Injected { .. }) => Err(e),
        Err(e) => {
            // Keep what was done; the pending marks of what was not stay for the next run.
            let _ = fs.sync_touched_dirs();
            let _ = rec.save(home, fs);
            Err(e)
        }
        Ok(()) => {
            fs.sync_touched_dirs()?;
            rec.save(home, fs)?;
            out.record_written = true;
            Ok(out)
        }
    }
}

fn keep_entry(item: &Item, src: &Path, old: Option<&Entry>) -> Entry {
    Entry {
        text: src.to_path_buf(),
        pending: None,
        stamp: item.stamp.or(old.and_then(|e| e.stamp)),
    }
}

fn run(plan: &Plan, rec: &mut Record, fs: &Fs, out: &mut Outcome) -> Result<()> {
    for item in plan.items.iter().filter(|i| i.cleanup.is_some()) {
        let tmp = sibling(&item.target, TMP_SUFFIX);
        match &item.cleanup {
            Some(Cleanup::RemoveTmpLink) => {
                fs.unlink(&tmp)?;
                out.recovered.push((tmp, "removed".into()));
            }
            Some(Cleanup::RescueTmp { to }) => {
                let to = free_name(to)?;
                if let Some(parent) = to.parent() {
                    fs.create_dir_all(parent)?;
                }
                fs.rename(&tmp, &to)?;
                out.recovered.push((tmp, to.display().to_string()));
            }
            None => {}
        }
    }
    for item in &plan.items {
        match item.action {
            Action::Remove => {
                fs.unlink(&item.target)?;
                rec.links.remove(&item.target);
            }
            Action::Forget => {
                rec.links.remove(&item.target);
            }
            _ => {}
        }
    }
    for item in &plan.items {
        let Some(src) = &item.source else { continue };
        let t = &item.target;
        match &item.action {
            Action::Keep => {
                let fresh = keep_entry(item, src, rec.links.get(t));
                rec.links.insert(t.clone(), fresh);
                continue;
            }
            Action::Create => {
                if let Some(parent) = t.parent() {
                    fs.create_dir_all(parent)?;
                }
                // symlink(2) is atomic and fails if anything appeared meanwhile.
                fs.symlink(src, t)?;
            }
            Action::Replace { .. } => swap_in(src, t, fs)?,
            Action::Backup { to } => {
                let to = free_name(to)?;
                backup(src, t, &to, fs)?;
                out.backups.push((t.clone(), to));
            }
            Action::Adopt { how } => adopt(*how, src, t, fs)?,
            Action::Remove | Action::Forget | Action::Conflict { .. } => continue,
        }
        let stamp = crate::fs::lstat(t)?.map(|m| Stamp::of(&m));
        rec.links.insert(
            t.clone(),
            Entry {
                text: src.clone(),
                pending: None,
                stamp,
            },
        );
    }
    Ok(())
}

/// Make the link beside the target, then rename it over the target (atomic).
fn swap_in(src: &Path, target: &Path, fs: &Fs) -> Result<()> {
    let tmp = sibling(target, TMP_SUFFIX);
    fs.symlink(src, &tmp)?;
    fs.rename(&tmp, target)
}

/// Move `target` to `to` and put the link in its place, without a moment where the target
/// is missing: exchange a new link with it, then rename the old object to `to`.
fn backup(src: &Path, target: &Path, to: &Path, fs: &Fs) -> Result<()> {
    let tmp = sibling(target, TMP_SUFFIX);
    fs.symlink(src, &tmp)?;
    match fs.exchange(&tmp, target) {
        Ok(()) => fs.rename(&tmp, to),
        Err(Error::Io { source, .. }) if source.raw_os_error() == Some(nix::libc::EINVAL) => {
            // No RENAME_EXCHANGE on this filesystem: a file can still be kept in place with a
            // hard link; a directory has a short window where the target is missing.
            let is_dir = crate::fs::lstat(target)?.is_some_and(|m| m.is_dir());
            if is_dir {
                fs.rename(target, to)?;
            } else {
                fs.hard_link(target, to)?;
            }
            fs.rename(&tmp, target)
        }
        Err(e) => Err(e),
    }
}

fn adopt(how: Adopt, src: &Path, target: &Path, fs: &Fs) -> Result<()> {
    match how {
        Adopt::Same => swap_in(src, target, fs),
        Adopt::File => {
            if let Some(parent) = src.parent() {
                fs.create_dir_all(parent)?;
            }
            match fs.hard_link(target, src) {
                Ok(()) => {}
                Err(Error::Io { source, .. })
                    if source.raw_os_error() == Some(nix::libc::EXDEV) =>
                {
                    let part = sibling(src, ".lumina-adopt");
                    if crate::fs::lstat(&part)?.is_some() {
                        fs.unlink(&part)?;
                    }
                    fs.copy_file(target, &part)?;
                    fs.rename(&part, src)?;
                }
                Err(e) => return Err(e),
            }
            swap_in(src, target, fs)
        }
        Adopt::Dir => {
            if let Some(parent) = src.parent() {
                fs.create_dir_all(parent)?;
            }
            let tmp = sibling(target, TMP_SUFFIX);
            fs.symlink(src, &tmp)?;
            fs.exchange(&tmp, target)?;
            fs.rename(&tmp, src)
        }
    }
}

/// `to`, or `to-1`, `to-2`, ... if it exists.
fn free_name(to: &Path) -> Result<PathBuf> {
    if crate::fs::lstat(to)?.is_none() {
        return Ok(to.to_path_buf());
    }
    for n in 1..10_000 {
        let p = sibling(to, &format!("-{n}"));
        if crate::fs::lstat(&p)?.is_none() {
            return Ok(p);
        }
    }
    Err(Error::io(
        to,
        "choosing a backup name",
        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    ))
}

/// The device a path (or its nearest existing ancestor) lives on.
pub(crate) fn device_of(path: &Path) -> Option<u64> {
    path.ancestors()
        .find_map(|a| crate::fs::lstat(a).ok().flatten().map(|m| m.dev()))
}
