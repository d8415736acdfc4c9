//! The published tree: complete generations, switched in with one atomic `rename(2)`.
//!
//! # Layout
//!
//! ```text
//! OUT/
//!   current -> .generations/7           the served tree: THE WEB ROOT / RSYNC MODULE
//!   .generations/
//!     6/  7/                            complete, immutable trees (one per publish):
//!       lastupdate  lastsync  report.json
//!       core/os/x86_64/
//!         core.db -> core.db.tar.zst            core.db.sig -> core.db.tar.zst.sig
//!         core.db.tar.zst   core.db.tar.zst.sig
//!         core.files -> core.files.tar.zst      core.files.sig -> core.files.tar.zst.sig
//!         core.files.tar.zst  core.files.tar.zst.sig
//!         bash-5.2.026-2-x86_64.pkg.tar.zst(.sig)   hard links into .pool/
//!       extra/os/x86_64/ ...
//!   .pool/                              every package file and its .sig, once
//!   generations.json                    which generations were served, when, and how
//!   ledger.json                         first-seen times and the audit log (`ledger`)
//!   .lock                               the repository lock (`lock`)
//! ```
//!
//! Serve `OUT/current` and nothing else: it is the web server's document root (`root
//! /srv/lumina-stable/current;` for nginx, `python3 -m http.server -d OUT/current`) and the
//! rsync module's path. Clients then use `Server = https://HOST/$repo/os/$arch`. Every
//! static server resolves the path of each request anew, so each file a client gets comes
//! whole from one generation; an rsync daemon with `use chroot = yes` resolves `current`
//! once per session, so a downstream mirror copies one generation, consistently.
//!
//! # Publishing
//!
//! [`publish`] ([`stage`], then [`Staging::finish`]) builds generation N+1 in
//! `.generations/.tmp-N+1/`: directories, hard links of the package files and their
//! signatures from the pool, the databases and their fresh signatures, the `$repo.db`/`.sig`
//! links, `lastupdate`, `lastsync`, `report.json`. It makes all of it durable (one `syncfs`
//! of the filesystem: nothing reads the staging directory, so its files need no `fsync`
//! each), renames the directory to `.generations/N+1`, makes a new symlink
//! `.current.new -> .generations/N+1` and renames it over `current`. Then it records the
//! switch in `generations.json` and deletes the generations beyond `keep_generations`.
//!
//! When a generation is due for deletion (there are `keep_generations` already), the
//! newest such one is recycled instead: renamed to the staging directory at the start,
//! then only the package files that differ are unlinked and linked (a file whose inode is
//! not the pool's is replaced too). At 15,000 packages with a few hundred changed, that is
//! a few hundred links instead of 30,000, and as many fewer to delete afterwards. The
//! recycled generation is thus gone before the switch rather than just after it; a crash
//! in between leaves one generation fewer to roll back to, never the served one.
//!
//! # Why a crash at any step leaves a consistent generation served
//!
//! - What is served is decided by one symlink, `current`, and it only ever changes by
//!   `rename(2)` of a complete symlink over it: every path lookup sees the old target or the
//!   new one, never neither.
//! - `current` only ever points at a numbered generation, and a numbered generation only
//!   comes into existence by the rename of a staging directory that was complete and
//!   durable before it; it is never modified afterwards. So whatever generation `current`
//!   names holds a database and the signature made over exactly those bytes.
//! - A generation is deleted only after the switch away from it is durable, and never the
//!   one `current` names.
//! - Every leftover of an interrupted run is recognised and removed by the next run before
//!   it does anything else (`recover`): a staging directory, a `.current.new` link, and a
//!   generation that was completed but never switched to (it is not in `generations.json`).
//!   A switch that happened but was not recorded is recorded. So the next publish
//!   converges.
//!
//! `tests/it/publish.rs` injects a failure after every filesystem step of a publish and
//! checks, after each, that the served database verifies against the served signature and
//! that the next publish succeeds.
//!
//! One limit is inherent to fixed file names fetched by separate requests, and holds for
//! every Arch mirror: a client that downloads `core.db` just before a switch and
//! `core.db.sig` just after gets a pair from two generations. pacman then refuses the
//! database as badly signed (it fails closed; nothing wrong is installed) and the next
//! `pacman -Sy` succeeds. Keeping the previous generation (`keep_generations` is at least
//! 2) lets downloads that started before a switch finish.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::lock::RepoLock;
use crate::sign::DetachedSigner;

/// The served symlink, relative to the output directory.
pub const CURRENT: &str = "current";
/// The directory of generations.
pub const GENERATIONS: &str = ".generations";
/// The pool of package files and their signatures.
pub const POOL: &str = ".pool";
/// The record of switches: which generations were served, when, and how.
pub const JOURNAL: &str = "generations.json";
/// A generation's list of its package files (`REPO/FILE` lines), so that a publish that
/// recycles it knows what it holds without reading its directories.
pub const MANIFEST: &str = ".lumina-packages";
/// The prefix of a generation being built, inside [`GENERATIONS`].
const STAGING_PREFIX: &str = ".tmp-";
/// The new symlink before it is renamed over [`CURRENT`].
const CURRENT_NEW: &str = ".current.new";
/// The journal format.
const JOURNAL_FORMAT: u32 = 1;

