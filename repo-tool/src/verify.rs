//! `lumina-repo verify`: check a published tree, or any copy of one (an rsync mirror, a
//! CDN origin), the way a careful pacman would, and name every problem.
//!
//! For every `$repo/os/$arch/$repo.db` under the root:
//! - the database and its `.sig` are regular files inside the tree (a symlink is followed
//!   only while it stays inside), and the signature verifies against the Lumina key;
//! - the database parses and validates whole (`syncdb`: a `%FILENAME%` with `/` or `..`,
//!   a truncated archive, ... name the entry and the field);
//! - `$repo.files`, when present, is signed the same way and lists the same packages;
//! - every entry's file is present in the directory, inside the tree (not a symlink
//!   leading out of it), a regular file of `%CSIZE%` bytes whose SHA-256 is
//!   `%SHA256SUM%`, and its `FILE.sig` verifies against the upstream keyring or the Lumina
//!   key (either is accepted: Lumina's own packages are signed by the Lumina key); an
//!   embedded `%PGPSIG%` other than the `.sig` is checked too, as pacman uses it.
//!
//! It only reads. Every problem names the repository, the package (or file) and the field;
//! the packages are checked on several threads, each with its own GnuPG contexts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::entry::{DbEntry, EntryProblem};
use crate::error::{DbProblem, Error};
use crate::sign::Verifier;
use crate::sync::{decode_base64, sha256_file};
use crate::syncdb::{self, Limits, SyncDb};

/// The keys and bounds of a check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The GnuPG home that trusts the Lumina key (the signing key's home works: a key is
    /// ultimately trusted in its own home).
    pub lumina_keyring: PathBuf,
    /// The GnuPG home trusted for upstream packagers' signatures (pacman's keyring);
    /// `None`: packages must be signed by the Lumina key.
    pub upstream_keyring: Option<PathBuf>,
    /// How many packages are checked at once (at least 1).
    pub jobs: usize,
    /// Bounds on the databases read.
    pub limits: Limits,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The repository (`core`).
    pub repo: String,
    /// The architecture directory (`x86_64`).
    pub arch: String,
    /// The package's name, when the problem is one entry's.
    pub package: Option<String>,
    /// The file at fault, relative to the repository directory (`core.db`,
    /// `foo-1-1-x86_64.pkg.tar.zst.sig`).
    pub file: Option<String>,
    /// What is wrong: `signature`, `database`, `%FILENAME%`, `%CSIZE%`, `%SHA256SUM%`,
    /// `%PGPSIG%`, or the field of an invalid entry.
    pub field: String,
    /// In one sentence.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/os/{}", self.repo, self.arch)?;
        if let Some(p) = &self.package {
            write!(f, ": package `{p}`")?;
        }
        if let Some(file) = &self.file {
            write!(f, " (`{file}`)")?;
        }
        write!(f, ": {}: {}", self.field, self.problem)
    }
}

/// One repository directory checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoChecked {
    /// The repository.
    pub repo: String,
    /// The architecture.
    pub arch: String,
    /// How many entries its database lists (0 when it could not be read).
    pub entries: usize,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The tree checked (symlinks resolved).
    pub root: PathBuf,
    /// Every repository directory found.
    pub repos: Vec<RepoChecked>,
    /// How many package files were checked.
    pub packages: usize,
    /// Every problem, by repository, package and field.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check the tree at `root` (`OUT/current`, or a copy of it).
