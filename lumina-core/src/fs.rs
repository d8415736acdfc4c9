//! The filesystem seam: every write Lumina makes goes through [`Fs`].
//!
//! Invariants:
//! - Every mutating method performs exactly one durable filesystem step (or a documented
//!   short sequence of them) and then calls [`Fs::step`], which is where a test can inject a
//!   failure ("crash right after this step"). Crash-safety tests run an operation with a
//!   failure injected after step 1, 2, 3, ... and check that a fresh run converges.
//! - Replacing a file or link is atomic: the new object is made beside the target and then
//!   renamed (or exchanged with `renameat2(RENAME_EXCHANGE)`) over it, so the target is
//!   never missing or half-written.
//! - [`Fs::write_atomic`] writes a temporary file in the same directory, fsyncs it, renames
//!   it over the destination and fsyncs the directory.
#![allow(clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The effects handle. Cheap to create; not shared between threads.
#[derive(Debug, Default)]
pub struct Fs {
    fail_after: Option<usize>,
    steps: Cell<usize>,
    dirty_dirs: RefCell<BTreeSet<PathBuf>>,
}

impl Fs {
    /// A handle that performs every operation for real.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that fails (as if the process crashed) right after step `n` (1-based).
    pub fn failing_after(n: usize) -> Self {
        Self {
            fail_after: Some(n),
            ..Self::default()
        }
    }

    /// How many steps have been performed.
    pub fn steps(&self) -> usize {
        self.steps.get()
    }

