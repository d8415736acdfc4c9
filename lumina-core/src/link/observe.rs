//! Look at the targets, read-only: what is at each one now.
//!
//! Cost model (the no-op run must stay near one `lstat` per target): the targets are walked
//! in order, desired and recorded together, with the directory of the current ones open, so
//! that each `lstat` resolves one name rather than a whole path; a recorded link whose lstat
//! stamp still matches the record is taken as unchanged without `readlink`; a directory
//! found missing answers for every target below it without a system call; parents are only
//! resolved (`realpath`) for targets that are about to change, once per directory.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::desired::{Desired, ExpandProblem, Expansion};
use super::order;
use super::record::{Entry, Record, Stamp};
use crate::error::{Error, Result};
use crate::fs::{Dir, Stat, sibling};

/// Suffix of the temporary link made beside a target before it is renamed over it.
pub const TMP_SUFFIX: &str = ".lumina-new";

/// What is at a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing.
    Missing,
    /// A symlink with this text.
    Link(PathBuf),
    /// A regular file; `true` when it is the source itself (same inode).
    File(bool),
    /// A directory; `true` when it is the source itself.
    Dir(bool),
    /// A device, fifo or socket.
    Special,
    /// A parent component is not a directory.
    ParentNotDir,
}

/// What is beside a target under the temporary name (only looked at after a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tmp {
    /// Nothing.
    None,
    /// A leftover temporary link.
    Link,
    /// Something that is not a link: data an interrupted backup or adoption moved aside.
    Data,
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// What is at the target.
    pub seen: Seen,
    /// Its lstat stamp, when it is a symlink.
    pub stamp: Option<Stamp>,
    /// What is at the temporary name (checked only for targets with a pending record).
    pub tmp: Tmp,
    /// The parent directory resolves into the virtual root (a link there would be written
    /// inside the profile).
    pub parent_in_root: bool,
}

/// What an observed target is to Lumina.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject<'a> {
    /// Declared (the desired link), and maybe recorded.
    Desired(Desired, Option<&'a Entry>),
    /// Recorded, no longer declared.
    Recorded(&'a Path, &'a Entry),
}

/// A target that is desired or recorded, with what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<'a> {
    /// The target's link as declared and recorded.
    pub subject: Subject<'a>,
    /// What is there.
    pub observed: Observed,
}

impl Observation<'_> {
    /// The target.
    pub fn target(&self) -> &Path {
        match &self.subject {
            Subject::Desired(d, _) => &d.target,
            Subject::Recorded(t, _) => t,
        }
    }
}

/// Every observation, and what was learnt about directories on the way.
#[derive(Debug)]
pub struct Observations<'a> {
    /// One per target that is desired or recorded, sorted by target ([`order::cmp`]).
    pub items: Vec<Observation<'a>>,
    /// The expansion's problems, sorted by target.
    pub problems: Vec<(PathBuf, ExpandProblem)>,
    /// Directories seen missing or not directories.
    pub dirs: Dirs,
}

/// What opening a directory said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirState {
    /// It is a directory (or a symlink to one).
    Exists,
    /// It, or an ancestor, does not exist (`ENOENT`).
    Missing,
    /// A component is not a directory (`ENOTDIR`).
    NotDir,
    /// Another error (permission, loop, ...): its targets are looked at one by one, which
    /// reports the error as it is.
    Other,
}

/// Directories by path, as observed.
#[derive(Debug, Default)]
pub struct Dirs {
    state: HashMap<OsString, DirState>,
    /// How many of them are missing or not directories.
    absent: usize,
    in_root: HashMap<OsString, bool>,
}

impl Dirs {
    fn set(&mut self, dir: &Path, state: DirState) {
        if matches!(state, DirState::Missing | DirState::NotDir) {
            self.absent += 1;
        }
        self.state.insert(dir.as_os_str().to_os_string(), state);
    }

    /// Was `dir` (or one of its ancestors) seen not to exist?
    pub fn known_missing(&self, dir: &Path) -> bool {
        self.state.get(dir.as_os_str()) == Some(&DirState::Missing)
    }
}

/// The walker: the directory of the current targets stays open.
struct Looker<'r> {
    root: &'r Path,
    dirs: Dirs,
    current: Option<Dir>,
    /// The last directory whose targets were found absent without a look (and how), and
    /// the last one resolved for `resolves_into_root`: neighbouring targets share them.
    last_absent: Option<(PathBuf, DirState)>,
    last_in_root: Option<(PathBuf, bool)>,
}

