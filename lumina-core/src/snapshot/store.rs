//! Lumina's snapshot records: one JSON file per snapshot in `/var/lib/lumina/snapshots/`,
//! written atomically. Only snapshots with a record here are Lumina's.

use std::path::PathBuf;

use super::Meta;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::root::{self, Root};

/// The store of one root.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of `root`.
    pub fn new(root: &Root) -> Self {
        Self {
            dir: root.join(root::SNAPSHOT_DB),
        }
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:06}.json"))
    }

    /// Every record, oldest first.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Record`] for an unreadable record.
    pub fn list(&self) -> Result<Vec<Meta>> {
        if crate::fs::stat(&self.dir)?.is_none() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (name, is_dir) in crate::fs::read_dir(&self.dir)? {
            let name = name.to_string_lossy();
            if is_dir || !name.ends_with(".json") {
                continue;
            }
            let p = self.dir.join(&*name);
            let meta: Meta =
                serde_json::from_slice(&crate::fs::read(&p)?).map_err(|e| Error::Record {
                    path: p.clone(),
                    message: e.to_string(),
                })?;
            out.push(meta);
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// One record.
    ///
    /// # Errors
    /// [`Error::Snapshot`] when there is no such snapshot.
    pub fn get(&self, id: u64) -> Result<Meta> {
        let p = self.path(id);
        if crate::fs::stat(&p)?.is_none() {
            return Err(Error::Snapshot(format!(
                "no Lumina snapshot with id {id} (see `lumina snapshot list`)"
            )));
        }
        serde_json::from_slice(&crate::fs::read(&p)?).map_err(|e| Error::Record {
            path: p,
            message: e.to_string(),
        })
    }

    /// The next free id.
    ///
    /// # Errors
    /// As [`Store::list`].
    pub fn next_id(&self) -> Result<u64> {
        // From the file names alone (`NNNNNN.json`): the hooks ask on every transaction,
        // and parsing every record to learn the largest id is work done twice (prune
        // reads them all anyway).
        if crate::fs::stat(&self.dir)?.is_none() {
            return Ok(1);
        }
        let newest = crate::fs::read_dir(&self.dir)?
            .into_iter()
            .filter(|(_, is_dir)| !is_dir)
            .filter_map(|(name, _)| name.to_str()?.strip_suffix(".json")?.parse::<u64>().ok())
            .max();
        Ok(newest.map_or(1, |id| id + 1))
    }

    /// Write a record (atomically, root-only readable directory).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, meta: &Meta, fs: &Fs) -> Result<()> {
        let bytes = self.encode(meta, fs)?;
        fs.write_atomic(&self.path(meta.id), &bytes, false)
    }

    /// Write the record of a snapshot about to be taken, atomically but without fsyncs:
    /// the snapshot makes it durable (see `Backend::commit_covers`).
    ///
    /// # Errors
    /// [`Error::Record`]; [`Error::Io`].
    pub fn save_ahead(&self, meta: &Meta, fs: &Fs) -> Result<()> {
        let bytes = self.encode(meta, fs)?;
        fs.write_replace(&self.path(meta.id), &bytes, false)
    }

    /// The directory of the records.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn encode(&self, meta: &Meta, fs: &Fs) -> Result<Vec<u8>> {
        if crate::fs::stat(&self.dir)?.is_none() {
            fs.create_dir_all(&self.dir)?;
        }
        let mut bytes = serde_json::to_vec_pretty(meta).map_err(|e| Error::Record {
            path: self.path(meta.id),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Remove a record.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn remove(&self, id: u64, fs: &Fs) -> Result<()> {
        let p = self.path(id);
        if crate::fs::lstat(&p)?.is_some() {
            fs.unlink(&p)?;
        }
        Ok(())
    }
}