/// One repository of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFiles {
    /// The repository name: `core`.
    pub name: String,
    /// The bytes of `$repo.db.tar.zst`.
    pub db: Vec<u8>,
    /// The bytes of `$repo.files.tar.zst`.
    pub files: Vec<u8>,
    /// The package file names it lists; each `NAME` and `NAME.sig` must be in the pool.
    pub packages: Vec<String>,
}

/// Everything one generation serves.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// `$arch`.
    pub arch: &'a str,
    /// The repositories.
    pub repos: &'a [RepoFiles],
    /// `lastsync`: when upstream was last synced, seconds since the Unix epoch.
    pub lastsync: u64,
    /// `lastupdate`: when this release was made, seconds since the Unix epoch.
    pub lastupdate: u64,
    /// `report.json`: the promotion report.
    pub report: &'a [u8],
}

/// How a generation came to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    /// `publish`.
    Publish,
    /// `rollback`.
    Rollback,
    /// Found served (a switch whose record was interrupted, or a tree without a journal).
    Found,
}

/// One switch of `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// The generation switched to.
    pub generation: u64,
    /// When, in seconds since the Unix epoch.
    pub at: u64,
    /// How.
    pub kind: SwitchKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    format: u32,
    switches: Vec<Switch>,
}

/// A generation in the output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    /// Its number.
    pub number: u64,
    /// Whether it is served now.
    pub current: bool,
    /// Its `lastupdate`, if readable.
    pub lastupdate: Option<u64>,
    /// When it was last switched to, if it ever was.
    pub served_at: Option<u64>,
}

/// What [`rollback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rollback {
    /// The generation served before.
    pub from: u64,
    /// The generation served now (equal to `from` when it already was).
    pub to: u64,
}

/// The directory a client reaches as `$repo/os/$arch` in the served tree:
/// `OUT/current/REPO/os/ARCH`.
#[must_use]
pub fn served_repo_dir(out: &Path, repo: &str, arch: &str) -> PathBuf {
    out.join(CURRENT).join(repo).join("os").join(arch)
}

/// The pool path of a package file or signature.
#[must_use]
pub fn pool_path(out: &Path, name: &str) -> PathBuf {
    out.join(POOL).join(name)
}

fn generation_dir(out: &Path, n: u64) -> PathBuf {
    out.join(GENERATIONS).join(n.to_string())
}

fn publish_err(out: &Path, message: impl Into<String>) -> Error {
    Error::Publish {
        out: out.to_path_buf(),
        message: message.into(),
    }
}

/// A name usable as one path component of the tree: printable ASCII without `/`, not
/// starting with `.` (so never `.` or `..`, and never a hidden staging name).
fn is_component(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
}

/// A package file name as it may appear in a repository directory: one component, ending
/// in a package suffix (so it cannot collide with the database names or `lastupdate`).
fn check_package_name(out: &Path, name: &str) -> Result<(), Error> {
    if !is_component(name) || !name.contains(".pkg.tar") || name.ends_with(".sig") {
        return Err(publish_err(
            out,
            format!(
                "`{name}` is not a package file name (one path component, not starting with \
                 `.`, containing `.pkg.tar`)"
            ),
        ));
    }
    Ok(())
}

/// Which generation `current` names, if any.
///
/// # Errors
/// [`Error::Publish`] when `current` exists but is not a symlink to `.generations/N`;
/// [`Error::Fs`].
pub fn current(out: &Path) -> Result<Option<u64>, Error> {
    let path = out.join(CURRENT);
    match lumina_core::fs::lstat(&path)? {
        None => Ok(None),
        Some(m) if m.file_type().is_symlink() => {
            let text = lumina_core::fs::read_link(&path)?;
            text.strip_prefix(GENERATIONS)
                .ok()
                .and_then(|rest| rest.to_str())
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|_| text.components().count() == 2)
                .map(Some)
                .ok_or_else(|| {
                    publish_err(
                        out,
                        format!(
                            "`current` points at `{}`, not at `{GENERATIONS}/N`; it was not made \
                             by lumina-repo",
                            text.display()
                        ),
                    )
                })
        }
        Some(_) => Err(publish_err(
            out,
            "`current` is not a symlink; it was not made by lumina-repo",
        )),
    }
}

/// What is in the output directory.
#[derive(Debug)]
struct State {
    current: Option<u64>,
    /// Complete generations.
    numbered: BTreeSet<u64>,
    /// Staging directories of interrupted publishes.
    staging: Vec<OsString>,
    journal: Journal,
    journal_exists: bool,
}

impl State {
    fn served(&self) -> BTreeSet<u64> {
        self.journal.switches.iter().map(|s| s.generation).collect()
    }

    fn next_number(&self) -> u64 {
        let max_numbered = self.numbered.iter().next_back().copied().unwrap_or(0);
        let max_served = self.served().iter().next_back().copied().unwrap_or(0);
        max_numbered.max(max_served).max(self.current.unwrap_or(0)) + 1
    }
}

