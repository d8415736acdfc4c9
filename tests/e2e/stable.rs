//! `lumina stable enable | disable` against real pacman 6.0.2, `pacman-conf`, `pacman-key`
//! and GnuPG, with a signed Lumina-Stable tree (`lumina-repo add --sign`) and an unlagged
//! "Arch" tree with newer packages, both served over HTTP on 127.0.0.1.
//!
//! pacman reads `Include` paths as they are written (`/etc/pacman.d/...`), never under
//! `--root`: each pacman and pacman-conf here runs in a private mount namespace whose `/etc`
//! is the scratch root's (`unshare --mount` + a bind mount), exactly as on the machine
//! itself. Needs root; fails under `CI=true` without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use lumina_core::fs::Fs;
use lumina_core::root::Root;
use lumina_core::stable::{self, ops};
use lumina_e2e::http::StaticServer;
use lumina_e2e::mounts::{run, run_ok};
use lumina_e2e::pacman::{PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{Run, bin, require_root, write};

/// A GnuPG home (a signing key's, or pacman's keyring); its agent is stopped on drop.
struct GpgHome(PathBuf);

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "all"])
            .output();
    }
}

fn gpg(home: &Path, args: &[&str]) -> Run {
    run_ok(
        Command::new("gpg")
            .arg("--batch")
            .arg("--homedir")
            .arg(home)
            .args(args)
            .env("LC_ALL", "C"),
    )
}

/// A throwaway ed25519 signing key: (its home, fingerprint).
fn signing_key(dir: &Path) -> (GpgHome, String) {
    std::fs::create_dir_all(dir).unwrap();
    lumina_e2e::set_mode(dir, 0o700);
    let home = GpgHome(dir.to_path_buf());
    let uid = "Lumina-Stable e2e <stable@lumina.invalid>";
    gpg(
        dir,
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
    let list = gpg(dir, &["--with-colons", "--list-secret-keys", uid]);
    let fpr = list
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_owned())
        .unwrap();
    (home, fpr)
}

/// Is `fpr` in the keyring `gpgdir`?
fn has_key(gpgdir: &Path, fpr: &str) -> bool {
    run(Command::new("gpg")
        .arg("--batch")
        .arg("--homedir")
        .arg(gpgdir)
        .args(["--list-keys", fpr]))
    .code
        == 0
}

/// The pacman.conf of the scratch machine: Arch's layout, the mirrorlist on the "Arch" tree.
const ARCH_CONF: &str = "\
#
# /etc/pacman.conf
#
[options]
HoldPkg     = pacman glibc
Architecture = auto
CheckSpace
SigLevel    = Never
LocalFileSigLevel = Never

#[core-testing]
#Include = /etc/pacman.d/mirrorlist

[core]
Include = /etc/pacman.d/mirrorlist

[extra]
Include = /etc/pacman.d/mirrorlist

#[multilib]
#Include = /etc/pacman.d/mirrorlist
";

/// A machine (scratch pacman root with an initialised keyring and the Lumina-Stable key at
/// its default path) and two mirrors: `stable/` (Lumina-Stable, signed, older packages) and
/// `arch/` (unsigned, newer packages).
struct World {
    root: ScratchRoot,
    http: StaticServer,
    fpr: String,
    web: tempfile::TempDir,
    _keys: Vec<GpgHome>,
}

