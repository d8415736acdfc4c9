//! Refuse a virtual root, registry or state that someone else could have written.
//!
//! Like sshd's `StrictModes`: the owner must be the acting user (or root) and neither group
//! nor others may write. As root, a home owned by another user is refused outright: act on
//! it with `--user NAME`, as that user.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Check one path (following a symlink to what it names). Absent paths pass.
///
/// # Errors
/// [`Error::Unsafe`] when it is writable by others or owned by another user.
pub fn check_private(path: &Path) -> Result<()> {
    let Some(m) = crate::fs::stat(path)? else {
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    let owner = m.uid();
    if owner != me && owner != 0 {
        let reason = if me == 0 {
            format!(
                "it belongs to uid {owner}; as root, run with `--user NAME` to act as its owner"
            )
        } else {
            format!("it belongs to uid {owner}, not to you (uid {me})")
        };
        return Err(Error::Unsafe {
            path: path.to_path_buf(),
            reason,
        });
    }
    let mode = m.mode();
    if mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 {
            "everyone"
        } else {
            "its group"
        };
        return Err(Error::Unsafe {
            path: path.to_path_buf(),
            reason: format!(
                "{who} can write it (mode {:o}); fix with `chmod go-w {}`",
                mode & 0o7777,
                path.display()
            ),
        });
    }
    Ok(())
}

/// Check the virtual root, the registry and the state directory and record.
///
/// # Errors
/// [`Error::Unsafe`] for the first offending path.
pub fn check_home(lumina_home: &Path) -> Result<()> {
    check_private(lumina_home)?;
    check_private(&lumina_home.join(crate::registry::FILE_NAME))?;
    let state = crate::link::record::state_dir(lumina_home);
    check_private(&state)?;
    check_private(&crate::link::record::path(lumina_home))
}
