//! What the registry asks for, expanded: one `(target, source)` pair per link to make.
//!
//! `mode: tree` entries are walked here (the only I/O: `readdir` of source directories,
//! whose `d_type` says file or directory without a `stat`).
//!
//! The result is sorted by target ([`super::order`]): a tree walk yields its targets in that
//! order already (names sorted, depth first), so sorting all entries' links together costs
//! about one comparison per link, and a collision is two neighbours with the same target.

use std::path::{Path, PathBuf};

use super::order;

use crate::error::Result;
use crate::paths::Context;
use crate::registry::{LinkMode, Registry};

/// What the source of a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A regular file (or a symlink inside a tree source).
    File,
    /// A directory.
    Dir,
    /// Absent.
    Missing,
    /// Something else (device, fifo, socket).
    Other,
}

/// One link to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Absolute target path.
    pub target: PathBuf,
    /// Absolute source path: also the link's text.
    pub source: PathBuf,
    /// Index of the registry entry that declares it.
    pub decl: usize,
    /// What the source is.
    pub kind: SourceKind,
}

/// A problem found while expanding, reported as a conflict of `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandProblem {
    /// A `mode: tree` source is not a directory.
    TreeSourceNotDir,
    /// Two registry entries produce the same target (the other entry's target as written).
    Collision(String),
}

/// The expansion of a registry.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Links to make, sorted by target ([`order::cmp`]), at most one per target.
    pub desired: Vec<Desired>,
    /// Problems, sorted by target, at most one per target. (A target can have both a problem
    /// and a desired link: a `mode: tree` entry whose source is not a directory, declared
    /// after another entry that links the same target.)
    pub problems: Vec<(PathBuf, ExpandProblem)>,
}

impl Expansion {
    /// The desired link at a target.
    pub fn get(&self, target: &Path) -> Option<&Desired> {
        self.desired
            .binary_search_by(|d| order::cmp(&d.target, target))
            .ok()
            .map(|i| &self.desired[i])
    }

    /// The problem at a target.
    pub fn problem(&self, target: &Path) -> Option<&ExpandProblem> {
        self.problems
            .binary_search_by(|(t, _)| order::cmp(t, target))
            .ok()
            .map(|i| &self.problems[i].1)
    }
}

/// What an entry of the registry contributed to a target.
enum Event {
    /// A link to make.
    Add(Desired),
    /// A `mode: tree` source that is not a directory (the target, the entry's index).
    TreeSourceNotDir(PathBuf, usize),
}

impl Event {
    fn target(&self) -> &Path {
        match self {
            Self::Add(d) => &d.target,
            Self::TreeSourceNotDir(t, _) => t,
        }
    }

    fn decl(&self) -> usize {
        match self {
            Self::Add(d) => d.decl,
            Self::TreeSourceNotDir(_, i) => *i,
        }
    }
}

fn kind_of(path: &Path) -> Result<SourceKind> {
    Ok(match crate::fs::stat(path)? {
        None => SourceKind::Missing,
        Some(m) if m.is_dir() => SourceKind::Dir,
        Some(m) if m.is_file() => SourceKind::File,
        Some(_) => SourceKind::Other,
    })
}

/// Expand the registry's links.
///
/// # Errors
/// [`crate::Error::Io`] when a source directory cannot be read.
pub fn expand(reg: &Registry, ctx: &Context) -> Result<Expansion> {
    expand_sized(reg, ctx, 0)
}

/// [`expand`], with room for about `hint` links made up front (the record's size: usually
/// what the registry expands to).
///
/// # Errors
/// [`crate::Error::Io`] when a source directory cannot be read.
pub fn expand_sized(reg: &Registry, ctx: &Context, hint: usize) -> Result<Expansion> {
    let mut desired = Vec::with_capacity(hint);
    let mut not_dir = Vec::new();
    for (i, decl) in reg.links.iter().enumerate() {
        let source = ctx.source_path(&decl.source);
        match decl.mode {
            LinkMode::File => {
                let kind = kind_of(&source)?;
                desired.push(Desired {
                    target: decl.target.clone(),
                    source,
                    decl: i,
                    kind,
                });
            }
            LinkMode::Tree => match kind_of(&source)? {
                SourceKind::Dir => walk(&mut desired, &source, &decl.target, i)?,
                SourceKind::Missing => desired.push(Desired {
                    target: decl.target.clone(),
                    source,
                    decl: i,
                    kind: SourceKind::Missing,
                }),
                _ => not_dir.push(Event::TreeSourceNotDir(decl.target.clone(), i)),
            },
        }
    }
    // The common case: one tree, or entries that do not overlap, walked in order already.
    if not_dir.is_empty() && desired.is_sorted_by(|a, b| order::cmp(&a.target, &b.target).is_lt()) {
        return Ok(Expansion {
            desired,
            problems: Vec::new(),
        });
    }
    // Otherwise sort by target, and by registry entry within a target (an entry yields a
    // target at most once), so that each target's events are in registry order.
    let mut events: Vec<Event> = desired.into_iter().map(Event::Add).chain(not_dir).collect();
    events.sort_by(|a, b| order::cmp(a.target(), b.target()).then_with(|| a.decl().cmp(&b.decl())));
    Ok(settle(events, reg))
}

