//! The repository lock: one `lumina-repo` at a time changes an output directory.
//!
//! `sync`, `promote`, `hold`, `rollback`, `gc`, ... each take [`RepoLock`] before they touch
//! the ledger, the pool or the published tree, and every function that changes them asks
//! for a `&RepoLock`, so the compiler checks that the lock is held. Without it, a `hold`
//! made while a `promote` runs would be lost when the promote saves the ledger it read at
//! its start.
//!
//! The lock is `flock(2)` on `OUT/.lock`: the kernel releases it when the holder exits or
//! crashes, so a stale lock file never blocks anyone. The holder writes who it is (pid,
//! host, start time, command) into the file after it has the lock; a second caller reads
//! that and says who holds it. The file is written in place, not replaced: the lock belongs
//! to the file's inode, and a new inode would be a second, independent lock.
//!
//! This module opens the lock file itself (not through `lumina_core::fs`): it is the one
//! file whose identity, not content, matters, and it is never renamed or removed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use nix::fcntl::{Flock, FlockArg};

use crate::error::Error;

/// The lock file's name in the output directory.
pub const LOCK_FILE: &str = ".lock";

/// Proof that this process holds the lock on an output directory; released on drop.
#[derive(Debug)]
pub struct RepoLock {
    out: PathBuf,
    _file: Flock<File>,
}

impl RepoLock {
    /// Take the lock on `out` (created, with its parents, if missing) for `command` (shown
    /// to a second caller, e.g. `lumina-repo promote`). Does not wait.
    ///
    /// # Errors
    /// - [`Error::Locked`] when another process (or another handle in this one) holds it,
    ///   naming the holder as it recorded itself.
    /// - [`Error::Fs`] when the directory or the lock file cannot be made or written.
    pub fn acquire(fs: &Fs, out: &Path, command: &str) -> Result<Self, Error> {
        fs.create_dir_all(out)?;
        let path = out.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| lumina_core::Error::io(&path, "opening the lock file", e))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let text = lumina_core::fs::read(&path).unwrap_or_default();
                let text = String::from_utf8_lossy(&text).trim().to_owned();
                return Err(Error::Locked {
                    out: out.to_path_buf(),
                    holder: if text.is_empty() {
                        "another process (it has not recorded who it is yet)".into()
                    } else {
                        text
                    },
                });
            }
            Err((_, e)) => {
                return Err(
                    lumina_core::Error::io(&path, "locking the lock file", e.into()).into(),
                );
            }
        };
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "an unknown host".into());
        let holder = format!(
            "`{command}` (pid {} on {host}, since {})\n",
            std::process::id(),
            crate::clock::rfc3339(crate::clock::now())
        );
        file.set_len(0)
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(|e| lumina_core::Error::io(&path, "recording the lock's holder", e))?;
        Ok(Self {
            out: out.to_path_buf(),
            _file: file,
        })
    }

    /// The locked output directory.
    #[must_use]
    pub fn out(&self) -> &Path {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_caller_is_told_who_holds_the_lock_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let fs = Fs::new();
        let first = RepoLock::acquire(&fs, &out, "lumina-repo promote").unwrap();
        assert_eq!(first.out(), out);
        let e = RepoLock::acquire(&fs, &out, "lumina-repo gc")
            .unwrap_err()
            .to_string();
        let prefix = format!(
            "the repository `{}` is locked by `lumina-repo promote` (pid {} on ",
            out.display(),
            std::process::id()
        );
        assert!(e.starts_with(&prefix), "{e}");
        assert!(e.ends_with("Z)"), "{e}");
        drop(first);
        let again = RepoLock::acquire(&fs, &out, "lumina-repo gc").unwrap();
        let text = String::from_utf8(lumina_core::fs::read(&out.join(LOCK_FILE)).unwrap()).unwrap();
        assert!(text.starts_with("`lumina-repo gc` (pid "), "{text}");
        drop(again);
    }
}
