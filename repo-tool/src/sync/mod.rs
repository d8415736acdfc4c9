//! `lumina-repo sync`: fetch upstream's databases and the package files they list, verify
//! every file, and keep what passed for `promote` (the layout and invariants are
//! [`crate::upstream`]'s).
//!
//! ```text
//!  1 lock            RepoLock (the caller's)
//!  2 databases       for each repository: $repo.db (+ .sig if upstream signs it), and
//!                    $repo.files when upstream has one -> OUT/.incoming/, validated whole
//!                    (syncdb, Limits). One bad database refuses the whole sync: no
//!                    snapshot is replaced, nothing else changes.
//!                    Conditional: when the snapshot file still has the size and SHA-256
//!                    state.json records for it, the request carries its validators
//!                    (If-None-Match: ETag, If-Modified-Since: Last-Modified; a file://
//!                    mirror's mtime and size are compared). On 304 Not Modified the
//!                    snapshot stands: nothing downloaded, no .sig fetched, the `.files`
//!                    not parsed again (the `.db` is, from the snapshot: its entries drive
//!                    steps 4 and 5). A missing or damaged snapshot, or one without a
//!                    record, is fetched unconditionally.
//!  3 snapshot        each changed database -> OUT/.upstream/$repo.db (Fs::write_atomic)
//!  4 ledger          Ledger::observe(name, version, now) for every entry; saved if changed
//!                    (an unchanged database brings no new version: not rewritten)
//!  5 packages        every file the snapshot lists that the pool lacks, with its .sig:
//!                    downloaded concurrently (--jobs), retried with backoff, resumed with
//!                    Range, bounded by %CSIZE%; SHA-256 against %SHA256SUM%; signature
//!                    against the upstream keyring (.sig, or the entry's %PGPSIG% when
//!                    upstream has no .sig). Only then publish::pool_insert_file.
//!                    A failure is a `Rejected` record naming the field, never a pool file.
//!  6 state.json      written last, atomically, and only when it changed
//! ```
//!
//! Idempotent: a sync that finds nothing new downloads no package, and writes no file
//! whose content would not change (the databases are asked for conditionally, or fetched
//! and compared, and not rewritten; the ledger and `state.json` are written only when
//! they change). An unchanged upstream still gets steps 4 to 6: package files missing
//! from the pool are fetched, rejected ones tried again.
//!
//! Rejected entries are tried again by every sync (a mirror may have been repaired); their
//! record keeps the time they were first rejected. A download that failed transiently
//! keeps its partial file, so the next sync resumes it.
//!
//! Every write that matters goes through [`Fs`] on the calling thread; the download
//! threads write only their partial files in `OUT/.incoming/` ([`fetch`]).

pub mod fetch;

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use lumina_core::fs::Fs;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{LEDGER_FILE, RepoConfig};
use crate::entry::DbEntry;
use crate::error::{DbProblem, Error, SignatureProblem};
use crate::ledger::Ledger;
use crate::lock::RepoLock;
use crate::publish::{self, pool_insert_file, pool_path};
use crate::sign::Verifier;
use crate::syncdb::{self, Limits, SyncDb};
use crate::upstream::{
    self, FetchRecord, FetchState, Rejected, RepoFetch, RepoState, STATE_FORMAT, SyncState,
};

use fetch::{FetchError, Held, Request, Transport, Validators, join_url};
pub use fetch::{FetchProblem, RetryPolicy, Timeouts};

/// The largest detached signature fetched: repo-add refuses signature files over 16 KiB.
pub const MAX_SIGNATURE: u64 = 16 * 1024;

/// `Rejected::field` of a download that failed (not found, or the server stayed down).
pub const FIELD_DOWNLOAD: &str = "download";
/// `Rejected::field` of a missing or bad signature.
pub const FIELD_SIGNATURE: &str = "signature";
/// `Rejected::field` of a file larger (or smaller) than its entry says.
pub const FIELD_CSIZE: &str = "%CSIZE%";
/// `Rejected::field` of a file whose SHA-256 is not its entry's.
pub const FIELD_SHA256: &str = "%SHA256SUM%";
/// `Rejected::field` of an embedded signature that is not valid or does not verify.
pub const FIELD_PGPSIG: &str = "%PGPSIG%";
/// `Rejected::field` of a file name that cannot be a package file in the pool.
pub const FIELD_FILENAME: &str = "%FILENAME%";

/// How a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// How many package files are downloaded at once (at least 1; default 4).
    pub jobs: usize,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Connection and read timeouts.
    pub timeouts: Timeouts,
    /// Bounds on the databases read.
    pub limits: Limits,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
        }
    }
}

/// What a sync is doing, for a progress display. Every method has an empty default;
/// [`Progress::bytes`] is called from the download threads.
pub trait Progress: Sync {
    /// A repository's database was fetched and validated.
    fn database(&self, _repo: &str, _entries: usize) {}
    /// The downloads start: `files` package files of `bytes` bytes in all.
    fn downloads(&self, _files: usize, _bytes: u64) {}
    /// `n` more bytes were written.
    fn bytes(&self, _n: u64) {}
    /// One package file is done: in the pool (`None`), or rejected.
    fn done(&self, _file: &str, _rejected: Option<&Rejected>) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// One repository in a [`SyncReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoReport {
    /// The repository.
    pub name: String,
    /// How many entries its database lists.
    pub entries: usize,
    /// Whether its snapshot database changed.
    pub changed: bool,
    /// Whether upstream has a `.files` database for it.
    pub files: bool,
    /// Whether upstream said none of its databases changed since the snapshot (HTTP `304
    /// Not Modified`; a `file://` mirror's files have the same mtime and size): nothing
    /// was downloaded for it and the snapshot stands.
    pub not_modified: bool,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The sync's time (`lastsync`), seconds since the Unix epoch.
    pub lastsync: u64,
    /// Each repository.
    pub repos: Vec<RepoReport>,
    /// The package files downloaded, verified and put into the pool, sorted.
    pub downloaded: Vec<String>,
    /// The bytes of those files.
    pub downloaded_bytes: u64,
    /// How many listed package files the pool already held.
    pub in_pool: usize,
    /// How many (package, version) pairs this sync saw first.
    pub new_versions: usize,
    /// The entries that failed verification (also in `state.json`).
    pub rejected: Vec<Rejected>,
}

