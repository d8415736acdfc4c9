//! `lumina-repo add`: add package files to a repository directory, like `repo-add`.
//!
//! ```text
//!   DIR/NAME.files ─ syncdb::read ─> existing entries ─┐
//!   PKGFILE... ──── pkgfile::read_all ─> new entries ──┴─ plan (pure) ─> AddPlan
//!                                                             │
//!   apply: copy packages into DIR, sign (seam), dbwrite::render_both,
//!          write NAME.files.tar.zst and NAME.db.tar.zst atomically, NAME.db/NAME.files links
//! ```
//!
//! What it does, compared with repo-add 6.0.2:
//! - The same entries: for the same package files, `pacman -Sl`, `-Si` and `-Fl` list the
//!   databases identically (tested against repo-add with real pacman).
//! - An entry of the same name is replaced, whatever its version; replacing a newer version
//!   with an older one is reported as a downgrade (repo-add warns too). The old package file
//!   stays, as with repo-add without `-R`.
//! - All or nothing: every package is read and checked before anything is written, and a
//!   file that is not a package refuses the whole run (repo-add skips it and goes on).
//! - Several files of one package in one run (an old and a new build matched by a glob):
//!   the newest by pacman's version order is added and the others are reported as skipped
//!   (repo-add keeps the one that came last in argument order).
//! - A package outside `DIR` is copied into it (with its `.sig`), so the database never
//!   names a file the repository does not have; a different file of the same name already
//!   there is an error.
//! - The lock is repo-add's: `DIR/NAME.db.lck`, created exclusively and removed at the end,
//!   so `repo-add` and `lumina-repo add` never change one repository at the same time. This
//!   is deliberately not [`crate::lock::RepoLock`], which every other command takes: `add`
//!   works on a plain repository directory, the one `repo-add`, `repo-remove` and the
//!   maintainers' own scripts also write, and those tools know only `NAME.db.lck`.
//!   `RepoLock` guards a Lumina-Stable output directory (ledger, pool, generations), which
//!   `add` never writes: a generation is immutable once published, and the `lumina`
//!   repository reaches it only through `promote`, under `RepoLock`. The price of
//!   repo-add's scheme is repo-add's: a process killed between creating and removing the
//!   file leaves it behind, and the error names the pid recorded in it so a maintainer can
//!   check it is gone before removing the file.
//! - `--sign` (a [`DetachedSigner`], below) does what `repo-add --sign` does for the
//!   databases and also signs each added package that has no signature yet, as `makepkg
//!   --sign` would have: `FILE.sig` beside it, embedded as `%PGPSIG%`.
//! - Databases are written atomically (temporary file, fsync, rename, fsync of `DIR`); a
//!   crash leaves the previous database or the new one. `NAME.files` is written first, then
//!   `NAME.db`.
//! - Signing is a seam: with a [`DetachedSigner`], each package without a `.sig` is signed
//!   (and the signature embedded as `%PGPSIG%`), and both databases get a `.sig`. Without
//!   one, a database signature left from an earlier signed run would no longer match, so it
//!   is removed (and reported).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;

use crate::dbwrite;
use crate::entry::DbEntry;
use crate::error::Error;
use crate::pkgfile::{self, ReadOptions};
use crate::sign::DetachedSigner;
use crate::syncdb::{self, Limits};
use crate::vercmp::vercmp;

/// What a run changed for one package name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new package.
    Added {
        /// The package name.
        name: String,
        /// Its version.
        version: String,
    },
    /// An entry replaced by a newer version, or by the same version again.
    Replaced {
        /// The package name.
        name: String,
        /// The version it had.
        old: String,
        /// The version it has now.
        new: String,
    },
    /// An entry replaced by an older version.
    Downgraded {
        /// The package name.
        name: String,
        /// The version it had.
        old: String,
        /// The version it has now.
        new: String,
    },
    /// A file given in this run that was not added: a newer file of the same package was.
    Skipped {
        /// The file that was not added.
        file: String,
        /// The file of the same package that was.
        newer: String,
    },
}

