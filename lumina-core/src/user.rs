//! Acting as another user: look an account up and run Lumina as it, in a child process.
//!
//! Root never follows a path under a user's home: `lumina link --user NAME` re-executes
//! Lumina in a child that has dropped to the user's uid, gid and supplementary groups
//! (`setgroups`, `setresgid`, `setresuid`, in that order) before `exec`, with a clean
//! environment. The child cannot regain root; every path is then resolved with the user's
//! own rights.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::error::{Error, Result};

/// Environment variable set in the child, so it refuses a second `--user`.
pub const DROPPED_ENV: &str = "LUMINA_DROPPED_PRIVILEGES";

/// A local account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
    /// Home directory.
    pub home: PathBuf,
    /// Supplementary groups (including the primary group).
    pub groups: Vec<Gid>,
}

/// Look a user up by name.
///
/// # Errors
/// [`Error::User`] when there is no such user.
pub fn lookup(name: &str) -> Result<Account> {
    let u = User::from_name(name)
        .map_err(|e| Error::User(format!("cannot look up user `{name}`: {e}")))?
        .ok_or_else(|| Error::User(format!("no user named `{name}`")))?;
    let cname = std::ffi::CString::new(name)
        .map_err(|_| Error::User(format!("invalid user name `{name}`")))?;
    let groups = nix::unistd::getgrouplist(&cname, u.gid)
        .map_err(|e| Error::User(format!("cannot list the groups of `{name}`: {e}")))?;
    Ok(Account {
        name: u.name,
        uid: u.uid,
        gid: u.gid,
        home: u.dir,
        groups,
    })
}

/// The home directory of the current user: `$HOME` if absolute, else the password database.
pub fn current_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
    {
        return Some(h);
    }
    let uid = nix::unistd::geteuid();
    match User::from_uid(uid).ok().flatten() {
        Some(u) => Some(u.dir),
        // A chroot without /etc/passwd (pacman's hook chroot of a minimal root): root's home.
        None if uid.is_root() => Some(PathBuf::from("/root")),
        None => None,
    }
}

/// Run the current executable with `args` as `account`, wait, and return its exit code.
///
/// # Errors
/// [`Error::User`] when not root, or when the child cannot be started.
pub fn run_as(account: &Account, args: &[OsString]) -> Result<i32> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::User(
            "`--user` needs root; run it as root or drop `--user`".into(),
        ));
    }
    if std::env::var_os(DROPPED_ENV).is_some() {
        return Err(Error::User(
            "refusing `--user` in a process that already dropped privileges".into(),
        ));
    }
    // /proc/self/exe, or (in pacman's hook chroot, which has no /proc) an absolute argv[0].
    let argv0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let exe = std::env::current_exe().ok().or(argv0).ok_or_else(|| {
        Error::User("cannot find the lumina executable (no /proc, relative argv[0])".into())
    })?;
    let mut cmd = Command::new(exe);
    cmd.args(args).env_clear().current_dir("/");
    for (k, v) in [
        ("HOME", account.home.as_os_str().to_owned()),
        ("USER", account.name.clone().into()),
        ("LOGNAME", account.name.clone().into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        (DROPPED_ENV, "1".into()),
    ] {
        cmd.env(k, v);
    }
    for k in ["LANG", "LC_ALL", "TERM", "NO_COLOR"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let (uid, gid, groups) = (account.uid, account.gid, account.groups.clone());
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // setgroups/setresgid/setresuid system calls on data prepared before the fork: no
    // allocation, no locks. Order matters: groups and gid first, while still root.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setresgid(gid, gid, gid)?;
            nix::unistd::setresuid(uid, uid, uid)?;
            Ok(())
        });
    }
    let status = cmd
        .status()
        .map_err(|e| Error::User(format!("cannot start lumina as `{}`: {e}", account.name)))?;
    Ok(status.code().unwrap_or(1))
}