/// Why a sync failed. Nothing described by a database that failed is kept: its previous
/// snapshot stays, and (except for [`SyncError::Repo`] during the downloads) nothing else
/// changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A database could not be fetched (after the retries).
    #[error(
        "cannot fetch `{url}` (repository `{repo}`): {problem}{}; the previous snapshot stays",
        after(.attempts)
    )]
    Fetch {
        /// The repository.
        repo: String,
        /// The URL.
        url: String,
        /// What went wrong (the last time).
        problem: FetchProblem,
        /// How many requests were made.
        attempts: u32,
    },
    /// An upstream database is not a valid one: truncated, not an archive, a hostile entry.
    #[error(
        "upstream database `{url}` (repository `{repo}`) is refused: {problem}; the previous \
         snapshot stays"
    )]
    InvalidDatabase {
        /// The repository.
        repo: String,
        /// The URL.
        url: String,
        /// What is wrong, naming the entry and the field.
        problem: Box<DbProblem>,
    },
    /// Upstream signs a database, and the signature does not verify.
    #[error(
        "upstream database `{url}` (repository `{repo}`): its signature: {problem}; the \
         previous snapshot stays"
    )]
    DatabaseSignature {
        /// The repository.
        repo: String,
        /// The URL.
        url: String,
        /// What is wrong.
        problem: SignatureProblem,
    },
    /// `$repo.files` does not list the packages `$repo.db` lists.
    #[error(
        "upstream `{repo}.files` does not match `{repo}.db`: {detail}; the mirror may be in the \
         middle of an update: sync again later"
    )]
    FilesMismatch {
        /// The repository.
        repo: String,
        /// The first difference.
        detail: String,
    },
    /// The HTTP client cannot be set up (no CA certificates, ...).
    #[error("{0}")]
    Client(String),
    /// The output directory, the ledger, the keyring, the pool, ... (the library's error).
    #[error(transparent)]
    Repo(#[from] Error),
}

