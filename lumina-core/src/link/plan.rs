//! The linker's plan: desired × observed × record → one action per target. Pure: no I/O.
//!
//! One pass over the observations (which already pair each target's desired link and record
//! entry, in target order) merged with the expansion's problems, also in target order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::desired::{Desired, ExpandProblem, SourceKind};
use super::observe::{Observation, Observed, Seen, Subject, Tmp};
use super::order;

/// How to treat a target that is in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Touch nothing; report the conflict.
    #[default]
    Refuse,
    /// Move the existing file into the virtual root as the source, then link it.
    Adopt,
    /// Rename the existing file to `TARGET.lumina-backup-<UTC>`, then link.
    Backup,
    /// Only for targets Lumina linked before that a package has since replaced with a
    /// regular file: move the package's file to `TARGET.pacnew` and restore the link
    /// (the post-transaction hook). Anything else stays a conflict.
    Reclaim,
}

/// Why a target cannot be linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// A regular file that Lumina did not make.
    File,
    /// A directory that Lumina did not make.
    Dir,
    /// A symlink that Lumina did not make.
    ForeignLink {
        /// Its text.
        points_to: PathBuf,
    },
    /// A device, fifo or socket.
    Special,
    /// The target is its own source (same inode): linking would destroy the source.
    SelfSource,
    /// A parent of the target is not a directory.
    ParentNotDir,
    /// A parent of the target resolves into the virtual root.
    ParentInRoot,
    /// The declared source does not exist.
    SourceMissing,
    /// `--adopt`, but the source already exists with other content.
    SourceDiffers,
    /// `--adopt` of a directory on another filesystem than the virtual root.
    CrossDevice,
    /// The acting user may not write the directory where the link would be made.
    NotWritable {
        /// The directory (the nearest one that exists).
        dir: PathBuf,
    },
    /// A `mode: tree` source is not a directory.
    TreeSourceNotDir,
    /// Another registry entry produces the same target.
    Collision {
        /// That entry's target as written.
        with: String,
    },
}

impl Conflict {
    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            Self::File => "a file Lumina did not create is in the way".into(),
            Self::Dir => "a directory Lumina did not create is in the way".into(),
            Self::ForeignLink { points_to } => {
                format!(
                    "a link Lumina did not create is in the way (-> `{}`)",
                    points_to.display()
                )
            }
            Self::Special => "a device, fifo or socket is in the way".into(),
            Self::SelfSource => "the target is its own source (same inode); refusing".into(),
            Self::ParentNotDir => "a parent of the target is not a directory".into(),
            Self::ParentInRoot => "a parent of the target resolves into the virtual root".into(),
            Self::SourceMissing => "the source does not exist in the virtual root".into(),
            Self::SourceDiffers => "--adopt: the source already exists with other content".into(),
            Self::NotWritable { dir } => {
                format!("you cannot write `{}` (permission denied)", dir.display())
            }
            Self::CrossDevice => {
                "--adopt: the directory is on another filesystem than the virtual root".into()
            }
            Self::TreeSourceNotDir => "a `mode: tree` source must be a directory".into(),
            Self::Collision { with } => format!("another entry (`{with}`) links the same target"),
        }
    }

    /// Can `--adopt` or `--backup` resolve it?
    pub fn resolvable(&self) -> bool {
        matches!(
            self,
            Self::File | Self::Dir | Self::ForeignLink { .. } | Self::Special
        )
    }
}

/// How an adoption moves the existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Adopt {
    /// Move the file into the virtual root (hard link, or copy across filesystems).
    File,
    /// Move the directory into the virtual root (atomic exchange with the new link).
    Dir,
    /// The source already has the same content: only replace the target with the link.
    Same,
}

