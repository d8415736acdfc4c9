//! Pure path helpers: `~` expansion, lexical checks and display. No I/O here.

use std::path::{Component, Path, PathBuf};

/// Where `~` and the virtual root point for one run.
#[derive(Debug, Clone)]
pub struct Context {
    /// The acting user's home directory (what `~` expands to).
    pub user_home: PathBuf,
    /// The virtual root (`$LUMINA_HOME`), absolute.
    pub lumina_home: PathBuf,
}

impl Context {
    /// Expand a target as written in the registry. Returns `None` unless it is `~/...` or
    /// absolute. `~user/` is not expanded (that would read another user's home).
    pub fn expand_target(&self, text: &str) -> Option<PathBuf> {
        if let Some(rest) = text.strip_prefix("~/") {
            Some(self.user_home.join(rest))
        } else if text.starts_with('/') {
            Some(PathBuf::from(text))
        } else {
            None
        }
    }

    /// Show `path` the way a user wrote it: `~/...` under the home, else as is.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.user_home) {
            Ok(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
            _ => path.display().to_string(),
        }
    }

    /// The source path inside the virtual root.
    pub fn source_path(&self, source: &Path) -> PathBuf {
        self.lumina_home.join(source)
    }
}

/// True when `path` has a `.` or `..` component, or is empty.
pub fn has_dot_components(path: &Path) -> bool {
    path.as_os_str().is_empty()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        || path
            .as_os_str()
            .as_encoded_bytes()
            .windows(3)
            .any(|w| w == b"/./")
        || path.as_os_str().as_encoded_bytes().ends_with(b"/.")
        || path.as_os_str().as_encoded_bytes().starts_with(b"./")
}

/// True when `path` is `base` or below it (lexically).
pub fn is_within(path: &Path, base: &Path) -> bool {
    path.starts_with(base)
}

/// Remove a trailing slash and repeated slashes (lexical; `Path::components` does it).
pub fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            user_home: "/home/ana".into(),
            lumina_home: "/home/ana/.lumina".into(),
        }
    }

    #[test]
    fn expands_tilde_slash_and_absolute_only() {
        let c = ctx();
        assert_eq!(
            c.expand_target("~/.bashrc"),
            Some("/home/ana/.bashrc".into())
        );
        assert_eq!(c.expand_target("/etc/x"), Some("/etc/x".into()));
        assert_eq!(c.expand_target("~bob/.bashrc"), None);
        assert_eq!(c.expand_target(".bashrc"), None);
        assert_eq!(c.expand_target("~"), None);
    }

    #[test]
    fn displays_home_paths_with_tilde() {
        let c = ctx();
        assert_eq!(c.display(Path::new("/home/ana/.config/x")), "~/.config/x");
        assert_eq!(c.display(Path::new("/home/anab/x")), "/home/anab/x");
        assert_eq!(c.display(Path::new("/etc/x")), "/etc/x");
    }

    #[test]
    fn finds_dot_components() {
        assert!(has_dot_components(Path::new("a/../b")));
        assert!(has_dot_components(Path::new("../b")));
        assert!(has_dot_components(Path::new("a/./b")));
        assert!(has_dot_components(Path::new("./b")));
        assert!(has_dot_components(Path::new("")));
        assert!(!has_dot_components(Path::new("a/.b/..c")));
    }
}