fn read_state(out: &Path) -> Result<State, Error> {
    let current = current(out)?;
    let gens = out.join(GENERATIONS);
    let mut numbered = BTreeSet::new();
    let mut staging = Vec::new();
    if lumina_core::fs::lstat(&gens)?.is_some() {
        for (name, is_dir) in lumina_core::fs::read_dir(&gens)? {
            let text = name.to_string_lossy();
            if text.starts_with(STAGING_PREFIX) {
                staging.push(name);
            } else if is_dir && let Ok(n) = text.parse::<u64>() {
                numbered.insert(n);
            }
        }
    }
    let jpath = out.join(JOURNAL);
    let (journal, journal_exists) = match lumina_core::fs::lstat(&jpath)? {
        None => (
            Journal {
                format: JOURNAL_FORMAT,
                switches: Vec::new(),
            },
            false,
        ),
        Some(_) => {
            let bytes = lumina_core::fs::read(&jpath)?;
            let j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                publish_err(
                    out,
                    format!(
                        "`{JOURNAL}` is corrupt ({e}); it was left as it is: restore it, or \
                         move it away (every generation is then treated as served once)"
                    ),
                )
            })?;
            if j.format != JOURNAL_FORMAT {
                return Err(publish_err(
                    out,
                    format!(
                        "`{JOURNAL}` has format {}; this lumina-repo reads format \
                         {JOURNAL_FORMAT}",
                        j.format
                    ),
                ));
            }
            (j, true)
        }
    };
    Ok(State {
        current,
        numbered,
        staging,
        journal,
        journal_exists,
    })
}

fn write_journal(fs: &Fs, out: &Path, journal: &Journal) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(journal)
        .map_err(|e| publish_err(out, format!("cannot serialize `{JOURNAL}`: {e}")))?;
    bytes.push(b'\n');
    fs.write_atomic(&out.join(JOURNAL), &bytes, false)?;
    Ok(())
}

/// Finish or undo whatever an interrupted run left, and return the resulting state:
/// remove staging directories and a stray `.current.new`, record a switch that was made
/// but not recorded, and remove generations that were completed but never served. Every
/// mutating operation here starts with it.
fn recover(fs: &Fs, out: &Path, now: u64) -> Result<State, Error> {
    let mut state = read_state(out)?;
    let new_link = out.join(CURRENT_NEW);
    if lumina_core::fs::lstat(&new_link)?.is_some() {
        fs.unlink(&new_link)?;
    }
    for name in std::mem::take(&mut state.staging) {
        fs.remove_tree(&out.join(GENERATIONS).join(name))?;
    }
    let mut changed = false;
    if !state.journal_exists {
        // A tree without a journal (made before it existed, or the journal was moved
        // away): every generation in it may have been served, so each one stays.
        state.journal.switches = state
            .numbered
            .iter()
            .filter(|n| Some(**n) != state.current)
            .chain(state.current.iter())
            .map(|n| Switch {
                generation: *n,
                at: now,
                kind: SwitchKind::Found,
            })
            .collect();
        changed = true;
    }
    if let Some(c) = state.current {
        if !state.numbered.contains(&c) {
            return Err(publish_err(
                out,
                format!("`current` points at generation {c}, which does not exist"),
            ));
        }
        if state.journal.switches.last().map(|s| s.generation) != Some(c) {
            state.journal.switches.push(Switch {
                generation: c,
                at: now,
                kind: SwitchKind::Found,
            });
            changed = true;
        }
    }
    if changed {
        write_journal(fs, out, &state.journal)?;
        state.journal_exists = true;
    }
    let served = state.served();
    let orphans: Vec<u64> = state
        .numbered
        .iter()
        .copied()
        .filter(|n| !served.contains(n) && Some(*n) != state.current)
        .collect();
    for n in orphans {
        fs.remove_tree(&generation_dir(out, n))?;
        state.numbered.remove(&n);
    }
    fs.sync_touched_dirs()?;
    Ok(state)
}

/// Point `current` at generation `n`: a new symlink beside it, renamed over it.
fn switch(fs: &Fs, out: &Path, n: u64) -> Result<(), Error> {
    let new_link = out.join(CURRENT_NEW);
    fs.symlink(&Path::new(GENERATIONS).join(n.to_string()), &new_link)?;
    fs.rename(&new_link, &out.join(CURRENT))?;
    fs.sync_touched_dirs()?;
    Ok(())
}

/// One repository's package files, to be linked into a staging generation.
#[derive(Debug, Clone, Copy)]
pub struct RepoPackages<'a> {
    /// The repository name: `core`.
    pub name: &'a str,
    /// The package file names it lists; each `NAME` and `NAME.sig` must be in the pool.
    pub packages: &'a [String],
}

/// The signatures of one repository's databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSignatures {
    /// The repository name: `core`.
    pub name: String,
    /// The detached signature of `$repo.db.tar.zst`.
    pub db: Vec<u8>,
    /// The detached signature of `$repo.files.tar.zst`.
    pub files: Vec<u8>,
}

