//! After a transaction: which of the system profile's links did it disturb, and which
//! `.pacnew`/`.pacsave` files appeared beside them?
//!
//! The post hook used to run the whole linker on every transaction: read the registry,
//! walk every source, `lstat` every target (a no-op relink of 1,000 links costs about
//! 4 ms, plus a process). But a transaction can only replace or remove a link, or put a
//! `.pacnew` beside it, by changing the entries of the link's directory, and that sets the
//! directory's change time (`ctime`, which no program can set back). So the hook first
//! sweeps: one `statx` per directory that holds recorded links; only in directories
//! changed since the transaction started does it look at each link (its `lstat` against
//! the stamp the linker recorded, `readlink` when the stamp differs) and at the
//! `.pacnew`/`.pacsave` names. It runs the linker (`lumina link --reclaim`) only when
//! something is off, or when it cannot rule that out:
//!
//! - the linker has no record yet, or a record with an operation in flight;
//! - the registry changed after the record was written (a profile edit not yet linked);
//! - the transaction's start is unknown (no hand-off from the pre hook).
//!
//! The decision is [`plan`] (pure: record + what was observed -> verdict); [`observe`]
//! does the system calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lumina_core::link::record::{Entry, Stamp};

/// Seconds subtracted from the transaction's start before comparing change times: file
/// times come from the kernel's coarse clock and the start is whole seconds.
pub const MARGIN_SECS: i64 = 2;

/// What one recorded link looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Its directory did not change during the transaction: not looked at.
    Untouched,
    /// A symlink with the recorded text (by stamp or by `readlink`).
    Intact,
    /// Anything else: gone, replaced by a file, or a link with other text.
    Disturbed,
}

/// What [`observe`] found for one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The link's state.
    pub state: LinkState,
    /// `TARGET.pacnew` / `TARGET.pacsave` files made during the transaction (only looked
    /// for in changed directories).
    pub leftovers: Vec<PathBuf>,
}

/// The sweep's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Run the linker.
    pub relink: bool,
    /// Why (for tests and `--trace`): the first reason found.
    pub why: Option<String>,
    /// `.pacnew` / `.pacsave` files found beside links.
    pub leftovers: Vec<PathBuf>,
}

/// Decide from what was observed of each recorded link.
#[must_use]
pub fn plan<'a>(observed: impl IntoIterator<Item = (&'a Path, Observed)>) -> Verdict {
    let mut v = Verdict::default();
    for (target, o) in observed {
        if o.state == LinkState::Disturbed && !v.relink {
            v.relink = true;
            v.why = Some(format!(
                "{} was changed by the transaction",
                target.display()
            ));
        }
        v.leftovers.extend(o.leftovers);
    }
    v
}

/// The change time of a directory, cached per directory.
#[derive(Debug, Default)]
struct Dirs(HashMap<PathBuf, bool>);

impl Dirs {
    /// Was `dir` changed at or after `since` (seconds)? An unreadable directory counts as
    /// changed, so its links are looked at.
    fn changed(&mut self, dir: &Path, since: i64) -> bool {
        if let Some(&c) = self.0.get(dir) {
            return c;
        }
        let c = lumina_core::fs::lstat_path(dir).map_or(true, |s| s.ctime >= since);
        self.0.insert(dir.to_path_buf(), c);
        c
    }
}

fn link_state(target: &Path, entry: &Entry) -> LinkState {
    let Ok(st) = lumina_core::fs::lstat_path(target) else {
        return LinkState::Disturbed;
    };
    if entry.stamp == Some(Stamp::of_stat(&st)) {
        return LinkState::Intact;
    }
    if st.mode & nix::libc::S_IFMT == nix::libc::S_IFLNK
        && std::fs::read_link(target).is_ok_and(|t| t == entry.text)
    {
        return LinkState::Intact;
    }
    LinkState::Disturbed
}

/// `TARGET.pacnew` / `TARGET.pacsave` made since `since` (older ones were reported by the
/// transaction that made them).
fn leftovers(target: &Path, since: i64) -> Vec<PathBuf> {
    [".pacnew", ".pacsave"]
        .iter()
        .map(|s| lumina_core::fs::sibling(target, s))
        .filter(|p| lumina_core::fs::lstat_path(p).is_ok_and(|s| s.ctime >= since))
        .collect()
}