/// What to do with one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Already the right link; untouched.
    Keep,
    /// Nothing there: make the link.
    Create,
    /// A stale link Lumina made: swap in the new one atomically.
    Replace {
        /// The old link text.
        from: PathBuf,
    },
    /// A link Lumina made that the registry no longer declares: remove it.
    Remove,
    /// Recorded, but no longer Lumina's (gone or replaced by the user): forget it.
    Forget,
    /// `--adopt`: move the existing target into the virtual root, then link.
    Adopt {
        /// How.
        how: Adopt,
    },
    /// `--backup`: move the existing target aside, then link.
    Backup {
        /// Where it goes.
        to: PathBuf,
    },
    /// Cannot proceed.
    Conflict {
        /// Why.
        conflict: Conflict,
    },
}

impl Action {
    /// The action's name as printed.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Create => "create",
            Self::Replace { .. } => "replace",
            Self::Remove => "remove",
            Self::Forget => "forget",
            Self::Adopt { .. } => "adopt",
            Self::Backup { .. } => "backup",
            Self::Conflict { .. } => "conflict",
        }
    }

    /// Does it change the filesystem?
    pub fn mutates(&self) -> bool {
        !matches!(self, Self::Keep | Self::Forget | Self::Conflict { .. })
    }
}

/// Recovery of a crash's leftover beside a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cleanup", rename_all = "snake_case")]
pub enum Cleanup {
    /// Remove the leftover temporary link.
    RemoveTmpLink,
    /// Move stranded data (from an interrupted backup or adoption) to `to`.
    RescueTmp {
        /// Its destination: the source (to finish an adoption) or a backup name.
        to: PathBuf,
    },
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Absolute target.
    pub target: PathBuf,
    /// Absolute source (the link text), when the target is declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Crash recovery to do first.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub cleanup: Option<Cleanup>,
    /// What the source is (for status and adoption).
    #[serde(skip)]
    pub source_kind: Option<SourceKind>,
    /// The link currently at the target, when there is one.
    #[serde(skip)]
    pub current_link: Option<PathBuf>,
    /// The lstat stamp of the link at the target, when there is one.
    #[serde(skip)]
    pub stamp: Option<super::record::Stamp>,
}

/// The whole plan, sorted by target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One item per target.
    pub items: Vec<Item>,
}

impl Plan {
    /// Items that are conflicts.
    pub fn conflicts(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| matches!(i.action, Action::Conflict { .. }))
    }

    /// Does applying it change anything (including the record)?
    pub fn is_noop(&self) -> bool {
        self.items
            .iter()
            .all(|i| matches!(i.action, Action::Keep) && i.cleanup.is_none())
    }

    /// Count of items per action name, in a stable order.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for i in &self.items {
            *m.entry(i.action.name()).or_insert(0) += 1;
        }
        m
    }
}

/// The backup name for a target at a UTC timestamp (`20261125T190312Z`).
pub fn backup_path(target: &Path, stamp: &str) -> PathBuf {
    crate::fs::sibling(target, &format!(".lumina-backup-{stamp}"))
}

