//! snapper, for systems that already use it: Lumina asks snapper for a pre/post pair the way
//! snap-pac does (`--type pre|post --print-number --cleanup-algorithm number`), so tools
//! that read snapper's snapshots (grub-btrfs, limine-snapper-sync) keep working. A subject
//! is a snapper config; the backend id is `CONFIG:NUMBER`.
//!
//! snapper runs without D-Bus (`--no-dbus`, as root): inside pacman's hook chroot there is no
//! bus, and `--root` (for `lumina --root`) only works that way.

use std::path::PathBuf;

use super::{Backend, Kind, Part, RollbackReport};
use crate::cmd;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::root::Root;

/// The snapper backend.
#[derive(Debug, Clone)]
pub struct Snapper {
    root: Root,
    snapper: PathBuf,
    configs: Vec<String>,
}

fn split(backend_id: &str) -> Result<(&str, &str)> {
    match backend_id.split_once(':') {
        Some((c, n)) if !c.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
            Ok((c, n))
        }
        _ => Err(Error::Snapshot(format!(
            "snapper: `{backend_id}` is not CONFIG:NUMBER"
        ))),
    }
}

impl Snapper {
    /// The backend for `config` on `root`.
    pub fn new(root: Root, config: &Config) -> Self {
        Self {
            root,
            snapper: config.tools.snapper.clone(),
            configs: config.snapper_configs.clone(),
        }
    }

    fn run(&self, config: &str, args: &[&str]) -> Result<cmd::Output> {
        let mut argv: Vec<String> = vec!["--no-dbus".into()];
        if self.root.path() != std::path::Path::new("/") {
            argv.push("--root".into());
            argv.push(self.root.path().display().to_string());
        }
        argv.extend(["-c".into(), config.to_owned()]);
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        cmd::run(&self.snapper, argv)
    }

    /// The subvolume a snapper config manages (`SUBVOLUME=` in its config file).
    fn subvolume(&self, config: &str) -> Option<PathBuf> {
        let text =
            crate::fs::read(&self.root.join(format!("/etc/snapper/configs/{config}"))).ok()?;
        String::from_utf8_lossy(&text).lines().find_map(|l| {
            let v = l.strip_prefix("SUBVOLUME=")?;
            Some(PathBuf::from(v.trim().trim_matches('"')))
        })
    }
}

impl Backend for Snapper {
    fn name(&self) -> &'static str {
        "snapper"
    }

    fn subjects(&self) -> Vec<String> {
        self.configs.clone()
    }

    fn create(
        &self,
        config: &str,
        id: u64,
        kind: Kind,
        description: &str,
        pre: Option<&str>,
    ) -> Result<String> {
        let userdata = format!("lumina={id}");
        // snap-pac's shape: one argument list, the type (and the pre's number) varying.
        let mut args = vec!["create", "--type", kind.as_str()];
        let pre_number;
        match (kind, pre) {
            (Kind::Post, Some(pre)) => {
                pre_number = split(pre)?.1;
                args.extend(["--pre-number", pre_number]);
            }
            (Kind::Post, None) => args[2] = "single",
            _ => {}
        }
        args.extend([
            "--print-number",
            "--cleanup-algorithm",
            "number",
            "--description",
            description,
            "--userdata",
            &userdata,
        ]);
        let out = self.run(config, &args)?;
        let n = out.stdout.trim();
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Snapshot(format!(
                "snapper printed `{n}` instead of a snapshot number"
            )));
        }
        Ok(format!("{config}:{n}"))
    }

    fn delete(&self, backend_id: &str) -> Result<()> {
        let (c, n) = split(backend_id)?;
        if !self.exists(backend_id)? {
            return Ok(());
        }
        self.run(c, &["delete", n]).map(|_| ())
    }

    fn exists(&self, backend_id: &str) -> Result<bool> {
        let (c, n) = split(backend_id)?;
        let out = self.run(c, &["--csvout", "list", "--columns", "number"])?;
        Ok(out.stdout.lines().any(|l| l.trim() == n))
    }

    fn files(&self, backend_id: &str) -> Option<PathBuf> {
        let (c, n) = split(backend_id).ok()?;
        let sub = self.subvolume(c)?;
        Some(
            self.root
                .join(sub.join(".snapshots").join(n).join("snapshot")),
        )
    }

    fn rollback(&self, part: &Part, dry_run: bool) -> Result<RollbackReport> {
        let (c, n) = split(&part.backend_id)?;
        // `classic`: snapper's rollback for a writable root (Arch); snapper cannot always
        // detect it when `/` is not its `.snapshots`-layout default (it then refuses).
        let mut report = RollbackReport {
            actions: vec![
                format!("snapper -c {c} --ambit classic rollback {n}"),
                "clear a stale pacman lock (`/var/lib/pacman/db.lck`) in the new default \
                 subvolume"
                    .into(),
            ],
            destroys: Vec::new(),
            reboot: true,
        };
        if dry_run {
            return Ok(report);
        }
        let out = self.run(c, &["--ambit", "classic", "rollback", "--print-number", n])?;
        let new = out.stdout.trim().lines().last().unwrap_or_default().trim();
        if new.is_empty() || !new.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Snapshot(format!(
                "snapper rollback printed `{new}` instead of the new snapshot's number"
            )));
        }
        report.actions.truncate(1);
        let subvolume = self.subvolume(c).unwrap_or_else(|| PathBuf::from("/"));
        let lock = self
            .root
            .join(subvolume.join(format!(".snapshots/{new}/snapshot/var/lib/pacman/db.lck")));
        if crate::fs::lstat(&lock)?.is_some() {
            crate::fs::Fs::new().unlink(&lock)?;
            report.actions.push(format!(
                "removed a stale `/var/lib/pacman/db.lck` from snapshot {new}"
            ));
        }
        report
            .actions
            .push(format!("snapper made snapshot {new} the default subvolume"));
        Ok(report)
    }
}