impl World {
    fn new() -> Self {
        let web = tempfile::Builder::new()
            .prefix("lumina-stable-")
            .tempdir()
            .unwrap();
        let w = web.path();
        let (signer, fpr) = signing_key(&w.join("signer"));
        let pkgs = w.join("pkgs");
        for (tree, core_v, extra_v, sign) in [
            ("stable", "1.0-1", "1.0-1", true),
            ("arch", "2.0-1", "1.1-1", false),
        ] {
            for (repo, spec) in [
                (
                    "core",
                    PkgSpec::new("hello", core_v).file("usr/share/hello/v", core_v),
                ),
                (
                    "extra",
                    PkgSpec::new("tool", extra_v).file("usr/share/tool/v", extra_v),
                ),
            ] {
                let pkg = build_package(&spec, &pkgs.join(tree));
                let dir = w.join(tree).join(repo).join("os/x86_64");
                std::fs::create_dir_all(&dir).unwrap();
                let mut cmd = Command::new(bin("lumina-repo"));
                cmd.arg("add");
                if sign {
                    cmd.args(["--sign", "--key", &fpr, "--gnupg-home"])
                        .arg(&signer.0);
                }
                run_ok(
                    cmd.arg("--repo-dir")
                        .arg(&dir)
                        .args(["--repo", repo])
                        .arg(&pkg),
                );
            }
        }
        let http = StaticServer::start(w);
        let root = ScratchRoot::temp();
        write(&root.conf(), ARCH_CONF);
        write(
            &root.path("etc/pacman.d/mirrorlist"),
            &format!(
                "Server = http://127.0.0.1:{}/arch/$repo/os/$arch\n",
                http.port
            ),
        );
        let keyring = GpgHome(root.path("etc/pacman.d/gnupg"));
        run_ok(
            Command::new("pacman-key")
                .arg("--gpgdir")
                .arg(&keyring.0)
                .arg("--init"),
        );
        let public = gpg(&signer.0, &["--armor", "--export", &fpr]).stdout;
        write(&root.path("usr/share/lumina/lumina-stable.asc"), &public);
        Self {
            root,
            http,
            fpr,
            web,
            _keys: vec![signer, keyring],
        }
    }

    fn r(&self) -> &Path {
        self.root.root()
    }

    fn mirror(&self) -> String {
        format!("http://127.0.0.1:{}/stable/$repo/os/$arch", self.http.port)
    }

    fn lumina(&self, args: &[&str]) -> Run {
        run(Command::new(bin("lumina"))
            .arg("--root")
            .arg(self.r())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("LUMINA_ROOT"))
    }

    /// `program args` in a mount namespace whose `/etc` is the root's.
    fn in_root(&self, program: &str, args: &[&std::ffi::OsStr]) -> Run {
        run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0/etc\" /etc && exec \"$@\"")
            .arg(self.r())
            .arg(program)
            .args(args)
            .env("LC_ALL", "C"))
    }

    /// pacman in the root (see [`ScratchRoot::command`]) with the root's `/etc`.
    fn pacman(&self, args: &[&str]) -> Run {
        let cmd = self.root.command();
        let mut all: Vec<&std::ffi::OsStr> = cmd.get_args().collect();
        all.extend(args.iter().map(std::ffi::OsStr::new));
        self.in_root("pacman", &all)
    }

    /// `pacman -Sl REPO`: `(name, version)` pairs.
    fn list(&self, repo: &str) -> Vec<(String, String)> {
        let r = self.pacman(&["-Sl", repo]);
        assert_eq!(r.code, 0, "pacman -Sl {repo}: {r:?}");
        r.stdout
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].to_owned(), f[2].to_owned())
            })
            .collect()
    }

    fn conf_bytes(&self) -> Vec<u8> {
        std::fs::read(self.root.conf()).unwrap()
    }

    fn backups(&self) -> usize {
        std::fs::read_dir(self.root.path("etc"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("pacman.conf.lumina-backup-")
            })
            .count()
    }

    /// `.lumina-tmp` files left anywhere Lumina writes.
    fn leftovers(&self) -> Vec<PathBuf> {
        ["etc", "etc/pacman.d", "var/lib/lumina"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.root.path(d)).ok())
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".lumina-tmp"))
            .collect()
    }
}

