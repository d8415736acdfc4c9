//! Carry out a plan, through [`Fs`] only.
//!
//! Order: write-ahead record (targets about to change marked `pending`), crash leftovers,
//! removals, then creations and replacements in path order (parents before children), then
//! the final record, made durable together with every touched directory (one fsync each,
//! or one syncfs per filesystem when there are many: [`Fs::sync_touched_dirs_and_write_atomic`]). Every replacement is atomic: a new
//! link is made beside the target (`TARGET.lumina-new`) and renamed or exchanged over it.
//! A crash at any step leaves every target either as it was or as declared, and the next
//! run converges (tested by injecting a failure after every step).
//!
//! The plan and the record are both sorted by target ([`super::order`]): the no-op check,
//! the write-ahead record and the final record are each one merge pass over the two. New
//! links are made in their directory opened once (`symlinkat`, then `fstatat` for the
//! stamp), and directories are made or checked once per run ([`Fs::create_dir_all`]).

use std::cmp::Ordering;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::observe::TMP_SUFFIX;
use super::order;
use super::plan::{Action, Adopt, Cleanup, Item, Plan};
use super::record::{self, Encoder, Entry, EntryRef, Record, Stamp};
use crate::error::{Error, Result};
use crate::fs::{Dir, Fs, sibling};

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
    let mut out = Outcome::default();
    if !changes(plan, old) {
        return Ok(out);
    }
    let links = old.links.as_slice();
    let unwritable = |message| Error::Record {
        path: record::path(home),
        message,
    };
    // Write-ahead: every target about to change is marked, so that a crash's leftovers are
    // found and recognised as Lumina's by the next run.
    let mut marked = false;
    let ahead = encode(links, plan, |_, item, e| {
        let (e, changed) = ahead_entry(item, e);
        marked |= changed;
        e
    })
    .map_err(unwritable)?;
    if marked {
        record::save_encoded(home, fs, &ahead, false)?;
    }
    drop(ahead);
    let mut done = vec![Done::No; plan.items.len()];
    let result = run(plan, fs, &mut out, &mut done);
    // The record with what was done (on top of the write-ahead marks).
    let after = || {
        encode(links, plan, |i, item, e| {
            done_entry(done[i], item, ahead_entry(item, e).0)
        })
    };
    match result {
        Err(e @ Error::Injected { .. }) => Err(e),
        Err(e) => {
            // Keep what was done; the pending marks of what was not stay for the next run.
            let _ = fs.sync_touched_dirs();
            if let Ok(bytes) = after() {
                let _ = record::save_encoded(home, fs, &bytes, false);
            }
            Err(e)
        }
        Ok(()) => {
            // Every link and the record durable, with one writeback when it can be one.
            let bytes = after().map_err(unwritable)?;
            record::save_encoded(home, fs, &bytes, true)?;
            out.record_written = true;
            Ok(out)
        }
    }
}

/// Would applying the plan change anything, the record included (`Keep` items refresh
/// stamps)?
fn changes(plan: &Plan, old: &Record) -> bool {
    let links = old.links.as_slice();
    let mut j = 0;
    for item in &plan.items {
        if item.action.mutates() || item.cleanup.is_some() || item.action == Action::Forget {
            return true;
        }
        if let (Action::Keep, Some(src)) = (&item.action, &item.source) {
            let unchanged = seek(links, &mut j, &item.target).is_some_and(|e| {
                e.text == *src
                    && e.pending.is_none()
                    && (item.stamp.is_none() || item.stamp == e.stamp)
            });
            if !unchanged {
                return true;
            }
        }
    }
    false
}

/// The record entry of `target`, moving `j` forward (targets are asked for in order).
fn seek<'l>(links: &'l [(PathBuf, Entry)], j: &mut usize, target: &Path) -> Option<&'l Entry> {
    while *j < links.len() && order::cmp(&links[*j].0, target) == Ordering::Less {
        *j += 1;
    }
    links
        .get(*j)
        .filter(|(t, _)| t.as_os_str() == target.as_os_str())
        .map(|(_, e)| e)
}

/// A target's entry in the write-ahead record (marked pending when the item is about to
/// change it, but not remove it), and whether that differs from `e`.
fn ahead_entry<'a>(item: &'a Item, e: Option<EntryRef<'a>>) -> (Option<EntryRef<'a>>, bool) {
    let Some(src) = item.source.as_deref() else {
        return (e, false);
    };
    if !item.action.mutates() || item.action == Action::Remove {
        return (e, false);
    }
    let marked = EntryRef {
        text: e.map_or(src, |e| e.text),
        pending: Some(src),
        stamp: e.and_then(|e| e.stamp),
    };
    (Some(marked), e != Some(marked))
}

