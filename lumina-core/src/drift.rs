//! Package drift (pure): what is installed but not declared, and declared but not installed.
//!
//! `lumina status` and `lumina apply` compute it from the registry and pacman's local
//! database ([`crate::pacman::explicit`], [`crate::pacman::installed`]) each time they run, so
//! a package installed or removed with plain `pacman` (or any front end) is noticed without
//! anything being recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::registry::Package;

/// Packages out of step with the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageDrift {
    /// Explicitly installed, not declared: `lumina capture` adds them to the registry.
    pub undeclared: Vec<String>,
    /// Declared, not installed: `lumina apply` installs them.
    pub missing: Vec<String>,
}

impl PackageDrift {
    /// Nothing out of step.
    pub fn is_empty(&self) -> bool {
        self.undeclared.is_empty() && self.missing.is_empty()
    }
}

/// Compare the declared packages with the installed ones (`name -> version`, any reason)
/// and the explicitly installed ones. A declared package installed as a dependency counts as
/// installed. `undeclared` is sorted; `missing` is in registry order.
pub fn packages(
    declared: &[Package],
    installed: &BTreeMap<String, String>,
    explicit: &BTreeSet<String>,
) -> PackageDrift {
    let names: BTreeSet<&str> = declared.iter().map(|p| p.name.as_str()).collect();
    PackageDrift {
        undeclared: explicit
            .iter()
            .filter(|n| !names.contains(n.as_str()))
            .cloned()
            .collect(),
        missing: declared
            .iter()
            .filter(|p| !installed.contains_key(&p.name))
            .map(|p| p.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(n: &str) -> Package {
        Package {
            name: n.into(),
            reason: None,
            pos: Default::default(),
        }
    }

    #[test]
    fn undeclared_and_missing_are_told_apart() {
        let declared = [pkg("git"), pkg("zsh"), pkg("neovim"), pkg("libfoo")];
        let installed: BTreeMap<String, String> = ["git", "htop", "base", "libfoo"]
            .iter()
            .map(|n| ((*n).to_owned(), "1-1".to_owned()))
            .collect();
        let explicit: BTreeSet<String> = ["git", "htop", "base"]
            .iter()
            .map(|n| (*n).to_owned())
            .collect();
        let d = packages(&declared, &installed, &explicit);
        assert_eq!(d.undeclared, ["base", "htop"]);
        // `libfoo` is installed as a dependency: declared and present is enough.
        assert_eq!(d.missing, ["zsh", "neovim"]);
        assert!(!d.is_empty());
        let all = packages(&[pkg("git")], &installed, &["git".to_owned()].into());
        assert!(all.is_empty());
    }
}
