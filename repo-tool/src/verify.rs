//! `lumina-repo verify`: check a published tree, or any copy of one (an rsync mirror, a
//! CDN origin), the way a careful pacman would, and name every problem.
//!
//! For every `$repo/os/$arch/$repo.db` under the root:
//! - the database and its `.sig` are regular files inside the tree (a symlink is followed
//!   only while it stays inside), and the signature verifies against the Lumina keyring
//!   *and* was made by the pinned Lumina key (below);
//! - the database parses and validates whole (`syncdb`: a `%FILENAME%` with `/` or `..`,
//!   a truncated archive, ... name the entry and the field);
//! - `$repo.files`, when present, is signed the same way and lists the same packages;
//! - every entry's file is present in the directory, inside the tree (not a symlink
//!   leading out of it), a regular file of `%CSIZE%` bytes whose SHA-256 is
//!   `%SHA256SUM%`, and its `FILE.sig` verifies by the rule of its repository
//!   ([`package_keyring`]); an embedded `%PGPSIG%` other than the `.sig` is checked too,
//!   as pacman uses it.
//!
//! # Who signed
//!
//! pacman accepts a signature by any key its keyring trusts; the maintainers' check is
//! stricter, and follows what the pipeline publishes:
//! - Databases are signed by `promote` (and `add --sign`) with `signing.key`, and nothing
//!   else: with [`VerifyOptions::lumina_keys`] set (`signing.key` of `repo.yaml`, or
//!   `--key`, several during a key rotation), a database signed by any other key is a
//!   problem naming the signer and the expected key, however much the keyring trusts it.
//!   A signature by a subkey counts as its primary key's. Without pinned keys, any key the
//!   Lumina keyring trusts is accepted, and the report says so
//!   ([`VerifyReport::warnings`]).
//! - The `lumina` repository holds Lumina's own packages: the same rule as databases.
//! - The other repositories are upstream's: `sync` admits a package only when its
//!   signature verifies against the upstream keyring, and `promote` publishes it with that
//!   signature, unchanged; nothing re-signs upstream packages. So their signatures are
//!   checked against the upstream keyring only, by any key it trusts (the keyring is the
//!   list of upstream packagers); a package there signed by the Lumina key is a problem
//!   (it did not come through `sync`).
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
use crate::sign::{Verified, Verifier};
use crate::sync::{decode_base64, sha256_file};
use crate::syncdb::{self, Limits, SyncDb};

/// The keys and bounds of a check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The GnuPG home that trusts the Lumina key (the signing key's home works: a key is
    /// ultimately trusted in its own home).
    pub lumina_keyring: PathBuf,
    /// The GnuPG home trusted for upstream packagers' signatures (pacman's keyring);
    /// `None`: the packages of upstream repositories cannot be checked (each is a problem).
    pub upstream_keyring: Option<PathBuf>,
    /// The Lumina signing key(s), by fingerprint (primary key, or one subkey): databases
    /// and the `lumina` repository's packages must be signed by one of them or a subkey of
    /// one. More than one: a key rotation, any listed key is accepted. Empty: not pinned,
    /// any key the Lumina keyring trusts is accepted (the report warns).
    pub lumina_keys: Vec<String>,
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
    /// A good signature by a key other than the expected one: that key, by its primary
    /// key's fingerprint (its own when the keyring cannot say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// With `signer`: the fingerprints that would have been accepted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
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
    /// The Lumina keys the databases and the `lumina` packages must be signed by (upper
    /// case); empty: the signer was not pinned.
    pub pinned: Vec<String>,
    /// What the caller should know that is not a problem of the tree: the signer not
    /// pinned.
    pub warnings: Vec<String>,
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
/// - [`Error::Sign`] when a keyring cannot be used, or none of the pinned keys
///   ([`VerifyOptions::lumina_keys`]) is in the Lumina keyring;
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
    // Fail early on an unusable keyring, or pinned keys it does not have.
    let mut lumina = Verifier::new(&opts.lumina_keyring)?;
    if let Some(k) = &opts.upstream_keyring {
        Verifier::new(k)?;
    }
    let pinned: Vec<String> = opts
        .lumina_keys
        .iter()
        .map(|k| k.to_ascii_uppercase())
        .collect();
    if !pinned.is_empty()
        && !pinned
            .iter()
            .any(|k| lumina.primary_fingerprint(k).is_some())
    {
        return Err(Error::Sign {
            what: "cannot check who signed the tree".into(),
            message: format!(
                "the Lumina keyring `{}` has no pinned key ({}): give the GnuPG home that \
                 holds the Lumina key",
                opts.lumina_keyring.display(),
                quoted_list(&pinned)
            ),
        });
    }
    let mut report = VerifyReport {
        root: real_root.clone(),
        repos: Vec::new(),
        packages: 0,
        problems: Vec::new(),
        warnings: Vec::new(),
        pinned: pinned.clone(),
    };
    if pinned.is_empty() {
        report.warnings.push(format!(
            "the signer is not pinned: any key the Lumina keyring `{}` trusts is accepted on \
             the databases and the `lumina` packages (pin it with `signing.key` of `repo.yaml` \
             or `--key FINGERPRINT`)",
            opts.lumina_keyring.display()
        ));
    }
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
            signer: None,
            expected: Vec::new(),
        });
        return Ok(report);
    }
    let mut work = Vec::new();
    for d in &dirs {
        let (db, problems) = check_databases(&real_root, d, &mut lumina, &pinned, &opts.limits);
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
        .extend(check_packages(&real_root, &work, &pinned, opts)?);
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
            signer: None,
            expected: Vec::new(),
        }
    }

    /// A signature problem: `refusal` of `file`.
    fn refused(&self, package: Option<&str>, file: &str, field: &str, r: Refusal) -> Problem {
        Problem {
            signer: r.signer,
            expected: r.expected,
            ..self.problem(package, Some(file), field, r.text)
        }
    }
}

