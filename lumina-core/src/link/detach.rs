//! `lumina detach`: replace every link Lumina made with a copy of its source and forget it,
//! so that Lumina can be removed and the machine keeps working.
//!
//! Each replacement is atomic: the copy is made beside the target (`TARGET.lumina-detach`)
//! and renamed over the link (a directory copy is exchanged with it, then the link removed).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::Record;
use crate::error::Result;
use crate::fs::{Fs, sibling};

/// Suffix of the copy made beside a target.
pub const DETACH_SUFFIX: &str = ".lumina-detach";

/// What happened to one recorded target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Detached {
    /// The link was replaced by a copy of its source.
    Copied {
        /// The target.
        target: PathBuf,
    },
    /// No longer Lumina's link (gone or changed by the user): forgotten, untouched.
    Forgotten {
        /// The target.
        target: PathBuf,
    },
    /// Still Lumina's link, but its source is gone: left as is and kept in the record.
    SourceMissing {
        /// The target.
        target: PathBuf,
    },
}

/// Detach every recorded link.
///
/// # Errors
/// The first failing step's error; the record then still lists what was not detached.
pub fn detach(home: &Path, fs: &Fs) -> Result<Vec<Detached>> {
    let mut rec = Record::load(home)?;
    let mut out = Vec::new();
    // Targets no longer recorded (forgotten or detached), by index.
    let mut gone = vec![false; rec.links.len()];
    let result = (|| -> Result<()> {
        for (i, (target, entry)) in rec.links.iter().enumerate() {
            let target = target.clone();
            let tmp = sibling(&target, DETACH_SUFFIX);
            // A leftover copy from an interrupted detach is Lumina's own: start over.
            if let Some(m) = crate::fs::lstat(&tmp)? {
                if m.is_dir() {
                    fs.remove_tree(&tmp)?;
                } else {
                    fs.unlink(&tmp)?;
                }
            }
            let text = match crate::fs::lstat(&target)? {
                Some(m) if m.file_type().is_symlink() => Some(crate::fs::read_link(&target)?),
                _ => None,
            };
            let ours = text.as_deref().is_some_and(|t| entry.owns_text(t));
            if !ours {
                gone[i] = true;
                out.push(Detached::Forgotten { target });
                continue;
            }
            let src = text.unwrap_or_default();
            match crate::fs::stat(&src)? {
                None => {
                    out.push(Detached::SourceMissing { target });
                    continue;
                }
                Some(m) if m.is_dir() => {
                    fs.copy_tree(&src, &tmp)?;
                    fs.exchange(&tmp, &target)?;
                    fs.unlink(&tmp)?;
                }
                Some(_) => {
                    fs.copy_file(&src, &tmp)?;
                    fs.rename(&tmp, &target)?;
                }
            }
            gone[i] = true;
            out.push(Detached::Copied { target });
        }
        Ok(())
    })();
    if let Err(e @ crate::Error::Injected { .. }) = result {
        return Err(e); // a simulated crash saves nothing
    }
    let mut gone = gone.into_iter();
    rec.links.retain(|_, _| !gone.next().unwrap_or(false));
    fs.sync_touched_dirs()?;
    rec.save(home, fs)?;
    result.map(|()| out)
}
