//! Throwaway GnuPG homes: a signing key without a passphrase, and a keyring shaped like
//! pacman's (`pacman-key --init`: a local master key that locally signs the keys it
//! trusts). Every gpg-agent started for a home is stopped when the home is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `gpg --batch --homedir HOME ARGS`; returns its output.
pub fn gpg(home: &Path, args: &[&str]) -> Output {
    Command::new("gpg")
        .arg("--batch")
        .arg("--homedir")
        .arg(home)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpg: {e}"))
}

fn gpg_ok(home: &Path, args: &[&str]) -> Output {
    let out = gpg(home, args);
    assert!(
        out.status.success(),
        "gpg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A GnuPG home in a temporary directory, its agent stopped on drop.
#[derive(Debug)]
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn empty() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lumina-gpg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Self { dir }
    }

    /// The GnuPG home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Generate a passphrase-less ed25519 signing key for `uid`; returns its fingerprint.
    fn generate(&self, uid: &str) -> String {
        gpg_ok(
            self.path(),
            &[
                "--passphrase",
                "",
                "--pinentry-mode",
                "loopback",
                "--quick-gen-key",
                uid,
                "ed25519",
                "sign",
                "never",
            ],
        );
        let list = gpg_ok(self.path(), &["--with-colons", "--list-secret-keys", uid]);
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_owned())
            .unwrap_or_else(|| panic!("no fingerprint for {uid}"))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // Stop the gpg-agent (and anything else) gpg started for this home.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// A signing key in its own home.
#[derive(Debug)]
pub struct Key {
    /// The home holding the secret key.
    pub home: Home,
    /// The key's fingerprint.
    pub fpr: String,
}

impl Key {
    /// A new key for `uid` in a new home.
    pub fn new(uid: &str) -> Self {
        let home = Home::empty();
        let fpr = home.generate(uid);
        Self { home, fpr }
    }

    /// The public key, binary.
    pub fn export(&self) -> Vec<u8> {
        gpg_ok(self.home.path(), &["--export", &self.fpr]).stdout
    }

    /// The public key, armored, in a file in the home.
    pub fn export_file(&self) -> PathBuf {
        let p = self.home.path().join("public.asc");
        let out = gpg_ok(self.home.path(), &["--armor", "--export", &self.fpr]);
        std::fs::write(&p, out.stdout).unwrap_or_else(|e| panic!("{e}"));
        p
    }
}

/// A keyring shaped like pacman's `/etc/pacman.d/gnupg` after `pacman-key --init`:
/// `pubring.gpg`, a local master key (ultimately trusted), and `gpg.conf` with
/// `lock-never` so that `pacman-key --verify` runs without root.
#[derive(Debug)]
pub struct Keyring {
    home: Home,
}

impl Keyring {
    /// An empty keyring with its master key.
    pub fn new() -> Self {
        let home = Home::empty();
        std::fs::write(home.path().join("pubring.gpg"), b"").unwrap_or_else(|e| panic!("{e}"));
        home.generate("Pacman Keyring Master Key <pacman@localhost>");
        std::fs::write(
            home.path().join("gpg.conf"),
            "no-permission-warning\nlock-never\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Self { home }
    }

    /// The GnuPG home.
    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// Import `key`'s public key without trusting it (`pacman-key --add`).
    pub fn add(&self, key: &Key) {
        let file = self.path().join("import.gpg");
        std::fs::write(&file, key.export()).unwrap_or_else(|e| panic!("{e}"));
        gpg_ok(self.path(), &["--import", &file.to_string_lossy()]);
    }

    /// Locally sign `key` with the master key (`pacman-key --lsign-key`): now trusted.
    pub fn lsign(&self, key: &Key) {
        gpg_ok(
            self.path(),
            &[
                "--passphrase",
                "",
                "--pinentry-mode",
                "loopback",
                "--yes",
                "--quick-lsign-key",
                &key.fpr,
            ],
        );
        gpg_ok(self.path(), &["--check-trustdb"]);
    }

    /// `pacman-key --gpgdir KEYRING --verify SIG FILE`: true when pacman-key accepts it.
    pub fn pacman_key_verify(&self, sig: &Path, file: &Path) -> bool {
        Command::new("pacman-key")
            .arg("--gpgdir")
            .arg(self.path())
            .arg("--verify")
            .arg(sig)
            .arg(file)
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("cannot run pacman-key: {e}"))
            .status
            .success()
    }
}