impl DbSignatures {
    /// Takes the two signatures `sigs` ([`DetachedSigner::sign_all`] of the `.db` then the
    /// `.files`) of repository `name`.
    ///
    /// # Errors
    /// [`Error::Sign`] when there are not two.
    pub fn of(name: String, sigs: Vec<Vec<u8>>) -> Result<Self, Error> {
        let mut sigs = sigs.into_iter();
        match (sigs.next(), sigs.next(), sigs.next()) {
            (Some(db), Some(files), None) => Ok(Self { name, db, files }),
            _ => Err(Error::Sign {
                what: format!("cannot sign the databases of `{name}`"),
                message: "the signer did not make two signatures".into(),
            }),
        }
    }
}

/// The names of a release: the architecture, the repositories (each once) and their
/// package file names (each once per repository). The pool is not looked at: a missing
/// file fails its link in [`stage`].
fn validate(out: &Path, arch: &str, repos: &[RepoPackages<'_>]) -> Result<(), Error> {
    if !is_component(arch) {
        return Err(publish_err(
            out,
            format!("`{arch}` is not an architecture name"),
        ));
    }
    if repos.is_empty() {
        return Err(publish_err(out, "the release has no repositories"));
    }
    let mut names = HashSet::new();
    for repo in repos {
        if !is_component(repo.name) {
            return Err(publish_err(
                out,
                format!("`{}` is not a repository name", repo.name),
            ));
        }
        if !names.insert(repo.name) {
            return Err(publish_err(
                out,
                format!("repository `{}` is in the release twice", repo.name),
            ));
        }
        let mut pkgs = HashSet::with_capacity(repo.packages.len());
        for p in repo.packages {
            check_package_name(out, p)?;
            if !pkgs.insert(p.as_str()) {
                return Err(publish_err(
                    out,
                    format!("`{p}` is listed twice in repository `{}`", repo.name),
                ));
            }
        }
    }
    Ok(())
}

/// A generation being built: its directories made and its package files linked from the
/// pool, waiting for its databases ([`Staging::finish`]). Dropped without finishing, it
/// stays behind as a staging directory, which the next run removes.
#[derive(Debug)]
pub struct Staging<'l> {
    lock: &'l RepoLock,
    state: State,
    n: u64,
    dir: PathBuf,
    arch: String,
    repos: Vec<String>,
    /// The new generation's [`MANIFEST`].
    manifest: String,
    /// The repositories whose databases were written ([`Staging::put_databases`]).
    written: Vec<String>,
    keep: u32,
}

/// Starts a new generation: recovers from an interrupted run, makes the staging directory
/// `.generations/.tmp-N` and hard-links every package file and its signature into its
/// repository directory. The slow half of a publish, and the half that needs no databases:
/// the caller can render and sign them meanwhile on another thread.
///
/// # Errors
/// - [`Error::Publish`] when a name is invalid (`/`, `..`, a duplicate) or the tree was not
///   made by this tool; nothing is changed. A file missing from the pool is named as such;
///   the staging directory is then removed again.
/// - [`Error::Fs`] when a filesystem step fails; the next run cleans up.
pub fn stage<'l>(
    lock: &'l RepoLock,
    fs: &Fs,
    arch: &str,
    repos: &[RepoPackages<'_>],
    now: u64,
    keep: u32,
) -> Result<Staging<'l>, Error> {
    let out = lock.out();
    validate(out, arch, repos)?;
    let mut state = recover(fs, out, now)?;
    if !state.journal_exists {
        write_journal(fs, out, &state.journal)?;
    }
    let n = state.next_number();
    crate::trace::mark("publish: validate and recover");
    let dir = out.join(GENERATIONS).join(format!("{STAGING_PREFIX}{n}"));
    let recycled = recyclable(&state, keep).and_then(|r| Some((r, read_manifest(out, r)?)));
    let recycled = match recycled {
        Some((r, manifest)) => {
            fs.rename(&generation_dir(out, r), &dir)?;
            state.numbered.remove(&r);
            Some(manifest)
        }
        None => None,
    };
    if let Err(e) = link_packages(fs, out, &dir, arch, repos, recycled) {
        if matches!(e, Error::Publish { .. }) {
            // A file missing from the pool: bad input, so leave nothing behind.
            fs.remove_tree(&dir)?;
            fs.sync_touched_dirs()?;
        }
        return Err(e);
    }
    crate::trace::mark("publish: hard links");
    Ok(Staging {
        lock,
        state,
        n,
        dir,
        arch: arch.to_owned(),
        repos: repos.iter().map(|r| r.name.to_owned()).collect(),
        manifest: manifest_text(repos),
        written: Vec::new(),
        keep,
    })
}

/// The generation a publish with `keep` would delete once the new one is served, if any:
/// the newest of them (the nearest to the new one), never the served one. [`stage`]
/// recycles it into the new generation instead: renames it to the staging directory and
/// changes only the package files that differ, so that a publish links and later deletes
/// the packages that changed rather than every package of the distribution twice. It is
/// thus gone before the switch rather than after it: a crash in between leaves one
/// generation fewer to roll back to (the served one stays).
fn recyclable(state: &State, keep: u32) -> Option<u64> {
    let keep = usize::try_from(keep.max(1)).unwrap_or(usize::MAX);
    state
        .numbered
        .iter()
        .rev()
        .skip(keep - 1)
        .copied()
        .find(|n| Some(*n) != state.current)
}

