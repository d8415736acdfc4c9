//! btrfs snapshots through libbtrfsutil (ioctls, no `btrfs` process): ~1.5 ms each.
//!
//! A subject is a subvolume's mount point (`/`, `/home`). Its snapshots go in the snapshot
//! directory: `SUBJECT/.lumina-snapshots/lumina-000042-pre` by default (a relative
//! `snapshot_dir` is inside each subject, like snapper's `/.snapshots`). The backend id is
//! the snapshot's system path, valid both inside pacman's hook chroot and under `--root`.
//!
//! Rollback makes a writable snapshot of the chosen snapshot, clears a stale pacman lock
//! captured in it, and makes it the filesystem's default subvolume: the next boot (with no
//! `subvol=` in fstab or on the kernel command line) mounts it.

use std::path::{Path, PathBuf};

use super::{Backend, Kind, Part, RollbackReport};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::root::Root;

/// The btrfs backend.
#[derive(Debug, Clone)]
pub struct Btrfs {
    root: Root,
    snapshot_dir: PathBuf,
    subjects: Vec<PathBuf>,
    /// Subvolumes deleted and not yet known to be cleaned: (a path on their filesystem,
    /// subvolume id), for [`Backend::settle`].
    deleted: std::cell::RefCell<Vec<(PathBuf, u64)>>,
}

fn err(what: &str, path: &Path, e: &libbtrfsutil::Error) -> Error {
    Error::Snapshot(format!(
        "btrfs: cannot {what} `{}`: {e} ({})",
        path.display(),
        e.os_error()
    ))
}

impl Btrfs {
    /// The backend for `config` on `root`.
    pub fn new(root: Root, config: &Config) -> Self {
        Self {
            root,
            snapshot_dir: config.snapshot_dir.clone(),
            deleted: std::cell::RefCell::default(),
            subjects: config.subjects.clone(),
        }
    }

    /// The directory (host path) where snapshots of `subject` go.
    pub fn dir_for(&self, subject: &Path) -> PathBuf {
        if self.snapshot_dir.is_absolute() {
            self.root.join(&self.snapshot_dir)
        } else {
            self.root.join(subject).join(&self.snapshot_dir)
        }
    }
}

impl Backend for Btrfs {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn subjects(&self) -> Vec<String> {
        self.subjects
            .iter()
            .map(|s| s.display().to_string())
            .collect()
    }

    fn create(
        &self,
        subject: &str,
        id: u64,
        kind: Kind,
        _: &str,
        _: Option<&str>,
    ) -> Result<String> {
        let src = self.root.join(subject);
        let dir = self.dir_for(Path::new(subject));
        if crate::fs::stat(&dir)?.is_none() {
            Fs::new().create_dir_all(&dir)?;
        }
        let dest = dir.join(super::name(id, kind));
        libbtrfsutil::CreateSnapshotOptions::new()
            .readonly(true)
            .create(&src, &dest)
            .map_err(|e| err("snapshot", &src, &e))?;
        Ok(self
            .root
            .to_system(&dest)
            .unwrap_or(dest)
            .display()
            .to_string())
    }

    fn id_ahead(&self, subject: &str, id: u64, kind: Kind) -> Option<String> {
        let dest = self.dir_for(Path::new(subject)).join(super::name(id, kind));
        Some(
            self.root
                .to_system(&dest)
                .unwrap_or(dest)
                .display()
                .to_string(),
        )
    }

    fn commit_covers(&self, subject: &str, dir: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        // One subvolume, one st_dev: `dir` is inside the subvolume `subject` is.
        match (
            crate::fs::stat(dir),
            crate::fs::stat(&self.root.join(subject)),
        ) {
            (Ok(Some(d)), Ok(Some(s))) => {
                d.dev() == s.dev()
                    && libbtrfsutil::is_subvolume(self.root.join(subject)).unwrap_or(false)
            }
            _ => false,
        }
    }