/// ` (after N attempts)` when there were several.
fn after(attempts: &u32) -> String {
    if *attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl From<lumina_core::Error> for SyncError {
    fn from(e: lumina_core::Error) -> Self {
        Self::Repo(e.into())
    }
}

/// [`sync_with_progress`] without a progress display.
///
/// # Errors
/// See [`sync_with_progress`].
pub fn sync(
    lock: &RepoLock,
    fs: &Fs,
    cfg: &RepoConfig,
    now: u64,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    sync_with_progress(lock, fs, cfg, now, opts, &NoProgress)
}

/// Sync the output directory `lock.out()` with `cfg`'s upstream at time `now` (seconds
/// since the Unix epoch): the steps in the module documentation.
///
/// Entries that fail verification are not errors: they are in the report and in
/// `state.json`, and `promote` holds them.
///
/// # Errors
/// - [`SyncError::Fetch`], [`SyncError::InvalidDatabase`], [`SyncError::DatabaseSignature`],
///   [`SyncError::FilesMismatch`]: a database could not be fetched or is refused; nothing
///   was changed.
/// - [`SyncError::Repo`]: the keyring cannot be used, the ledger or the sync state is
///   corrupt (nothing changed), or a filesystem step failed (what was done stays
///   consistent: the next sync continues).
pub fn sync_with_progress(
    lock: &RepoLock,
    fs: &Fs,
    cfg: &RepoConfig,
    now: u64,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, SyncError> {
    let out = lock.out();
    let mut verifier = Verifier::new(&cfg.upstream_keyring)?;
    let (previous, previous_fetch) = match SyncState::load_with_fetch(out)? {
        Some((state, fetch)) => (Some(state), fetch),
        None => (None, FetchState::new()),
    };
    let mut ledger = Ledger::load(&out.join(LEDGER_FILE))?;
    let transport = Transport::new(cfg.upstream.scheme, opts.timeouts, opts.retry)
        .map_err(SyncError::Client)?;
    let incoming = out.join(upstream::INCOMING);
    fs.create_dir_all(&incoming)?;
    let cancel = AtomicBool::new(false);
    let ctx = Context {
        transport: &transport,
        incoming: &incoming,
        cancel: &cancel,
        progress,
    };

    // 2. Every database, validated, before anything changes.
    let fetched = match fetch_all(&ctx, &mut verifier, cfg, opts, out, &previous_fetch) {
        Ok(f) => f,
        Err(e) => {
            // Nothing is kept of a refused sync, not even its downloads.
            for repo in &cfg.repositories {
                for kind in ["db", "db.sig", "files", "files.sig"] {
                    let _ = remove_if_present(fs, &incoming.join(format!("{repo}.{kind}.part")));
                }
            }
            return Err(e);
        }
    };

    // 3. The snapshot.
    fs.create_dir_all(&upstream::snapshot_dir(out))?;
    let mut repos = Vec::new();
    for f in &fetched {
        // Not modified: the snapshot is the file upstream has (checked before asking).
        let changed = !f.db.not_modified
            && replace_if_changed(fs, &upstream::db_path(out, &f.repo), &f.db.bytes)?;
        let files_path = upstream::files_path(out, &f.repo);
        match &f.files {
            Some(FilesDb {
                bytes: Some(bytes), ..
            }) => {
                replace_if_changed(fs, &files_path, bytes)?;
            }
            Some(FilesDb { bytes: None, .. }) => {}
            None => {
                if lumina_core::fs::lstat(&files_path)?.is_some() {
                    fs.unlink(&files_path)?;
                }
            }
        }
        repos.push(RepoReport {
            name: f.repo.clone(),
            entries: f.db.parsed.entries.len(),
            changed,
            files: f.files.is_some(),
            not_modified: f.db.not_modified && f.files.as_ref().is_none_or(|x| x.bytes.is_none()),
        });
    }
    for f in &fetched {
        for kind in ["db", "files"] {
            remove_if_present(fs, &incoming.join(format!("{}.{kind}.part", f.repo)))?;
            remove_if_present(fs, &incoming.join(format!("{}.{kind}.sig.part", f.repo)))?;
        }
    }

    // 4. First-seen times.
    let mut new_versions = 0;
    for f in &fetched {
        for e in &f.db.parsed.entries {
            if ledger.first_seen(&e.name, &e.version).is_none() {
                new_versions += 1;
            }
            ledger.observe(&e.name, &e.version, now);
        }
    }
    ledger.save(fs, lock)?;

    // 5. Package files.
    let plan = plan_downloads(out, &fetched, now)?;
    let mut rejected = plan.rejected;
    let total: u64 = plan.wants.iter().map(|w| w.csize).sum();
    progress.downloads(plan.wants.len(), total);
    let downloads = download_all(lock, fs, cfg, &ctx, &plan.wants, opts.jobs, now)?;
    rejected.extend(downloads.rejected);
    tidy_incoming(fs, &incoming, &downloads.resumable)?;

    // 6. state.json.
    for r in &mut rejected {
        if let Some(old) = previous.as_ref().and_then(|p| {
            p.rejected.iter().find(|o| {
                o.repo == r.repo
                    && o.name == r.name
                    && o.version == r.version
                    && o.filename == r.filename
                    && o.field == r.field
            })
        }) {
            r.at = old.at;
        }
    }
    rejected.sort_by(|a, b| (&a.repo, &a.name, &a.field).cmp(&(&b.repo, &b.name, &b.field)));
    let state = SyncState {
        format: STATE_FORMAT,
        lastsync: now,
        repos: fetched
            .iter()
            .map(|f| {
                (
                    f.repo.clone(),
                    RepoState {
                        fetched_at: now,
                        db_sha256: f.db.record.sha256.clone(),
                        entries: f.db.parsed.entries.len(),
                    },
                )
            })
            .collect(),
        rejected: rejected.clone(),
    };
    let fetch: FetchState = fetched
        .iter()
        .map(|f| {
            (
                f.repo.clone(),
                RepoFetch {
                    db: Some(f.db.record.clone()),
                    files: f.files.as_ref().map(|x| x.record.clone()),
                },
            )
        })
        .collect();
    if previous.as_ref() != Some(&state) || previous_fetch != fetch {
        state.save_with_fetch(&fetch, fs, lock)?;
    }
    let mut downloaded = downloads.downloaded;
    downloaded.sort();
    Ok(SyncReport {
        lastsync: now,
        repos,
        downloaded,
        downloaded_bytes: downloads.bytes,
        in_pool: plan.in_pool,
        new_versions,
        rejected,
    })
}

/// Delete the files in `OUT/.incoming` last changed more than `max_age` seconds before
/// `now`: partial downloads of syncs that were interrupted and not resumed since. Returns
/// the names deleted.
///
/// # Errors
/// [`Error::Fs`].
pub fn clean_incoming(
    lock: &RepoLock,
    fs: &Fs,
    now: u64,
    max_age: u64,
) -> Result<Vec<String>, Error> {
    let dir = lock.out().join(upstream::INCOMING);
    let mut removed = Vec::new();
    if lumina_core::fs::lstat(&dir)?.is_none() {
        return Ok(removed);
    }
    for (name, is_dir) in lumina_core::fs::read_dir(&dir)? {
        let path = dir.join(&name);
        let Some(meta) = lumina_core::fs::lstat(&path)? else {
            continue;
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        if is_dir || now.saturating_sub(mtime) <= max_age {
            continue;
        }
        fs.unlink(&path)?;
        removed.push(name.to_string_lossy().into_owned());
    }
    fs.sync_touched_dirs()?;
    removed.sort();
    Ok(removed)
}

/// What every download thread shares.
struct Context<'a> {
    transport: &'a Transport,
    incoming: &'a Path,
    cancel: &'a AtomicBool,
    progress: &'a dyn Progress,
}

/// A database fetched and validated, or the snapshot upstream said is current.
struct Database {
    bytes: Vec<u8>,
    parsed: SyncDb,
    /// What `state.json` records of it (its SHA-256 is `RepoState::db_sha256`).
    record: FetchRecord,
    /// Upstream said the snapshot is current: it stays as it is.
    not_modified: bool,
}

/// A `.files` database: its entries, checked against `.db`, are not kept (file lists are
/// large).
struct FilesDb {
    /// The bytes to keep; `None` when upstream said the snapshot is current.
    bytes: Option<Vec<u8>>,
    /// What `state.json` records of it.
    record: FetchRecord,
}

/// One repository's databases.
struct Fetched {
    repo: String,
    dir_url: String,
    db: Database,
    files: Option<FilesDb>,
}

/// What fetching one database gave.
enum Got {
    /// Upstream sent it (HTTP 200, or a `file://` file that changed): validated whole.
    Fresh {
        bytes: Vec<u8>,
        parsed: SyncDb,
        record: FetchRecord,
    },
    /// Upstream said the held version is current.
    NotModified,
}

/// A snapshot file as it is on disk.
struct OnDisk {
    size: u64,
    sha256: String,
    /// Its bytes, when they were asked for.
    bytes: Option<Vec<u8>>,
}

/// The snapshot file at `path` (read whole when `keep`, else hashed as a stream); `None`
/// when there is none.
fn on_disk(path: &Path, keep: bool) -> Result<Option<OnDisk>, Error> {
    if !lumina_core::fs::lstat(path)?.is_some_and(|m| m.is_file()) {
        return Ok(None);
    }
    if keep {
        let bytes = lumina_core::fs::read(path)?;
        return Ok(Some(OnDisk {
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
            bytes: Some(bytes),
        }));
    }
    let (size, sha256) = sha256_file(path)
        .map_err(|e| lumina_core::Error::io(path, "reading the upstream snapshot", e))?;
    Ok(Some(OnDisk {
        size,
        sha256,
        bytes: None,
    }))
}

/// The version of a database to ask upstream about: the one `record` describes, but only
/// while the snapshot file on disk (`size`, `sha256`) is still that file. A missing or
/// damaged snapshot, or one without a record, is fetched unconditionally: upstream's
/// "not modified" is never taken for a file this sync does not hold intact.
fn held_version<'a>(
    record: Option<&'a FetchRecord>,
    on_disk: Option<(u64, &str)>,
) -> Option<&'a FetchRecord> {
    let record = record?;
    let (size, sha256) = on_disk?;
    (record.size == size && record.sha256 == sha256).then_some(record)
}

