//! Look at the targets, read-only: what is at each one now.
//!
//! Cost model (the no-op run must stay near one `lstat` per target): a recorded link whose
//! lstat stamp still matches the record is taken as unchanged without `readlink`; parents
//! are only resolved for targets that are about to change, once per directory.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::desired::Expansion;
use super::record::{Record, Stamp};
use crate::error::{Error, Result};
use crate::fs::sibling;

/// Suffix of the temporary link made beside a target before it is renamed over it.
pub const TMP_SUFFIX: &str = ".lumina-new";

/// What is at a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing.
    Missing,
    /// A symlink with this text.
    Link(PathBuf),
    /// A regular file; `true` when it is the source itself (same inode).
    File(bool),
    /// A directory; `true` when it is the source itself.
    Dir(bool),
    /// A device, fifo or socket.
    Special,
    /// A parent component is not a directory.
    ParentNotDir,
}

/// What is beside a target under the temporary name (only looked at after a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tmp {
    /// Nothing.
    None,
    /// A leftover temporary link.
    Link,
    /// Something that is not a link: data an interrupted backup or adoption moved aside.
    Data,
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// What is at the target.
    pub seen: Seen,
    /// Its lstat stamp, when it is a symlink.
    pub stamp: Option<Stamp>,
    /// What is at the temporary name (checked only for targets with a pending record).
    pub tmp: Tmp,
    /// The parent directory resolves into the virtual root (a link there would be written
    /// inside the profile).
    pub parent_in_root: bool,
}

/// Observe every target that is desired or recorded.
///
/// # Errors
/// [`Error::Io`] for errors other than "not found".
pub fn observe(
    exp: &Expansion,
    record: &Record,
    lumina_home: &Path,
) -> Result<BTreeMap<PathBuf, Observed>> {
    let mut out = BTreeMap::new();
    let mut parents: HashMap<PathBuf, bool> = HashMap::new();
    let targets = exp.desired.keys().chain(
        record
            .links
            .keys()
            .filter(|t| !exp.desired.contains_key(*t)),
    );
    for target in targets {
        let entry = record.links.get(target);
        let want = exp.desired.get(target).map(|d| d.source.as_path());
        let (seen, stamp) = look(
            target,
            entry.and_then(|e| e.stamp.map(|s| (s, &e.text))),
            want,
        )?;
        let tmp = match entry {
            Some(e) if e.pending.is_some() => {
                let tmp = sibling(target, TMP_SUFFIX);
                match crate::fs::lstat(&tmp)? {
                    None => Tmp::None,
                    // Only a link with a text Lumina writes is Lumina's leftover; a foreign
                    // link there is a user's link that an interrupted backup moved aside.
                    Some(m)
                        if m.file_type().is_symlink()
                            && e.owns_text(&crate::fs::read_link(&tmp)?) =>
                    {
                        Tmp::Link
                    }
                    Some(_) => Tmp::Data,
                }
            }
            _ => Tmp::None,
        };
        let settled = matches!((&seen, want), (Seen::Link(t), Some(w)) if t == w);
        let parent_in_root = if settled || want.is_none() {
            false
        } else {
            parent_resolves_into(target, lumina_home, &mut parents)?
        };
        out.insert(
            target.clone(),
            Observed {
                seen,
                stamp,
                tmp,
                parent_in_root,
            },
        );
    }
    Ok(out)
}

fn look(
    target: &Path,
    known: Option<(Stamp, &PathBuf)>,
    source: Option<&Path>,
) -> Result<(Seen, Option<Stamp>)> {
    let m = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Seen::Missing, None)),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => {
            return Ok((Seen::ParentNotDir, None));
        }
        Err(e) => return Err(Error::io(target, "inspecting the target", e)),
    };
    let ft = m.file_type();
    if ft.is_symlink() {
        let stamp = Stamp::of(&m);
        if let Some((s, text)) = known
            && s == stamp
        {
            return Ok((Seen::Link(text.clone()), Some(stamp)));
        }
        return Ok((Seen::Link(crate::fs::read_link(target)?), Some(stamp)));
    }
    let same = match source.map(crate::fs::stat).transpose()?.flatten() {
        Some(s) => s.dev() == m.dev() && s.ino() == m.ino(),
        None => false,
    };
    Ok((
        if ft.is_dir() {
            Seen::Dir(same)
        } else if ft.is_file() {
            Seen::File(same)
        } else {
            Seen::Special
        },
        None,
    ))
}

/// Does the nearest existing ancestor of `target` resolve into `root`?
fn parent_resolves_into(
    target: &Path,
    root: &Path,
    cache: &mut HashMap<PathBuf, bool>,
) -> Result<bool> {
    let Some(parent) = target.parent() else {
        return Ok(false);
    };
    if let Some(&hit) = cache.get(parent) {
        return Ok(hit);
    }
    let mut anc = Some(parent);
    let mut hit = false;
    while let Some(a) = anc {
        match std::fs::canonicalize(a) {
            Ok(real) => {
                hit = real.starts_with(root);
                break;
            }
            Err(_) => anc = a.parent(),
        }
    }
    cache.insert(parent.to_path_buf(), hit);
    Ok(hit)
}