/// Where a target's directory is.
enum Loc<'d> {
    Open(&'d Dir),
    Missing,
    NotDir,
    /// Look at the whole path.
    Path,
}

/// Observe every target that is desired (taking the expansion's links) or recorded.
///
/// # Errors
/// [`Error::Io`] for errors other than "not found".
pub fn observe<'a>(
    exp: Expansion,
    record: &'a Record,
    lumina_home: &Path,
) -> Result<Observations<'a>> {
    let mut looker = Looker {
        root: lumina_home,
        dirs: Dirs::default(),
        current: None,
        last_absent: None,
        last_in_root: None,
    };
    let recorded = record.links.as_slice();
    let mut items = Vec::with_capacity(exp.desired.len().max(recorded.len()));
    let mut desired = exp.desired.into_iter().peekable();
    let mut j = 0;
    loop {
        let ord = match (desired.peek(), recorded.get(j)) {
            (Some(d), Some((t, _))) => order::cmp(&d.target, t),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        let subject = match (ord, desired.next_if(|_| ord.is_le())) {
            (std::cmp::Ordering::Less, Some(d)) => Subject::Desired(d, None),
            (std::cmp::Ordering::Equal, Some(d)) => {
                j += 1;
                Subject::Desired(d, Some(&recorded[j - 1].1))
            }
            _ => {
                j += 1;
                let (t, e) = &recorded[j - 1];
                Subject::Recorded(t, e)
            }
        };
        let observed = match &subject {
            Subject::Desired(d, entry) => looker.observe_one(&d.target, Some(d), *entry)?,
            Subject::Recorded(t, e) => looker.observe_one(t, None, Some(e))?,
        };
        items.push(Observation { subject, observed });
    }
    Ok(Observations {
        items,
        problems: exp.problems,
        dirs: looker.dirs,
    })
}

