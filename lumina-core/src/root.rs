//! The system root every system path is resolved under (like `pacman --root`, snapper's
//! root prefix). `/` on a running system; a scratch directory in tests and rescue work.

use std::path::{Path, PathBuf};

/// A system root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    /// A root at `path` (absolute).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// The running system's root, `/`.
    pub fn system() -> Self {
        Self(PathBuf::from("/"))
    }

    /// The root directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Resolve a system path (`/etc/lumina/config.yaml`) under this root.
    pub fn join(&self, system_path: impl AsRef<Path>) -> PathBuf {
        let p = system_path.as_ref();
        self.0.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// The system path of a path under this root, if it is under it.
    pub fn to_system(&self, path: &Path) -> Option<PathBuf> {
        path.strip_prefix(&self.0)
            .ok()
            .map(|r| Path::new("/").join(r))
    }
}

/// Lumina's system configuration file.
pub const CONFIG: &str = "/etc/lumina/config.yaml";
/// Where snapshot metadata lives.
pub const SNAPSHOT_DB: &str = "/var/lib/lumina/snapshots";
/// The pre -> post hand-off directory (root-owned, on tmpfs on a running system).
pub const RUN_DIR: &str = "/run/lumina";
/// pacman's database directory.
pub const PACMAN_DB: &str = "/var/lib/pacman";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_system_paths_under_the_root() {
        let r = Root::new("/mnt/r");
        assert_eq!(
            r.join("/etc/lumina/config.yaml"),
            PathBuf::from("/mnt/r/etc/lumina/config.yaml")
        );
        assert_eq!(Root::system().join("/etc/x"), PathBuf::from("/etc/x"));
        assert_eq!(
            r.to_system(Path::new("/mnt/r/var/lib")),
            Some(PathBuf::from("/var/lib"))
        );
        assert_eq!(r.to_system(Path::new("/var/lib")), None);
    }
}