/// Make the plan from the observations of [`super::observe::observe`] and the expansion's
/// problems, both sorted by target (and taken: their paths move into the items).
///
/// `stamp` is the UTC time for backup names; `home` the virtual root. The items come out
/// sorted by target (parents before children); a target with a problem and a desired link
/// has the problem's item first.
pub fn plan(
    observed: Vec<Observation<'_>>,
    problems: Vec<(PathBuf, ExpandProblem)>,
    home: &Path,
    on_conflict: OnConflict,
    stamp: &str,
) -> Plan {
    let mut items = Vec::with_capacity(observed.len() + problems.len());
    // Links to remove, nested (each one below the previous): the desired targets below one
    // of them will be fresh, not inside the old link. A removed link sorts before all of its
    // descendants, which sort right after it.
    let mut removed: Vec<PathBuf> = Vec::new();
    let mut problems = problems.into_iter().peekable();
    for o in observed {
        let target = o.target();
        // Problems up to and at this target come first.
        let mut has_problem = false;
        while let Some((t, p)) = problems.next_if(|(t, _)| order::cmp(t, target).is_le()) {
            has_problem |= t.as_os_str() == target.as_os_str();
            items.push(problem_item(t, p));
        }
        while removed
            .last()
            .is_some_and(|r| !order::is_ancestor(r, target))
        {
            removed.pop();
        }
        let obs = o.observed;
        match o.subject {
            Subject::Desired(d, entry) => {
                let under_removed = !removed.is_empty();
                let cleanup = cleanup_for(&obs, &d.target, Some(&d), stamp);
                let (seen, parent_in_root, stamp_seen) = if under_removed {
                    (Seen::Missing, false, None)
                } else {
                    (obs.seen, obs.parent_in_root, obs.stamp)
                };
                let action = decide(&d, &seen, parent_in_root, entry, on_conflict, stamp);
                items.push(Item {
                    target: d.target,
                    source: Some(d.source),
                    action,
                    cleanup,
                    source_kind: Some(d.kind),
                    current_link: link_text(seen),
                    stamp: stamp_seen,
                });
            }
            Subject::Recorded(target, entry) if !has_problem => {
                let action = match &obs.seen {
                    Seen::Link(text) if entry.owns_text(text) && text.starts_with(home) => {
                        removed.push(target.to_path_buf());
                        Action::Remove
                    }
                    _ => Action::Forget,
                };
                items.push(Item {
                    target: target.to_path_buf(),
                    source: None,
                    action,
                    cleanup: cleanup_for(&obs, target, None, stamp),
                    source_kind: None,
                    current_link: link_text(obs.seen),
                    stamp: obs.stamp,
                });
            }
            Subject::Recorded(..) => {}
        }
    }
    items.extend(problems.map(|(t, p)| problem_item(t, p)));
    Plan { items }
}

fn link_text(seen: Seen) -> Option<PathBuf> {
    match seen {
        Seen::Link(t) => Some(t),
        _ => None,
    }
}

fn problem_item(target: PathBuf, problem: ExpandProblem) -> Item {
    let conflict = match problem {
        ExpandProblem::TreeSourceNotDir => Conflict::TreeSourceNotDir,
        ExpandProblem::Collision(with) => Conflict::Collision { with },
    };
    Item {
        target,
        source: None,
        action: Action::Conflict { conflict },
        cleanup: None,
        source_kind: None,
        current_link: None,
        stamp: None,
    }
}

fn decide(
    d: &Desired,
    seen: &Seen,
    parent_in_root: bool,
    entry: Option<&super::record::Entry>,
    on_conflict: OnConflict,
    stamp: &str,
) -> Action {
    let conflict = |c| Action::Conflict { conflict: c };
    if let Seen::Link(text) = seen
        && *text == d.source
    {
        return if d.kind == SourceKind::Missing {
            conflict(Conflict::SourceMissing)
        } else {
            Action::Keep
        };
    }
    if parent_in_root {
        return conflict(Conflict::ParentInRoot);
    }
    // Our own adoption, interrupted after the file was hard-linked into the virtual root:
    // the target is the source's inode and only the link swap is left to do.
    if *seen == Seen::File(true) && entry.is_some_and(|e| e.pending.is_some()) {
        return Action::Adopt { how: Adopt::Same };
    }
    if matches!(seen, Seen::File(true) | Seen::Dir(true)) {
        return conflict(Conflict::SelfSource);
    }
    if *seen == Seen::ParentNotDir {
        return conflict(Conflict::ParentNotDir);
    }
    // Adoption is the one case where a missing source is expected.
    if on_conflict == OnConflict::Adopt && d.kind == SourceKind::Missing {
        return match seen {
            Seen::File(false) => Action::Adopt { how: Adopt::File },
            Seen::Dir(false) => Action::Adopt { how: Adopt::Dir },
            _ => conflict(Conflict::SourceMissing),
        };
    }
    if d.kind == SourceKind::Missing {
        return conflict(Conflict::SourceMissing);
    }
    let in_the_way = match seen {
        Seen::Missing => return Action::Create,
        Seen::Link(text) if entry.is_some_and(|e| e.owns_text(text)) => {
            return Action::Replace { from: text.clone() };
        }
        Seen::Link(text) => Conflict::ForeignLink {
            points_to: text.clone(),
        },
        Seen::File(_) => Conflict::File,
        Seen::Dir(_) => Conflict::Dir,
        _ => Conflict::Special,
    };
    match on_conflict {
        OnConflict::Refuse => conflict(in_the_way),
        OnConflict::Reclaim => match in_the_way {
            Conflict::File if entry.is_some() => Action::Backup {
                to: crate::fs::sibling(&d.target, ".pacnew"),
            },
            other => conflict(other),
        },
        OnConflict::Backup => Action::Backup {
            to: backup_path(&d.target, stamp),
        },
        // The source exists: adopt only when the contents are the same (checked by apply,
        // which refuses with `SourceDiffers` otherwise); directories and links cannot be
        // compared safely, so they stay conflicts.
        OnConflict::Adopt => match in_the_way {
            Conflict::File if d.kind == SourceKind::File => Action::Adopt { how: Adopt::Same },
            Conflict::Dir => conflict(Conflict::SourceDiffers),
            other => conflict(other),
        },
    }
}

