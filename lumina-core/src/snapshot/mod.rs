//! Snapshots: one trait, one file per backend, and Lumina's own metadata store.
//!
//! ```text
//!   hooks / `lumina snapshot` ──> ops (take pre/post, prune, delete, rollback)
//!                                   │            │
//!                     store (metadata JSON)   Backend (btrfs | zfs | snapper)
//!                                   │            │
//!                         retention (pure: which pairs go)
//! ```
//!
//! Every snapshot Lumina takes has a [`Meta`] record under `/var/lib/lumina/snapshots/`:
//! its id, time, pre/post pairing, transaction id, the pacman command, the targets with old
//! and new versions, and each backend id. Lumina deletes only snapshots it has a record of,
//! so snapshots made by snapper timelines or by hand are never touched.

pub mod btrfs;
pub mod ops;
pub mod retention;
pub mod snapper;
pub mod store;
pub mod zfs;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{BackendChoice, Config};
use crate::error::{Error, Result};
use crate::root::Root;

/// Pre, post, or a single snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Before a transaction.
    Pre,
    /// After a transaction, paired with its pre.
    Post,
    /// Unpaired (taken by hand, or a post whose pre is missing).
    Single,
}

impl Kind {
    /// `pre`, `post`, `single`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pre => "pre",
            Self::Post => "post",
            Self::Single => "single",
        }
    }
}

/// A package of the transaction with its versions before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Package name.
    pub name: String,
    /// Version before the transaction (`None`: installed by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// Version after the transaction (`None`: removed by it, or not yet known in a pre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One backend snapshot of one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// What was snapshotted: a mount point (btrfs), a dataset (zfs) or a config (snapper).
    pub subject: String,
    /// The backend's own id: a system path (btrfs), `pool/ds@name` (zfs), `config:N`
    /// (snapper).
    pub backend_id: String,
}

/// Lumina's record of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Lumina's id: increasing, so ids sort by time.
    pub id: u64,
    /// Pre, post or single.
    pub kind: Kind,
    /// For a post: its pre's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<u64>,
    /// Transaction id shared by a pre and its post.
    pub txid: String,
    /// Unix time in seconds.
    pub time: u64,
    /// The pacman command line that ran the transaction (when known).
    pub command: String,
    /// Packages of the transaction.
    pub targets: Vec<Target>,
    /// Backend name.
    pub backend: String,
    /// The backend snapshots, one per subject.
    pub parts: Vec<Part>,
    /// Did the transaction touch an important package?
    pub important: bool,
}

/// What a rollback did or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    /// Lines for the user: what was (or would be) done.
    pub actions: Vec<String>,
    /// Snapshots the rollback destroys (ZFS: later snapshots of the dataset).
    pub destroys: Vec<String>,
    /// Whether a reboot is needed to use the restored system.
    pub reboot: bool,
}

/// A snapshot mechanism.
pub trait Backend: std::fmt::Debug {
    /// `btrfs`, `zfs`, `snapper`.
    fn name(&self) -> &'static str;

    /// The subjects this backend snapshots under the configuration.
    fn subjects(&self) -> Vec<String>;

    /// Take a read-only snapshot of `subject` for Lumina snapshot `id`. `pre` is the backend
    /// id of the pre snapshot when `kind` is post (snapper pairs them itself).
    ///
    /// # Errors
    /// When the snapshot cannot be taken; nothing is left behind.
    fn create(
        &self,
        subject: &str,
        id: u64,
        kind: Kind,
        description: &str,
        pre: Option<&str>,
    ) -> Result<String>;

    /// Delete one of Lumina's snapshots.
    ///
    /// # Errors
    /// When it exists and cannot be deleted.
    fn delete(&self, backend_id: &str) -> Result<()>;

    /// Does the snapshot still exist?
    ///
    /// # Errors
    /// When the backend cannot be asked.
    fn exists(&self, backend_id: &str) -> Result<bool>;

    /// Where the snapshot's files can be read, if the backend exposes them as a directory.
    fn files(&self, backend_id: &str) -> Option<PathBuf>;

    /// The backend id [`Backend::create`] will return for `subject`, when it is known
    /// before the snapshot exists (btrfs: a path Lumina chooses). `None` otherwise.
    fn id_ahead(&self, _subject: &str, _id: u64, _kind: Kind) -> Option<String> {
        None
    }

    /// Does taking a snapshot of `subject` make earlier writes to the directory `dir`
    /// durable, without an fsync of their own? btrfs: yes when `dir` is on the subvolume
    /// being snapshotted (a snapshot flushes the subvolume's dirty data, then commits the
    /// filesystem's transaction). Lumina then writes a snapshot's record before taking it
    /// and skips the record's fsyncs, the largest cost of a hook after the snapshot itself.
    fn commit_covers(&self, _subject: &str, _dir: &Path) -> bool {
        false
    }

    /// Wait (bounded) until the space of the snapshots deleted so far is free again, so a
    /// free-space measurement sees it. btrfs frees a deleted subvolume's extents
    /// asynchronously; the others free synchronously.
    fn settle(&self) {}

    /// Roll `part` back (or say what would be done when `dry_run`).
    ///
    /// # Errors
    /// When the backend refuses or fails.
    fn rollback(&self, part: &Part, dry_run: bool) -> Result<RollbackReport>;
}

/// The filesystem type of `path` (statfs magic).
fn fs_magic(path: &Path) -> Result<i64> {
    let st = nix::sys::statfs::statfs(path)
        .map_err(|e| Error::io(path, "reading the filesystem type", e.into()))?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(st.filesystem_type().0 as i64)
}

/// btrfs's statfs magic.
pub const BTRFS_MAGIC: i64 = 0x9123_683e;
/// ZFS's statfs magic (kernel ZFS; zfs-fuse shows up as FUSE).
pub const ZFS_MAGIC: i64 = 0x2fc1_2fc1;

/// Choose the backend for `config` on `root`.
///
/// # Errors
/// [`Error::Snapshot`] when `auto` finds no supported filesystem.
pub fn open(config: &Config, root: &Root) -> Result<Option<Box<dyn Backend>>> {
    let choice = match config.backend {
        BackendChoice::Auto => {
            if crate::fs::stat(&root.join("/etc/snapper/configs/root"))?.is_some() {
                BackendChoice::Snapper
            } else {
                match fs_magic(root.path())? {
                    BTRFS_MAGIC => BackendChoice::Btrfs,
                    ZFS_MAGIC => BackendChoice::Zfs,
                    other => {
                        return Err(Error::Snapshot(format!(
                            "`/` is on a filesystem without snapshots (statfs type {other:#x}); \
                             set `backend:` in /etc/lumina/config.yaml (btrfs, zfs, snapper or none)"
                        )));
                    }
                }
            }
        }
        c => c,
    };
    Ok(match choice {
        BackendChoice::Btrfs => Some(Box::new(btrfs::Btrfs::new(root.clone(), config))),
        BackendChoice::Zfs => Some(Box::new(zfs::Zfs::new(root.clone(), config)?)),
        BackendChoice::Snapper => Some(Box::new(snapper::Snapper::new(root.clone(), config))),
        BackendChoice::None | BackendChoice::Auto => None,
    })
}

/// The snapshot name a backend uses for Lumina snapshot `id`: `lumina-000042-pre`.
pub fn name(id: u64, kind: Kind) -> String {
    format!("lumina-{id:06}-{}", kind.as_str())
}