/// Every repository's databases, fetched (conditionally, per [`held_version`] and the
/// records of the previous sync) and validated.
fn fetch_all(
    ctx: &Context<'_>,
    verifier: &mut Verifier,
    cfg: &RepoConfig,
    opts: &SyncOptions,
    out: &Path,
    previous: &FetchState,
) -> Result<Vec<Fetched>, SyncError> {
    let mut fetched = Vec::new();
    for repo in &cfg.repositories {
        let dir_url = cfg.upstream.repo_url(repo, &cfg.architecture);
        let before = previous.get(repo);

        let db_path = upstream::db_path(out, repo);
        let mut snapshot = on_disk(&db_path, true)?;
        let mut held = held_version(
            before.and_then(|b| b.db.as_ref()),
            snapshot.as_ref().map(|d| (d.size, d.sha256.as_str())),
        );
        let db = loop {
            let got = fetch_database(ctx, verifier, repo, &dir_url, "db", opts, held)?;
            match got {
                None => {
                    return Err(SyncError::Fetch {
                        repo: repo.clone(),
                        url: join_url(&dir_url, &format!("{repo}.db")),
                        problem: FetchProblem::NotFound,
                        attempts: 1,
                    });
                }
                Some(Got::Fresh {
                    bytes,
                    parsed,
                    record,
                }) => {
                    break Database {
                        bytes,
                        parsed,
                        record,
                        not_modified: false,
                    };
                }
                Some(Got::NotModified) => {
                    let kept = held.zip(snapshot.take().and_then(|d| d.bytes));
                    if let Some((record, bytes)) = kept
                        && let Ok(parsed) = syncdb::parse(&bytes[..], &db_path, &opts.limits)
                    {
                        break Database {
                            bytes,
                            parsed,
                            record: record.clone(),
                            not_modified: true,
                        };
                    }
                    // The snapshot does not validate any more (other limits): fetch whole.
                    held = None;
                }
            }
        };

        let files_path = upstream::files_path(out, repo);
        let snapshot = on_disk(&files_path, false)?;
        let mut held = held_version(
            before.and_then(|b| b.files.as_ref()),
            snapshot.as_ref().map(|d| (d.size, d.sha256.as_str())),
        );
        let files = loop {
            match fetch_database(ctx, verifier, repo, &dir_url, "files", opts, held)? {
                None => break None,
                Some(Got::Fresh {
                    bytes,
                    parsed,
                    record,
                }) => {
                    check_files_match(repo, &db.parsed, &parsed)?;
                    break Some(FilesDb {
                        bytes: Some(bytes),
                        record,
                    });
                }
                Some(Got::NotModified) => {
                    let Some(record) = held else { break None };
                    if db.not_modified {
                        // The pair was checked when it was fetched.
                        break Some(FilesDb {
                            bytes: None,
                            record: record.clone(),
                        });
                    }
                    // A new `.db` and the `.files` kept: they must still match.
                    if let Ok(parsed) = syncdb::read(&files_path, &opts.limits) {
                        check_files_match(repo, &db.parsed, &parsed)?;
                        break Some(FilesDb {
                            bytes: None,
                            record: record.clone(),
                        });
                    }
                    held = None;
                }
            }
        };
        ctx.progress.database(repo, db.parsed.entries.len());
        fetched.push(Fetched {
            repo: repo.clone(),
            dir_url,
            db,
            files,
        });
    }
    Ok(fetched)
}

