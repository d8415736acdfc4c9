//! Real filesystems for the snapshot tests, each behind a guard that undoes itself on drop,
//! also when the test panics: a btrfs image on a loop device ([`LoopBtrfs`]), a second mount
//! of it ([`Mounted`]), a read-only bind mount ([`ReadOnlyBind`]), and a `zfs-fuse` daemon
//! with file-backed pools ([`ZfsFuse`], [`Pool`]).
//!
//! Everything here needs root; callers check [`crate::require_root`] first.
//!
//! Guards never delete a directory that still has something mounted below it (see
//! [`mounts_below`]): they leave it behind and say so instead, so that a failed unmount can
//! never turn into a recursive delete inside a live filesystem.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Run;

/// Run a command and capture its result.
///
/// # Panics
/// When the program cannot be started.
pub fn run(cmd: &mut Command) -> Run {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
        .into()
}

/// Run a command that must succeed.
///
/// # Panics
/// When it cannot be started or exits non-zero (the message shows its output).
pub fn run_ok(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, 0, "{cmd:?} failed: {r:?}");
    r
}

/// A name nobody else uses: `PREFIX` + this process id + a per-process counter.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// Every mount point in this mount namespace (from `/proc/self/mountinfo`).
///
/// # Panics
/// When `/proc/self/mountinfo` cannot be read.
pub fn mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("/proc/self/mountinfo: {e}"));
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .collect()
}

/// Mount points whose filesystem type is `fstype` (e.g. `btrfs`, `fuse.zfs`).
///
/// # Panics
/// When `/proc/self/mountinfo` cannot be read.
pub fn mount_points_of_type(fstype: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("/proc/self/mountinfo: {e}"));
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next() == Some(fstype)).then_some(left.split(' ').nth(4)?)
        })
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .collect()
}