/// The pure part of `add`: the resulting entries and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPlan {
    /// Every entry of the new databases, sorted by name.
    pub entries: Vec<DbEntry>,
    /// What changed, in the order of the new packages' names.
    pub changes: Vec<Change>,
    /// The packages that are added: the index into the `new` argument of [`plan`], and the
    /// index of its entry in [`AddPlan::entries`].
    pub chosen: Vec<(usize, usize)>,
}

/// Merges `new` entries into `existing` ones (pure).
///
/// Of several new entries of one name, the newest (by pacman's version order; the later
/// argument on a tie) is taken. Entries are moved, not copied: the result is one merge of
/// two name-sorted lists.
#[must_use]
pub fn plan(existing: Vec<DbEntry>, mut new: Vec<DbEntry>) -> AddPlan {
    let mut best: HashMap<&str, usize> = HashMap::with_capacity(new.len());
    let mut changes = Vec::new();
    for (i, e) in new.iter().enumerate() {
        match best.get(e.name.as_str()).copied() {
            None => {
                best.insert(&e.name, i);
            }
            Some(j) => {
                let (keep, drop) = if vercmp(&e.version, &new[j].version) == Ordering::Less {
                    (j, i)
                } else {
                    (i, j)
                };
                best.insert(&e.name, keep);
                // The same file named twice is not worth a message.
                if new[drop].filename != new[keep].filename {
                    changes.push(Change::Skipped {
                        file: new[drop].filename.clone(),
                        newer: new[keep].filename.clone(),
                    });
                }
            }
        }
    }
    let mut chosen: Vec<usize> = best.into_values().collect();
    chosen.sort_unstable_by(|&a, &b| new[a].name.cmp(&new[b].name));

    let existing = sorted_by_name(existing);
    let mut entries = Vec::with_capacity(existing.len() + chosen.len());
    let mut placed = Vec::with_capacity(chosen.len());
    let mut old = existing.into_iter().peekable();
    for &i in &chosen {
        let e = std::mem::take(&mut new[i]);
        // Existing entries before this name stay; one of the same name is replaced.
        while old.peek().is_some_and(|o| o.name < e.name) {
            entries.extend(old.next());
        }
        let replaced = old.next_if(|o| o.name == e.name);
        let (name, version) = (e.name.clone(), e.version.clone());
        changes.push(match replaced {
            None => Change::Added { name, version },
            Some(o) if vercmp(&o.version, &version) == Ordering::Greater => Change::Downgraded {
                name,
                old: o.version,
                new: version,
            },
            Some(o) => Change::Replaced {
                name,
                old: o.version,
                new: version,
            },
        });
        placed.push((i, entries.len()));
        entries.push(e);
    }
    entries.extend(old);
    AddPlan {
        entries,
        changes,
        chosen: placed,
    }
}

