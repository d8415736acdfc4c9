//! The record of links Lumina made: `$LUMINA_HOME/.state/links.json`.
//!
//! Ownership rule: a target is Lumina's when it is recorded here **and** it is still a
//! symlink whose text is the recorded `text` (or the `pending` text of an operation that a
//! crash interrupted). Anything else at a target is the user's and is never removed.
//!
//! The record is written twice by a run that changes something: before the first change
//! (every target about to change marked `pending`, a write-ahead intent) and after the last.
//! A run that changes nothing does not write it. Writes are atomic and fsynced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::Fs;

/// The record's format version.
pub const RECORD_VERSION: u32 = 1;

/// What Lumina knows about one link it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The link text Lumina wrote (the absolute source path).
    pub text: PathBuf,
    /// Set while an operation on this target is in flight: the text being written. A crash
    /// leaves it set; the next run then checks for a leftover temporary beside the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PathBuf>,
    /// `(dev, ino, ctime_sec, ctime_nsec)` of the link when Lumina last saw it: a link whose
    /// lstat still matches needs no `readlink` (the fast path of a no-op run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
}

/// Identity of a symlink inode at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp(pub u64, pub u64, pub i64, pub i64);

impl Stamp {
    /// The stamp of an lstat result.
    pub fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self(m.dev(), m.ino(), m.ctime(), m.ctime_nsec())
    }
}

impl Entry {
    /// Is a symlink with this text Lumina's?
    pub fn owns_text(&self, text: &Path) -> bool {
        self.text == text || self.pending.as_deref() == Some(text)
    }
}

/// The whole record, keyed by absolute target path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format version.
    pub version: u32,
    /// Links by target.
    pub links: BTreeMap<PathBuf, Entry>,
}

/// The state directory inside the virtual root.
pub fn state_dir(lumina_home: &Path) -> PathBuf {
    lumina_home.join(".state")
}

/// The record file inside the virtual root.
pub fn path(lumina_home: &Path) -> PathBuf {
    state_dir(lumina_home).join("links.json")
}

impl Record {
    /// Load the record; an absent file is an empty record.
    ///
    /// # Errors
    /// [`Error::Record`] when it is not a record this Lumina reads; [`Error::Io`].
    pub fn load(lumina_home: &Path) -> Result<Self> {
        let p = path(lumina_home);
        if crate::fs::lstat(&p)?.is_none() {
            return Ok(Self {
                version: RECORD_VERSION,
                links: BTreeMap::new(),
            });
        }
        let bytes = crate::fs::read(&p)?;
        let rec: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Record {
            path: p.clone(),
            message: e.to_string(),
        })?;
        if rec.version != RECORD_VERSION {
            return Err(Error::Record {
                path: p,
                message: format!(
                    "version {} (this Lumina reads {RECORD_VERSION})",
                    rec.version
                ),
            });
        }
        Ok(rec)
    }

    /// Write the record atomically (temp + fsync + rename + directory fsync).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn save(&self, lumina_home: &Path, fs: &Fs) -> Result<()> {
        let dir = state_dir(lumina_home);
        if crate::fs::lstat(&dir)?.is_none() {
            fs.create_dir_all(&dir)?;
        }
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Record {
            path: path(lumina_home),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        fs.write_atomic(&path(lumina_home), &bytes, false)
    }
}
