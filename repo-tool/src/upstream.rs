//! The upstream snapshot: what `sync` last fetched and verified, and what `promote` plans
//! from. This module is the contract between the two commands.
//!
//! ```text
//! OUT/.upstream/
//!   core.db          the exact bytes of the last upstream `core.db` that passed
//!   core.files       validation (`syncdb::read`), and its `.files` when upstream has one
//!   state.json       when each repository was synced, the entries sync rejected, and
//!                    what each snapshot database is (SHA-256, size, the server's
//!                    `ETag`/`Last-Modified`): the next sync asks for it conditionally
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
//! - `state.json` is written after the snapshot databases it describes, atomically; a
//!   [`FetchRecord`] is trusted only while the snapshot file still has its size and SHA-256.

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

/// What one snapshot database is, and how upstream identified the version it was fetched
/// as: what the next sync sends as `If-None-Match` / `If-Modified-Since` (for a `file://`
/// mirror: the source file's mtime and size, compared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRecord {
    /// The SHA-256 of the snapshot file, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The `ETag` the server sent with it, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent with it, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// A `file://` mirror's file: its mtime, nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
}

/// The [`FetchRecord`]s of one repository's snapshot databases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoFetch {
    /// `$repo.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<FetchRecord>,
    /// `$repo.files`, when upstream has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FetchRecord>,
}

/// The `fetch` section of `state.json`: each repository's [`RepoFetch`]. A state file
/// written before it existed has none (every database is then fetched unconditionally
/// once). Kept beside [`SyncState`] rather than in it so that the type's existing users
/// (`promote`, `status`) and their struct literals are unchanged.
pub type FetchState = BTreeMap<String, RepoFetch>;

/// `state.json` as stored: [`SyncState`]'s fields and the `fetch` section.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    lastsync: u64,
    repos: BTreeMap<String, RepoState>,
    rejected: Vec<Rejected>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    fetch: FetchState,
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
        Ok(Self::load_with_fetch(out)?.map(|(state, _)| state))
    }

    /// [`SyncState::load`], with the `fetch` section (empty when the file has none).
    ///
    /// # Errors
    /// As [`SyncState::load`].
    pub fn load_with_fetch(out: &Path) -> Result<Option<(Self, FetchState)>, Error> {
        let path = state_path(out);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(lumina_core::Error::io(&path, "reading the sync state", e).into()),
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| Error::Publish {
            out: out.to_path_buf(),
            message: format!("{} is not a sync state file: {e}", path.display()),
        })?;
        if file.format != STATE_FORMAT {
            return Err(Error::Publish {
                out: out.to_path_buf(),
                message: format!(
                    "{} has format {}; this lumina-repo reads format {STATE_FORMAT}",
                    path.display(),
                    file.format
                ),
            });
        }
        let state = Self {
            format: file.format,
            lastsync: file.lastsync,
            repos: file.repos,
            rejected: file.rejected,
        };
        Ok(Some((state, file.fetch)))
    }

    /// Write it to `OUT/.upstream/state.json`, atomically, after making durable every
    /// directory `fs` changed (the snapshot and pool entries it describes). Without a
    /// `fetch` section: the next sync fetches every database unconditionally once.
    ///
    /// # Errors
    /// [`Error::Fs`].
    pub fn save(&self, fs: &Fs, lock: &RepoLock) -> Result<(), Error> {
        self.save_with_fetch(&FetchState::new(), fs, lock)
    }

    /// [`SyncState::save`], with the `fetch` section (left out of the file when empty).
    ///
    /// # Errors
    /// [`Error::Fs`].
    pub fn save_with_fetch(
        &self,
        fetch: &FetchState,
        fs: &Fs,
        lock: &RepoLock,
    ) -> Result<(), Error> {
        let out = lock.out();
        let file = StateFile {
            format: self.format,
            lastsync: self.lastsync,
            repos: self.repos.clone(),
            rejected: self.rejected.clone(),
            fetch: fetch.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Publish {
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

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{
  "format": 1,
  "lastsync": 7,
  "repos": { "core": { "fetched_at": 7, "db_sha256": "ab", "entries": 2 } },
  "rejected": []
}"#;

    fn write(dir: &Path, text: &str) {
        let fs = Fs::new();
        fs.create_dir_all(&snapshot_dir(dir)).unwrap();
        fs.write_atomic(&state_path(dir), text.as_bytes(), false)
            .unwrap();
    }

    #[test]
    fn a_state_file_without_a_fetch_section_loads_with_none() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), OLD);
        let (state, fetch) = SyncState::load_with_fetch(dir.path()).unwrap().unwrap();
        assert_eq!(state.repos["core"].entries, 2);
        assert!(fetch.is_empty());
        assert_eq!(SyncState::load(dir.path()).unwrap(), Some(state));
    }

    #[test]
    fn the_fetch_section_round_trips_and_refuses_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::new();
        let lock = RepoLock::acquire(&fs, dir.path(), "test").unwrap();
        let state = SyncState {
            format: STATE_FORMAT,
            lastsync: 9,
            repos: BTreeMap::new(),
            rejected: Vec::new(),
        };
        let record = FetchRecord {
            sha256: "cd".repeat(32),
            size: 42,
            etag: Some("W/\"x\"".into()),
            last_modified: Some("Tue, 14 Nov 2023 22:13:20 GMT".into()),
            mtime_ns: None,
        };
        let fetch: FetchState = [(
            "core".to_owned(),
            RepoFetch {
                db: Some(record.clone()),
                files: None,
            },
        )]
        .into();
        state.save_with_fetch(&fetch, &fs, &lock).unwrap();
        let text = std::fs::read_to_string(state_path(dir.path())).unwrap();
        assert!(
            !text.contains("mtime_ns") && !text.contains("\"files\""),
            "{text}"
        );
        assert_eq!(
            SyncState::load_with_fetch(dir.path()).unwrap(),
            Some((state.clone(), fetch))
        );
        // `save` leaves the section out: the file is what this tool wrote before it.
        state.save(&fs, &lock).unwrap();
        let text = std::fs::read_to_string(state_path(dir.path())).unwrap();
        assert!(!text.contains("fetch"), "{text}");
        drop(lock);

        let bad = OLD.replace(
            "\"rejected\": []",
            "\"rejected\": [], \"fetch\": { \"core\": { \"db\": { \"sha256\": \"ab\", \"size\": 1, \"etags\": \"x\" } } }",
        );
        write(dir.path(), &bad);
        let e = SyncState::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unknown field `etags`"), "{e}");
    }
}
