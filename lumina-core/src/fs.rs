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
//! - [`Fs::sync_touched_dirs`] makes every directory a step changed durable: one `fsync` per
//!   directory, or one `syncfs` per filesystem when many directories were changed.
#![allow(clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// From this many changed directories on, [`Fs::sync_touched_dirs`] makes them durable with
/// one `syncfs(2)` per filesystem instead of one `fsync(2)` each: every `fsync` is a cache
/// flush of its own, which costs more than writing back the whole filesystem once when a
/// first link makes hundreds of directories. (`syncfs` also writes back whatever else is
/// dirty on that filesystem, hence the per-directory `fsync` for small runs.)
pub const SYNCFS_MIN_DIRS: usize = 32;

/// The effects handle. Cheap to create; not shared between threads.
#[derive(Debug, Default)]
pub struct Fs {
    fail_after: Option<usize>,
    steps: Cell<usize>,
    /// Directories changed since the last sync (consecutive duplicates skipped).
    dirty_dirs: RefCell<Vec<PathBuf>>,
    /// Directories known to exist (made or checked by [`Fs::create_dir_all`]); forgotten by
    /// any step that renames or removes something.
    known_dirs: RefCell<HashSet<OsString>>,
    /// The last directory found in `known_dirs` (empty: none).
    last_known: RefCell<PathBuf>,
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
            self.touched_dir(parent);
        }
    }

    fn touched_dir(&self, dir: &Path) {
        let mut dirty = self.dirty_dirs.borrow_mut();
        if dirty.last().map(|d| d.as_os_str()) != Some(dir.as_os_str()) {
            dirty.push(dir.to_path_buf());
        }
    }

    fn is_known_dir(&self, dir: &Path) -> bool {
        // Links are made in order, mostly in the directory of the one before: that one was
        // made or checked by `create_dir_all` unless something was renamed or removed since.
        let last = self.last_known.borrow();
        if last.as_os_str() == dir.as_os_str() && !last.as_os_str().is_empty() {
            return true;
        }
        drop(last);
        let known = self.known_dirs.borrow().contains(dir.as_os_str());
        if known {
            *self.last_known.borrow_mut() = dir.to_path_buf();
        }
        known
    }

    fn know_dir(&self, dir: &Path) {
        self.known_dirs
            .borrow_mut()
            .insert(dir.as_os_str().to_os_string());
    }

    /// A step renamed or removed something: a directory known to exist may be gone.
    fn forget_dirs(&self) {
        self.known_dirs.borrow_mut().clear();
        self.last_known.borrow_mut().clear();
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

    /// Create a symlink named `name` in the open directory `dir` whose text is `text`
    /// ([`Fs::symlink`] without resolving the directory's path again). Fails if it exists.
    ///
    /// # Errors
    /// [`Error::Io`] from `symlinkat(2)`; [`Error::Injected`].
    pub fn symlink_at(&self, dir: &Dir, name: &OsStr, text: &Path) -> Result<()> {
        nix::unistd::symlinkat(text, &dir.fd, name)
            .map_err(|e| Error::io(dir.path.join(name), "creating the link", e.into()))?;
        self.touched_dir(&dir.path);
        self.step(|| format!("symlink {}", dir.path.join(name).display()))
    }

    /// Rename `from` to `to`, replacing `to` atomically if it exists.
    ///
    /// # Errors
    /// [`Error::Io`] from `rename(2)`; [`Error::Injected`].
    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io(to, "renaming into place", e))?;
        self.forget_dirs();
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
        self.forget_dirs();
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

    /// Make a hard link `name` in the open directory `to` of the file `name` in the open
    /// directory `from` ([`Fs::hard_link`] without resolving either directory's path again:
    /// a third of the cost when thousands are linked).
    ///
    /// # Errors
    /// [`Error::Io`] from `linkat(2)` (`NotFound` when `from` has no `name`);
    /// [`Error::Injected`].
    pub fn hard_link_at(&self, from: &Dir, to: &Dir, name: &OsStr) -> Result<()> {
        nix::unistd::linkat(&from.fd, name, &to.fd, name, nix::fcntl::AtFlags::empty())
            .map_err(|e| Error::io(to.path.join(name), "hard-linking", e.into()))?;
        self.touched_dir(&to.path);
        self.step(|| format!("link {}", to.path.join(name).display()))
    }

    /// Remove the file or symlink `name` (never a directory) of the open directory `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] from `unlinkat(2)`; [`Error::Injected`].
    pub fn unlink_at(&self, dir: &Dir, name: &OsStr) -> Result<()> {
        nix::unistd::unlinkat(&dir.fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
            .map_err(|e| Error::io(dir.path.join(name), "removing the link", e.into()))?;
        // Never a directory: the directories known to exist still do.
        self.touched_dir(&dir.path);
        self.step(|| format!("unlink {}", dir.path.join(name).display()))
    }

    /// Remove a file or symlink (never a directory).
    ///
    /// # Errors
    /// [`Error::Io`] from `unlink(2)`; [`Error::Injected`].
    pub fn unlink(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(path, "removing the link", e))?;
        self.forget_dirs();
        self.touched(path);
        self.step(|| format!("unlink {}", path.display()))
    }

    /// Create `dir` and every missing parent, each one a step, with mode 0755 (umask applies).
    ///
    /// Directories it made or found are remembered (until a step renames or removes
    /// something), so that making thousands of links in a few directories checks each
    /// directory once, and a directory whose parent is known is made with one `mkdir`.
    ///
    /// # Errors
    /// [`Error::Io`] when a component exists and is not a directory, or `mkdir` fails.
    pub fn create_dir_all(&self, dir: &Path) -> Result<()> {
        if self.is_known_dir(dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent()
            && self.is_known_dir(parent)
            && fs::DirBuilder::new().mode(0o755).create(dir).is_ok()
        {
            self.touched(dir);
            self.know_dir(dir);
            return self.step(|| format!("mkdir {}", dir.display()));
        }
        // Otherwise (including a failed `mkdir` above: it exists, or an error to report),
        // look at each component from `dir` up.
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(p) = cur {
            if self.is_known_dir(p) {
                break;
            }
            match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => {
                    self.know_dir(p);
                    break;
                }
                Ok(m) if m.file_type().is_symlink() => {
                    // A symlinked directory is used as it is (as the acting user).
                    match fs::metadata(p) {
                        Ok(t) if t.is_dir() => {
                            self.know_dir(p);
                            break;
                        }
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
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {
                    self.know_dir(p);
                    continue;
                }
                Err(e) => return Err(Error::io(p, "creating the directory", e)),
            }
            self.touched(p);
            self.know_dir(p);
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
        self.write_atomic_with(path, bytes, private, false)
    }

    /// [`Fs::sync_touched_dirs`] and [`Fs::write_atomic`] in one: the temporary file is
    /// written, then made durable together with every directory changed so far (when those
    /// are many and on the file's filesystem, by the one `syncfs` that covers them all
    /// instead of an `fsync` of its own), then renamed into place and its directory synced.
    /// For a record written after the changes it records.
    ///
    /// # Errors
    /// [`Error::Io`] at any step; [`Error::Injected`].
    pub fn sync_touched_dirs_and_write_atomic(
        &self,
        path: &Path,
        bytes: &[u8],
        private: bool,
    ) -> Result<()> {
        self.write_atomic_with(path, bytes, private, true)
    }

    fn write_atomic_with(
        &self,
        path: &Path,
        bytes: &[u8],
        private: bool,
        dirs: bool,
    ) -> Result<()> {
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
        let covered = dirs && self.sync_dirty(Some((&f, &tmp)))?;
        if !covered {
            f.sync_all()
                .map_err(|e| Error::io(&tmp, "syncing a temporary file", e))?;
        }
        drop(f);
        self.step(|| format!("fsync {}", tmp.display()))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, "renaming into place", e))?;
        self.forget_dirs();
        self.step(|| format!("rename {} -> {}", tmp.display(), path.display()))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// Replace `path` with `bytes` atomically but not durably: a temporary file beside it,
    /// renamed into place, no fsync. Readers see the old file or the new one; after a crash
    /// either may be there (or the temporary). Only for a file that something done right
    /// after makes durable anyway (a btrfs snapshot of its subvolume commits the
    /// filesystem's transaction after flushing the subvolume's dirty data).
    ///
    /// # Errors
    /// [`Error::Io`] at any step; [`Error::Injected`].
    pub fn write_replace(&self, path: &Path, bytes: &[u8], private: bool) -> Result<()> {
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
        drop(f);
        self.step(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, "renaming into place", e))?;
        self.forget_dirs();
        self.step(|| format!("rename {} -> {}", tmp.display(), path.display()))
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
        self.forget_dirs();
        self.touched(dir);
        self.step(|| format!("rm -r {}", dir.display()))
    }

    /// Make durable everything written on the filesystem holding `path`, and on those of
    /// the directories changed since the last sync: one `syncfs(2)` each. For many new
    /// files written with [`Fs::write_replace`] into a directory nobody reads yet, made
    /// durable at once before it is renamed into view (cheaper than an `fsync` per file).
    ///
    /// # Errors
    /// [`Error::Io`] from `syncfs(2)`; [`Error::Injected`].
    pub fn sync_filesystem(&self, path: &Path) -> Result<()> {
        let mut dirs = std::mem::take(&mut *self.dirty_dirs.borrow_mut());
        dirs.push(path.to_path_buf());
        sync_filesystems(&dirs)?;
        self.step(|| format!("syncfs {}", path.display()))
    }

    /// Make durable every directory that a step since the last call changed an entry of:
    /// `fsync(2)` each, or, from [`SYNCFS_MIN_DIRS`] directories on, `syncfs(2)` each
    /// filesystem they are on (which writes back at least as much).
    ///
    /// # Errors
    /// [`Error::Io`] from `fsync(2)` or `syncfs(2)`.
    pub fn sync_touched_dirs(&self) -> Result<()> {
        self.sync_dirty(None).map(drop)
    }

    /// Sync the changed directories; `true` when that was a `syncfs` of the filesystem the
    /// open file `also` is on (which is then durable too).
    fn sync_dirty(&self, also: Option<(&File, &Path)>) -> Result<bool> {
        let mut dirs = std::mem::take(&mut *self.dirty_dirs.borrow_mut());
        dirs.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        dirs.dedup_by(|a, b| a.as_os_str() == b.as_os_str());
        if dirs.len() >= SYNCFS_MIN_DIRS {
            let devs = sync_filesystems(&dirs)?;
            return match also {
                Some((f, p)) => {
                    let dev = f
                        .metadata()
                        .map_err(|e| Error::io(p, "inspecting a temporary file", e))?
                        .dev();
                    Ok(devs.contains(&dev))
                }
                None => Ok(false),
            };
        }
        for d in dirs {
            match sync_dir(&d) {
                Ok(()) => {}
                // A directory that a later step removed or renamed away.
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// `syncfs(2)` once for each filesystem that one of `dirs` is on; returns their devices.
fn sync_filesystems(dirs: &[PathBuf]) -> Result<Vec<u64>> {
    let mut seen: Vec<u64> = Vec::new();
    for d in dirs {
        let dev = match fs::metadata(d) {
            Ok(m) => m.dev(),
            // A directory that a later step removed or renamed away.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(d, "opening the directory to sync it", e)),
        };
        if seen.contains(&dev) {
            continue;
        }
        seen.push(dev);
        let f = File::open(d).map_err(|e| Error::io(d, "opening the directory to sync it", e))?;
        nix::unistd::syncfs(&f).map_err(|e| Error::io(d, "syncing the filesystem", e.into()))?;
    }
    Ok(seen)
}

/// What `lstat` says about an entry, as [`Dir::stat`] returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_ctime`.
    pub ctime: i64,
    /// `st_ctime_nsec`.
    pub ctime_nsec: i64,
}

impl Stat {
    fn file_type(&self) -> u32 {
        self.mode & nix::libc::S_IFMT
    }

    /// A symlink?
    pub fn is_symlink(&self) -> bool {
        self.file_type() == nix::libc::S_IFLNK
    }

    /// A directory?
    pub fn is_dir(&self) -> bool {
        self.file_type() == nix::libc::S_IFDIR
    }

    /// A regular file?
    pub fn is_file(&self) -> bool {
        self.file_type() == nix::libc::S_IFREG
    }
}

/// `lstat(2)` of a whole path, as a [`Stat`] (what [`Dir::stat`] gives for one name).
///
/// # Errors
/// The error as is (`NotFound`, `NotADirectory` when a parent is not a directory, ...).
pub fn lstat_path(path: &Path) -> std::io::Result<Stat> {
    let s = nix::sys::stat::fstatat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    Ok(Stat::from(s))
}

impl From<nix::sys::stat::FileStat> for Stat {
    fn from(s: nix::sys::stat::FileStat) -> Self {
        Self {
            mode: s.st_mode,
            dev: s.st_dev,
            ino: s.st_ino,
            ctime: s.st_ctime,
            ctime_nsec: s.st_ctime_nsec,
        }
    }
}

/// An open directory (an `O_PATH` descriptor), to look at or make many entries in it
/// without resolving its whole path for each one.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Open the directory `path` (following symlinks, as resolving a path through it would).
    ///
    /// # Errors
    /// The `open(2)` error as is: `NotFound`, `NotADirectory` (a component is not a
    /// directory), permission denied, ...
    pub fn open(path: &Path) -> std::io::Result<Self> {
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path it was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `lstat` of the entry `name` (one component).
    ///
    /// # Errors
    /// The `fstatat(2)` error as is (`NotFound` when there is no such entry).
    pub fn stat(&self, name: &OsStr) -> std::io::Result<Stat> {
        let s = nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        Ok(Stat::from(s))
    }

    /// The text of the symlink `name`.
    ///
    /// # Errors
    /// [`Error::Io`] from `readlinkat(2)`.
    pub fn read_link(&self, name: &OsStr) -> Result<PathBuf> {
        nix::fcntl::readlinkat(&self.fd, name)
            .map(PathBuf::from)
            .map_err(|e| Error::io(self.path.join(name), "reading the link", e.into()))
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
    // Names are unique: an unstable sort gives the same order, without a scratch buffer.
    out.sort_unstable();
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