fn link_packages(
    fs: &Fs,
    out: &Path,
    stage: &Path,
    arch: &str,
    repos: &[RepoPackages<'_>],
    mut recycled: Option<Manifest>,
) -> Result<(), Error> {
    use lumina_core::fs::Dir;
    let open = |dir: &Path| {
        Dir::open(dir).map_err(|e| lumina_core::Error::io(dir, "opening the directory", e))
    };
    if recycled.is_some() {
        // What the new generation does not have goes: other repositories, architectures.
        for (name, is_dir) in lumina_core::fs::read_dir(stage)? {
            let keep = name
                .to_str()
                .is_some_and(|n| repos.iter().any(|r| r.name == n));
            let path = stage.join(&name);
            if keep {
                for (sub, _) in lumina_core::fs::read_dir(&path)? {
                    if sub != "os" {
                        fs.remove_tree(&path.join(sub))?;
                    }
                }
                let os = path.join("os");
                if lumina_core::fs::lstat(&os)?.is_some_and(|m| m.is_dir()) {
                    for (sub, _) in lumina_core::fs::read_dir(&os)? {
                        if sub != arch {
                            fs.remove_tree(&os.join(sub))?;
                        }
                    }
                }
            } else if is_dir {
                fs.remove_tree(&path)?;
            }
        }
    }
    // Opened at the first package: a release without any needs no pool.
    let mut pool: Option<Dir> = None;
    for repo in repos {
        let path = stage.join(repo.name).join("os").join(arch);
        fs.create_dir_all(&path)?;
        let dir = open(&path)?;
        // The recycled generation's packages of this repository: present already.
        let mut present: HashSet<String> = recycled
            .as_mut()
            .and_then(|m| m.remove(repo.name))
            .unwrap_or_default();
        if recycled.is_some() {
            // Its databases' links (`finish` makes new ones; the files are replaced).
            for kind in ["db", "files"] {
                for name in [
                    format!("{}.{kind}", repo.name),
                    format!("{}.{kind}.sig", repo.name),
                ] {
                    unlink_if_there(fs, &dir, &name)?;
                }
            }
        }
        let mut sig = String::new();
        for p in repo.packages {
            if present.remove(p.as_str()) {
                continue;
            }
            let pool = match &mut pool {
                Some(d) => &*d,
                None => &*pool.insert(open(&out.join(POOL))?),
            };
            sig.clear();
            sig.push_str(p);
            sig.push_str(".sig");
            for name in [p.as_str(), sig.as_str()] {
                let name = std::ffi::OsStr::new(name);
                let mut linked = fs.hard_link_at(pool, &dir, name);
                if recycled.is_some()
                    && matches!(&linked, Err(lumina_core::Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists)
                {
                    // Not a file the recycled generation listed (never so in a tree only
                    // this tool wrote): replaced by the pool's.
                    fs.unlink_at(&dir, name)?;
                    linked = fs.hard_link_at(pool, &dir, name);
                }
                match linked {
                    Err(lumina_core::Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Err(publish_err(
                            out,
                            format!(
                                "`{}` (listed in repository `{}`) is not in the pool",
                                out.join(POOL).join(name).display(),
                                repo.name
                            ),
                        ));
                    }
                    r => r?,
                }
            }
        }
        // The recycled generation's packages the new one does not list.
        let mut gone: Vec<String> = present.into_iter().collect();
        gone.sort_unstable();
        for p in gone {
            unlink_if_there(fs, &dir, &p)?;
            unlink_if_there(fs, &dir, &format!("{p}.sig"))?;
        }
    }
    Ok(())
}

fn unlink_if_there(fs: &Fs, dir: &lumina_core::fs::Dir, name: &str) -> Result<(), Error> {
    match fs.unlink_at(dir, name.as_ref()) {
        Err(lumina_core::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        r => Ok(r?),
    }
}

/// A generation's package files by repository, from its [`MANIFEST`].
type Manifest = std::collections::HashMap<String, HashSet<String>>;

/// The text of a generation's [`MANIFEST`]: `REPO/FILE` per package file, sorted.
fn manifest_text(repos: &[RepoPackages<'_>]) -> String {
    let mut lines: Vec<String> = repos
        .iter()
        .flat_map(|r| r.packages.iter().map(move |p| format!("{}/{p}\n", r.name)))
        .collect();
    lines.sort_unstable();
    lines.concat()
}

/// Generation `n`'s [`MANIFEST`], if it has a valid one (a generation made before
/// manifests, or with a damaged one, is not recycled: it is deleted as before).
fn read_manifest(out: &Path, n: u64) -> Option<Manifest> {
    let bytes = std::fs::read(generation_dir(out, n).join(MANIFEST)).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut manifest = Manifest::new();
    for line in text.lines() {
        let (repo, file) = line.split_once('/')?;
        if !is_component(repo) || check_package_name(out, file).is_err() {
            return None;
        }
        manifest
            .entry(repo.to_owned())
            .or_default()
            .insert(file.to_owned());
    }
    Some(manifest)
}

impl Staging<'_> {
    /// The number the generation will have.
    #[must_use]
    pub fn number(&self) -> u64 {
        self.n
    }

    /// Writes repository `name`'s databases into the generation (not durably yet: see
    /// [`Staging::sync`]).
    ///
    /// # Errors
    /// [`Error::Publish`] when `name` was not staged or was written already;
    /// [`Error::Fs`].
    pub fn put_databases(
        &mut self,
        fs: &Fs,
        name: &str,
        db: &[u8],
        files: &[u8],
    ) -> Result<(), Error> {
        if !self.repos.iter().any(|r| r == name) || self.written.iter().any(|r| r == name) {
            return Err(publish_err(
                self.lock.out(),
                format!("repository `{name}` was not staged, or its databases were given twice"),
            ));
        }
        let dir = self.dir.join(name).join("os").join(&self.arch);
        for (kind, bytes) in [("db", db), ("files", files)] {
            fs.write_replace(&dir.join(format!("{name}.{kind}.tar.zst")), bytes, false)?;
        }
        self.written.push(name.to_owned());
        Ok(())
    }

    /// Makes everything written so far durable (one `syncfs`): nothing reads the staging
    /// directory, so its files need no `fsync` each. [`Staging::finish`] syncs again; this
    /// is for a caller that has the databases before their signatures.
    ///
    /// # Errors
    /// [`Error::Fs`].
    pub fn sync(&self, fs: &Fs) -> Result<(), Error> {
        Ok(fs.sync_filesystem(&self.dir)?)
    }

    /// Completes the generation with its databases' signatures (one per repository
    /// staged, in any order; every repository's databases put first), `lastupdate`,
    /// `lastsync`, `report.json` and the manifest, makes it durable, and serves it (see the
    /// module documentation for why a crash at any step is safe). Keeps the newest `keep`
    /// generations and the served one. Returns the generation's number.
    ///
    /// # Errors
    /// - [`Error::Publish`] when `sigs` or the databases put do not name exactly the
    ///   repositories staged;
    /// - [`Error::Fs`] when a filesystem step fails; the previous generation stays served.
    pub fn finish(
        mut self,
        fs: &Fs,
        sigs: &[DbSignatures],
        lastsync: u64,
        lastupdate: u64,
        report: &[u8],
    ) -> Result<u64, Error> {
        let out = self.lock.out().to_path_buf();
        let mut named: Vec<&str> = sigs.iter().map(|d| d.name.as_str()).collect();
        let mut written: Vec<&str> = self.written.iter().map(String::as_str).collect();
        let mut staged: Vec<&str> = self.repos.iter().map(String::as_str).collect();
        named.sort_unstable();
        written.sort_unstable();
        staged.sort_unstable();
        if named != staged || written != staged {
            return Err(publish_err(
                &out,
                format!(
                    "the databases given ({}) and signed ({}) are not those of the repositories \
                     staged ({})",
                    written.join(", "),
                    named.join(", "),
                    staged.join(", ")
                ),
            ));
        }
        for repo in sigs {
            let dir = self.dir.join(&repo.name).join("os").join(&self.arch);
            for (kind, sig) in [("db", &repo.db), ("files", &repo.files)] {
                let file = format!("{}.{kind}.tar.zst", repo.name);
                fs.write_replace(&dir.join(format!("{file}.sig")), sig, false)?;
                fs.symlink(Path::new(&file), &dir.join(format!("{}.{kind}", repo.name)))?;
                fs.symlink(
                    Path::new(&format!("{file}.sig")),
                    &dir.join(format!("{}.{kind}.sig", repo.name)),
                )?;
            }
        }
        for (name, bytes) in [
            ("lastupdate", format!("{lastupdate}\n").into_bytes()),
            ("lastsync", format!("{lastsync}\n").into_bytes()),
        ] {
            fs.write_replace(&self.dir.join(name), &bytes, false)?;
        }
        fs.write_replace(&self.dir.join("report.json"), report, false)?;
        fs.write_replace(&self.dir.join(MANIFEST), self.manifest.as_bytes(), false)?;
        crate::trace::mark("publish: databases, signatures");
        fs.sync_filesystem(&self.dir)?;
        crate::trace::mark("publish: fsync directories");
        let n = self.n;
        fs.rename(&self.dir, &generation_dir(&out, n))?;
        fs.sync_touched_dirs()?;
        self.state.numbered.insert(n);
        switch(fs, &out, n)?;
        self.state.current = Some(n);
        self.state.journal.switches.push(Switch {
            generation: n,
            at: lastupdate,
            kind: SwitchKind::Publish,
        });
        write_journal(fs, &out, &self.state.journal)?;
        crate::trace::mark("publish: switch, journal");
        prune_state(fs, &out, &mut self.state, self.keep)?;
        crate::trace::mark("publish: prune");
        Ok(n)
    }
}

/// Publish `release` as a new generation and serve it: [`stage`], sign each repository's
/// databases, [`Staging::finish`] (see the module documentation for the steps and why a
/// crash at any of them is safe). Keeps the newest `keep` generations and the served one.
/// Returns the new generation's number.
///
/// # Errors
/// - [`Error::Publish`] when the release is invalid (a name with `/` or `..`, a package
///   missing from the pool) or the tree was not made by this tool; nothing is changed.
/// - [`Error::Sign`] when a database cannot be signed; the served tree is unchanged.
/// - [`Error::Fs`] when a filesystem step fails; the previous generation stays served, and
///   the next run cleans up.
pub fn publish(
    lock: &RepoLock,
    fs: &Fs,
    signer: &mut dyn DetachedSigner,
    release: &Release<'_>,
    keep: u32,
) -> Result<u64, Error> {
    let lists: Vec<RepoPackages<'_>> = release
        .repos
        .iter()
        .map(|r| RepoPackages {
            name: &r.name,
            packages: &r.packages,
        })
        .collect();
    let mut staging = stage(lock, fs, release.arch, &lists, release.lastupdate, keep)?;
    let mut sigs = Vec::with_capacity(release.repos.len());
    for r in release.repos {
        staging.put_databases(fs, &r.name, &r.db, &r.files)?;
        sigs.push(DbSignatures::of(
            r.name.clone(),
            signer.sign_all(&[&r.db, &r.files])?,
        )?);
    }
    staging.finish(
        fs,
        &sigs,
        release.lastsync,
        release.lastupdate,
        release.report,
    )
}

/// Delete generations beyond the newest `keep` (never the served one) and forget them in
/// the journal.
fn prune_state(fs: &Fs, out: &Path, state: &mut State, keep: u32) -> Result<Vec<u64>, Error> {
    let keep = usize::try_from(keep.max(1)).unwrap_or(usize::MAX);
    let doomed: Vec<u64> = state
        .numbered
        .iter()
        .rev()
        .skip(keep)
        .copied()
        .filter(|n| Some(*n) != state.current)
        .collect();
    if doomed.is_empty() {
        return Ok(doomed);
    }
    for n in &doomed {
        fs.remove_tree(&generation_dir(out, *n))?;
        state.numbered.remove(n);
    }
    state
        .journal
        .switches
        .retain(|s| state.numbered.contains(&s.generation));
    write_journal(fs, out, &state.journal)?;
    fs.sync_touched_dirs()?;
    Ok(doomed)
}

/// Delete generations beyond the newest `keep` (never the served one); returns the
/// numbers deleted.
///
/// # Errors
/// [`Error::Publish`] when the tree was not made by this tool; [`Error::Fs`].
pub fn prune(lock: &RepoLock, fs: &Fs, keep: u32, now: u64) -> Result<Vec<u64>, Error> {
    let mut state = recover(fs, lock.out(), now)?;
    prune_state(fs, lock.out(), &mut state, keep)
}

/// Serve generation `to`, or, without it, the newest generation older than the served
/// one. Atomic like a publish.
///
/// # Errors
/// - [`Error::Publish`] when nothing is published, there is no older generation, or `to`
///   does not exist (the message lists those that do).
/// - [`Error::Fs`].
pub fn rollback(lock: &RepoLock, fs: &Fs, to: Option<u64>, now: u64) -> Result<Rollback, Error> {
    let out = lock.out();
    let mut state = recover(fs, out, now)?;
    let Some(from) = state.current else {
        return Err(publish_err(out, "nothing is published yet"));
    };
    let available = || {
        state
            .numbered
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = match to {
        Some(n) if state.numbered.contains(&n) => n,
        Some(n) => {
            return Err(publish_err(
                out,
                format!(
                    "there is no generation {n}; the generations are: {}",
                    available()
                ),
            ));
        }
        None => state
            .numbered
            .range(..from)
            .next_back()
            .copied()
            .ok_or_else(|| {
                publish_err(
                    out,
                    format!(
                        "there is no generation older than {from}; the generations are: {}",
                        available()
                    ),
                )
            })?,
    };
    if target == from {
        return Ok(Rollback { from, to: from });
    }
    switch(fs, out, target)?;
    state.journal.switches.push(Switch {
        generation: target,
        at: now,
        kind: SwitchKind::Rollback,
    });
    write_journal(fs, out, &state.journal)?;
    Ok(Rollback { from, to: target })
}

/// The generations in the output directory, oldest first. Reads only.
///
/// # Errors
/// [`Error::Publish`] when the tree was not made by this tool; [`Error::Fs`].
pub fn generations(out: &Path) -> Result<Vec<Generation>, Error> {
    let state = read_state(out)?;
    let served = state.served();
    Ok(state
        .numbered
        .iter()
        .filter(|n| served.contains(n) || Some(**n) == state.current || !state.journal_exists)
        .map(|n| Generation {
            number: *n,
            current: Some(*n) == state.current,
            lastupdate: lumina_core::fs::read(&generation_dir(out, *n).join("lastupdate"))
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.trim().parse().ok()),
            served_at: state
                .journal
                .switches
                .iter()
                .rev()
                .find(|s| s.generation == *n)
                .map(|s| s.at),
        })
        .collect())
}

/// The record of switches, oldest first (empty before the first publish). Reads only.
///
/// # Errors
/// [`Error::Publish`] when the journal is corrupt; [`Error::Fs`].
pub fn history(out: &Path) -> Result<Vec<Switch>, Error> {
    Ok(read_state(out)?.journal.switches)
}

/// Put `bytes` into the pool as `name` (a package file or its `.sig`), atomically and
/// durably. Idempotent: the same bytes again do nothing.
///
/// A package file name stands for one content (pacman caches packages by name), so a
/// different package file under a name the pool has is refused. A signature may be
/// replaced (a package signed again): the new `.sig` is a new file, and generations
/// already published keep the one they link to.
///
/// # Errors
/// [`Error::Publish`] when `name` is not a plain file name, or the pool already holds a
/// different package file of that name; [`Error::Fs`].
pub fn pool_insert(lock: &RepoLock, fs: &Fs, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
    let out = lock.out();
    check_pool_name(out, name)?;
    let path = pool_path(out, name);
    if lumina_core::fs::lstat(&path)?.is_some() {
        if lumina_core::fs::read(&path)? == bytes {
            return Ok(path);
        }
        if !name.ends_with(".sig") {
            return Err(pool_conflict(out, name));
        }
    }
    fs.create_dir_all(&out.join(POOL))?;
    fs.write_atomic(&path, bytes, false)?;
    Ok(path)
}

/// Copy the file `from` into the pool as `name`: copied beside its place, fsynced, then
/// renamed in. Idempotent, and refusing a different package file, like [`pool_insert`].
///
/// # Errors
/// As [`pool_insert`].
pub fn pool_insert_file(
    lock: &RepoLock,
    fs: &Fs,
    name: &str,
    from: &Path,
) -> Result<PathBuf, Error> {
    let out = lock.out();
    check_pool_name(out, name)?;
    let path = pool_path(out, name);
    if lumina_core::fs::lstat(&path)?.is_some() {
        if lumina_core::fs::same_contents(&path, from)? {
            return Ok(path);
        }
        if !name.ends_with(".sig") {
            return Err(pool_conflict(out, name));
        }
    }
    fs.create_dir_all(&out.join(POOL))?;
    let tmp = lumina_core::fs::sibling(&path, ".lumina-tmp");
    if lumina_core::fs::lstat(&tmp)?.is_some() {
        fs.unlink(&tmp)?;
    }
    fs.copy_file(from, &tmp)?;
    fs.rename(&tmp, &path)?;
    fs.sync_touched_dirs()?;
    Ok(path)
}

fn check_pool_name(out: &Path, name: &str) -> Result<(), Error> {
    check_package_name(out, name.strip_suffix(".sig").unwrap_or(name))
}

fn pool_conflict(out: &Path, name: &str) -> Error {
    publish_err(
        out,
        format!(
            "the pool already holds a different `{name}`; a package file name must always \
             stand for the same bytes"
        ),
    )
}

/// Delete the pool files no generation links to (after removing what interrupted runs
/// left), except those `also_keep` names (a package file name; its `.sig` follows it):
/// downloaded candidates still in quarantine, for example. Returns the names deleted.
///
/// # Errors
/// [`Error::Publish`] when the tree was not made by this tool; [`Error::Fs`].
pub fn gc(
    lock: &RepoLock,
    fs: &Fs,
    also_keep: &dyn Fn(&str) -> bool,
    now: u64,
) -> Result<Vec<String>, Error> {
    let out = lock.out();
    let state = recover(fs, out, now)?;
    let mut referenced: HashSet<OsString> = HashSet::new();
    for n in &state.numbered {
        let gen_dir = generation_dir(out, *n);
        for (repo, is_dir) in lumina_core::fs::read_dir(&gen_dir)? {
            let os = gen_dir.join(&repo).join("os");
            if !is_dir || lumina_core::fs::lstat(&os)?.is_none() {
                continue;
            }
            for (arch, is_dir) in lumina_core::fs::read_dir(&os)? {
                if is_dir {
                    for (name, _) in lumina_core::fs::read_dir(&os.join(arch))? {
                        referenced.insert(name);
                    }
                }
            }
        }
    }
    let pool = out.join(POOL);
    let mut removed = Vec::new();
    if lumina_core::fs::lstat(&pool)?.is_none() {
        return Ok(removed);
    }
    for (name, _) in lumina_core::fs::read_dir(&pool)? {
        let text = name.to_string_lossy().into_owned();
        let stray = text.ends_with(".lumina-tmp");
        let base = text.strip_suffix(".sig").unwrap_or(&text);
        if !stray && (referenced.contains(&name) || also_keep(base)) {
            continue;
        }
        fs.unlink(&pool.join(&name))?;
        removed.push(text);
    }
    fs.sync_touched_dirs()?;
    Ok(removed)
}
