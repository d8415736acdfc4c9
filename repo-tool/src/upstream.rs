//! The upstream snapshot: what `sync` last fetched and verified, and what `promote` plans
//! from. This module is the contract between the two commands.
//!
//! ```text
//! OUT/.upstream/
//!   core.db          the exact bytes of the last upstream `core.db` that passed
//!   core.files       validation (`syncdb::read`), and its `.files` when upstream has one
//!   state.json       when each repository was synced, and the entries sync rejected
//! OUT/.pool/NAME, NAME.sig
//!                    only package files whose SHA-256 matched their upstream entry and
//!                    whose signature verified against the upstream keyring
//! OUT/.incoming/     sync's partial downloads; never read by anything else
//! ```
//!
//! Invariants `sync` keeps and `promote` relies on:
//! - a snapshot database is replaced atomically (`Fs::write_atomic`), and only by one that
//!   parsed and validated whole;
//! - a file is in the pool only if it was verified; so a candidate whose file (or
//!   signature) is not in the pool is not publishable yet, and `promote` holds it;
//! - `state.json` is written after the snapshot databases it describes, atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::lock::RepoLock;
use crate::syncdb::{self, Limits, SyncDb};

/// The snapshot directory, relative to the output directory.
pub const DIR: &str = ".upstream";
/// Sync's download directory, relative to the output directory.
pub const INCOMING: &str = ".incoming";
/// The state file inside [`DIR`].
pub const STATE: &str = "state.json";
/// The state format this tool reads and writes.
pub const STATE_FORMAT: u32 = 1;

/// `OUT/.upstream`.
#[must_use]
pub fn snapshot_dir(out: &Path) -> PathBuf {
    out.join(DIR)
}

/// `OUT/.upstream/REPO.db`.
#[must_use]
pub fn db_path(out: &Path, repo: &str) -> PathBuf {
    snapshot_dir(out).join(format!("{repo}.db"))
}

/// `OUT/.upstream/REPO.files`.
#[must_use]
pub fn files_path(out: &Path, repo: &str) -> PathBuf {
    snapshot_dir(out).join(format!("{repo}.files"))
}

/// `OUT/.upstream/state.json`.
#[must_use]
pub fn state_path(out: &Path) -> PathBuf {
    snapshot_dir(out).join(STATE)
}

/// One repository's last successful sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoState {
    /// When its database was fetched, seconds since the Unix epoch.
    pub fetched_at: u64,
    /// The SHA-256 of the snapshot database, lowercase hex.
    pub db_sha256: String,
    /// How many entries it lists.
    pub entries: usize,
}

/// An upstream entry sync refused: never in the pool, so never published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    /// The repository.
    pub repo: String,
    /// The package name.
    pub name: String,
    /// The version.
    pub version: String,
    /// `%FILENAME%`.
    pub filename: String,
    /// The field or file at fault (`%SHA256SUM%`, `signature`, `%CSIZE%`, ...).
    pub field: String,
    /// What is wrong, in one sentence.
    pub problem: String,
    /// When it was found, seconds since the Unix epoch.
    pub at: u64,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// When the last complete sync finished (`lastsync` of the next publish).
    pub lastsync: u64,
    /// Each synced repository.
    pub repos: BTreeMap<String, RepoState>,
    /// The entries of the current snapshot that failed verification.
    pub rejected: Vec<Rejected>,
}

impl SyncState {
    /// Reads `OUT/.upstream/state.json`; `None` when nothing was synced yet.
    ///
    /// # Errors
    /// [`Error::Fs`] when it cannot be read; [`Error::Publish`] when it is not a state
    /// file of this format (it is left as it is).
    pub fn load(out: &Path) -> Result<Option<Self>, Error> {
        let path = state_path(out);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(lumina_core::Error::io(&path, "reading the sync state", e).into()),
        };
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Publish {
            out: out.to_path_buf(),
            message: format!("{} is not a sync state file: {e}", path.display()),
        })?;
        if state.format != STATE_FORMAT {
            return Err(Error::Publish {
                out: out.to_path_buf(),
                message: format!(
                    "{} has format {}; this lumina-repo reads format {STATE_FORMAT}",
                    path.display(),
                    state.format
                ),
            });
        }
        Ok(Some(state))
    }

    /// Write it to `OUT/.upstream/state.json`, atomically, after making durable every
    /// directory `fs` changed (the snapshot and pool entries it describes).
    ///
    /// # Errors
    /// [`Error::Fs`].
    pub fn save(&self, fs: &Fs, lock: &RepoLock) -> Result<(), Error> {
        let out = lock.out();
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Publish {
            out: out.to_path_buf(),
            message: format!("cannot serialize the sync state: {e}"),
        })?;
        bytes.push(b'\n');
        fs.create_dir_all(&snapshot_dir(out))?;
        fs.sync_touched_dirs_and_write_atomic(&state_path(out), &bytes, false)?;
        Ok(())
    }
}

/// Reads the snapshot database of each of `repos`, in order.
///
/// # Errors
/// [`Error::Fs`] when one is missing (run `lumina-repo sync` first) or unreadable;
/// [`Error::InvalidDatabase`] when one does not validate.
pub fn load_dbs(
    out: &Path,
    repos: &[String],
    limits: &Limits,
) -> Result<Vec<(String, SyncDb)>, Error> {
    repos
        .iter()
        .map(|repo| Ok((repo.clone(), syncdb::read(&db_path(out, repo), limits)?)))
        .collect()
}

/// The package file names (`%FILENAME%`) the snapshot databases of `repos` list: files
/// `sync` verified into the pool that `promote` may still publish, so `gc` keeps them. A
/// repository not synced yet lists nothing.
///
/// # Errors
/// [`Error::InvalidDatabase`] when a snapshot does not validate; [`Error::Fs`].
pub fn snapshot_files(
    out: &Path,
    repos: &[String],
    limits: &Limits,
) -> Result<BTreeSet<String>, Error> {
    let mut names = BTreeSet::new();
    for repo in repos {
        let path = db_path(out, repo);
        if lumina_core::fs::lstat(&path)?.is_none() {
            continue;
        }
        names.extend(
            syncdb::read(&path, limits)?
                .entries
                .into_iter()
                .map(|e| e.filename),
        );
    }
    Ok(names)
}