fn walk(out: &mut Vec<Desired>, src: &Path, dst: &Path, decl: usize) -> Result<()> {
    for (name, is_dir) in crate::fs::read_dir(src)? {
        let (s, t) = (join(src, &name), join(dst, &name));
        if is_dir {
            walk(out, &s, &t, decl)?;
        } else {
            out.push(Desired {
                target: t,
                source: s,
                decl,
                kind: SourceKind::File,
            });
        }
    }
    Ok(())
}

/// `dir.join(name)` for a plain name, in one allocation.
fn join(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut p = std::ffi::OsString::with_capacity(dir.as_os_str().len() + 1 + name.len());
    p.push(dir.as_os_str());
    if !dir.as_os_str().as_encoded_bytes().ends_with(b"/") {
        p.push("/");
    }
    p.push(name);
    PathBuf::from(p)
}

/// Resolve each target's events (sorted by target, registry order within one) into at most
/// one desired link and one problem.
fn settle(events: Vec<Event>, reg: &Registry) -> Expansion {
    let mut out = Expansion {
        desired: Vec::with_capacity(events.len()),
        problems: Vec::new(),
    };
    let mut events = events.into_iter().peekable();
    while let Some(first) = events.next() {
        let same = |e: &Event| e.target().as_os_str() == first.target().as_os_str();
        if !events.peek().is_some_and(same) {
            match first {
                Event::Add(d) => out.desired.push(d),
                Event::TreeSourceNotDir(t, _) => {
                    out.problems.push((t, ExpandProblem::TreeSourceNotDir))
                }
            }
            continue;
        }
        let target = first.target().to_path_buf();
        let mut desired: Option<Desired> = None;
        let mut problem: Option<ExpandProblem> = None;
        let mut group = vec![first];
        while let Some(e) = events.next_if(|e| e.target().as_os_str() == target.as_os_str()) {
            group.push(e);
        }
        for e in group {
            match e {
                Event::Add(_) if problem.is_some() => {}
                Event::Add(d) => match desired.take() {
                    // Neither entry is linked: which one the user meant is theirs to say.
                    Some(prev) => {
                        let other = reg
                            .links
                            .get(prev.decl)
                            .map(|l| l.written.clone())
                            .unwrap_or_default();
                        problem = Some(ExpandProblem::Collision(other));
                    }
                    None => desired = Some(d),
                },
                Event::TreeSourceNotDir(..) => problem = Some(ExpandProblem::TreeSourceNotDir),
            }
        }
        if let Some(p) = problem {
            out.problems.push((target, p));
        }
        out.desired.extend(desired);
    }
    out
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fixtures are written directly
mod tests {
    use super::*;

    fn expand_yaml(links: &str) -> Expansion {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        let root = home.join(".lumina");
        for f in ["tree/x", "tree/y/z", "f", "g"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        let ctx = Context {
            user_home: home.clone(),
            lumina_home: root.clone(),
        };
        std::fs::write(
            root.join("lumina.yaml"),
            format!("version: 1\nlinks:\n{links}"),
        )
        .unwrap();
        let reg = crate::registry::load(&root.join("lumina.yaml"), &ctx).unwrap();
        let mut exp = expand(&reg, &ctx).unwrap();
        // Relative to the home, for the assertions.
        for d in &mut exp.desired {
            d.target = d.target.strip_prefix(&home).unwrap().to_path_buf();
        }
        for (t, _) in &mut exp.problems {
            *t = t.strip_prefix(&home).unwrap().to_path_buf();
        }
        exp
    }

    fn targets(exp: &Expansion) -> Vec<(&str, usize)> {
        exp.desired
            .iter()
            .map(|d| (d.target.to_str().unwrap(), d.decl))
            .collect()
    }

    #[test]
    fn entries_are_merged_in_target_order_and_a_collision_links_neither() {
        let exp = expand_yaml(
            "  ~/.u: g\n  ~/.t: { source: tree, mode: tree }\n  ~/.t/x: f\n  ~/.a: f\n",
        );
        assert_eq!(targets(&exp), [(".a", 3), (".t/y/z", 1), (".u", 0)]);
        assert_eq!(
            exp.problems,
            [(
                PathBuf::from(".t/x"),
                ExpandProblem::Collision("~/.t".into())
            )]
        );
    }

    /// A `mode: tree` entry whose source is a file, for a target another entry also
    /// yields: the problem is reported, and the other entry's link stays when it came first.
    #[test]
    fn a_tree_source_that_is_not_a_directory_keeps_registry_order() {
        let exp = expand_yaml(
            "  ~/.t: { source: tree, mode: tree }\n  ~/.t/x: { source: f, mode: tree }\n",
        );
        assert_eq!(targets(&exp), [(".t/x", 0), (".t/y/z", 0)]);
        assert_eq!(
            exp.problems,
            [(PathBuf::from(".t/x"), ExpandProblem::TreeSourceNotDir)]
        );
        let exp = expand_yaml(
            "  ~/.t/x: { source: f, mode: tree }\n  ~/.t: { source: tree, mode: tree }\n",
        );
        assert_eq!(targets(&exp), [(".t/y/z", 1)]);
        assert_eq!(
            exp.problems,
            [(PathBuf::from(".t/x"), ExpandProblem::TreeSourceNotDir)]
        );
    }
}