/// Fetch `DIR/REPO.KIND` (and its `.sig`, verified when upstream has one) and validate it;
/// `None` when upstream has no such file. With `held`, the request is conditional, and
/// upstream may answer that the held version is current ([`Got::NotModified`]).
fn fetch_database(
    ctx: &Context<'_>,
    verifier: &mut Verifier,
    repo: &str,
    dir_url: &str,
    kind: &str,
    opts: &SyncOptions,
    held: Option<&FetchRecord>,
) -> Result<Option<Got>, SyncError> {
    let name = format!("{repo}.{kind}");
    let url = join_url(dir_url, &name);
    let part = ctx.incoming.join(format!("{name}.part"));
    let fetch_err = |url: &str, e: FetchError| match e {
        FetchError::Remote { problem, attempts } => SyncError::Fetch {
            repo: repo.to_owned(),
            url: url.to_owned(),
            problem,
            attempts,
        },
        FetchError::Local { path, error } => {
            lumina_core::Error::io(path, "writing a download", error).into()
        }
        FetchError::Cancelled => SyncError::Fetch {
            repo: repo.to_owned(),
            url: url.to_owned(),
            problem: FetchProblem::Network("cancelled".into()),
            attempts: 0,
        },
    };
    let validators = held.map(|r| Validators {
        etag: r.etag.clone(),
        last_modified: r.last_modified.clone(),
        mtime_ns: r.mtime_ns,
    });
    let req = Request {
        url: &url,
        dest: &part,
        resume: false,
        limit: opts.limits.max_decompressed,
        held: held.zip(validators.as_ref()).map(|(r, v)| Held {
            validators: v,
            size: r.size,
        }),
    };
    let got = match ctx.transport.fetch(&req, &|_| {}, ctx.cancel) {
        Ok(got) if got.not_modified => return Ok(Some(Got::NotModified)),
        Ok(got) => got,
        Err(FetchError::Remote {
            problem: FetchProblem::NotFound,
            ..
        }) => return Ok(None),
        Err(e) => return Err(fetch_err(&url, e)),
    };
    let sig_url = join_url(dir_url, &format!("{name}.sig"));
    let sig_part = ctx.incoming.join(format!("{name}.sig.part"));
    let sig_req = Request {
        url: &sig_url,
        dest: &sig_part,
        resume: false,
        limit: MAX_SIGNATURE,
        held: None,
    };
    match ctx.transport.fetch(&sig_req, &|_| {}, ctx.cancel) {
        Ok(_) => match verifier.verify_file_with(&part, &sig_part) {
            Ok(_) => {}
            Err(Error::Signature { problem, .. }) => {
                return Err(SyncError::DatabaseSignature {
                    repo: repo.to_owned(),
                    url,
                    problem,
                });
            }
            Err(e) => return Err(e.into()),
        },
        Err(FetchError::Remote {
            problem: FetchProblem::NotFound,
            ..
        }) => {}
        Err(e) => return Err(fetch_err(&sig_url, e)),
    }
    let bytes = lumina_core::fs::read(&part)?;
    let parsed = match syncdb::parse(&bytes[..], Path::new(&url), &opts.limits) {
        Ok(db) => db,
        Err(Error::InvalidDatabase { problem, .. }) => {
            return Err(SyncError::InvalidDatabase {
                repo: repo.to_owned(),
                url,
                problem: Box::new(problem),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let record = FetchRecord {
        sha256: hex(&Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        etag: got.validators.etag,
        last_modified: got.validators.last_modified,
        mtime_ns: got.validators.mtime_ns,
    };
    Ok(Some(Got::Fresh {
        bytes,
        parsed,
        record,
    }))
}

/// `.files` must list exactly the packages (names and versions) of `.db`.
fn check_files_match(repo: &str, db: &SyncDb, files: &SyncDb) -> Result<(), SyncError> {
    let mismatch = |detail: String| SyncError::FilesMismatch {
        repo: repo.to_owned(),
        detail,
    };
    let mut f = files.entries.iter();
    for e in &db.entries {
        match f.next() {
            Some(g) if g.name == e.name && g.version == e.version => {}
            Some(g) if g.name == e.name => {
                return Err(mismatch(format!(
                    "`{}` is {} in `.db` and {} in `.files`",
                    e.name, e.version, g.version
                )));
            }
            Some(g) => {
                return Err(mismatch(format!(
                    "`.db` lists `{}` where `.files` lists `{}`",
                    e.dir_name(),
                    g.dir_name()
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "`.files` does not list `{}`",
                    e.dir_name()
                )));
            }
        }
    }
    if let Some(g) = f.next() {
        return Err(mismatch(format!("`.db` does not list `{}`", g.dir_name())));
    }
    Ok(())
}

/// Write `bytes` to `path` atomically unless it holds them already; returns whether it
/// wrote.
fn replace_if_changed(fs: &Fs, path: &Path, bytes: &[u8]) -> Result<bool, Error> {
    if lumina_core::fs::lstat(path)?.is_some_and(|m| m.is_file())
        && lumina_core::fs::read(path)? == bytes
    {
        return Ok(false);
    }
    fs.write_atomic(path, bytes, false)?;
    Ok(true)
}

fn remove_if_present(fs: &Fs, path: &Path) -> Result<(), Error> {
    if lumina_core::fs::lstat(path)?.is_some() {
        fs.unlink(path)?;
    }
    Ok(())
}

/// One package file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Want {
    repo: String,
    dir_url: String,
    name: String,
    version: String,
    filename: String,
    csize: u64,
    sha256: String,
    pgpsig: Option<String>,
}

impl Want {
    fn of(repo: &str, dir_url: &str, e: &DbEntry) -> Self {
        Self {
            repo: repo.to_owned(),
            dir_url: dir_url.to_owned(),
            name: e.name.clone(),
            version: e.version.clone(),
            filename: e.filename.clone(),
            csize: e.csize,
            sha256: e.sha256sum.clone(),
            pgpsig: e.pgpsig.clone(),
        }
    }

    fn reject(&self, field: &str, problem: String, at: u64) -> Rejected {
        Rejected {
            repo: self.repo.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            filename: self.filename.clone(),
            field: field.to_owned(),
            problem,
            at,
        }
    }

    fn part(&self, incoming: &Path, suffix: &str) -> PathBuf {
        incoming.join(format!("{}{suffix}", self.filename))
    }
}

struct Plan {
    wants: Vec<Want>,
    in_pool: usize,
    rejected: Vec<Rejected>,
}

/// Which listed files the pool lacks (a file and its `.sig` both present count as there;
/// one of another size than `%CSIZE%` is rejected, it is not the entry's file).
fn plan_downloads(out: &Path, fetched: &[Fetched], now: u64) -> Result<Plan, Error> {
    let mut plan = Plan {
        wants: Vec::new(),
        in_pool: 0,
        rejected: Vec::new(),
    };
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    for f in fetched {
        for e in &f.db.parsed.entries {
            let want = Want::of(&f.repo, &f.dir_url, e);
            if let Some((repo, sha)) = seen.get(&e.filename) {
                if *sha != e.sha256sum {
                    plan.rejected.push(want.reject(
                        FIELD_SHA256,
                        format!(
                            "repository `{repo}` lists the same file `{}` with another SHA-256",
                            e.filename
                        ),
                        now,
                    ));
                }
                continue;
            }
            seen.insert(e.filename.clone(), (f.repo.clone(), e.sha256sum.clone()));
            if !e.filename.contains(".pkg.tar") || e.filename.ends_with(".sig") {
                // The pool (and a published tree) holds only package files and their
                // signatures: a name like `core.db` or `x.sig` could stand for another file.
                plan.rejected.push(want.reject(
                    FIELD_FILENAME,
                    format!("`{}` is not a package file name (`*.pkg.tar*`)", e.filename),
                    now,
                ));
                continue;
            }
            let file = lumina_core::fs::lstat(&pool_path(out, &e.filename))?;
            let sig = lumina_core::fs::lstat(&pool_path(out, &format!("{}.sig", e.filename)))?;
            match (file, sig) {
                (Some(m), Some(_)) if m.is_file() && m.len() == e.csize => plan.in_pool += 1,
                (Some(m), _) if m.is_file() && m.len() != e.csize => {
                    plan.rejected.push(want.reject(
                        FIELD_CSIZE,
                        format!(
                            "the pool holds a different `{}` ({} bytes; `%CSIZE%` says {}): a \
                             package file name must always stand for the same bytes",
                            e.filename,
                            m.len(),
                            e.csize
                        ),
                        now,
                    ));
                }
                _ => plan.wants.push(want),
            }
        }
    }
    Ok(plan)
}

/// What a download thread made of one file.
enum Outcome {
    /// The file and its signature, verified, in `OUT/.incoming`.
    Verified {
        pkg: PathBuf,
        sig: PathBuf,
        size: u64,
    },
    /// Refused; `keep` keeps the partial package file for the next sync to resume.
    Rejected {
        field: &'static str,
        problem: String,
        keep: bool,
    },
    /// Our failure (the disk, the keyring): the sync stops.
    Fatal(SyncError),
    /// The sync is stopping.
    Cancelled,
}

struct Downloads {
    downloaded: Vec<String>,
    bytes: u64,
    rejected: Vec<Rejected>,
    /// The files whose partial download is kept for the next sync to resume.
    resumable: BTreeSet<String>,
}

/// Remove from `OUT/.incoming` everything but the partial files of `resumable`: what an
/// interrupted sync left of files that are now in the pool, or no longer listed.
fn tidy_incoming(fs: &Fs, incoming: &Path, resumable: &BTreeSet<String>) -> Result<(), Error> {
    for (name, is_dir) in lumina_core::fs::read_dir(incoming)? {
        let name = name.to_string_lossy().into_owned();
        let keep = name
            .strip_suffix(".part")
            .is_some_and(|base| resumable.contains(base));
        if !is_dir && !keep {
            fs.unlink(&incoming.join(&name))?;
        }
    }
    Ok(())
}

/// Download, verify and pool every file of `wants` with `jobs` threads; the pool is
/// written by this thread only, through `fs`.
fn download_all(
    lock: &RepoLock,
    fs: &Fs,
    cfg: &RepoConfig,
    ctx: &Context<'_>,
    wants: &[Want],
    jobs: usize,
    now: u64,
) -> Result<Downloads, SyncError> {
    let mut result = Downloads {
        downloaded: Vec::new(),
        bytes: 0,
        rejected: Vec::new(),
        resumable: BTreeSet::new(),
    };
    if wants.is_empty() {
        return Ok(result);
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    let mut failure: Option<SyncError> = None;
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, wants.len()) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                let mut verifier = match Verifier::new(&cfg.upstream_keyring) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = tx.send((usize::MAX, Outcome::Fatal(e.into())));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(want) = wants.get(i) else { return };
                    if ctx.cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let outcome = process(ctx, &mut verifier, want);
                    if tx.send((i, outcome)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, outcome) in rx {
            if failure.is_some() {
                continue;
            }
            let handled = match outcome {
                Outcome::Fatal(e) => Err(e),
                Outcome::Cancelled => Ok(()),
                Outcome::Verified { pkg, sig, size } => {
                    settle_verified(lock, fs, ctx, &wants[i], &pkg, &sig, now).map(|r| match r {
                        None => {
                            result.downloaded.push(wants[i].filename.clone());
                            result.bytes += size;
                            ctx.progress.done(&wants[i].filename, None);
                        }
                        Some(rej) => {
                            ctx.progress.done(&wants[i].filename, Some(&rej));
                            result.rejected.push(rej);
                        }
                    })
                }
                Outcome::Rejected {
                    field,
                    problem,
                    keep,
                } => {
                    let want = &wants[i];
                    if keep {
                        result.resumable.insert(want.filename.clone());
                    }
                    let rej = want.reject(field, problem, now);
                    ctx.progress.done(&want.filename, Some(&rej));
                    result.rejected.push(rej);
                    clean_parts(fs, ctx.incoming, want, keep).map_err(SyncError::from)
                }
            };
            if let Err(e) = handled {
                ctx.cancel.store(true, Ordering::Relaxed);
                failure = Some(e);
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// Put a verified file and its signature into the pool; `Some` when the pool refuses it
/// (it holds a different file of that name).
fn settle_verified(
    lock: &RepoLock,
    fs: &Fs,
    ctx: &Context<'_>,
    want: &Want,
    pkg: &Path,
    sig: &Path,
    now: u64,
) -> Result<Option<Rejected>, SyncError> {
    let refused = match pool_insert_file(lock, fs, &want.filename, pkg) {
        Ok(_) => None,
        Err(Error::Publish { message, .. }) => Some(want.reject(FIELD_SHA256, message, now)),
        Err(e) => return Err(e.into()),
    };
    if refused.is_none() {
        pool_insert_file(lock, fs, &format!("{}.sig", want.filename), sig)?;
    }
    clean_parts(fs, ctx.incoming, want, false)?;
    Ok(refused)
}

/// Remove a download's partial files (keeping the package's when `keep`).
fn clean_parts(fs: &Fs, incoming: &Path, want: &Want, keep: bool) -> Result<(), Error> {
    if !keep {
        remove_if_present(fs, &want.part(incoming, ".part"))?;
    }
    remove_if_present(fs, &want.part(incoming, ".sig.part"))?;
    remove_if_present(fs, &want.part(incoming, ".pgpsig.part"))
}

/// Download and verify one package file and its signature (on a download thread).
fn process(ctx: &Context<'_>, verifier: &mut Verifier, want: &Want) -> Outcome {
    let reject = |field, problem| Outcome::Rejected {
        field,
        problem,
        keep: false,
    };
    let local = |path: PathBuf, error| {
        Outcome::Fatal(lumina_core::Error::io(path, "writing a download", error).into())
    };
    let pkg = want.part(ctx.incoming, ".part");
    let url = join_url(&want.dir_url, &want.filename);
    let mut resume = true;
    let mut refetched = false;
    let size = loop {
        let req = Request {
            url: &url,
            dest: &pkg,
            resume,
            limit: want.csize,
            held: None,
        };
        let fetched = match ctx
            .transport
            .fetch(&req, &|n| ctx.progress.bytes(n), ctx.cancel)
        {
            Ok(f) => f,
            Err(FetchError::Remote {
                problem: FetchProblem::TooLarge { limit },
                ..
            }) => {
                return reject(
                    FIELD_CSIZE,
                    format!(
                        "upstream serves more than the {limit} bytes `%CSIZE%` gives; reading \
                         stopped there"
                    ),
                );
            }
            Err(e @ FetchError::Remote { .. }) => {
                let transient =
                    matches!(&e, FetchError::Remote { problem, .. } if problem.is_transient());
                return Outcome::Rejected {
                    field: FIELD_DOWNLOAD,
                    problem: format!("cannot download `{url}`: {e}"),
                    keep: transient,
                };
            }
            Err(FetchError::Local { path, error }) => return local(path, error),
            Err(FetchError::Cancelled) => return Outcome::Cancelled,
        };
        match check_file(&pkg, want) {
            Ok(()) => break fetched.size,
            Err(CheckError::Io(e)) => return local(pkg, e),
            Err(CheckError::Mismatch(field, problem)) => {
                if fetched.resumed_from > 0 && !refetched {
                    // The part fetched before may be of another file: fetch it whole, once.
                    refetched = true;
                    resume = false;
                    continue;
                }
                return reject(field, problem);
            }
        }
    };

    let sig = want.part(ctx.incoming, ".sig.part");
    let sig_name = format!("{}.sig", want.filename);
    let sig_url = join_url(&want.dir_url, &sig_name);
    let embedded = want.pgpsig.as_deref().map(decode_base64);
    let req = Request {
        url: &sig_url,
        dest: &sig,
        resume: false,
        limit: MAX_SIGNATURE,
        held: None,
    };
    let sig_file_fetched = match ctx.transport.fetch(&req, &|_| {}, ctx.cancel) {
        Ok(_) => true,
        Err(FetchError::Remote {
            problem: FetchProblem::NotFound,
            ..
        }) => match &embedded {
            Some(Some(bytes)) => {
                if let Err(e) = write_new(&sig, bytes) {
                    return local(sig, e);
                }
                false
            }
            Some(None) => return reject(FIELD_PGPSIG, "it is not valid base64".into()),
            None => {
                return reject(
                    FIELD_SIGNATURE,
                    format!(
                        "the package is unsigned: upstream has no `{sig_name}` and the entry no \
                         `%PGPSIG%`"
                    ),
                );
            }
        },
        Err(FetchError::Remote {
            problem: FetchProblem::TooLarge { .. },
            ..
        }) => {
            return reject(
                FIELD_SIGNATURE,
                format!("`{sig_name}` is larger than {MAX_SIGNATURE} bytes; it is not a signature"),
            );
        }
        Err(e @ FetchError::Remote { .. }) => {
            let transient =
                matches!(&e, FetchError::Remote { problem, .. } if problem.is_transient());
            return Outcome::Rejected {
                field: FIELD_DOWNLOAD,
                problem: format!("cannot download `{sig_url}`: {e}"),
                keep: transient,
            };
        }
        Err(FetchError::Local { path, error }) => return local(path, error),
        Err(FetchError::Cancelled) => return Outcome::Cancelled,
    };
    match verifier.verify_file_with(&pkg, &sig) {
        Ok(_) => {}
        Err(Error::Signature { problem, .. }) => {
            let what = if sig_file_fetched {
                format!("`{sig_name}`")
            } else {
                "the entry's `%PGPSIG%`".into()
            };
            return reject(
                if sig_file_fetched {
                    FIELD_SIGNATURE
                } else {
                    FIELD_PGPSIG
                },
                format!("{what}: {problem}"),
            );
        }
        Err(e) => return Outcome::Fatal(e.into()),
    }
    // An embedded signature that differs from the `.sig` file is checked too: pacman
    // uses the embedded one.
    if sig_file_fetched && let Some(embedded) = &embedded {
        let Some(bytes) = embedded else {
            return reject(FIELD_PGPSIG, "it is not valid base64".into());
        };
        match lumina_core::fs::read(&sig) {
            Ok(file) if file == *bytes => {}
            Ok(_) => {
                let pgpsig = want.part(ctx.incoming, ".pgpsig.part");
                if let Err(e) = write_new(&pgpsig, bytes) {
                    return local(pgpsig, e);
                }
                match verifier.verify_file_with(&pkg, &pgpsig) {
                    Ok(_) => {}
                    Err(Error::Signature { problem, .. }) => {
                        return reject(FIELD_PGPSIG, format!("the entry's `%PGPSIG%`: {problem}"));
                    }
                    Err(e) => return Outcome::Fatal(e.into()),
                }
            }
            Err(e) => return Outcome::Fatal(e.into()),
        }
    }
    Outcome::Verified { pkg, sig, size }
}

enum CheckError {
    Mismatch(&'static str, String),
    Io(io::Error),
}

/// The file has the entry's size and SHA-256.
fn check_file(path: &Path, want: &Want) -> Result<(), CheckError> {
    let (size, sha) = sha256_file(path).map_err(CheckError::Io)?;
    if size != want.csize {
        return Err(CheckError::Mismatch(
            FIELD_CSIZE,
            format!("the file is {size} bytes; `%CSIZE%` says {}", want.csize),
        ));
    }
    if sha != want.sha256 {
        return Err(CheckError::Mismatch(
            FIELD_SHA256,
            format!(
                "the file's SHA-256 is `{sha}`; `%SHA256SUM%` says `{}`",
                want.sha256
            ),
        ));
    }
    Ok(())
}

/// Write a scratch file in `OUT/.incoming` (replacing one left by an earlier run).
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.flush()
}

/// The size and lowercase-hex SHA-256 of a file, read as a stream.
///
/// # Errors
/// When it cannot be read.
pub(crate) fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Standard base64 (with or without `=` padding) to bytes; `None` when it is not.
#[must_use]
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    if text.len() != trimmed.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() / 4 * 3 + 2);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// `publish::gc` that also keeps what the upstream snapshot lists, then removes
/// `OUT/.incoming` leftovers older than `incoming_max_age` seconds. Returns the pool
/// files and the incoming files deleted.
///
/// # Errors
/// As [`publish::gc`] and [`upstream::snapshot_files`].
pub fn gc(
    lock: &RepoLock,
    fs: &Fs,
    repos: &[String],
    now: u64,
    incoming_max_age: u64,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let keep: BTreeSet<String> = upstream::snapshot_files(lock.out(), repos, &Limits::default())?;
    let pool = publish::gc(lock, fs, &|name: &str| keep.contains(name), now)?;
    let incoming = clean_incoming(lock, fs, now, incoming_max_age)?;
    Ok((pool, incoming))
}

/// A day: `gc` removes partial downloads older than this.
pub const INCOMING_MAX_AGE: u64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgfile::base64;

    #[test]
    fn base64_round_trips_and_refuses_what_is_not() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64(&data);
            assert_eq!(decode_base64(&text), Some(data.clone()), "{text}");
            assert_eq!(
                decode_base64(text.trim_end_matches('=')),
                Some(data),
                "unpadded {text}"
            );
        }
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8*"), None);
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("aG=="), Some(b"h".to_vec()));
        assert_eq!(decode_base64("aGVsbG8==="), None);
    }

    #[test]
    fn validators_are_sent_only_while_the_snapshot_is_the_recorded_file() {
        let sha = "ab".repeat(32);
        let record = FetchRecord {
            sha256: sha.clone(),
            size: 10,
            etag: Some("\"e\"".into()),
            last_modified: None,
            mtime_ns: None,
        };
        let other = "cd".repeat(32);
        let held = |on_disk| held_version(Some(&record), on_disk);
        assert_eq!(held(Some((10, &sha))), Some(&record));
        // Damaged (another SHA-256, or truncated) or missing: fetched unconditionally.
        assert_eq!(held(Some((10, &other))), None);
        assert_eq!(held(Some((9, &sha))), None);
        assert_eq!(held(None), None);
        // A snapshot from before records were kept: fetched unconditionally once.
        assert_eq!(held_version(None, Some((10, &sha))), None);
    }

    fn entry(name: &str, version: &str) -> DbEntry {
        DbEntry {
            filename: format!("{name}-{version}-x86_64.pkg.tar.zst"),
            name: name.into(),
            version: version.into(),
            csize: 10,
            sha256sum: "ab".repeat(32),
            arch: "x86_64".into(),
            ..DbEntry::default()
        }
    }

    fn db(entries: Vec<DbEntry>) -> SyncDb {
        SyncDb {
            entries,
            compression: None,
        }
    }

    #[test]
    fn a_files_database_must_list_the_packages_of_the_db() {
        let a = db(vec![entry("a", "1-1"), entry("b", "1-1")]);
        assert!(check_files_match("core", &a, &a.clone()).is_ok());
        let newer = db(vec![entry("a", "1-1"), entry("b", "2-1")]);
        let e = check_files_match("core", &a, &newer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`b` is 1-1 in `.db` and 2-1 in `.files`"), "{e}");
        let fewer = db(vec![entry("a", "1-1")]);
        let e = check_files_match("core", &a, &fewer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`.files` does not list `b-1-1`"), "{e}");
        let e = check_files_match("core", &fewer, &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`.db` does not list `b-1-1`"), "{e}");
    }

    #[test]
    fn the_plan_skips_pooled_files_refuses_a_different_one_and_dedups_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let fs = Fs::new();
        let lock = RepoLock::acquire(&fs, out, "test").unwrap();
        let pooled = entry("pooled", "1-1");
        crate::publish::pool_insert(&lock, &fs, &pooled.filename, b"0123456789").unwrap();
        crate::publish::pool_insert(&lock, &fs, &format!("{}.sig", pooled.filename), b"s").unwrap();
        let other = DbEntry {
            csize: 11,
            ..entry("other", "1-1")
        };
        crate::publish::pool_insert(&lock, &fs, &other.filename, b"0123456789").unwrap();
        let fresh = entry("fresh", "1-1");
        let twin = DbEntry {
            sha256sum: "cd".repeat(32),
            ..fresh.clone()
        };
        let repo = |name: &str, entries| Fetched {
            repo: name.into(),
            dir_url: format!("file:///m/{name}"),
            db: Database {
                bytes: Vec::new(),
                parsed: db(entries),
                record: FetchRecord {
                    sha256: String::new(),
                    size: 0,
                    etag: None,
                    last_modified: None,
                    mtime_ns: None,
                },
                not_modified: false,
            },
            files: None,
        };
        let odd = DbEntry {
            filename: "core.db".into(),
            ..entry("odd", "1-1")
        };
        let fetched = [
            repo("core", vec![pooled, other, fresh.clone(), odd]),
            repo("extra", vec![fresh, twin]),
        ];
        let plan = plan_downloads(out, &fetched, 7).unwrap();
        assert_eq!(plan.in_pool, 1);
        assert_eq!(
            plan.wants
                .iter()
                .map(|w| w.filename.as_str())
                .collect::<Vec<_>>(),
            ["fresh-1-1-x86_64.pkg.tar.zst"]
        );
        let fields: Vec<(&str, &str, &str)> = plan
            .rejected
            .iter()
            .map(|r| (r.repo.as_str(), r.name.as_str(), r.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("core", "other", FIELD_CSIZE),
                ("core", "odd", FIELD_FILENAME),
                ("extra", "fresh", FIELD_SHA256)
            ]
        );
        assert!(plan.rejected.iter().all(|r| r.at == 7));
    }
}