impl Looker<'_> {
    fn observe_one(
        &mut self,
        target: &Path,
        d: Option<&Desired>,
        entry: Option<&Entry>,
    ) -> Result<Observed> {
        let want = d.map(|d| d.source.as_path());
        let (seen, stamp) = self.look(
            target,
            entry.and_then(|e| e.stamp.map(|s| (s, &e.text))),
            want,
        )?;
        let tmp = match entry {
            Some(e) if e.pending.is_some() => {
                let tmp = sibling(target, TMP_SUFFIX);
                match crate::fs::lstat(&tmp)? {
                    None => Tmp::None,
                    // Only a link with a text Lumina writes is Lumina's leftover; a foreign
                    // link there is a user's link that an interrupted backup moved aside.
                    Some(m)
                        if m.file_type().is_symlink()
                            && e.owns_text(&crate::fs::read_link(&tmp)?) =>
                    {
                        Tmp::Link
                    }
                    Some(_) => Tmp::Data,
                }
            }
            _ => Tmp::None,
        };
        let settled = matches!((&seen, want), (Seen::Link(t), Some(w)) if t == w);
        let parent_in_root = match order::split(target) {
            Some((parent, _)) if !settled && want.is_some() => self.resolves_into_root(parent),
            _ => false,
        };
        Ok(Observed {
            seen,
            stamp,
            tmp,
            parent_in_root,
        })
    }

    /// Find the directory `parent` of the next targets: the open one, one known missing
    /// (itself or an ancestor), or open it now.
    fn enter(&mut self, parent: &Path) -> Loc<'_> {
        let key = parent.as_os_str();
        let open = self
            .current
            .as_ref()
            .is_some_and(|c| c.path().as_os_str() == key);
        if !open
            && let Some((d, s)) = &self.last_absent
            && d.as_os_str() == key
        {
            return match s {
                DirState::NotDir => Loc::NotDir,
                _ => Loc::Missing,
            };
        }
        if !open {
            let state = match self.dirs.state.get(key) {
                Some(&s) if s != DirState::Exists => s,
                Some(_) => self.open(parent),
                None => match self.inherited(parent) {
                    Some(s) => {
                        self.dirs.set(parent, s);
                        s
                    }
                    None => self.open(parent),
                },
            };
            match state {
                DirState::Exists => {}
                DirState::Missing | DirState::NotDir => {
                    self.last_absent = Some((parent.to_path_buf(), state));
                    return if state == DirState::Missing {
                        Loc::Missing
                    } else {
                        Loc::NotDir
                    };
                }
                DirState::Other => return Loc::Path,
            }
        }
        match &self.current {
            Some(dir) => Loc::Open(dir),
            None => Loc::Path,
        }
    }

    /// The state of `dir` implied by an ancestor known missing or not a directory.
    fn inherited(&self, dir: &Path) -> Option<DirState> {
        if self.dirs.absent == 0 {
            return None;
        }
        for a in dir.ancestors().skip(1) {
            match self.dirs.state.get(a.as_os_str()) {
                Some(s @ (DirState::Missing | DirState::NotDir)) => return Some(*s),
                Some(_) => return None,
                None => {}
            }
        }
        None
    }

    fn open(&mut self, dir: &Path) -> DirState {
        let state = match Dir::open(dir) {
            Ok(d) => {
                self.current = Some(d);
                DirState::Exists
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.missing_ancestors(dir);
                DirState::Missing
            }
            Err(e) if e.kind() == ErrorKind::NotADirectory => DirState::NotDir,
            Err(_) => DirState::Other,
        };
        self.dirs.set(dir, state);
        state
    }

    /// `dir` does not exist: note which of its ancestors do not either, up to the nearest
    /// one that does, so that its missing siblings need no system call.
    fn missing_ancestors(&mut self, dir: &Path) {
        for a in dir.ancestors().skip(1) {
            if self.dirs.state.contains_key(a.as_os_str()) {
                return;
            }
            let state = match std::fs::metadata(a) {
                Ok(m) if m.is_dir() => DirState::Exists,
                Err(e) if e.kind() == ErrorKind::NotFound => DirState::Missing,
                _ => return,
            };
            self.dirs.set(a, state);
            if state == DirState::Exists {
                return;
            }
        }
    }

    fn look(
        &mut self,
        target: &Path,
        known: Option<(Stamp, &PathBuf)>,
        source: Option<&Path>,
    ) -> Result<(Seen, Option<Stamp>)> {
        let (st, dir) = match order::split(target) {
            Some((parent, name)) => match self.enter(parent) {
                Loc::Missing => return Ok((Seen::Missing, None)),
                Loc::NotDir => return Ok((Seen::ParentNotDir, None)),
                Loc::Open(dir) => (dir.stat(name), Some((dir, name))),
                Loc::Path => (crate::fs::lstat_path(target), None),
            },
            None => (crate::fs::lstat_path(target), None),
        };
        let st: Stat = match st {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok((Seen::Missing, None)),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => {
                return Ok((Seen::ParentNotDir, None));
            }
            Err(e) => return Err(Error::io(target, "inspecting the target", e)),
        };
        if st.is_symlink() {
            let stamp = Stamp::of_stat(&st);
            if let Some((s, text)) = known
                && s == stamp
            {
                return Ok((Seen::Link(text.clone()), Some(stamp)));
            }
            let text = match dir {
                Some((dir, name)) => dir.read_link(name)?,
                None => crate::fs::read_link(target)?,
            };
            return Ok((Seen::Link(text), Some(stamp)));
        }
        let same = match source.map(crate::fs::stat).transpose()?.flatten() {
            Some(s) => s.dev() == st.dev && s.ino() == st.ino,
            None => false,
        };
        Ok((
            if st.is_dir() {
                Seen::Dir(same)
            } else if st.is_file() {
                Seen::File(same)
            } else {
                Seen::Special
            },
            None,
        ))
    }

    /// Does the nearest existing ancestor of a target, starting at its `parent`, resolve
    /// into the virtual root? Remembered for every directory on the way up.
    fn resolves_into_root(&mut self, parent: &Path) -> bool {
        if let Some((d, hit)) = &self.last_in_root
            && d.as_os_str() == parent.as_os_str()
        {
            return *hit;
        }
        let hit = self.resolve(parent);
        self.last_in_root = Some((parent.to_path_buf(), hit));
        hit
    }

    fn resolve(&mut self, parent: &Path) -> bool {
        let mut chain: Vec<&Path> = Vec::new();
        let mut hit = false;
        let mut anc = Some(parent);
        while let Some(a) = anc {
            if let Some(&v) = self.dirs.in_root.get(a.as_os_str()) {
                hit = v;
                break;
            }
            chain.push(a);
            // A directory seen missing cannot be resolved: go straight to its parent.
            if !self.dirs.known_missing(a)
                && let Ok(real) = std::fs::canonicalize(a)
            {
                hit = real.starts_with(self.root);
                break;
            }
            anc = a.parent();
        }
        for a in chain {
            self.dirs.in_root.insert(a.as_os_str().to_os_string(), hit);
        }
        hit
    }
}