/// `entries` sorted by name, moving each entry once (an entry is several hundred bytes;
/// a comparison sort would move each one many times). Of two entries of one name, the
/// later one is kept.
fn sorted_by_name(entries: Vec<DbEntry>) -> Vec<DbEntry> {
    if entries.windows(2).all(|w| w[0].name < w[1].name) {
        return entries;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
    order.dedup_by(|later, earlier| {
        let same = entries[*later].name == entries[*earlier].name;
        if same {
            *earlier = *later;
        }
        same
    });
    let mut slots: Vec<Option<DbEntry>> = entries.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddReport {
    /// What changed.
    pub changes: Vec<Change>,
    /// How many packages the repository now holds.
    pub total: usize,
    /// The database written (`DIR/NAME.db.tar.zst`).
    pub db: PathBuf,
    /// Package files copied into the repository directory.
    pub copied: Vec<PathBuf>,
    /// Things the user should know (a stale signature removed, a missing `.files`).
    pub warnings: Vec<String>,
}

/// The arguments of `add`.
#[derive(Debug, Clone)]
pub struct AddRequest<'a> {
    /// The repository directory (it must exist).
    pub dir: &'a Path,
    /// The repository name: the databases are `NAME.db.tar.zst` and `NAME.files.tar.zst`.
    pub repo: &'a str,
    /// The package files.
    pub packages: &'a [PathBuf],
    /// Bounds for reading the existing database.
    pub limits: Limits,
}

/// Checks a repository name: it becomes file names and pacman's `[NAME]` section.
fn check_repo_name(dir: &Path, repo: &str) -> Result<(), Error> {
    let ok = !repo.is_empty()
        && !repo.starts_with(['.', '-'])
        && repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::AddRefused {
            dir: dir.to_path_buf(),
            message: format!(
                "`{repo}` is not a valid repository name (letters, digits and `._-+@`, not \
                 starting with `.` or `-`)"
            ),
        })
    }
}

/// repo-add's lock file, removed when dropped.
#[derive(Debug)]
struct Lock<'a> {
    fs: &'a Fs,
    path: PathBuf,
}

impl<'a> Lock<'a> {
    fn acquire(fs: &'a Fs, dir: &Path, repo: &str) -> Result<Self, Error> {
        let path = dir.join(format!("{repo}.db.lck"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                Ok(Self { fs, path })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pid = lumina_core::fs::read(&path).unwrap_or_default();
                let pid = String::from_utf8_lossy(&pid).trim().to_owned();
                Err(Error::Locked {
                    out: dir.to_path_buf(),
                    holder: format!(
                        "process {} (the lock file `{}`, shared with repo-add; remove it if no \
                         such process runs)",
                        if pid.is_empty() { "?" } else { &pid },
                        path.display()
                    ),
                })
            }
            Err(e) => Err(lumina_core::Error::io(&path, "creating the lock file", e).into()),
        }
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let _ = self.fs.unlink(&self.path);
    }
}

/// The database to read existing entries from: the `.files` database (it also holds every
/// `desc`), else the `.db` one (its entries then have no file lists).
fn existing_database(dir: &Path, repo: &str) -> Option<(PathBuf, bool)> {
    for (name, has_files) in [
        (format!("{repo}.files.tar.zst"), true),
        (format!("{repo}.files"), true),
        (format!("{repo}.db.tar.zst"), false),
        (format!("{repo}.db"), false),
    ] {
        let path = dir.join(name);
        if path.is_file() {
            return Some((path, has_files));
        }
    }
    None
}

/// Copies `src` into `dir` under the same name (temporary file, then rename), unless the
/// same file is already there.
fn copy_into(fs: &Fs, dir: &Path, src: &Path, name: &str) -> Result<Option<PathBuf>, Error> {
    let dst = dir.join(name);
    if dst.exists() {
        if lumina_core::fs::same_contents(src, &dst)? {
            return Ok(None);
        }
        return Err(Error::AddRefused {
            dir: dir.to_path_buf(),
            message: format!(
                "a different `{name}` is already in the repository directory; remove it or \
                 add that file instead of `{}`",
                src.display()
            ),
        });
    }
    let tmp = lumina_core::fs::sibling(&dst, ".lumina-tmp");
    if tmp.exists() {
        fs.unlink(&tmp)?;
    }
    fs.copy_file(src, &tmp)?;
    fs.rename(&tmp, &dst)?;
    Ok(Some(dst))
}