fn pair(name: &str, version: &str) -> Vec<(String, String)> {
    vec![(name.to_owned(), version.to_owned())]
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn enable_takes_core_and_extra_from_lumina_stable_and_disable_gives_them_back() {
    if !require_root("enable_takes_core_and_extra_from_lumina_stable") {
        return;
    }
    let w = World::new();
    let original = w.conf_bytes();
    w.pacman(&["-Sy"]);
    assert_eq!(w.list("core"), pair("hello", "2.0-1"), "before: Arch's");

    // Dry run: the diff and the commands, nothing changed.
    let mirror = w.mirror();
    let dry = w.lumina(&["stable", "enable", "--mirror", &mirror, "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("+# BEGIN lumina-stable"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("+#lumina-stable-off# [core]"));
    assert!(dry.stderr.contains(&format!(
        "would run: pacman-key --gpgdir {}",
        w.r().display()
    )));
    assert_eq!(w.conf_bytes(), original);
    assert!(!w.root.path("etc/pacman.d/lumina-stable.conf").exists());
    assert!(!has_key(&w.root.path("etc/pacman.d/gnupg"), &w.fpr));

    let on = w.lumina(&["stable", "enable", "--mirror", &mirror]);
    assert_eq!(on.code, 0, "{on:?}");
    assert!(
        on.stdout
            .starts_with("--- a/etc/pacman.conf\n+++ b/etc/pacman.conf\n")
    );
    assert_eq!(w.backups(), 1);
    assert!(has_key(&w.root.path("etc/pacman.d/gnupg"), &w.fpr));

    // pacman-conf: each repository once, core's only server is Lumina-Stable's.
    let list = w.in_root(
        "pacman-conf",
        &[
            "--config".as_ref(),
            "/etc/pacman.conf".as_ref(),
            "--repo-list".as_ref(),
        ],
    );
    assert_eq!(list.stdout, "core\nextra\n", "{list:?}");
    let core = w.in_root(
        "pacman-conf",
        &[
            "--config".as_ref(),
            "/etc/pacman.conf".as_ref(),
            "--repo".as_ref(),
            "core".as_ref(),
        ],
    );
    let servers: Vec<&str> = core
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Server = "))
        .collect();
    let port = w.http.port;
    assert_eq!(
        servers,
        [format!("http://127.0.0.1:{port}/stable/core/os/x86_64")]
    );
    assert!(
        core.stdout.contains("SigLevel = DatabaseRequired"),
        "{}",
        core.stdout
    );

    // pacman syncs Lumina-Stable's signed databases (the signature is checked against the
    // key enable imported and signed locally) and lists its versions, not Arch's.
    // The first sync reports the copies of Arch's unsigned databases pacman still has
    // (`missing required signature`), refuses them, and fetches Lumina-Stable's; from then on
    // there is nothing to report.
    let sy = w.pacman(&["-Syy"]);
    assert_eq!(sy.code, 0, "{sy:?}");
    assert!(
        sy.stderr
            .contains("error: core: missing required signature"),
        "{sy:?}"
    );
    let sy = w.pacman(&["-Sy"]);
    assert_eq!((sy.code, sy.stderr.as_str()), (0, ""), "{sy:?}");
    assert_eq!(w.list("core"), pair("hello", "1.0-1"));
    assert_eq!(w.list("extra"), pair("tool", "1.0-1"));
    assert!(w.root.path("var/lib/pacman/sync/core.db.sig").is_file());

    // Freshness of what pacman just synced.
    let root = Root::new(w.r());
    assert_eq!(
        stable::freshness(&root, now(), stable::DEFAULT_MAX_AGE),
        None
    );
    let later = stable::freshness(&root, now() + 5 * 86_400, stable::DEFAULT_MAX_AGE).unwrap();
    assert!(
        later.starts_with("Lumina-Stable's databases are 5 days old (signed "),
        "{later}"
    );
    let status = w.lumina(&["stable", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["synced"]["signed"], true);
    // No `stable:` in /etc/lumina/config.yaml: the default threshold, fresh.
    assert_eq!(v["freshness"]["max_age"], "72h");
    assert_eq!(v["freshness"]["stale"], false);

    // Again: nothing to do, nothing written, no new backup.
    let enabled = w.conf_bytes();
    let again = w.lumina(&["stable", "enable"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("already enabled"), "{again:?}");
    assert_eq!(again.stdout, "");
    assert_eq!(w.conf_bytes(), enabled);
    assert_eq!(w.backups(), 1);

    let off = w.lumina(&["stable", "disable"]);
    assert_eq!(off.code, 0, "{off:?}");
    assert_eq!(w.conf_bytes(), original, "disable is not the exact inverse");
    assert!(!w.root.path("etc/pacman.d/lumina-stable.conf").exists());
    assert!(!w.root.path("var/lib/lumina/stable.json").exists());
    assert!(!has_key(&w.root.path("etc/pacman.d/gnupg"), &w.fpr));
    assert_eq!(
        stable::freshness(&root, now() + 5 * 86_400, stable::DEFAULT_MAX_AGE),
        None
    );
    w.pacman(&["-Syy"]);
    assert_eq!(
        w.list("core"),
        pair("hello", "2.0-1"),
        "after: Arch's again"
    );
    let twice = w.lumina(&["stable", "disable"]);
    assert!(twice.stderr.contains("not enabled"), "{twice:?}");
    assert!(w.web.path().exists());
}

#[test]
fn an_interrupted_enable_leaves_pacman_working_and_disable_converges() {
    if !require_root("an_interrupted_enable_leaves_pacman_working") {
        return;
    }
    let w = World::new();
    let original = w.conf_bytes();
    let root = Root::new(w.r());
    let opts = ops::EnableOptions {
        mirror: Some(w.mirror()),
        ..ops::EnableOptions::default()
    };
    let mut n = 1;
    loop {
        let fs = Fs::failing_after(n);
        match ops::enable(&root, &fs, &opts, SystemTime::now()) {
            Ok(_) => break,
            Err(stable::Error::Core(lumina_core::Error::Injected { .. })) => {}
            Err(e) => panic!("step {n}: {e}"),
        }
        // pacman reads a consistent configuration at every point: each repository once.
        let list = w.in_root(
            "pacman-conf",
            &[
                "--config".as_ref(),
                "/etc/pacman.conf".as_ref(),
                "--repo-list".as_ref(),
            ],
        );
        assert_eq!(
            (list.code, list.stdout.as_str()),
            (0, "core\nextra\n"),
            "step {n}"
        );
        // disable converges from here.
        let off = w.lumina(&["stable", "disable"]);
        assert_eq!(off.code, 0, "step {n}: {off:?}");
        assert_eq!(w.conf_bytes(), original, "step {n}");
        assert!(
            !w.root.path("etc/pacman.d/lumina-stable.conf").exists(),
            "step {n}"
        );
        assert!(
            !has_key(&w.root.path("etc/pacman.d/gnupg"), &w.fpr),
            "step {n}"
        );
        assert_eq!(w.leftovers(), Vec::<PathBuf>::new(), "step {n}");
        // Start each round from the same state (Lumina's state directory is not removed).
        let _ = std::fs::remove_dir(w.root.path("var/lib/lumina"));
        n += 1;
        assert!(n < 50, "enable never completed");
    }
    assert!(
        n > 8,
        "only {n} steps: the failpoints did not cover the writes"
    );
    let off = w.lumina(&["stable", "disable"]);
    assert_eq!(off.code, 0, "{off:?}");
    assert_eq!(w.conf_bytes(), original);
}

#[test]
fn enable_refuses_what_it_cannot_use_and_changes_nothing() {
    if !require_root("enable_refuses_what_it_cannot_use") {
        return;
    }
    let root = ScratchRoot::temp();
    let conf = root.conf();
    let r = root.root().to_string_lossy().into_owned();
    let lumina = |args: &[&str]| {
        run(Command::new(bin("lumina"))
            .args(["--root", &r, "stable"])
            .args(args)
            .env("NO_COLOR", "1"))
    };
    let m = "--mirror=https://stable.lumina.test";

    write(&conf, "[core]\nServer = https://arch/$repo/os/$arch\n");
    let e = lumina(&["enable", m]);
    assert_eq!(e.code, 2, "{e:?}");
    assert_eq!(
        e.stderr,
        format!(
            "error: `{r}/etc/pacman.conf`: it has no `[options]` section; is it a pacman.conf?\n"
        )
    );

    write(&conf, ARCH_CONF);
    let e = lumina(&["enable", "--mirror=ftp://x/"]);
    assert_eq!(e.code, 2, "{e:?}");
    assert!(e.stderr.contains("is not a mirror URL"), "{e:?}");

    lumina_e2e::set_mode(&conf, 0o666);
    let e = lumina(&["enable", m]);
    assert_eq!(e.code, 2, "{e:?}");
    assert!(
        e.stderr.contains("everyone can write it (mode 666)"),
        "{e:?}"
    );
    lumina_e2e::set_mode(&conf, 0o644);

    write(
        &root.path("etc/pacman.d/lumina-stable.conf"),
        "[core]\nServer = https://mine/\n",
    );
    let e = lumina(&["enable", m]);
    assert_eq!(e.code, 3, "{e:?}");
    assert!(e.stderr.contains("Lumina did not write it"), "{e:?}");

    assert_eq!(std::fs::read_to_string(&conf).unwrap(), ARCH_CONF);
    assert!(!root.path("var/lib/lumina").exists());
}
