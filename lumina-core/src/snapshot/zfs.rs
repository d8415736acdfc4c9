//! ZFS snapshots through the `zfs` command (libzfs has no stable ABI; every ZFS tool does
//! this). A subject is a dataset; the backend id is `DATASET@lumina-000042-pre`.
//!
//! Rollback runs `zfs rollback -r`, which destroys every later snapshot of the dataset:
//! the report lists them first, and `lumina snapshot rollback` only proceeds with `--yes`.
//! Unlike btrfs and snapper (a new default subvolume), it rewinds the live dataset in place,
//! and with it what else lives there: Lumina's records and pacman's lock, which a pre
//! snapshot (taken during a transaction) holds. Both are put back as they must be after
//! the rollback: the records of the snapshots that are left, and no stale lock.

use std::path::PathBuf;

use super::store::Store;
use super::{Backend, Kind, Meta, Part, RollbackReport};
use crate::cmd;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::root::{self, Root};

/// The ZFS backend.
#[derive(Debug, Clone)]
pub struct Zfs {
    root: Root,
    zfs: PathBuf,
    datasets: Vec<String>,
}

impl Zfs {
    /// The backend for `config`. Without `datasets`, the dataset mounted at the root is used.
    ///
    /// # Errors
    /// [`Error::Snapshot`] when no dataset is configured or mounted at the root.
    pub fn new(root: Root, config: &Config) -> Result<Self> {
        let zfs = config.tools.zfs.clone();
        let mut datasets = config.datasets.clone();
        if datasets.is_empty() {
            let out = cmd::run(&zfs, ["list", "-H", "-o", "name,mountpoint"])?;
            let want = root.path().display().to_string();
            datasets = out
                .stdout
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .filter(|(_, mp)| *mp == want)
                .map(|(n, _)| n.to_owned())
                .collect();
            if datasets.is_empty() {
                return Err(Error::Snapshot(format!(
                    "zfs: no dataset is mounted at `{want}`; set `datasets:` in /etc/lumina/config.yaml"
                )));
            }
        }
        Ok(Self {
            root,
            zfs,
            datasets,
        })
    }

    fn snapshots_of(&self, dataset: &str) -> Result<Vec<String>> {
        let out = cmd::run(
            &self.zfs,
            [
                "list", "-H", "-t", "snapshot", "-o", "name", "-s", "creation", "-r", dataset,
            ],
        )?;
        let prefix = format!("{dataset}@");
        Ok(out
            .stdout
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_owned)
            .collect())
    }
}

fn check_id(backend_id: &str) -> Result<(&str, &str)> {
    match backend_id.split_once('@') {
        Some((ds, snap)) if !ds.is_empty() && !snap.is_empty() => Ok((ds, snap)),
        // Never hand `zfs destroy` a dataset name.
        _ => Err(Error::Snapshot(format!(
            "zfs: `{backend_id}` is not a snapshot name"
        ))),
    }
}

impl Backend for Zfs {
    fn name(&self) -> &'static str {
        "zfs"
    }

    fn subjects(&self) -> Vec<String> {
        self.datasets.clone()
    }

    fn create(
        &self,
        dataset: &str,
        id: u64,
        kind: Kind,
        _: &str,
        _: Option<&str>,
    ) -> Result<String> {
        let snap = format!("{dataset}@{}", super::name(id, kind));
        cmd::run(&self.zfs, ["snapshot", snap.as_str()])?;
        Ok(snap)
    }

    fn delete(&self, backend_id: &str) -> Result<()> {
        check_id(backend_id)?;
        if !self.exists(backend_id)? {
            return Ok(());
        }
        cmd::run(&self.zfs, ["destroy", backend_id]).map(|_| ())
    }

    fn exists(&self, backend_id: &str) -> Result<bool> {
        let (ds, _) = check_id(backend_id)?;
        Ok(self.snapshots_of(ds)?.iter().any(|s| s == backend_id))
    }

    fn files(&self, _: &str) -> Option<PathBuf> {
        // Kernel ZFS shows a snapshot at `MOUNTPOINT/.zfs/snapshot/NAME`; zfs-fuse, the ZFS
        // the end-to-end tests run, has no `.zfs` directory (not even with `snapdir=visible`),
        // so that path is unproven and none is given (read a snapshot with `zfs clone`).
        None
    }

    fn rollback(&self, part: &Part, dry_run: bool) -> Result<RollbackReport> {
        let (ds, _) = check_id(&part.backend_id)?;
        let all = self.snapshots_of(ds)?;
        let Some(at) = all.iter().position(|s| *s == part.backend_id) else {
            return Err(Error::Snapshot(format!(
                "zfs: the snapshot `{}` is gone",
                part.backend_id
            )));
        };
        let mut report = RollbackReport {
            actions: vec![
                format!("zfs rollback -r {}", part.backend_id),
                "clear a stale pacman lock (`/var/lib/pacman/db.lck`) the snapshot restores".into(),
            ],
            destroys: all[at + 1..].to_vec(),
            reboot: false,
        };
        if dry_run {
            return Ok(report);
        }
        let store = Store::new(&self.root);
        let records = store.list()?;
        let lock = self.root.join(root::PACMAN_DB).join("db.lck");
        let locked = crate::fs::lstat(&lock)?.is_some();
        cmd::run(&self.zfs, ["rollback", "-r", part.backend_id.as_str()])?;
        keep_records(&store, records, &report.destroys)?;
        if !locked && crate::fs::lstat(&lock)?.is_some() {
            Fs::new().unlink(&lock)?;
            report
                .actions
                .push("removed a stale `/var/lib/pacman/db.lck`".into());
        }
        Ok(report)
    }
}

/// After `zfs rollback -r`, Lumina's records are those from before it (`records`), less the
/// snapshots it destroyed: a record loses those parts, and goes when none is left. Records
/// that the rollback rewound away are written back; records it brought back (of snapshots
/// deleted after the one rolled back to) are removed.
fn keep_records(store: &Store, records: Vec<Meta>, destroyed: &[String]) -> Result<()> {
    let fs = Fs::new();
    let mut kept = Vec::new();
    for mut m in records {
        let had = m.parts.len();
        m.parts.retain(|p| !destroyed.contains(&p.backend_id));
        if had > 0 && m.parts.is_empty() {
            store.remove(m.id, &fs)?;
        } else {
            kept.push(m);
        }
    }
    for m in store.list()? {
        if !kept.iter().any(|k| k.id == m.id) {
            store.remove(m.id, &fs)?;
        }
    }
    for m in &kept {
        store.save(m, &fs)?;
    }
    Ok(())
}