/// A target's entry once its item got as far as `done`.
fn done_entry<'a>(done: Done, item: &'a Item, e: Option<EntryRef<'a>>) -> Option<EntryRef<'a>> {
    let src = || item.source.as_deref().unwrap_or(Path::new(""));
    match done {
        Done::No => e,
        Done::Dropped => None,
        Done::Kept => Some(EntryRef {
            text: src(),
            pending: None,
            stamp: item.stamp.or(e.and_then(|e| e.stamp)),
        }),
        Done::Linked(stamp) => Some(EntryRef {
            text: src(),
            pending: None,
            stamp,
        }),
    }
}

/// The record `links` changed by `f(index, item, entry)` for every item of the plan,
/// written in one pass over both (they are sorted by target) without building it.
fn encode<'a>(
    links: &'a [(PathBuf, Entry)],
    plan: &'a Plan,
    mut f: impl FnMut(usize, &'a Item, Option<EntryRef<'a>>) -> Option<EntryRef<'a>>,
) -> std::result::Result<Vec<u8>, String> {
    let mut enc = Encoder::new(links.len().max(plan.items.len()));
    let items = &plan.items;
    let (mut i, mut j) = (0, 0);
    loop {
        // The next target, from the record or the plan.
        let t: &'a Path = match (links.get(j), items.get(i)) {
            (Some((lt, _)), Some(item)) if order::cmp(lt, &item.target).is_le() => lt,
            (_, Some(item)) => &item.target,
            (Some((lt, _)), None) => lt,
            (None, None) => return Ok(enc.finish()),
        };
        let mut e = None;
        if let Some((lt, le)) = links.get(j)
            && lt.as_os_str() == t.as_os_str()
        {
            e = Some(le.borrowed());
            j += 1;
        }
        // Every item for this target (a conflict and a desired link can share one).
        while let Some(item) = items.get(i)
            && item.target.as_os_str() == t.as_os_str()
        {
            e = f(i, item, e);
            i += 1;
        }
        if let Some(e) = e {
            enc.push(t, e)?;
        }
    }
}

/// How far an item got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    /// Not done (or nothing to do).
    No,
    /// Removed or forgotten: no longer recorded.
    Dropped,
    /// Already right: recorded with a fresh stamp.
    Kept,
    /// Linked, with the new link's stamp.
    Linked(Option<Stamp>),
}

fn run(plan: &Plan, fs: &Fs, out: &mut Outcome, done: &mut [Done]) -> Result<()> {
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
    for (i, item) in plan.items.iter().enumerate() {
        match item.action {
            Action::Remove => {
                fs.unlink(&item.target)?;
                done[i] = Done::Dropped;
            }
            Action::Forget => done[i] = Done::Dropped,
            _ => {}
        }
    }
    // The directory of the last links made, open.
    let mut dir: Option<Dir> = None;
    for (i, item) in plan.items.iter().enumerate() {
        let Some(src) = &item.source else { continue };
        let t = &item.target;
        match &item.action {
            Action::Keep => {
                done[i] = Done::Kept;
                continue;
            }
            Action::Create => {
                done[i] = Done::Linked(create(src, t, fs, &mut dir)?);
                continue;
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
        // That renamed things: directories are opened again.
        dir = None;
        done[i] = Done::Linked(stamp_of(crate::fs::lstat_path(t), t)?);
    }
    Ok(())
}

/// The stamp of a link just made, from its `lstat`.
fn stamp_of(st: std::io::Result<crate::fs::Stat>, t: &Path) -> Result<Option<Stamp>> {
    match st {
        Ok(st) => Ok(Some(Stamp::of_stat(&st))),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::io(t, "inspecting the target", e)),
    }
}

/// Make the link `t` -> `src` where nothing is (`symlink(2)` is atomic and fails if anything
/// appeared meanwhile), making its parent directories first; returns its stamp.
fn create(src: &Path, t: &Path, fs: &Fs, dir: &mut Option<Dir>) -> Result<Option<Stamp>> {
    let Some((parent, name)) = order::split(t) else {
        fs.symlink(src, t)?;
        return stamp_of(crate::fs::lstat_path(t), t);
    };
    fs.create_dir_all(parent)?;
    let open = match dir.take() {
        Some(d) if d.path().as_os_str() == parent.as_os_str() => d,
        _ => Dir::open(parent)
            .map_err(|e| Error::io(parent, "opening the directory of a new link", e))?,
    };
    let d = dir.insert(open);
    fs.symlink_at(d, name, src)?;
    stamp_of(d.stat(name), t)
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