/// `\040`-style octal escapes of `/proc/self/mountinfo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let code = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok());
            if let Some(n) = code {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Is `path` itself a mount point?
pub fn is_mount_point(path: &Path) -> bool {
    let p = canonical(path);
    mount_points().contains(&p)
}

/// Mount points at or below `path`.
pub fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let p = canonical(path);
    mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&p))
        .collect()
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Loop devices backed by `image`, e.g. `["/dev/loop3"]`, also after the image was deleted
/// (from `losetup --list`, which shows such a backing file as `PATH (deleted)`).
pub fn loops_of(image: &Path) -> Vec<String> {
    let image = image.to_string_lossy();
    let deleted = format!("{image} (deleted)");
    let r =
        run(Command::new("losetup").args(["--list", "--noheadings", "--output", "NAME,BACK-FILE"]));
    r.stdout
        .lines()
        .filter_map(|l| l.trim().split_once(' '))
        .filter(|(_, back)| {
            let back = back.trim();
            back == image || back == deleted
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Unmount `path`: plain `umount`, retried while busy, then `umount -l` (lazy, which always
/// detaches it from the tree). Returns whether it is no longer a mount point.
pub fn umount(path: &Path) -> bool {
    for attempt in 0..5 {
        if !is_mount_point(path) {
            return true;
        }
        let r = run(Command::new("umount").arg(path));
        if r.code == 0 {
            return true;
        }
        if attempt < 4 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let r = run(Command::new("umount").arg("-l").arg(path));
    if r.code != 0 {
        eprintln!("umount -l {} failed: {r:?}", path.display());
    }
    !is_mount_point(path)
}

/// Drop a temporary directory, unless something is still mounted below it; then leave it
/// behind (and say so) rather than delete inside a live filesystem.
pub(crate) fn release_dir(dir: tempfile::TempDir) {
    let left = mounts_below(dir.path());
    if left.is_empty() {
        drop(dir);
    } else {
        eprintln!(
            "leaving {} behind: still mounted below it: {left:?}",
            dir.keep().display()
        );
    }
}

/// Smallest image `mkfs.btrfs` accepts (its own error says 114294784 bytes).
pub const BTRFS_MIN_MB: u64 = 110;

/// A fresh btrfs filesystem in an image file on a loop device, mounted at a temporary
/// directory.
///
/// Drop unmounts it (lazily if busy), detaches the loop device and deletes the image.
#[derive(Debug)]
pub struct LoopBtrfs {
    dir: Option<tempfile::TempDir>,
    image: PathBuf,
    mnt: PathBuf,
    device: String,
}

impl LoopBtrfs {
    /// `truncate -s SIZE img`, `losetup --find --show img`, `mkfs.btrfs -q`, `mount`.
    ///
    /// # Panics
    /// When `size_mb` is below [`BTRFS_MIN_MB`] or a command fails.
    pub fn new(size_mb: u64) -> Self {
        assert!(
            size_mb >= BTRFS_MIN_MB,
            "mkfs.btrfs needs at least {BTRFS_MIN_MB} MB, not {size_mb}"
        );
        let dir = scratch_dir("lumina-btrfs-");
        let image = dir.path().join("btrfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap_or_else(|e| panic!("{}: {e}", mnt.display()));
        run_ok(
            Command::new("truncate")
                .arg("-s")
                .arg(format!("{size_mb}M"))
                .arg(&image),
        );
        run_ok(Command::new("mkfs.btrfs").arg("-q").arg(&image));
        let device = run_ok(
            Command::new("losetup")
                .args(["--find", "--show"])
                .arg(&image),
        )
        .stdout
        .trim()
        .to_owned();
        // From here on, Drop undoes what was done.
        let me = Self {
            dir: Some(dir),
            image,
            mnt,
            device,
        };
        run_ok(Command::new("mount").arg(&me.device).arg(&me.mnt));
        me
    }

    /// Where the top-level subvolume (id 5) is mounted.
    pub fn mnt(&self) -> &Path {
        &self.mnt
    }

    /// The image file.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// The loop device, e.g. `/dev/loop0`.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// `btrfs subvolume create MNT/NAME`; returns its path.
    ///
    /// # Panics
    /// When the command fails.
    pub fn subvolume(&self, name: &str) -> PathBuf {
        let p = self.mnt.join(name);
        run_ok(Command::new("btrfs").args(["subvolume", "create"]).arg(&p));
        p
    }

    /// Mount the filesystem a second time, with no `subvol=` option, at a new temporary
    /// directory: what is mounted there is the filesystem's *default* subvolume, i.e. what
    /// the next boot would see after a rollback that ran `btrfs subvolume set-default`.
    ///
    /// # Panics
    /// When `mount` fails.
    pub fn remount_default(&self) -> Mounted {
        Mounted::new(Path::new(&self.device), &[])
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        umount(&self.mnt);
        // Detaches now, or (when a lazy unmount or another mount still holds it) as soon as
        // the last user goes: losetup -d sets autoclear then.
        let r = run(Command::new("losetup").arg("-d").arg(&self.device));
        if r.code != 0 {
            eprintln!("losetup -d {}: {r:?}", self.device);
        }
        if let Some(dir) = self.dir.take() {
            release_dir(dir);
        }
    }
}

/// Something mounted at a fresh temporary directory; Drop unmounts it and removes the
/// directory.
#[derive(Debug)]
pub struct Mounted {
    dir: Option<tempfile::TempDir>,
    target: PathBuf,
}

impl Mounted {
    /// `mount [-o OPTIONS] SOURCE TMPDIR`.
    ///
    /// # Panics
    /// When `mount` fails.
    pub fn new(source: &Path, options: &[&str]) -> Self {
        let dir = scratch_dir("lumina-mnt-");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        let mut cmd = Command::new("mount");
        if !options.is_empty() {
            cmd.arg("-o").arg(options.join(","));
        }
        run_ok(cmd.arg(source).arg(&target));
        Self {
            dir: Some(dir),
            target,
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        umount(&self.target);
        if let Some(dir) = self.dir.take() {
            release_dir(dir);
        }
    }
}

/// A directory made read-only in place: `mount --bind DIR DIR` then
/// `mount -o remount,bind,ro DIR`. Drop unmounts it, making it writable again.
#[derive(Debug)]
pub struct ReadOnlyBind {
    dir: PathBuf,
}

impl ReadOnlyBind {
    /// Make `dir` read-only until the guard is dropped.
    ///
    /// # Panics
    /// When a `mount` fails.
    pub fn new(dir: &Path) -> Self {
        let dir = canonical(dir);
        run_ok(Command::new("mount").arg("--bind").arg(&dir).arg(&dir));
        let me = Self { dir };
        run_ok(
            Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(&me.dir),
        );
        me
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        umount(&self.dir);
    }
}

/// Where `zfs-fuse` listens (`/var/run/zfs/zfs_socket`, compiled in); `zfs` and `zpool`
/// connect to it, so a chroot that runs them needs this directory bind-mounted in (and
/// `/proc`, for `/proc/mounts`).
pub const ZFS_SOCKET_DIR: &str = "/var/run/zfs";

/// `zfs-fuse` allows one daemon per machine (it locks `/var/lock/zfs/zfs_lock` and binds
/// [`ZFS_SOCKET_DIR`]), so tests that start one take this lock first and run one at a time,
/// whether they are threads of one test binary or separate processes.
const ZFS_HARNESS_LOCK: &str = "/run/lock/lumina-e2e-zfs-fuse.lock";

/// How long [`ZfsFuse::start`] waits for `zpool list` to answer.
const ZFS_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long Drop waits after SIGTERM before SIGKILL.
const ZFS_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `zfs-fuse --no-daemon --no-kstat-mount` child process. Drop sends SIGTERM to *that* PID
/// (then SIGKILL after 10 s) and reaps it.
///
/// While one is alive, other [`ZfsFuse::start`] calls wait (see `ZFS_HARNESS_LOCK`).
#[derive(Debug)]
pub struct ZfsFuse {
    child: Child,
    startup: Duration,
    log: PathBuf,
    dir: Option<tempfile::TempDir>,
    _lock: Flock<File>,
}

impl ZfsFuse {
    /// Start the daemon and wait until `zpool list` answers.
    ///
    /// # Panics
    /// When another `zfs-fuse` (not ours) is already answering, or the daemon exits or does
    /// not answer within 20 s (the message includes its output).
    pub fn start() -> Self {
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(ZFS_HARNESS_LOCK)
            .unwrap_or_else(|e| panic!("{ZFS_HARNESS_LOCK}: {e}"));
        let lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("flock {ZFS_HARNESS_LOCK}: {e}"));
        assert!(
            !zpool_answers(),
            "a zfs-fuse daemon that this harness did not start is running \
             ({ZFS_SOCKET_DIR}/zfs_socket answers); stop it first"
        );
        for d in [ZFS_SOCKET_DIR, "/var/lock/zfs"] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{d}: {e}"));
        }
        let dir = scratch_dir("lumina-zfs-fuse-");
        let log = dir.path().join("zfs-fuse.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let t0 = Instant::now();
        let child = Command::new("zfs-fuse")
            .args(["--no-daemon", "--no-kstat-mount"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start zfs-fuse: {e} (apt-get install zfs-fuse)"));
        let mut me = Self {
            child,
            startup: Duration::ZERO,
            log,
            dir: Some(dir),
            _lock: lock,
        };
        loop {
            if let Ok(Some(st)) = me.child.try_wait() {
                panic!("zfs-fuse exited at start ({st}): {}", me.log_text());
            }
            if zpool_answers() {
                break;
            }
            assert!(
                t0.elapsed() < ZFS_START_TIMEOUT,
                "zfs-fuse did not answer within {ZFS_START_TIMEOUT:?}: {}",
                me.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        me.startup = t0.elapsed();
        me
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long it took from spawning the daemon to the first `zpool list` that answered.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// What the daemon printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A pool on a sparse file vdev of `size_mb` (at least 64, the ZFS minimum), named
    /// [`unique_name`]`(prefix)`, with its root dataset mounted at a temporary directory.
    /// The pool is created with `cachefile=none`, so it is never recorded in
    /// `/var/lib/zfs/zpool.cache` and no later daemon tries to import it.
    ///
    /// # Panics
    /// When `zpool create` fails.
    pub fn create_pool(&self, prefix: &str, size_mb: u64) -> Pool<'_> {
        let dir = scratch_dir("lumina-zpool-");
        let vdev = dir.path().join("vdev");
        let mountpoint = dir.path().join("mnt");
        run_ok(
            Command::new("truncate")
                .arg("-s")
                .arg(format!("{size_mb}M"))
                .arg(&vdev),
        );
        let name = unique_name(prefix);
        run_ok(
            Command::new("zpool")
                .args(["create", "-o", "cachefile=none", "-m"])
                .arg(&mountpoint)
                .arg(&name)
                .arg(&vdev),
        );
        Pool {
            name,
            mountpoint,
            dir: Some(dir),
            _daemon: PhantomData,
        }
    }
}

fn zpool_answers() -> bool {
    Command::new("zpool")
        .arg("list")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for ZfsFuse {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
            let _ = kill(pid, Signal::SIGTERM);
            let t0 = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) && t0.elapsed() < ZFS_STOP_TIMEOUT {
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Ok(None) = self.child.try_wait() {
                eprintln!("zfs-fuse {pid} ignored SIGTERM; sending SIGKILL");
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
            eprintln!("zfs-fuse {pid} stopped in {:?}", t0.elapsed());
        }
        // Only one zfs-fuse can run, and it was ours: any ZFS mount left (after a SIGKILL,
        // or a pool that could not be destroyed) is ours too, and now dead.
        for m in mount_points_of_type("fuse.zfs") {
            umount(&m);
        }
        if let Some(dir) = self.dir.take() {
            release_dir(dir);
        }
    }
}

/// A ZFS pool of a running [`ZfsFuse`]. Drop runs `zpool destroy -f` and deletes the vdev.
#[derive(Debug)]
pub struct Pool<'a> {
    name: String,
    mountpoint: PathBuf,
    dir: Option<tempfile::TempDir>,
    _daemon: PhantomData<&'a ZfsFuse>,
}

impl Pool<'_> {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the pool's root dataset is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// `zfs create POOL/REL` (mounted below the pool's mount point); returns its mount point.
    ///
    /// # Panics
    /// When `zfs create` fails.
    pub fn dataset(&self, rel: &str) -> PathBuf {
        run_ok(
            Command::new("zfs")
                .arg("create")
                .arg(format!("{}/{rel}", self.name)),
        );
        self.mountpoint.join(rel)
    }
}

impl Drop for Pool<'_> {
    fn drop(&mut self) {
        // Right after a write, zfs-fuse often answers "pool is busy" once or twice (the
        // FUSE unmount it does first completes asynchronously): retry for a while.
        let t0 = Instant::now();
        loop {
            let r = run(Command::new("zpool")
                .args(["destroy", "-f"])
                .arg(&self.name));
            if r.code == 0 {
                break;
            }
            if t0.elapsed() > ZFS_STOP_TIMEOUT {
                eprintln!("zpool destroy -f {}: {r:?}", self.name);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(dir) = self.dir.take() {
            release_dir(dir);
        }
    }
}
