//! What the registry asks for, expanded: one `(target, source)` pair per link to make.
//!
//! `mode: tree` entries are walked here (the only I/O: `readdir` of source directories,
//! whose `d_type` says file or directory without a `stat`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Links to make, sorted by target.
    pub desired: BTreeMap<PathBuf, Desired>,
    /// Problems by target.
    pub problems: BTreeMap<PathBuf, ExpandProblem>,
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
    let mut out = Expansion::default();
    for (i, decl) in reg.links.iter().enumerate() {
        let source = ctx.source_path(&decl.source);
        match decl.mode {
            LinkMode::File => {
                let kind = kind_of(&source)?;
                add(
                    &mut out,
                    reg,
                    Desired {
                        target: decl.target.clone(),
                        source,
                        decl: i,
                        kind,
                    },
                );
            }
            LinkMode::Tree => match kind_of(&source)? {
                SourceKind::Dir => walk(&mut out, reg, &source, &decl.target, i)?,
                SourceKind::Missing => {
                    let d = Desired {
                        target: decl.target.clone(),
                        source,
                        decl: i,
                        kind: SourceKind::Missing,
                    };
                    add(&mut out, reg, d);
                }
                _ => {
                    out.problems
                        .insert(decl.target.clone(), ExpandProblem::TreeSourceNotDir);
                }
            },
        }
    }
    Ok(out)
}

fn walk(out: &mut Expansion, reg: &Registry, src: &Path, dst: &Path, decl: usize) -> Result<()> {
    for (name, is_dir) in crate::fs::read_dir(src)? {
        let (s, t) = (src.join(&name), dst.join(&name));
        if is_dir {
            walk(out, reg, &s, &t, decl)?;
        } else {
            add(
                out,
                reg,
                Desired {
                    target: t,
                    source: s,
                    decl,
                    kind: SourceKind::File,
                },
            );
        }
    }
    Ok(())
}

fn add(out: &mut Expansion, reg: &Registry, d: Desired) {
    if out.problems.contains_key(&d.target) {
        return;
    }
    // Neither entry is linked: which one the user meant is theirs to say.
    if let Some(prev) = out.desired.remove(&d.target) {
        let other = reg
            .links
            .get(prev.decl)
            .map(|l| l.written.clone())
            .unwrap_or_default();
        out.problems
            .insert(d.target.clone(), ExpandProblem::Collision(other));
        return;
    }
    out.desired.insert(d.target.clone(), d);
}