fn cleanup_for(o: &Observed, target: &Path, d: Option<&Desired>, stamp: &str) -> Option<Cleanup> {
    match o.tmp {
        Tmp::None => None,
        Tmp::Link => Some(Cleanup::RemoveTmpLink),
        Tmp::Data => Some(Cleanup::RescueTmp {
            to: match d {
                Some(d) if d.kind == SourceKind::Missing => d.source.clone(),
                _ => backup_path(target, stamp),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::record::Entry;

    fn desired(target: &str, source: &str) -> Desired {
        Desired {
            target: target.into(),
            source: source.into(),
            decl: 0,
            kind: SourceKind::File,
        }
    }

    fn seen(seen: Seen) -> Observed {
        Observed {
            seen,
            stamp: None,
            tmp: Tmp::None,
            parent_in_root: false,
        }
    }

    fn entry(text: &str) -> Entry {
        Entry {
            text: text.into(),
            pending: None,
            stamp: None,
        }
    }

    /// One merge pass: problems, record-only and desired targets come out in path order
    /// (a problem before the link of its target), a problem hides a record-only entry, and
    /// what is below a link being removed is planned as if the link were already gone.
    #[test]
    fn one_pass_keeps_path_order_and_plans_below_a_removed_link_as_fresh() {
        let (old_dir, gone) = (entry("/r/dir"), entry("/r/c"));
        let observed = vec![
            Observation {
                subject: Subject::Recorded(Path::new("/h/a"), &old_dir),
                observed: seen(Seen::Link("/r/dir".into())),
            },
            // Seen through the old directory link: the source itself.
            Observation {
                subject: Subject::Desired(desired("/h/a/f", "/r/t/f"), None),
                observed: seen(Seen::File(true)),
            },
            Observation {
                subject: Subject::Desired(desired("/h/a-b", "/r/ab"), None),
                observed: seen(Seen::Missing),
            },
            Observation {
                subject: Subject::Recorded(Path::new("/h/c"), &gone),
                observed: seen(Seen::Link("/r/c".into())),
            },
        ];
        let problems = vec![
            (PathBuf::from("/h/0"), ExpandProblem::TreeSourceNotDir),
            (
                PathBuf::from("/h/c"),
                ExpandProblem::Collision("~/x".into()),
            ),
            (PathBuf::from("/h/z"), ExpandProblem::TreeSourceNotDir),
        ];
        let plan = plan(observed, problems, Path::new("/r"), OnConflict::Refuse, "T");
        let got: Vec<(&str, &str)> = plan
            .items
            .iter()
            .map(|i| (i.target.to_str().unwrap(), i.action.name()))
            .collect();
        assert_eq!(
            got,
            [
                ("/h/0", "conflict"),
                ("/h/a", "remove"),
                ("/h/a/f", "create"),
                ("/h/a-b", "create"),
                ("/h/c", "conflict"),
                ("/h/z", "conflict"),
            ]
        );
        let mut by_path: Vec<&Path> = plan.items.iter().map(|i| i.target.as_path()).collect();
        by_path.sort();
        assert!(plan.items.iter().map(|i| i.target.as_path()).eq(by_path));
        assert_eq!(plan.items[2].current_link, None);
    }
}
