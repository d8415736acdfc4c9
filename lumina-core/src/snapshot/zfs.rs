//! ZFS snapshots through the `zfs` command (libzfs has no stable ABI; every ZFS tool does
//! this). A subject is a dataset; the backend id is `DATASET@lumina-000042-pre`.
//!
//! Rollback runs `zfs rollback -r`, which destroys every later snapshot of the dataset:
//! the report lists them first, and `lumina snapshot rollback` only proceeds with `--yes`.

use std::path::PathBuf;

use super::{Backend, Kind, Part, RollbackReport};
use crate::cmd;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::root::Root;

/// The ZFS backend.
#[derive(Debug, Clone)]
pub struct Zfs {
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
        Ok(Self { zfs, datasets })
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
        let report = RollbackReport {
            actions: vec![format!("zfs rollback -r {}", part.backend_id)],
            destroys: all[at + 1..].to_vec(),
            reboot: false,
        };
        if !dry_run {
            cmd::run(&self.zfs, ["rollback", "-r", part.backend_id.as_str()])?;
        }
        Ok(report)
    }
}