/// Look at every recorded link whose directory changed since `started` (seconds since the
/// epoch, the transaction's start).
pub fn observe<'a>(
    links: impl IntoIterator<Item = &'a (PathBuf, Entry)>,
    started: u64,
) -> Vec<(&'a Path, Observed)> {
    let since = i64::try_from(started).unwrap_or(i64::MAX) - MARGIN_SECS;
    let mut dirs = Dirs::default();
    links
        .into_iter()
        .map(|(target, entry)| {
            let changed = target.parent().is_none_or(|dir| dirs.changed(dir, since));
            let o = if changed {
                Observed {
                    state: link_state(target, entry),
                    leftovers: leftovers(target, since),
                }
            } else {
                Observed {
                    state: LinkState::Untouched,
                    leftovers: Vec::new(),
                }
            };
            (target.as_path(), o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(state: LinkState, leftovers: &[&str]) -> Observed {
        Observed {
            state,
            leftovers: leftovers.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn nothing_disturbed_means_no_relink_but_leftovers_are_reported() {
        let v = plan([
            (Path::new("/etc/a"), o(LinkState::Untouched, &[])),
            (
                Path::new("/etc/b"),
                o(LinkState::Intact, &["/etc/b.pacnew"]),
            ),
        ]);
        assert!(!v.relink);
        assert_eq!(v.leftovers, vec![PathBuf::from("/etc/b.pacnew")]);
    }

    #[test]
    fn one_disturbed_link_means_relink_and_names_it() {
        let v = plan([
            (Path::new("/etc/a"), o(LinkState::Intact, &[])),
            (Path::new("/etc/b"), o(LinkState::Disturbed, &[])),
            (Path::new("/etc/c"), o(LinkState::Disturbed, &[])),
        ]);
        assert!(v.relink);
        assert_eq!(
            v.why.as_deref(),
            Some("/etc/b was changed by the transaction")
        );
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
mod fs_tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A directory with two links the "linker" recorded, stamps included.
    fn world() -> (tempfile::TempDir, Vec<(PathBuf, Entry)>) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let mut links = Vec::new();
        for name in ["a.conf", "b.conf"] {
            std::fs::write(src.join(name), name).unwrap();
            let target = etc.join(name);
            symlink(src.join(name), &target).unwrap();
            let st = lumina_core::fs::lstat_path(&target).unwrap();
            links.push((
                target,
                Entry {
                    text: src.join(name),
                    pending: None,
                    stamp: Some(Stamp::of_stat(&st)),
                },
            ));
        }
        (dir, links)
    }

    #[test]
    fn links_in_directories_unchanged_since_the_start_are_not_looked_at() {
        let (_dir, links) = world();
        // A transaction that started well after the directory last changed.
        let observed = observe(links.iter(), now() + 60);
        assert!(
            observed
                .iter()
                .all(|(_, o)| o.state == LinkState::Untouched)
        );
        assert!(!plan(observed).relink);
    }

    #[test]
    fn a_link_a_package_replaced_with_a_file_is_disturbed() {
        let (_dir, links) = world();
        let started = now();
        let target = &links[1].0;
        std::fs::remove_file(target).unwrap();
        std::fs::write(target, "the package's file").unwrap();
        std::fs::write(lumina_core::fs::sibling(target, ".pacnew"), "x").unwrap();
        let observed = observe(links.iter(), started);
        assert_eq!(observed[0].1.state, LinkState::Intact);
        assert_eq!(observed[1].1.state, LinkState::Disturbed);
        let v = plan(observed);
        assert!(v.relink);
        assert_eq!(
            v.leftovers,
            vec![lumina_core::fs::sibling(target, ".pacnew")]
        );
    }

    #[test]
    fn a_link_recreated_with_the_same_text_is_intact() {
        // A new inode (e.g. after a rollback or a copy): the stamp differs, readlink agrees.
        let (_dir, links) = world();
        let (target, entry) = &links[0];
        std::fs::remove_file(target).unwrap();
        symlink(&entry.text, target).unwrap();
        let observed = observe(links.iter(), now());
        assert_eq!(observed[0].1.state, LinkState::Intact);
        assert!(!plan(observed).relink);
    }

    #[test]
    fn a_link_pointing_elsewhere_or_gone_is_disturbed() {
        let (dir, links) = world();
        std::fs::remove_file(&links[0].0).unwrap();
        symlink(dir.path().join("elsewhere"), &links[0].0).unwrap();
        std::fs::remove_file(&links[1].0).unwrap();
        let observed = observe(links.iter(), now());
        assert_eq!(observed[0].1.state, LinkState::Disturbed);
        assert_eq!(observed[1].1.state, LinkState::Disturbed);
    }
}