    /// Count one completed filesystem step; fail here if a failure is injected after it.
    ///
    /// # Errors
    /// [`Error::Injected`] when this is the step after which a failure was requested.
    pub fn step(&self, what: impl FnOnce() -> String) -> Result<()> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if self.fail_after == Some(n) {
            return Err(Error::Injected {
                step: n,
                what: what(),
            });
        }
        Ok(())
    }

    fn touched(&self, path: &Path) {
        if let Some(parent) = path.parent() {
            self.dirty_dirs.borrow_mut().insert(parent.to_path_buf());
        }
    }

    /// Create a symlink at `path` whose text is `text`. Fails if `path` exists.
    ///
    /// # Errors
    /// [`Error::Io`] from `symlink(2)`; [`Error::Injected`].
    pub fn symlink(&self, text: &Path, path: &Path) -> Result<()> {
        std::os::unix::fs::symlink(text, path)
            .map_err(|e| Error::io(path, "creating the link", e))?;
        self.touched(path);
        self.step(|| format!("symlink {}", path.display()))
    }

    /// Rename `from` to `to`, replacing `to` atomically if it exists.
    ///
    /// # Errors
    /// [`Error::Io`] from `rename(2)`; [`Error::Injected`].
    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io(to, "renaming into place", e))?;
        self.touched(from);
        self.touched(to);
        self.step(|| format!("rename {} -> {}", from.display(), to.display()))
    }

    /// Atomically exchange `a` and `b` (both must exist): `renameat2(RENAME_EXCHANGE)`.
    ///
    /// # Errors
    /// [`Error::Io`] (e.g. `EINVAL` on a filesystem without exchange); [`Error::Injected`].
    pub fn exchange(&self, a: &Path, b: &Path) -> Result<()> {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE)
            .map_err(|e| Error::io(b, "exchanging it atomically", e.into()))?;
        self.touched(a);
        self.touched(b);
        self.step(|| format!("exchange {} <-> {}", a.display(), b.display()))
    }

    /// Make a hard link `to` of the existing file `from`.
    ///
    /// # Errors
    /// [`Error::Io`] from `link(2)` (`EXDEV` across filesystems); [`Error::Injected`].
    pub fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        fs::hard_link(from, to).map_err(|e| Error::io(to, "hard-linking", e))?;
        self.touched(to);
        self.step(|| format!("link {} -> {}", from.display(), to.display()))
    }

    /// Remove a file or symlink (never a directory).
    ///
    /// # Errors
    /// [`Error::Io`] from `unlink(2)`; [`Error::Injected`].
    pub fn unlink(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(path, "removing the link", e))?;
        self.touched(path);
        self.step(|| format!("unlink {}", path.display()))
    }

    /// Create `dir` and every missing parent, each one a step, with mode 0755 (umask applies).
    ///
    /// # Errors
    /// [`Error::Io`] when a component exists and is not a directory, or `mkdir` fails.
    pub fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(p) = cur {
            match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => break,
                Ok(m) if m.file_type().is_symlink() => {
                    // A symlinked directory is used as it is (as the acting user).
                    match fs::metadata(p) {
                        Ok(t) if t.is_dir() => break,
                        _ => {
                            return Err(Error::io(
                                p,
                                "creating parent directories",
                                std::io::Error::from(std::io::ErrorKind::NotADirectory),
                            ));
                        }
                    }
                }
                Ok(_) => {
                    return Err(Error::io(
                        p,
                        "creating parent directories",
                        std::io::Error::from(std::io::ErrorKind::NotADirectory),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(p),
                Err(e) => return Err(Error::io(p, "creating parent directories", e)),
            }
            cur = p.parent();
        }
        for p in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o755).create(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => continue,
                Err(e) => return Err(Error::io(p, "creating the directory", e)),
            }
            self.touched(p);
            self.step(|| format!("mkdir {}", p.display()))?;
        }
        Ok(())
    }

    /// Write `bytes` to `path` atomically and durably: temp file beside it, fsync, rename,
    /// fsync of the directory. Mode 0644 (umask applies) unless `private`, then 0600.
    ///
    /// # Errors
    /// [`Error::Io`] at any step; [`Error::Injected`].
    pub fn write_atomic(&self, path: &Path, bytes: &[u8], private: bool) -> Result<()> {
        let tmp = sibling(path, ".lumina-tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if private { 0o600 } else { 0o644 })
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, "creating a temporary file", e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io(&tmp, "writing a temporary file", e))?;
        self.step(|| format!("write {}", tmp.display()))?;
        f.sync_all()
            .map_err(|e| Error::io(&tmp, "syncing a temporary file", e))?;
        drop(f);
        self.step(|| format!("fsync {}", tmp.display()))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, "renaming into place", e))?;
        self.step(|| format!("rename {} -> {}", tmp.display(), path.display()))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// Copy the regular file `from` to a new file `to` (which must not exist), preserving
    /// the permission bits, and fsync it.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn copy_file(&self, from: &Path, to: &Path) -> Result<()> {
        let mode = fs::metadata(from)
            .map_err(|e| Error::io(from, "reading the source", e))?
            .permissions();
        let mut src = File::open(from).map_err(|e| Error::io(from, "opening the source", e))?;
        let mut dst = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .map_err(|e| Error::io(to, "creating the copy", e))?;
        std::io::copy(&mut src, &mut dst).map_err(|e| Error::io(to, "copying", e))?;
        dst.set_permissions(mode)
            .map_err(|e| Error::io(to, "setting permissions", e))?;
        dst.sync_all()
            .map_err(|e| Error::io(to, "syncing the copy", e))?;
        self.touched(to);
        self.step(|| format!("copy {} -> {}", from.display(), to.display()))
    }

    /// Copy the directory tree `from` to a new directory `to` (files, directories and
    /// symlinks as links), each entry a step.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn copy_tree(&self, from: &Path, to: &Path) -> Result<()> {
        let meta = fs::metadata(from).map_err(|e| Error::io(from, "reading the source", e))?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(to)
            .map_err(|e| Error::io(to, "creating the directory", e))?;
        self.touched(to);
        self.step(|| format!("mkdir {}", to.display()))?;
        let entries =
            fs::read_dir(from).map_err(|e| Error::io(from, "reading the directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(from, "reading the directory", e))?;
            let ft = entry
                .file_type()
                .map_err(|e| Error::io(entry.path(), "reading", e))?;
            let dst = to.join(entry.file_name());
            if ft.is_dir() {
                self.copy_tree(&entry.path(), &dst)?;
            } else if ft.is_symlink() {
                let text = fs::read_link(entry.path())
                    .map_err(|e| Error::io(entry.path(), "reading the link", e))?;
                self.symlink(&text, &dst)?;
            } else {
                self.copy_file(&entry.path(), &dst)?;
            }
        }
        fs::set_permissions(to, meta.permissions())
            .map_err(|e| Error::io(to, "setting permissions", e))?;
        Ok(())
    }

    /// Remove a directory tree that Lumina itself made (a leftover copy), never a user's.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn remove_tree(&self, dir: &Path) -> Result<()> {
        fs::remove_dir_all(dir).map_err(|e| Error::io(dir, "removing a leftover copy", e))?;
        self.touched(dir);
        self.step(|| format!("rm -r {}", dir.display()))
    }

    /// fsync every directory that a step since the last call changed an entry of.
    ///
    /// # Errors
    /// [`Error::Io`] from `fsync(2)`.
    pub fn sync_touched_dirs(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.dirty_dirs.borrow_mut());
        for d in dirs {
            match sync_dir(&d) {
                Ok(()) => {}
                // A directory that a later step removed or renamed away.
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// fsync a directory so that entries created or renamed in it are durable.
///
/// # Errors
/// [`Error::Io`] when it cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, "opening the directory to sync it", e))?;
    d.sync_all()
        .map_err(|e| Error::io(dir, "syncing the directory", e))
}

/// `path` with `suffix` appended to its file name, in the same directory:
/// `~/.bashrc` + `.lumina-new` -> `~/.bashrc.lumina-new`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// `lstat(2)`; `Ok(None)` when the path does not exist.
///
/// # Errors
/// [`Error::Io`] for any error but "not found" (`ENOTDIR` counts as not found).
pub fn lstat(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(Error::io(path, "inspecting the target", e)),
    }
}