///
/// # Errors
/// - [`Error::Publish`] when `root` is not a directory;
/// - [`Error::Sign`] when a keyring cannot be used;
/// - [`Error::Fs`] when a directory cannot be listed.
///
/// Everything wrong with the tree itself is a [`Problem`] in the report, not an error.
pub fn verify(root: &Path, opts: &VerifyOptions) -> Result<VerifyReport, Error> {
    let not_tree = |message: String| Error::Publish {
        out: root.to_path_buf(),
        message,
    };
    let real_root = match lumina_core::fs::stat(root)? {
        Some(m) if m.is_dir() => lumina_core::fs::canonicalize(root)?,
        Some(_) => return Err(not_tree("it is not a directory".into())),
        None => return Err(not_tree("it does not exist".into())),
    };
    // Fail early on an unusable keyring.
    Verifier::new(&opts.lumina_keyring)?;
    if let Some(k) = &opts.upstream_keyring {
        Verifier::new(k)?;
    }
    let mut report = VerifyReport {
        root: real_root.clone(),
        repos: Vec::new(),
        packages: 0,
        problems: Vec::new(),
    };
    let mut dirs = Vec::new();
    for (repo, is_dir) in sorted_dir(&real_root)? {
        let os = real_root.join(&repo).join("os");
        if !is_dir
            || repo.starts_with('.')
            || !lumina_core::fs::lstat(&os)?.is_some_and(|m| m.is_dir())
        {
            continue;
        }
        for (arch, is_dir) in sorted_dir(&os)? {
            if is_dir && !arch.starts_with('.') {
                dirs.push(RepoDir {
                    repo: repo.clone(),
                    arch: arch.clone(),
                    dir: os.join(&arch),
                });
            }
        }
    }
    if dirs.is_empty() {
        report.problems.push(Problem {
            repo: "*".into(),
            arch: "*".into(),
            package: None,
            file: None,
            field: "database".into(),
            problem: format!(
                "no repository here: `{}` has no `$repo/os/$arch/` directory",
                real_root.display()
            ),
        });
        return Ok(report);
    }
    let mut lumina = Verifier::new(&opts.lumina_keyring)?;
    let mut work = Vec::new();
    for d in &dirs {
        let (db, problems) = check_databases(&real_root, d, &mut lumina, &opts.limits);
        report.problems.extend(problems);
        report.repos.push(RepoChecked {
            repo: d.repo.clone(),
            arch: d.arch.clone(),
            entries: db.as_ref().map_or(0, |db| db.entries.len()),
        });
        if let Some(db) = db {
            work.extend(db.entries.into_iter().map(|e| (d, e)));
        }
    }
    report.packages = work.len();
    report
        .problems
        .extend(check_packages(&real_root, &work, opts)?);
    report.problems.sort_by(|a, b| {
        (&a.repo, &a.arch, &a.package, &a.file, &a.field)
            .cmp(&(&b.repo, &b.arch, &b.package, &b.file, &b.field))
    });
    Ok(report)
}

/// One `$repo/os/$arch` directory.
#[derive(Debug)]
struct RepoDir {
    repo: String,
    arch: String,
    dir: PathBuf,
}