/// Points `DIR/link` at `target` (a name in the same directory), atomically.
fn point_link(fs: &Fs, dir: &Path, link: &str, target: &str) -> Result<(), Error> {
    let path = dir.join(link);
    if lumina_core::fs::lstat(&path)?.is_some_and(|m| m.file_type().is_symlink())
        && lumina_core::fs::read_link(&path)? == Path::new(target)
    {
        return Ok(());
    }
    let tmp = lumina_core::fs::sibling(&path, ".lumina-tmp");
    if lumina_core::fs::lstat(&tmp)?.is_some() {
        fs.unlink(&tmp)?;
    }
    fs.symlink(Path::new(target), &tmp)?;
    fs.rename(&tmp, &path)?;
    Ok(())
}

/// Removes `path` if it exists; whether it did.
fn remove_if_present(fs: &Fs, path: &Path) -> Result<bool, Error> {
    if lumina_core::fs::lstat(path)?.is_some() {
        fs.unlink(path)?;
        return Ok(true);
    }
    Ok(false)
}

/// Adds the packages to the repository, as described in the module documentation.
///
/// # Errors
/// - [`Error::AddRefused`] for an invalid repository name, a missing directory, no
///   package or a missing package file, or a different file of the same name in the
///   directory;
/// - [`Error::Locked`] when `NAME.db.lck` exists;
/// - [`Error::InvalidPackage`] for the first file that is not a valid package (nothing is
///   changed);
/// - [`Error::InvalidDatabase`] when the existing database is invalid (nothing is changed);
/// - [`Error::Sign`] from the signer; [`Error::Fs`] when writing fails.
pub fn add(
    fs: &Fs,
    request: &AddRequest<'_>,
    mut signer: Option<&mut dyn DetachedSigner>,
) -> Result<AddReport, Error> {
    let dir = request.dir;
    let repo = request.repo;
    check_repo_name(dir, repo)?;
    let refused = |message: String| Error::AddRefused {
        dir: dir.to_path_buf(),
        message,
    };
    if !dir.is_dir() {
        return Err(refused("it is not a directory".into()));
    }
    if request.packages.is_empty() {
        return Err(refused("no package files were given".into()));
    }
    if let Some(missing) = request.packages.iter().find(|p| !p.is_file()) {
        return Err(refused(format!(
            "the package file `{}` does not exist or is not a file",
            missing.display()
        )));
    }
    let _lock = Lock::acquire(fs, dir, repo)?;
    let mut warnings = Vec::new();

    let existing = match existing_database(dir, repo) {
        Some((path, has_files)) => {
            if !has_files {
                warnings.push(format!(
                    "`{repo}.files` is missing: the file lists of the packages already in \
                     `{}` are unknown, so `{repo}.files` has file lists only for the packages \
                     added now",
                    path.display()
                ));
            }
            syncdb::read(&path, &request.limits)?.entries
        }
        None => Vec::new(),
    };

    let options = ReadOptions {
        max_size: request.limits.max_package_size,
    };
    let mut new = Vec::with_capacity(request.packages.len());
    for result in pkgfile::read_all(request.packages, &options) {
        new.push(result?);
    }
    let mut plan = plan(existing, new);

    // Copy what is outside the directory, before any database names it.
    let dir_real = lumina_core::fs::canonicalize(dir)?;
    let mut copied = Vec::new();
    for &(i, at) in &plan.chosen {
        let src = &request.packages[i];
        let parent = src
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if lumina_core::fs::canonicalize(parent)? == dir_real {
            continue;
        }
        let name = &plan.entries[at].filename;
        if let Some(dst) = copy_into(fs, dir, src, name)? {
            copied.push(dst);
        }
        let sig = lumina_core::fs::sibling(src, ".sig");
        if sig.is_file() {
            copy_into(fs, dir, &sig, &format!("{name}.sig"))?;
        }
    }

    // The signing seam: packages without a signature get one, embedded as %PGPSIG%.
    if let Some(signer) = signer.as_deref_mut() {
        for &(_, at) in &plan.chosen {
            let entry = &mut plan.entries[at];
            if entry.pgpsig.is_some() {
                continue;
            }
            let pkg = dir.join(&entry.filename);
            let bytes = lumina_core::fs::read(&pkg)?;
            let sig = signer.sign(&bytes)?;
            fs.write_atomic(&lumina_core::fs::sibling(&pkg, ".sig"), &sig, false)?;
            entry.pgpsig = Some(pkgfile::base64(&sig));
        }
    }

    let dbs = dbwrite::render_both(&plan.entries)?;
    // Signatures are made before anything is written: a signing failure changes nothing.
    let signatures = match signer {
        Some(signer) => Some((signer.sign(&dbs.files)?, signer.sign(&dbs.db)?)),
        None => None,
    };
    let db_name = format!("{repo}.db.tar.zst");
    let files_name = format!("{repo}.files.tar.zst");
    for (name, bytes, link, signature) in [
        (
            &files_name,
            &dbs.files,
            format!("{repo}.files"),
            signatures.as_ref().map(|s| &s.0),
        ),
        (
            &db_name,
            &dbs.db,
            format!("{repo}.db"),
            signatures.as_ref().map(|s| &s.1),
        ),
    ] {
        let path = dir.join(name);
        fs.write_atomic(&path, bytes, false)?;
        point_link(fs, dir, &link, name)?;
        let sig = lumina_core::fs::sibling(&path, ".sig");
        let sig_link = dir.join(format!("{link}.sig"));
        match signature {
            Some(signature) => {
                fs.write_atomic(&sig, signature, false)?;
                point_link(fs, dir, &format!("{link}.sig"), &format!("{name}.sig"))?;
            }
            None => {
                let removed = remove_if_present(fs, &sig)?;
                let removed_link = remove_if_present(fs, &sig_link)?;
                if removed || removed_link {
                    warnings.push(format!(
                        "removed the signature of the previous `{name}`: it does not match the \
                         new database"
                    ));
                }
            }
        }
    }
    lumina_core::fs::sync_dir(dir)?;
    Ok(AddReport {
        changes: plan.changes,
        total: plan.entries.len(),
        db: dir.join(db_name),
        copied,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str) -> DbEntry {
        DbEntry {
            filename: format!("{name}-{version}-x86_64.pkg.tar.zst"),
            name: name.into(),
            version: version.into(),
            ..DbEntry::default()
        }
    }

    #[test]
    fn plan_adds_replaces_downgrades_and_keeps_the_newest_of_one_run() {
        let existing = vec![entry("a", "1-1"), entry("b", "2-1"), entry("c", "1-1")];
        let new = vec![
            entry("b", "1-1"),
            entry("a", "1.10-1"),
            entry("a", "1.9-1"),
            entry("d", "1-1"),
        ];
        let p = plan(existing, new);
        let versions: Vec<(&str, &str)> = p
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.version.as_str()))
            .collect();
        assert_eq!(
            versions,
            vec![("a", "1.10-1"), ("b", "1-1"), ("c", "1-1"), ("d", "1-1")]
        );
        assert_eq!(
            p.changes,
            vec![
                Change::Skipped {
                    file: "a-1.9-1-x86_64.pkg.tar.zst".into(),
                    newer: "a-1.10-1-x86_64.pkg.tar.zst".into()
                },
                Change::Replaced {
                    name: "a".into(),
                    old: "1-1".into(),
                    new: "1.10-1".into()
                },
                Change::Downgraded {
                    name: "b".into(),
                    old: "2-1".into(),
                    new: "1-1".into()
                },
                Change::Added {
                    name: "d".into(),
                    version: "1-1".into()
                },
            ]
        );
        assert_eq!(p.chosen, vec![(1, 0), (0, 1), (3, 3)]);
    }

    #[test]
    fn repository_names() {
        let dir = Path::new("/r");
        for ok in ["lumina", "core-testing", "a.b_c+d@e"] {
            assert!(check_repo_name(dir, ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "a b", ".."] {
            assert!(check_repo_name(dir, bad).is_err(), "{bad}");
        }
    }
}