/// `stat(2)` following links; `Ok(None)` when it does not resolve.
///
/// # Errors
/// [`Error::Io`] for any error but "not found" or a dangling link.
pub fn stat(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => Ok(None),
        Err(e) => Err(Error::io(path, "inspecting", e)),
    }
}

fn is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

/// The text of a symlink.
///
/// # Errors
/// [`Error::Io`] from `readlink(2)`.
pub fn read_link(path: &Path) -> Result<PathBuf> {
    fs::read_link(path).map_err(|e| Error::io(path, "reading the link", e))
}

/// Read a whole file as bytes.
///
/// # Errors
/// [`Error::Io`].
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, "reading the file", e))
}

/// The entries of a directory: `(name, is_dir)`, where a symlink counts as a file.
///
/// # Errors
/// [`Error::Io`].
pub fn read_dir(dir: &Path) -> Result<Vec<(OsString, bool)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "reading the directory", e))? {
        let entry = entry.map_err(|e| Error::io(dir, "reading the directory", e))?;
        let ft = entry
            .file_type()
            .map_err(|e| Error::io(entry.path(), "reading", e))?;
        out.push((entry.file_name(), ft.is_dir()));
    }
    out.sort();
    Ok(out)
}

/// Compare two regular files' contents.
///
/// # Errors
/// [`Error::Io`].
pub fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let (ma, mb) = (
        fs::metadata(a).map_err(|e| Error::io(a, "reading", e))?,
        fs::metadata(b).map_err(|e| Error::io(b, "reading", e))?,
    );
    if ma.len() != mb.len() {
        return Ok(false);
    }
    Ok(read(a)? == read(b)?)
}

/// Canonicalize a path (resolving every symlink).
///
/// # Errors
/// [`Error::Io`].
pub fn canonicalize(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| Error::io(path, "resolving the path", e))
}