    fn delete(&self, backend_id: &str) -> Result<()> {
        let p = self.root.join(backend_id);
        if crate::fs::lstat(&p)?.is_none() {
            return Ok(());
        }
        let id = libbtrfsutil::subvolume_id(&p).ok();
        libbtrfsutil::DeleteSubvolumeOptions::new()
            .delete(&p)
            .map_err(|e| err("delete the snapshot", &p, &e))?;
        if let (Some(id), Some(parent)) = (id, p.parent()) {
            self.deleted.borrow_mut().push((parent.to_path_buf(), id));
        }
        Ok(())
    }

    fn settle(&self) {
        // What `btrfs subvolume sync` does: commit, then poll until the cleaner has
        // dropped each deleted subvolume's root item (its extents are free then).
        let deleted = std::mem::take(&mut *self.deleted.borrow_mut());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for (fs, id) in deleted {
            let _ = libbtrfsutil::sync(&fs);
            while libbtrfsutil::subvolume_info_with_id(&fs, id).is_ok()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = libbtrfsutil::sync(self.root.path());
    }

    fn exists(&self, backend_id: &str) -> Result<bool> {
        Ok(crate::fs::lstat(&self.root.join(backend_id))?.is_some())
    }

    fn files(&self, backend_id: &str) -> Option<PathBuf> {
        Some(self.root.join(backend_id))
    }

    fn rollback(&self, part: &Part, dry_run: bool) -> Result<RollbackReport> {
        let snap = self.root.join(&part.backend_id);
        if crate::fs::stat(&snap)?.is_none() {
            return Err(Error::Snapshot(format!(
                "btrfs: the snapshot `{}` is gone",
                part.backend_id
            )));
        }
        let restored = crate::fs::sibling(&snap, "-restored");
        let restored = (0..)
            .map(|n| {
                if n == 0 {
                    restored.clone()
                } else {
                    crate::fs::sibling(&restored, &format!("-{n}"))
                }
            })
            .find(|p| !p.exists())
            .unwrap_or(restored);
        let shown = self
            .root
            .to_system(&restored)
            .unwrap_or_else(|| restored.clone());
        let mut report = RollbackReport {
            actions: vec![
                format!(
                    "create the writable subvolume `{}` from `{}`",
                    shown.display(),
                    part.backend_id
                ),
                "clear a stale pacman lock (`/var/lib/pacman/db.lck`) in it".into(),
                format!(
                    "make it the default subvolume of the filesystem of `{}`",
                    part.subject
                ),
            ],
            destroys: Vec::new(),
            reboot: true,
        };
        if dry_run {
            return Ok(report);
        }
        libbtrfsutil::CreateSnapshotOptions::new()
            .readonly(false)
            .create(&snap, &restored)
            .map_err(|e| err("create a writable snapshot of", &snap, &e))?;
        let lock = restored.join("var/lib/pacman/db.lck");
        if crate::fs::lstat(&lock)?.is_some() {
            Fs::new().unlink(&lock)?;
            report
                .actions
                .push("removed a stale `/var/lib/pacman/db.lck`".into());
        }
        let id = libbtrfsutil::subvolume_id(&restored)
            .map_err(|e| err("read the id of", &restored, &e))?;
        set_default_subvolume(&restored, id)?;
        report.actions.push(format!(
            "default subvolume is now id {id} (`{}`)",
            shown.display()
        ));
        Ok(report)
    }
}

/// Make subvolume `id` the default of the filesystem holding `path`.
fn set_default_subvolume(path: &Path, id: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Snapshot(format!("btrfs: a NUL byte in `{}`", path.display())))?;
    #[allow(unsafe_code)]
    // SAFETY: `c` is a valid NUL-terminated C string that outlives the call; the function
    // only reads it and takes `id` by value.
    let rc = unsafe { libbtrfsutil_sys::btrfs_util_set_default_subvolume(c.as_ptr(), id) };
    if rc == libbtrfsutil_sys::btrfs_util_error::BTRFS_UTIL_OK {
        Ok(())
    } else {
        Err(Error::Snapshot(format!(
            "btrfs: cannot set the default subvolume to {id}: {}",
            std::io::Error::last_os_error()
        )))
    }
}