/// The keyring a package's signature is checked against, by its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKeyring {
    /// The Lumina keyring, and the pinned Lumina key when there is one: the `lumina`
    /// repository, Lumina's own packages.
    Lumina,
    /// The upstream keyring, any key it trusts: the mirrored repositories, whose packages
    /// `sync` admitted with their packager's signature and nothing re-signed.
    Upstream,
}

/// The rule for `repo`'s packages: `lumina` is Lumina's; every other repository is
/// upstream's.
#[must_use]
pub fn package_keyring(repo: &str) -> PackageKeyring {
    if repo == crate::release::LUMINA_REPO {
        PackageKeyring::Lumina
    } else {
        PackageKeyring::Upstream
    }
}

/// A good signature by a key that is not pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpinned {
    /// The key that made it (a subkey's fingerprint for a subkey's signature).
    pub key: String,
    /// Its primary key, when the keyring says.
    pub primary: Option<String>,
}

impl Unpinned {
    /// The fingerprint to name: the primary key's, else the key's own.
    #[must_use]
    pub fn signer(&self) -> &str {
        self.primary.as_deref().unwrap_or(&self.key)
    }
}

/// Who signed, against the pinned keys: the first of `signers` (the keys that made a
/// file's good signatures, [`crate::sign::Verified::signers`]) that is neither one of
/// `pinned` nor a subkey of one; `None` when every signature is by a pinned key, or when
/// nothing is pinned. `primary_of` names a key's primary key (the keyring's listing); it
/// is asked only about a signer that is not itself pinned. Fingerprints compare without
/// regard to case.
pub fn unpinned_signer(
    signers: &[String],
    pinned: &[String],
    mut primary_of: impl FnMut(&str) -> Option<String>,
) -> Option<Unpinned> {
    if pinned.is_empty() {
        return None;
    }
    let is_pinned = |k: &str| pinned.iter().any(|p| p.eq_ignore_ascii_case(k));
    signers.iter().find_map(|key| {
        if is_pinned(key) {
            return None;
        }
        let primary = primary_of(key);
        match &primary {
            Some(p) if is_pinned(p) => None,
            _ => Some(Unpinned {
                key: key.clone(),
                primary,
            }),
        }
    })
}

