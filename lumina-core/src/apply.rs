//! `lumina apply`'s package side: the real `pacman`, run like paru runs it.
//!
//! The binary, its configuration and database path are options ([`Pacman`]); with a system
//! root other than `/`, every pacman path is pointed inside it (`--root`, `--dbpath`,
//! `--config`, `--cachedir`, `--hookdir`, `--gpgdir`, `--logfile`), so a scratch root or a
//! system mounted for rescue is handled whole. Reading (`-Sl`, `-Sp`) runs as the user;
//! installing runs `pacman -S --needed --noconfirm` (Lumina has asked already), through
//! `sudo` when not root, as paru does.
//!
//! Before anything is installed, every package to install is checked against the sync
//! databases ([`unavailable`]): one that no repository has fails the whole run, by name.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::cmd::{self, Output};
use crate::error::Result;
use crate::root::{self, Root};

/// How to run pacman.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacman {
    /// The pacman binary (a name looked up in `PATH`, or a path).
    pub bin: PathBuf,
    /// The system root.
    pub root: Root,
    /// `--config FILE`; default: pacman's own (`/etc/pacman.conf`), or `ROOT/etc/pacman.conf`
    /// under another root.
    pub config: Option<PathBuf>,
    /// `--dbpath DIR`; default: `ROOT/var/lib/pacman`.
    pub dbpath: Option<PathBuf>,
    /// Run installs through this (`sudo`) when not root.
    pub sudo: PathBuf,
}

impl Pacman {
    /// pacman's database directory.
    pub fn dbpath(&self) -> PathBuf {
        self.dbpath
            .clone()
            .unwrap_or_else(|| self.root.join(root::PACMAN_DB))
    }

    fn elsewhere(&self) -> bool {
        self.root.path() != std::path::Path::new("/")
    }

    /// The options that point pacman at the root, database and configuration.
    pub fn base_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |k: &str, v: PathBuf| {
            a.push(k.into());
            a.push(v.into_os_string());
        };
        if self.elsewhere() {
            push("--root", self.root.path().to_path_buf());
            push("--dbpath", self.dbpath());
            push(
                "--config",
                self.config
                    .clone()
                    .unwrap_or_else(|| self.root.join("/etc/pacman.conf")),
            );
            push("--cachedir", self.root.join("/var/cache/pacman/pkg"));
            push("--hookdir", self.root.join("/etc/pacman.d/hooks"));
            push("--gpgdir", self.root.join("/etc/pacman.d/gnupg"));
            push("--logfile", self.root.join("/var/log/pacman.log"));
        } else {
            if let Some(d) = &self.dbpath {
                push("--dbpath", d.clone());
            }
            if let Some(c) = &self.config {
                push("--config", c.clone());
            }
        }
        a
    }

    /// The argv that installs `names`: `[sudo] pacman ... -S --needed --noconfirm -- NAMES`.
    pub fn install_argv(&self, names: &[String], root: bool) -> (PathBuf, Vec<OsString>) {
        let mut args = self.base_args();
        args.extend(["-S", "--needed", "--noconfirm", "--"].map(OsString::from));
        args.extend(names.iter().map(OsString::from));
        if root {
            (self.bin.clone(), args)
        } else {
            let mut a = vec![self.bin.clone().into_os_string()];
            a.extend(args);
            (self.sudo.clone(), a)
        }
    }

    /// Every package name the sync databases hold (`pacman -Sl`).
    ///
    /// # Errors
    /// [`crate::Error::Command`] when pacman fails.
    pub fn sync_names(&self) -> Result<BTreeSet<String>> {
        let mut args = self.base_args();
        args.push("-Sl".into());
        let out = cmd::run(&self.bin, args)?;
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
            .collect())
    }

    /// Can pacman resolve `name` (a package, a provider or a group) from the sync
    /// databases? (`pacman -Sp --print-format %n NAME`)
    pub fn resolves(&self, name: &str) -> bool {
        let mut args = self.base_args();
        args.extend(["-Sp", "--print-format", "%n", "--"].map(OsString::from));
        args.push(name.into());
        cmd::run(&self.bin, args).is_ok()
    }

    /// Install `names` (as root, or through `sudo`).
    ///
    /// # Errors
    /// [`crate::Error::Command`] when pacman (or sudo) fails.
    pub fn install(&self, names: &[String]) -> Result<Output> {
        let (program, args) = self.install_argv(names, nix::unistd::geteuid().is_root());
        cmd::run(&program, args)
    }
}

/// The packages of `wanted` that no repository has: first by name in the sync databases'
/// list (pure), then each remaining one asked of pacman, which also resolves providers and
/// groups.
pub fn unavailable(
    wanted: &[String],
    sync: &BTreeSet<String>,
    resolves: impl Fn(&str) -> bool,
) -> Vec<String> {
    wanted
        .iter()
        .filter(|n| !sync.contains(*n) && !resolves(n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacman(root: &str) -> Pacman {
        Pacman {
            bin: "pacman".into(),
            root: Root::new(root),
            config: None,
            dbpath: None,
            sudo: "sudo".into(),
        }
    }

    fn show(a: &[OsString]) -> String {
        a.iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn another_root_gets_every_path_inside_it() {
        let (prog, args) = pacman("/mnt").install_argv(&["git".into()], true);
        assert_eq!(prog, PathBuf::from("pacman"));
        assert_eq!(
            show(&args),
            "--root /mnt --dbpath /mnt/var/lib/pacman --config /mnt/etc/pacman.conf --cachedir \
             /mnt/var/cache/pacman/pkg --hookdir /mnt/etc/pacman.d/hooks --gpgdir \
             /mnt/etc/pacman.d/gnupg --logfile /mnt/var/log/pacman.log -S --needed --noconfirm \
             -- git"
        );
    }

    #[test]
    fn the_running_system_uses_pacmans_defaults_and_sudo_when_not_root() {
        let (prog, args) = pacman("/").install_argv(&["git".into(), "zsh".into()], false);
        assert_eq!(prog, PathBuf::from("sudo"));
        assert_eq!(show(&args), "pacman -S --needed --noconfirm -- git zsh");
        let mut p = pacman("/");
        p.config = Some("/etc/pacman-stable.conf".into());
        p.bin = "/usr/local/bin/pacman".into();
        let (prog, args) = p.install_argv(&["git".into()], true);
        assert_eq!(prog, PathBuf::from("/usr/local/bin/pacman"));
        assert_eq!(
            show(&args),
            "--config /etc/pacman-stable.conf -S --needed --noconfirm -- git"
        );
        assert_eq!(p.dbpath(), PathBuf::from("/var/lib/pacman"));
    }

    #[test]
    fn unavailable_packages_are_the_ones_no_repository_resolves() {
        let sync: BTreeSet<String> = ["git", "zsh"].iter().map(|s| (*s).to_owned()).collect();
        let wanted: Vec<String> = ["git", "gnome", "nosuch"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        // `gnome` is a group pacman resolves; `nosuch` is nowhere.
        assert_eq!(unavailable(&wanted, &sync, |n| n == "gnome"), ["nosuch"]);
    }
}