impl RepoDir {
    fn problem(
        &self,
        package: Option<&str>,
        file: Option<&str>,
        field: &str,
        problem: impl Into<String>,
    ) -> Problem {
        Problem {
            repo: self.repo.clone(),
            arch: self.arch.clone(),
            package: package.map(str::to_owned),
            file: file.map(str::to_owned),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

fn sorted_dir(dir: &Path) -> Result<Vec<(String, bool)>, Error> {
    let mut v: Vec<(String, bool)> = lumina_core::fs::read_dir(dir)?
        .into_iter()
        .map(|(n, d)| (n.to_string_lossy().into_owned(), d))
        .collect();
    v.sort();
    Ok(v)
}

/// Where `dir/name` leads, if it is a regular file inside `root`: the path itself, or the
/// target of a symlink that stays inside. `Err` says what it is instead.
fn inside(root: &Path, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    let meta = match lumina_core::fs::lstat(&path) {
        Ok(Some(m)) => m,
        Ok(None) => return Err(format!("`{name}` is missing")),
        Err(e) => return Err(e.to_string()),
    };
    let target = if meta.file_type().is_symlink() {
        let real = match lumina_core::fs::canonicalize(&path) {
            Ok(p) => p,
            Err(_) => return Err(format!("`{name}` is a dangling symlink")),
        };
        if !real.starts_with(root) {
            return Err(format!(
                "`{name}` is a symlink to `{}`, outside the tree",
                real.display()
            ));
        }
        real
    } else {
        path
    };
    match lumina_core::fs::stat(&target) {
        Ok(Some(m)) if m.is_file() => Ok(target),
        Ok(Some(_)) => Err(format!("`{name}` is not a regular file")),
        Ok(None) => Err(format!("`{name}` is missing")),
        Err(e) => Err(e.to_string()),
    }
}

/// The database's signature and content (and the `.files` database's): the parsed
/// database when it can be read, and the problems.
fn check_databases(
    root: &Path,
    d: &RepoDir,
    lumina: &mut Verifier,
    limits: &Limits,
) -> (Option<SyncDb>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut read = |kind: &str, required: bool, problems: &mut Vec<Problem>| -> Option<SyncDb> {
        let name = format!("{}.{kind}", d.repo);
        let sig_name = format!("{name}.sig");
        if !required
            && lumina_core::fs::lstat(&d.dir.join(&name))
                .ok()
                .flatten()
                .is_none()
        {
            return None;
        }
        let path = match inside(root, &d.dir, &name) {
            Ok(p) => p,
            Err(problem) => {
                problems.push(d.problem(None, Some(&name), "database", problem));
                return None;
            }
        };
        match inside(root, &d.dir, &sig_name) {
            Ok(sig) => match lumina.verify_file_with(&path, &sig) {
                Ok(_) => {}
                Err(Error::Signature { problem, .. }) => problems.push(d.problem(
                    None,
                    Some(&sig_name),
                    "signature",
                    format!("the signature of `{name}`: {problem}"),
                )),
                Err(e) => {
                    problems.push(d.problem(None, Some(&sig_name), "signature", e.to_string()))
                }
            },
            Err(problem) => problems.push(d.problem(None, Some(&sig_name), "signature", problem)),
        }
        match syncdb::read(&path, limits) {
            Ok(db) => Some(db),
            Err(Error::InvalidDatabase { problem, .. }) => {
                problems.push(db_problem(d, &name, &problem));
                None
            }
            Err(e) => {
                problems.push(d.problem(None, Some(&name), "database", e.to_string()));
                None
            }
        }
    };
    let db = read("db", true, &mut problems);
    let files = read("files", false, &mut problems);
    if let (Some(db), Some(files)) = (&db, &files) {
        let listed =
            |s: &SyncDb| -> Vec<String> { s.entries.iter().map(DbEntry::dir_name).collect() };
        let (a, b) = (listed(db), listed(files));
        if a != b {
            let detail = a
                .iter()
                .find(|x| !b.contains(x))
                .map(|x| format!("`{x}` is in `{}.db` only", d.repo))
                .or_else(|| {
                    b.iter()
                        .find(|x| !a.contains(x))
                        .map(|x| format!("`{x}` is in `{}.files` only", d.repo))
                })
                .unwrap_or_else(|| "the entries differ".into());
            problems.push(d.problem(
                None,
                Some(&format!("{}.files", d.repo)),
                "database",
                format!(
                    "`{0}.files` does not list the packages of `{0}.db`: {detail}",
                    d.repo
                ),
            ));
        }
    }
    (db, problems)
}

/// An invalid database as a problem naming the entry and the field when there is one.
fn db_problem(d: &RepoDir, name: &str, problem: &DbProblem) -> Problem {
    match problem {
        DbProblem::Entry { entry, problem } => {
            let field = match problem {
                EntryProblem::Field { field, .. } => format!("%{field}%"),
                EntryProblem::MissingField(field) => format!("%{field}%"),
                EntryProblem::DuplicateField(field) => format!("%{field}%"),
                _ => "database".into(),
            };
            d.problem(
                Some(entry),
                Some(name),
                &field,
                format!("the database is invalid: {problem}"),
            )
        }
        other => d.problem(
            None,
            Some(name),
            "database",
            format!("the database is invalid: {other}"),
        ),
    }
}

/// Every entry's file and signature, on `opts.jobs` threads.
fn check_packages(
    root: &Path,
    work: &[(&RepoDir, DbEntry)],
    opts: &VerifyOptions,
) -> Result<Vec<Problem>, Error> {
    if work.is_empty() {
        return Ok(Vec::new());
    }
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    let failure = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, work.len()) {
            s.spawn(|| {
                let keys = Verifier::new(&opts.lumina_keyring).and_then(|l| {
                    Ok((
                        l,
                        opts.upstream_keyring
                            .as_deref()
                            .map(Verifier::new)
                            .transpose()?,
                    ))
                });
                let (mut lumina, mut upstream) = match keys {
                    Ok(k) => k,
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                };
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((d, e)) = work.get(i) else { break };
                    check_package(root, d, e, &mut lumina, upstream.as_mut(), &mut mine);
                }
                if let Ok(mut all) = problems.lock() {
                    all.extend(mine);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(problems.into_inner().unwrap_or_default())
}

fn check_package(
    root: &Path,
    d: &RepoDir,
    e: &DbEntry,
    lumina: &mut Verifier,
    upstream: Option<&mut Verifier>,
    problems: &mut Vec<Problem>,
) {
    let name = e.filename.as_str();
    let problem =
        |file: &str, field: &str, text: String| d.problem(Some(&e.name), Some(file), field, text);
    let path = match inside(root, &d.dir, name) {
        Ok(p) => p,
        Err(text) => {
            problems.push(problem(name, "%FILENAME%", text));
            return;
        }
    };
    match sha256_file(&path) {
        Ok((size, _)) if size != e.csize => {
            problems.push(problem(
                name,
                "%CSIZE%",
                format!("the file is {size} bytes; `%CSIZE%` says {}", e.csize),
            ));
        }
        Ok((_, sha)) if sha != e.sha256sum => {
            problems.push(problem(
                name,
                "%SHA256SUM%",
                format!(
                    "the file's SHA-256 is `{sha}`; `%SHA256SUM%` says `{}`",
                    e.sha256sum
                ),
            ));
        }
        Ok(_) => {}
        Err(err) => {
            problems.push(problem(
                name,
                "%FILENAME%",
                format!("cannot read it: {err}"),
            ));
            return;
        }
    }
    let mut upstream = upstream;
    let sig_name = format!("{name}.sig");
    let mut sig_bytes = None;
    match inside(root, &d.dir, &sig_name) {
        Ok(sig) => {
            if let Err(text) =
                verify_either(lumina, upstream.as_deref_mut(), &path, &Sig::File(&sig))
            {
                problems.push(problem(&sig_name, "signature", text));
            }
            sig_bytes = lumina_core::fs::read(&sig).ok();
        }
        Err(text) => problems.push(problem(&sig_name, "signature", text)),
    }
    if let Some(text) = &e.pgpsig {
        match decode_base64(text) {
            None => problems.push(problem(name, "%PGPSIG%", "it is not valid base64".into())),
            Some(bytes) if Some(&bytes) == sig_bytes.as_ref() => {}
            Some(bytes) => {
                if let Err(text) = verify_either(lumina, upstream, &path, &Sig::Bytes(&bytes)) {
                    problems.push(problem(name, "%PGPSIG%", text));
                }
            }
        }
    }
}

/// A detached signature: a file, or bytes (an entry's `%PGPSIG%`).
enum Sig<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Verify `file` with the upstream keyring, then the Lumina keyring; the problem(s) when
/// neither accepts it.
fn verify_either(
    lumina: &mut Verifier,
    upstream: Option<&mut Verifier>,
    file: &Path,
    sig: &Sig<'_>,
) -> Result<(), String> {
    let by_upstream = match upstream {
        Some(v) => match verify_one(v, file, sig) {
            Ok(()) => return Ok(()),
            Err(e) => Some(e),
        },
        None => None,
    };
    let by_lumina = match verify_one(lumina, file, sig) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let text = |e: Error| match e {
        Error::Signature { problem, .. } => problem.to_string(),
        other => other.to_string(),
    };
    let l = text(by_lumina);
    Err(match by_upstream.map(text) {
        Some(u) if u == l => u,
        Some(u) => format!("{u} (upstream keyring); {l} (Lumina keyring)"),
        None => l,
    })
}

/// One verification. Signature bytes are passed to GnuPG through a pipe (`/proc/self/fd`),
/// so checking an embedded signature writes nothing: a signature is at most 16 KiB
/// (repo-add's limit), well within a pipe's 64 KiB buffer.
fn verify_one(v: &mut Verifier, file: &Path, sig: &Sig<'_>) -> Result<(), Error> {
    match sig {
        Sig::File(path) => v.verify_file_with(file, path).map(drop),
        Sig::Bytes(bytes) => {
            use std::io::Write as _;
            use std::os::fd::AsRawFd as _;
            const PIPE_BUFFER: usize = 60 * 1024;
            let pipe_path = Path::new("/proc/self/fd");
            if bytes.len() > PIPE_BUFFER {
                return Err(Error::Signature {
                    file: file.to_path_buf(),
                    sig: pipe_path.to_path_buf(),
                    problem: crate::error::SignatureProblem::Malformed(format!(
                        "{} bytes; a signature is at most 16 KiB",
                        bytes.len()
                    )),
                });
            }
            let (read, write) = nix::unistd::pipe()
                .map_err(|e| lumina_core::Error::io(pipe_path, "making a pipe", e.into()))?;
            let mut write = std::fs::File::from(write);
            write
                .write_all(bytes)
                .map_err(|e| lumina_core::Error::io(pipe_path, "writing to a pipe", e))?;
            drop(write);
            let path = pipe_path.join(read.as_raw_fd().to_string());
            let result = v.verify_file_with(file, &path).map(drop);
            drop(read);
            result
        }
    }
}
