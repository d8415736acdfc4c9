//! Programs inside a pacman root. pacman runs a hook by `chroot(ROOT)` then `execv(Exec)`, so
//! the hook's binary, its shared libraries and its dynamic loader must all be inside the
//! root at the paths the binary names (checked with pacman 6.0.2: a missing binary fails the
//! hook with "call to execv failed (No such file or directory)"). pacman needs no `/dev` or
//! `/proc` in the root for that; some tools do (`zfs` reads `/proc/mounts` and talks to
//! `zfs-fuse` through [`crate::mounts::ZFS_SOCKET_DIR`]): bind them in with [`BindMount`].
//!
//! Libraries are found with `ldd`; libraries a program `dlopen`s at run time (NSS modules,
//! `libgcc_s` for some glibc paths) are not listed by `ldd` and must be installed by hand with
//! [`install_file`].

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Run;
use crate::mounts::{run, run_ok, umount};

/// The shared libraries `ldd` lists for `bin`, including the dynamic loader; empty for a
/// static binary or a script.
///
/// # Panics
/// When `ldd` reports a library as "not found".
pub fn shared_libs(bin: &Path) -> Vec<PathBuf> {
    let r = run(Command::new("ldd").arg(bin).env("LC_ALL", "C"));
    let mut libs = Vec::new();
    for line in r.stdout.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once(" => ") {
            assert!(
                !rest.starts_with("not found"),
                "{}: library {name} not found",
                bin.display()
            );
            if let Some(path) = rest.split(" (").next().filter(|p| p.starts_with('/')) {
                libs.push(PathBuf::from(path));
            }
        } else if line.starts_with('/') {
            // The loader: "/lib64/ld-linux-x86-64.so.2 (0x...)".
            if let Some(path) = line.split(" (").next() {
                libs.push(PathBuf::from(path));
            }
        }
    }
    libs
}

/// Copy the host file `host` to the same absolute path inside `root` (following symlinks,
/// keeping the mode); returns the copy's path. The copy goes through a temporary name, so
/// a running program is never overwritten in place.
///
/// # Panics
/// On I/O errors, or when the destination would resolve outside `root` (an absolute symlink
/// inside the root).
pub fn install_file(root: &Path, host: &Path) -> PathBuf {
    copy_into(root, host, &host.to_string_lossy())
}

fn copy_into(root: &Path, src: &Path, dest: &str) -> PathBuf {
    assert!(
        dest.starts_with('/'),
        "destination must be absolute: {dest}"
    );
    let root = std::fs::canonicalize(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let target = root.join(dest.trim_start_matches('/'));
    let parent = target
        .parent()
        .unwrap_or_else(|| panic!("no parent: {}", target.display()));
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    let real_parent =
        std::fs::canonicalize(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    assert!(
        real_parent.starts_with(&root),
        "{} resolves to {}, outside the root {}",
        parent.display(),
        real_parent.display(),
        root.display()
    );
    let name = target
        .file_name()
        .unwrap_or_else(|| panic!("no file name: {dest}"));
    let real_target = real_parent.join(name);
    let tmp = real_parent.join(format!(".{}.lumina-tmp", name.to_string_lossy()));
    std::fs::copy(src, &tmp)
        .unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), tmp.display()));
    std::fs::rename(&tmp, &real_target)
        .unwrap_or_else(|e| panic!("{}: {e}", real_target.display()));
    real_target
}

/// Install the host program `bin` at `dest` inside `root` (e.g. `/usr/bin/lumina-hook`),
/// with every library `ldd` lists, including the dynamic loader, at their own paths. Returns
/// the installed program's path on the host.
///
/// # Panics
/// On I/O errors or a missing library.
pub fn install_binary(root: &Path, bin: &Path, dest: &str) -> PathBuf {
    for lib in shared_libs(bin) {
        install_file(root, &lib);
    }
    copy_into(root, bin, dest)
}

/// Where a system program is: the first `NAME` on `PATH` or in the usual `sbin` and `bin`
/// directories (tests may run with a `PATH` without `sbin`).
///
/// # Panics
/// When there is none.
pub fn find_tool(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').chain([
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]);
    for d in dirs.filter(|d| !d.is_empty()) {
        let p = Path::new(d).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed (not on PATH)")
}

/// Install a system program (found with [`find_tool`]) and its libraries inside `root` at
/// the path it has on the host; returns that path (e.g. `/usr/sbin/zfs`), the one to use in
/// a hook's `Exec =`.
///
/// # Panics
/// When the tool is missing or cannot be copied.
pub fn install_tool(root: &Path, name: &str) -> String {
    let host = find_tool(name);
    let dest = host.to_string_lossy().into_owned();
    install_binary(root, &host, &dest);
    dest
}

/// Install `/bin/sh` (with its libraries) if missing, and a script `#!/bin/sh` + `body` at
/// `dest` inside `root`, mode 0755. Only shell builtins work in it unless the programs it
/// calls are installed too (with [`install_tool`]).
///
/// # Panics
/// On I/O errors.
pub fn install_script(root: &Path, dest: &str, body: &str) -> PathBuf {
    if !root.join("bin/sh").exists() {
        install_binary(root, Path::new("/bin/sh"), "/bin/sh");
    }
    let p = root.join(dest.trim_start_matches('/'));
    crate::write(&p, &format!("#!/bin/sh\n{body}"));
    crate::set_mode(&p, 0o755);
    p
}

/// Run `ARGV` chrooted into `root` (`chroot ROOT ARGV...`) with a minimal environment.
///
/// # Panics
/// When `chroot` cannot be started.
pub fn chroot_run(root: &Path, argv: &[&str]) -> Run {
    run(Command::new("chroot")
        .arg(root)
        .args(argv)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LC_ALL", "C"))
}

/// A host directory or file bind-mounted inside a root; Drop unmounts it (lazily if busy).
///
/// The guard borrows the root path, so a root that deletes itself on drop cannot go first
/// while the bind mount still shows host files inside it.
#[derive(Debug)]
pub struct BindMount<'a> {
    target: PathBuf,
    _root: PhantomData<&'a Path>,
}

impl<'a> BindMount<'a> {
    /// Bind `host` at the same path inside `root`: `mount --bind HOST ROOT/HOST`.
    ///
    /// # Panics
    /// When `mount` fails.
    pub fn new(root: &'a Path, host: &Path) -> Self {
        Self::at(root, host, &host.to_string_lossy())
    }

    /// Bind `host` at `inside` (an absolute path in the root). The mount point is created
    /// (a directory, or an empty file when `host` is not a directory) and left behind after
    /// the unmount.
    ///
    /// # Panics
    /// When `mount` fails or the mount point would resolve outside `root`.
    pub fn at(root: &'a Path, host: &Path, inside: &str) -> Self {
        let root_real =
            std::fs::canonicalize(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        let target = root_real.join(inside.trim_start_matches('/'));
        if host.is_dir() {
            std::fs::create_dir_all(&target)
                .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        } else if !target.exists() {
            crate::write(&target, "");
        }
        let target =
            std::fs::canonicalize(&target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        assert!(
            target.starts_with(&root_real),
            "{inside} resolves to {}, outside the root {}",
            target.display(),
            root_real.display()
        );
        run_ok(Command::new("mount").arg("--bind").arg(host).arg(&target));
        Self {
            target,
            _root: PhantomData,
        }
    }

    /// The mount point (a host path inside the root).
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for BindMount<'_> {
    fn drop(&mut self) {
        umount(&self.target);
    }
}
