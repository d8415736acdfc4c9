//! The pre -> post hand-off: which pre snapshot a post pairs with. One JSON file in
//! `/run/lumina/` (root-owned, mode 0700, on tmpfs on a running system), written atomically;
//! never `/tmp`, where another user could plant it (snap-pac's Prefile mistake).

use std::path::PathBuf;

use lumina_core::fs::Fs;
use lumina_core::root::{self, Root};
use lumina_core::snapshot::Target;
use serde::{Deserialize, Serialize};

/// What `pre` tells `post`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The pre snapshot's Lumina id (`None` when none was taken, e.g. `on_failure: warn`).
    pub pre: Option<u64>,
    /// Transaction id.
    pub txid: String,
    /// Unix time the transaction started (for "appeared since" reports).
    pub started: u64,
    /// The pacman command line.
    pub command: String,
    /// Targets with their versions before the transaction.
    pub targets: Vec<Target>,
}

fn path(root: &Root) -> PathBuf {
    root.join(root::RUN_DIR).join("transaction.json")
}

/// Write the hand-off.
///
/// # Errors
/// I/O errors, or a `/run/lumina` that is not root's alone.
pub fn write(root: &Root, h: &Handoff) -> anyhow::Result<()> {
    let dir = root.join(root::RUN_DIR);
    let fs = Fs::new();
    if lumina_core::fs::stat(&dir)?.is_none() {
        fs.create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    lumina_core::perm::check_private(&dir)?;
    // /run is volatile by design (a reboot forgets an unfinished transaction): atomic,
    // not durable.
    fs.write_replace(&path(root), &serde_json::to_vec(h)?, true)?;
    Ok(())
}

/// Read and remove the hand-off; `None` when there is none.
///
/// # Errors
/// I/O errors, an unsafe `/run/lumina`, or a corrupt file.
pub fn take(root: &Root) -> anyhow::Result<Option<Handoff>> {
    let p = path(root);
    if lumina_core::fs::lstat(&p)?.is_none() {
        return Ok(None);
    }
    lumina_core::perm::check_private(&root.join(root::RUN_DIR))?;
    lumina_core::perm::check_private(&p)?;
    let h: Handoff = serde_json::from_slice(&lumina_core::fs::read(&p)?)?;
    Fs::new().unlink(&p)?;
    Ok(Some(h))
}
