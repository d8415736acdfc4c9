//! The planner's view of a package: the fields of a repository database entry that decide
//! whether, and together with what, a package may be published.
//!
//! These are plain data. The database layer reads sync databases and converts each entry into
//! a [`Package`]; the planner never parses anything itself. Versions are kept as strings and
//! compared with [`crate::vercmp::vercmp`] (pacman's order is not transitive across a pkgrel
//! present on one side only, so a version type implementing `Ord` would lie). Names are unique
//! within a set the planner is given; the planner checks that and reports duplicates.

use serde::{Deserialize, Serialize};

use crate::depend::Depend;

/// One package as a repository database describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// `%NAME%`.
    pub name: String,
    /// `%BASE%`: packages sharing it are split packages of one build and move together.
    pub base: String,
    /// `%VERSION%`: `[epoch:]pkgver-pkgrel`.
    pub version: String,
    /// `%FILENAME%`: the package file, relative to the repository directory.
    pub filename: String,
    /// `%ARCH%`.
    pub arch: String,
    /// `%CSIZE%`: size of the package file in bytes.
    pub csize: u64,
    /// `%ISIZE%`: installed size in bytes.
    pub isize: u64,
    /// `%SHA256SUM%`: lowercase hex digest of the package file.
    pub sha256: String,
    /// `%BUILDDATE%`: seconds since the Unix epoch.
    pub builddate: i64,
    /// `%DEPENDS%`: run-time dependencies; each must resolve inside the published set.
    pub depends: Vec<Depend>,
    /// `%PROVIDES%`: virtual names and sonames this package provides.
    pub provides: Vec<Depend>,
    /// `%CONFLICTS%`.
    pub conflicts: Vec<Depend>,
    /// `%REPLACES%`.
    pub replaces: Vec<Depend>,
}

impl Package {
    /// A package of `name` at `version`, its own base, with no relations and zero sizes.
    #[must_use]
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            base: name.clone(),
            name,
            version: version.into(),
            ..Self::default()
        }
    }

    /// Whether this package satisfies `dep`, by its own name and version or by a provision
    /// (libalpm's `_alpm_depcmp`).
    #[must_use]
    pub fn satisfies(&self, dep: &Depend) -> bool {
        crate::depend::satisfies(&self.name, Some(&self.version), dep)
            || self
                .provides
                .iter()
                .any(|p| dep.is_satisfied_by_provision(p))
    }
}

/// A package in a named repository (`core`, `extra`, `lumina`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoPackage {
    /// The repository.
    pub repo: String,
    /// The package.
    pub pkg: Package,
}

/// A version seen upstream that differs from the published one (or a package new upstream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The upstream repository it was seen in.
    pub repo: String,
    /// The package as upstream's database describes it.
    pub pkg: Package,
    /// When this (name, version) was first seen upstream, in seconds since the Unix epoch.
    pub first_seen: u64,
}

/// A published package that upstream no longer ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The package name.
    pub name: String,
    /// When it was first seen missing upstream, in seconds since the Unix epoch.
    pub first_seen: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfies_by_name_or_provision() {
        let mut bash = Package::new("bash", "5.2.026-2");
        bash.provides = vec!["sh".parse().unwrap()];
        for (dep, expected) in [
            ("bash", true),
            ("bash>=5", true),
            ("bash=5.2.026", true),
            ("bash<5", false),
            ("sh", true),
            ("sh>=1", false),
            ("zsh", false),
        ] {
            assert_eq!(bash.satisfies(&dep.parse().unwrap()), expected, "{dep}");
        }
    }

    #[test]
    fn new_is_its_own_base() {
        let pkg = Package::new("foo", "1-1");
        assert_eq!(pkg.base, "foo");
        assert!(pkg.depends.is_empty());
    }
}