/// `` `A` `` or `` `A`, `B` ``.
fn quoted_list(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sentence for a signature of `what` by `who` where one of `pinned` was expected.
#[must_use]
pub fn unpinned_text(what: &str, who: &Unpinned, pinned: &[String]) -> String {
    let by = match &who.primary {
        Some(p) if !p.eq_ignore_ascii_case(&who.key) => {
            format!("key `{p}` (subkey `{}`)", who.key)
        }
        _ => format!("key `{}`", who.key),
    };
    let expected = match pinned {
        [one] => format!("the pinned Lumina key `{one}`"),
        more => format!("any of the pinned Lumina keys {}", quoted_list(more)),
    };
    format!("{what} is signed by {by}, a key the keyring trusts, but not by {expected}")
}

/// A signature refused: the sentence, and for a good signature by the wrong key, that key
/// and the keys expected.
#[derive(Debug)]
struct Refusal {
    text: String,
    signer: Option<String>,
    expected: Vec<String>,
}

impl Refusal {
    fn text(text: String) -> Self {
        Self {
            text,
            signer: None,
            expected: Vec::new(),
        }
    }
}

/// A good signature in the Lumina keyring, against the pinned keys.
fn pinned_by(
    lumina: &mut Verifier,
    v: &Verified,
    pinned: &[String],
    what: &str,
) -> Result<(), Refusal> {
    match unpinned_signer(&v.signers, pinned, |k| lumina.primary_fingerprint(k)) {
        None => Ok(()),
        Some(who) => Err(Refusal {
            text: unpinned_text(what, &who, pinned),
            signer: Some(who.signer().to_owned()),
            expected: pinned.to_vec(),
        }),
    }
}

/// A signature error as a sentence.
fn error_text(e: Error) -> String {
    match e {
        Error::Signature { problem, .. } => problem.to_string(),
        other => other.to_string(),
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
    pinned: &[String],
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
                Ok(v) => {
                    if let Err(r) = pinned_by(lumina, &v, pinned, &format!("`{name}`")) {
                        problems.push(d.refused(None, &sig_name, "signature", r));
                    }
                }
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
    pinned: &[String],
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
                    let mut keys = Keys {
                        lumina: &mut lumina,
                        upstream: upstream.as_mut(),
                        pinned,
                    };
                    check_package(root, d, e, &mut keys, &mut mine);
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

/// A thread's keyrings, and the pinned Lumina keys.
struct Keys<'a> {
    lumina: &'a mut Verifier,
    upstream: Option<&'a mut Verifier>,
    pinned: &'a [String],
}

fn check_package(
    root: &Path,
    d: &RepoDir,
    e: &DbEntry,
    keys: &mut Keys<'_>,
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
    let sig_name = format!("{name}.sig");
    let rule = package_keyring(&d.repo);
    let mut sig_bytes = None;
    match inside(root, &d.dir, &sig_name) {
        Ok(sig) => {
            let what = format!("`{sig_name}`");
            if let Err(r) = verify_package(keys, rule, &path, &Sig::File(&sig), &what) {
                problems.push(d.refused(Some(&e.name), &sig_name, "signature", r));
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
                let what = format!("the `%PGPSIG%` of `{name}`");
                if let Err(r) = verify_package(keys, rule, &path, &Sig::Bytes(&bytes), &what) {
                    problems.push(d.refused(Some(&e.name), name, "%PGPSIG%", r));
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

/// Verify the package `file` by its repository's rule ([`package_keyring`]); `what` names
/// the signature in the sentence of a signer that is not pinned.
fn verify_package(
    keys: &mut Keys<'_>,
    rule: PackageKeyring,
    file: &Path,
    sig: &Sig<'_>,
    what: &str,
) -> Result<(), Refusal> {
    match rule {
        PackageKeyring::Lumina => {
            let v = verify_one(keys.lumina, file, sig)
                .map_err(|e| Refusal::text(format!("{} (Lumina keyring)", error_text(e))))?;
            pinned_by(keys.lumina, &v, keys.pinned, what)
        }
        PackageKeyring::Upstream => {
            let Some(upstream) = keys.upstream.as_deref_mut() else {
                return Err(Refusal::text(
                    "no upstream keyring was given to check it against (pacman's is \
                     `/etc/pacman.d/gnupg`)"
                        .into(),
                ));
            };
            let problem = match verify_one(upstream, file, sig) {
                Ok(_) => return Ok(()),
                Err(e) => error_text(e),
            };
            // Name a signature the pipeline never publishes here.
            Err(Refusal::text(match verify_one(keys.lumina, file, sig) {
                Ok(v) => format!(
                    "{problem} (upstream keyring); it is signed by the Lumina keyring's key \
                     `{}`, but a package of an upstream repository carries its packager's \
                     signature (`sync` admits no other, and nothing re-signs it)",
                    v.fingerprint
                ),
                Err(_) => format!("{problem} (upstream keyring)"),
            }))
        }
    }
}

/// One verification. Signature bytes are passed to GnuPG through a pipe (`/proc/self/fd`),
/// so checking an embedded signature writes nothing: a signature is at most 16 KiB
/// (repo-add's limit), well within a pipe's 64 KiB buffer.
fn verify_one(v: &mut Verifier, file: &Path, sig: &Sig<'_>) -> Result<Verified, Error> {
    match sig {
        Sig::File(path) => v.verify_file_with(file, path),
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
            let result = v.verify_file_with(file, &path);
            drop(read);
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LUMINA: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
    const LUMINA_SUB: &str = "1111111111111111111111111111111111111111";
    const NEXT: &str = "2222222222222222222222222222222222222222";
    const OTHER: &str = "3333333333333333333333333333333333333333";
    const OTHER_SUB: &str = "4444444444444444444444444444444444444444";

    /// The keyring's listing: each subkey's primary key.
    fn listing(key: &str) -> Option<String> {
        match key {
            LUMINA_SUB => Some(LUMINA.into()),
            OTHER_SUB => Some(OTHER.into()),
            LUMINA | NEXT | OTHER => Some(key.into()),
            _ => None,
        }
    }

    fn v(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn a_signature_by_the_pinned_key_or_its_subkey_passes_and_any_other_signer_is_named() {
        let pinned = v(&[LUMINA]);
        assert_eq!(unpinned_signer(&v(&[LUMINA]), &pinned, listing), None);
        assert_eq!(unpinned_signer(&v(&[LUMINA_SUB]), &pinned, listing), None);
        // Fingerprints compare without regard to case.
        assert_eq!(
            unpinned_signer(&v(&[&LUMINA.to_ascii_lowercase()]), &pinned, listing),
            None
        );
        // A second key the keyring trusts just as much is not the pinned one.
        assert_eq!(
            unpinned_signer(&v(&[OTHER]), &pinned, listing),
            Some(Unpinned {
                key: OTHER.into(),
                primary: Some(OTHER.into())
            })
        );
        // A subkey of another key is named with its primary key.
        let who = unpinned_signer(&v(&[OTHER_SUB]), &pinned, listing).unwrap();
        assert_eq!(who.signer(), OTHER);
        assert_eq!(who.key, OTHER_SUB);
        // Every signature must be by a pinned key: a second one by another key is named.
        assert_eq!(
            unpinned_signer(&v(&[LUMINA, OTHER]), &pinned, listing).map(|w| w.key),
            Some(OTHER.to_owned())
        );
        // A key the listing does not know is named by its own fingerprint.
        let who = unpinned_signer(&v(&[NEXT]), &v(&[LUMINA]), |_| None).unwrap();
        assert_eq!((who.signer(), who.primary.as_deref()), (NEXT, None));
    }

    #[test]
    fn during_a_rotation_either_pinned_key_passes() {
        let pinned = v(&[LUMINA, NEXT]);
        for signer in [LUMINA, LUMINA_SUB, NEXT] {
            assert_eq!(
                unpinned_signer(&v(&[signer]), &pinned, listing),
                None,
                "{signer}"
            );
        }
        assert!(unpinned_signer(&v(&[OTHER]), &pinned, listing).is_some());
    }

    #[test]
    fn without_pinned_keys_any_good_signer_passes_and_the_listing_is_not_asked() {
        let asked = std::cell::Cell::new(0);
        let primary_of = |k: &str| {
            asked.set(asked.get() + 1);
            listing(k)
        };
        assert_eq!(unpinned_signer(&v(&[OTHER]), &[], primary_of), None);
        // A pinned signer needs no look-up either: only a subkey does.
        assert_eq!(
            unpinned_signer(&v(&[LUMINA]), &v(&[LUMINA]), primary_of),
            None
        );
        assert_eq!(asked.get(), 0);
        assert_eq!(
            unpinned_signer(&v(&[LUMINA_SUB]), &v(&[LUMINA]), primary_of),
            None
        );
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn the_sentence_names_the_signer_and_the_expected_keys() {
        let who = Unpinned {
            key: OTHER.into(),
            primary: Some(OTHER.into()),
        };
        assert_eq!(
            unpinned_text("`core.db`", &who, &v(&[LUMINA])),
            format!(
                "`core.db` is signed by key `{OTHER}`, a key the keyring trusts, but not by \
                 the pinned Lumina key `{LUMINA}`"
            )
        );
        let who = Unpinned {
            key: OTHER_SUB.into(),
            primary: Some(OTHER.into()),
        };
        assert_eq!(
            unpinned_text("`core.db`", &who, &v(&[LUMINA, NEXT])),
            format!(
                "`core.db` is signed by key `{OTHER}` (subkey `{OTHER_SUB}`), a key the \
                 keyring trusts, but not by any of the pinned Lumina keys `{LUMINA}`, `{NEXT}`"
            )
        );
    }

    #[test]
    fn the_lumina_repository_is_lumina_s_and_every_other_is_upstream_s() {
        assert_eq!(package_keyring("lumina"), PackageKeyring::Lumina);
        for repo in ["core", "extra", "multilib", "lumina-testing", "Lumina"] {
            assert_eq!(package_keyring(repo), PackageKeyring::Upstream, "{repo}");
        }
    }
}
