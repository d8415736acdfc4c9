//! Harness for Lumina's end-to-end tests: find the built binaries, run them in throwaway
//! homes, and (as root) create real unprivileged users that are removed again on drop.
//!
//! The binaries are the ones `cargo build --workspace --bins` put beside this test
//! executable's `deps/` directory; `ci/test` builds them first.
// Test support: a panic is a test failure, and fixtures are set up with `std::fs` directly
// (the `lumina_core::fs` seam rule is for product code).
#![allow(clippy::panic, clippy::disallowed_methods)]

pub mod chroot;
pub mod http;
pub mod mounts;
pub mod pacman;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of a workspace binary (`lumina`, `lumina-hook`, `lumina-repo`).
///
/// # Panics
/// When the binary was not built (run `cargo build --workspace --bins` first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/e2e-HASH -> target/debug/NAME
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "`{}` is not built; run `cargo build --workspace --bins`",
        p.display()
    );
    p
}

/// Is this process root?
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For tests that need root: `true` to run. Without root, fails under `CI=true` and is
/// reported as not run elsewhere.
///
/// # Panics
/// When `CI=true` and not root.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root and CI=true"
    );
    eprintln!("{test}: not root; this test did not run");
    false
}

/// The result of one command.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A throwaway home (`HOME`) with a virtual root at `HOME/.lumina`.
#[derive(Debug)]
pub struct Home {
    dir: tempfile::TempDir,
    /// The home directory.
    pub home: PathBuf,
    /// The virtual root.
    pub root: PathBuf,
}

impl Home {
    /// A new home, world-traversable so that a dropped-privilege child can reach inside.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lumina-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        set_mode(dir.path(), 0o755);
        let home = dir.path().join("home");
        let root = home.join(".lumina");
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{e}"));
        Self { dir, home, root }
    }

    /// The scratch directory that holds the home.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Write `lumina.yaml`.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn registry(&self, text: &str) {
        write(&self.root.join("lumina.yaml"), text);
    }

    /// Write a source file in the virtual root.
    pub fn source(&self, rel: &str, content: &str) {
        write(&self.root.join(rel), content);
    }

    /// A path in the home.
    pub fn at(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    /// Run `lumina ARGS` with this home, no colour, and nothing else from the environment.
    pub fn lumina<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run(&bin("lumina"), args)
    }

    /// Run a given lumina binary with this home.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn run<I, S>(&self, exe: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(exe)
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .current_dir(&self.home)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
            .into()
    }

    /// Every path below the scratch directory with its type and link text or content, for
    /// "nothing changed" assertions.
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() {
            out.push(format!(
                "{rel} -> {}",
                std::fs::read_link(&p).unwrap_or_default().display()
            ));
        } else if m.is_dir() {
            out.push(format!("{rel}/"));
            walk(base, &p, out);
        } else {
            out.push(format!(
                "{rel} = {:?}",
                std::fs::read_to_string(&p).unwrap_or_default()
            ));
        }
    }
}

/// Write a file, creating parents.
///
/// # Panics
/// On I/O errors.
pub fn write(path: &Path, content: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// chmod.
///
/// # Panics
/// On I/O errors.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A real local user, created with `useradd` and removed with `userdel` on drop.
#[derive(Debug)]
pub struct TestUser {
    /// Login name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
}

impl TestUser {
    /// Create a user whose home is `home` (which must exist); `home` is chowned to it.
    ///
    /// # Panics
    /// When `useradd` fails.
    pub fn create(home: &Path) -> Self {
        let name = format!("lue2e{}", std::process::id() % 100_000 + rand_suffix());
        let st = Command::new("useradd")
            .args([
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--home-dir",
            ])
            .arg(home)
            .arg(&name)
            .status()
            .unwrap_or_else(|e| panic!("useradd: {e} (install the `passwd` package)"));
        assert!(st.success(), "useradd {name} failed");
        let user = nix::unistd::User::from_name(&name).ok().flatten();
        let Some(u) = user else {
            panic!("user {name} not found after useradd")
        };
        let me = Self {
            name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        };
        me.chown_tree(home);
        me
    }

    /// Give `path` and everything below it to this user.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn chown_tree(&self, path: &Path) {
        let st = Command::new("chown")
            .arg("-hR")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .unwrap_or_else(|e| panic!("chown: {e}"));
        assert!(st.success());
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.subsec_nanos() % 1000 * 100_000
}
