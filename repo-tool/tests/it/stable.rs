//! The Lumina-Stable pipeline end to end, with every component real: packages built as
//! makepkg builds them and signed by a throwaway upstream packager key, an upstream mirror
//! made by `repo-add` and served over HTTP on 127.0.0.1, `lumina-repo sync`, `promote` and
//! `status` (the binary, on a fixed clock: `--now`), the published tree served over HTTP,
//! and real pacman (`SigLevel = Required TrustedOnly` from `pkg/lumina-stable.conf`, a
//! keyring made by `pacman-key`) installing and upgrading from it.
//!
//! Day 1: what waited 24 h is promoted, a young package is held and pacman cannot see it.
//! Day 2: a soname bump moves with its rebuild, a soname bump without one is held, an update
//! whose new dependency is too young is held with that reason (and a split package with its
//! sibling), `expedite` skips the wait; `pacman -Syu` upgrades exactly what was promoted.
//! Then a tampered package and a tampered database: pacman refuses each, `lumina-repo
//! verify` names each.
//!
//! pacman refuses `-S` unless run as root, and `pacman-key` needs root: this test runs as
//! root, and fails under `CI=true` without.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_e2e::pacman::{LocalRepo, ScratchRoot};
use lumina_e2e::{require_root, write};
use lumina_repo::sign::Signer;
use serde_json::Value;

use crate::gnupg::{Key, Keyring};
use crate::promote_cli::{HOUR, Run, lumina_repo};

use lumina_e2e::http::StaticServer as Server;

/// The scratch root's pacman keyring (`pacman-key --gpgdir`); its agent stopped on drop.
pub(crate) struct PacmanKeyring(pub(crate) PathBuf);

impl PacmanKeyring {
    pub(crate) fn run(&self, args: &[&std::ffi::OsStr]) {
        let out = Command::new("pacman-key")
            .arg("--gpgdir")
            .arg(&self.0)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pacman-key {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pacman-key --add` and `--lsign-key`: the key is trusted.
    pub(crate) fn trust(&self, key: &Key) {
        self.run(&["--add".as_ref(), key.export_file().as_os_str()]);
        self.run(&["--lsign-key".as_ref(), key.fpr.as_ref()]);
    }
}

impl Drop for PacmanKeyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "all"])
            .output();
    }
}

/// A package to build: name, pkgbase, version, `depend`s and `provides`.
pub(crate) struct Pkg {
    name: &'static str,
    base: &'static str,
    version: &'static str,
    depends: &'static [&'static str],
    provides: &'static [&'static str],
}

pub(crate) const fn pkg(name: &'static str, version: &'static str) -> Pkg {
    Pkg {
        name,
        base: name,
        version,
        depends: &[],
        provides: &[],
    }
}

impl Pkg {
    pub(crate) const fn deps(mut self, depends: &'static [&'static str]) -> Self {
        self.depends = depends;
        self
    }
    const fn provides(mut self, provides: &'static [&'static str]) -> Self {
        self.provides = provides;
        self
    }
    const fn base(mut self, base: &'static str) -> Self {
        self.base = base;
        self
    }

    /// Builds `NAME-VERSION-x86_64.pkg.tar.zst` in `dir` as makepkg lays one out: `.PKGINFO`
    /// first, then the files (`usr/share/NAME/version`), owned by root, zstd-compressed.
    pub(crate) fn build(&self, dir: &Path) -> PathBuf {
        let stage = tempfile::tempdir().unwrap();
        let data = format!("{} {}\n", self.name, self.version);
        write(
            &stage
                .path()
                .join(format!("usr/share/{}/version", self.name)),
            &data,
        );
        let mut info = format!(
            "pkgname = {n}\npkgbase = {b}\npkgver = {v}\npkgdesc = Lumina-Stable e2e {n}\n\
             url = https://lumina.invalid/\nbuilddate = 1700000000\n\
             packager = Upstream Packager <packager@lumina.invalid>\nsize = {s}\n\
             arch = x86_64\nlicense = GPL-3.0-or-later\n",
            n = self.name,
            b = self.base,
            v = self.version,
            s = data.len()
        );
        for d in self.depends {
            info.push_str(&format!("depend = {d}\n"));
        }
        for p in self.provides {
            info.push_str(&format!("provides = {p}\n"));
        }
        write(&stage.path().join(".PKGINFO"), &info);
        let file = dir.join(format!("{}-{}-x86_64.pkg.tar.zst", self.name, self.version));
        let ok = Command::new("bsdtar")
            .arg("-C")
            .arg(stage.path())
            .args([
                "--uid", "0", "--gid", "0", "--uname", "root", "--gname", "root", "--zstd", "-cf",
            ])
            .arg(&file)
            .args([".PKGINFO", "usr"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "bsdtar failed for {}", self.name);
        file
    }
}

/// The upstream mirror: `core` and `extra` made by `repo-add`, every package signed by
/// the packager's key (so repo-add embeds `%PGPSIG%` and the `.sig` is served too).
struct Mirror {
    root: tempfile::TempDir,
    repos: BTreeMap<&'static str, LocalRepo>,
    packager: Signer,
}

impl Mirror {
    fn new(packager: &Key) -> Self {
        let root = tempfile::tempdir().unwrap();
        let repos = ["core", "extra"]
            .into_iter()
            .map(|r| (r, LocalRepo::new(&root.path().join(r).join("os/x86_64"), r)))
            .collect();
        Self {
            root,
            repos,
            packager: Signer::new(Some(packager.home.path()), &packager.fpr).unwrap(),
        }
    }

    fn add(&mut self, repo: &str, pkg: &Pkg) {
        let r = &self.repos[repo];
        let file = pkg.build(r.dir());
        self.packager.sign_file(&Fs::new(), &file).unwrap();
        r.add(&file);
    }
}

/// `lumina-repo ARGS --config CONFIG`, which must exit with `code`.
fn repo_tool(config: &Path, args: &[&str], code: i32) -> Run {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    let r = lumina_repo(&all);
    assert_eq!(r.code, code, "lumina-repo {args:?}: {r:?}");
    r
}

fn at(t: u64) -> String {
    t.to_string()
}

fn held_reasons(v: &Value) -> BTreeMap<String, String> {
    v["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn promoted(v: &Value) -> Vec<String> {
    v["promoted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}/{} {}",
                p["repo"].as_str().unwrap(),
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

fn versions(root: &ScratchRoot) -> BTreeMap<String, String> {
    root.installed()
}

/// `pkg/lumina-stable.conf` with its placeholder server replaced by `url`.
fn snippet(url: &str) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkg/lumina-stable.conf"),
    )
    .unwrap();
    assert!(text.contains("Server = https://stable.lumina.example/$repo/os/$arch"));
    text.replace("https://stable.lumina.example", url)
}

#[test]
fn the_snippet_users_include_parses_with_signatures_required_for_databases_and_packages() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pacman.conf");
    let snippet_path = dir.path().join("lumina-stable.conf");
    write(&snippet_path, &snippet("http://127.0.0.1:8080"));
    write(
        &conf,
        &format!(
            "[options]\nArchitecture = x86_64\n\nInclude = {}\n",
            snippet_path.display()
        ),
    );
    let run = |args: &[&str]| {
        let out = Command::new("pacman-conf")
            .arg("--config")
            .arg(&conf)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // multilib is there, commented out: only core and extra are enabled.
    assert_eq!(run(&["--repo-list"]), "core\nextra\n");
    for repo in ["core", "extra"] {
        assert_eq!(
            run(&["--repo", repo]),
            format!(
                "Usage = All\nSigLevel = PackageRequired\nSigLevel = PackageTrustedOnly\n\
                 SigLevel = DatabaseRequired\nSigLevel = DatabaseTrustedOnly\n\
                 Server = http://127.0.0.1:8080/{repo}/os/x86_64\n"
            )
        );
    }
}

#[test]
fn day_one_and_day_two_with_real_pacman_over_http() {
    if !require_root("day_one_and_day_two_with_real_pacman_over_http") {
        return;
    }
    let packager = Key::new("Upstream Packager <packager@lumina.invalid>");
    let lumina = Key::new("Lumina-Stable Test <stable@lumina.invalid>");
    // The upstream keyring `sync` verifies packages with, shaped like pacman's.
    let upstream_keyring = Keyring::new();
    upstream_keyring.add(&packager);
    upstream_keyring.lsign(&packager);

    let mut mirror = Mirror::new(&packager);
    let upstream = Server::start(mirror.root.path());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let config = work.path().join("repo.yaml");
    write(
        &config,
        &format!(
            "upstream: {}/$repo/os/$arch\nrepositories: [core, extra]\noutput: {}\n\
             signing:\n  key: {}\n  gnupg_home: {}\nupstream_keyring: {}\n\
             min_age: 24h\nmax_age: 48h\n",
            upstream.url(),
            out.display(),
            lumina.fpr,
            lumina.home.path().display(),
            upstream_keyring.path().display()
        ),
    );

    // ---- Day 1 -------------------------------------------------------------------------
    let t0 = 1_767_225_600; // 2026-01-01T00:00:00Z
    mirror.add("core", &pkg("glibc", "2.40-1"));
    mirror.add(
        "core",
        &pkg("libfoo", "1-1")
            .deps(&["glibc"])
            .provides(&["libfoo.so=1-64"]),
    );
    mirror.add("core", &pkg("libbar", "1-1").provides(&["libbar.so=1-64"]));
    mirror.add("extra", &pkg("app", "1-1").deps(&["libfoo.so=1-64"]));
    mirror.add("extra", &pkg("user", "1-1").deps(&["libbar.so=1-64"]));
    mirror.add("extra", &pkg("tool", "1-1").deps(&["glibc"]));
    mirror.add("extra", &pkg("split-a", "1-1").base("split"));
    mirror.add(
        "extra",
        &pkg("split-b", "1-1").base("split").deps(&["glibc"]),
    );
    mirror.add("extra", &pkg("sec", "1-1"));
    repo_tool(&config, &["sync", "--quiet", "--now", &at(t0)], 0);
    // `young` appears upstream 28 h later.
    mirror.add("extra", &pkg("young", "1-1"));
    repo_tool(
        &config,
        &["sync", "--quiet", "--now", &at(t0 + 28 * HOUR)],
        0,
    );

    let day1 = t0 + 30 * HOUR;
    let r = repo_tool(&config, &["promote", "--json", "--now", &at(day1)], 0);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        promoted(&report),
        [
            "core/glibc 2.40-1",
            "core/libbar 1-1",
            "core/libfoo 1-1",
            "extra/app 1-1",
            "extra/sec 1-1",
            "extra/split-a 1-1",
            "extra/split-b 1-1",
            "extra/tool 1-1",
            "extra/user 1-1",
        ]
    );
    assert_eq!(
        held_reasons(&report),
        BTreeMap::from([(
            "young".to_owned(),
            "too young: first seen 2h 0m ago, needs 1d 0h".to_owned()
        )])
    );

    // The published tree over HTTP; pacman includes the users' snippet, pointed at it.
    let served = Server::start(&out.join("current"));
    let root = ScratchRoot::temp();
    let keyring = PacmanKeyring(root.path("etc/pacman.d/gnupg"));
    keyring.run(&["--init".as_ref()]);
    keyring.trust(&lumina);
    keyring.trust(&packager);
    let snippet_path = root.path("etc/pacman.d/lumina-stable.conf");
    write(&snippet_path, &snippet(&served.url()));
    write(
        &root.conf(),
        &format!(
            "[options]\nArchitecture = auto\nSigLevel = Never\n\nInclude = {}\n",
            snippet_path.display()
        ),
    );
    root.pacman_ok(["-Syy"]);
    root.pacman_ok(["-S", "app", "user", "tool", "split-a", "split-b", "sec"]);
    let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        versions(&root),
        want(&[
            ("app", "1-1"),
            ("glibc", "2.40-1"),
            ("libbar", "1-1"),
            ("libfoo", "1-1"),
            ("sec", "1-1"),
            ("split-a", "1-1"),
            ("split-b", "1-1"),
            ("tool", "1-1"),
            ("user", "1-1"),
        ])
    );
    assert_eq!(
        root.read("usr/share/app/version").as_deref(),
        Some("app 1-1\n")
    );
    let r = root.pacman(["-S", "young"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("target not found: young"), "{r:?}");

    // ---- Day 2 -------------------------------------------------------------------------
    let t1 = t0 + 40 * HOUR;
    // A soname bump with its rebuild; a soname bump whose dependent is not rebuilt.
    mirror.add(
        "core",
        &pkg("libfoo", "2-1")
            .deps(&["glibc"])
            .provides(&["libfoo.so=2-64"]),
    );
    mirror.add("extra", &pkg("app", "2-1").deps(&["libfoo.so=2-64"]));
    mirror.add("core", &pkg("libbar", "2-1").provides(&["libbar.so=2-64"]));
    // Updates that need a package upstream adds only later.
    mirror.add("extra", &pkg("tool", "2-1").deps(&["newdep>=1"]));
    mirror.add("extra", &pkg("split-a", "2-1").base("split"));
    mirror.add(
        "extra",
        &pkg("split-b", "2-1").base("split").deps(&["newdep"]),
    );
    repo_tool(&config, &["sync", "--quiet", "--now", &at(t1)], 0);
    // 20 h later: the new dependency, and a security fix.
    mirror.add("extra", &pkg("newdep", "1-1"));
    mirror.add("extra", &pkg("sec", "2-1"));
    repo_tool(
        &config,
        &["sync", "--quiet", "--now", &at(t1 + 20 * HOUR)],
        0,
    );

    let day2 = t1 + 26 * HOUR;
    let status = |t: u64| -> Value {
        let r = repo_tool(&config, &["status", "--json", "--now", &at(t)], 0);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let expected = |sec_held: bool| {
        let mut m = BTreeMap::from(
            [
                (
                    "libbar",
                    "soname group incomplete: `libbar.so=1-64` is still needed by `user`",
                ),
                ("newdep", "too young: first seen 6h 0m ago, needs 1d 0h"),
                ("split-a", "split sibling `split-b` is held"),
                ("split-b", "unsatisfied dependency `newdep`"),
                ("tool", "unsatisfied dependency `newdep>=1`"),
            ]
            .map(|(n, m)| (n.to_owned(), m.to_owned())),
        );
        if sec_held {
            m.insert(
                "sec".to_owned(),
                "too young: first seen 6h 0m ago, needs 1d 0h".to_owned(),
            );
        }
        m
    };
    let st = status(day2);
    assert_eq!(held_reasons(&st), expected(true));
    assert_eq!(st["current"], 1);
    assert_eq!(st["lag"], day2 - day1);

    // A security fix: expedited, it skips the quarantine (not the checks).
    repo_tool(&config, &["expedite", "sec", "--reason", "CVE-2099-1"], 0);
    assert_eq!(held_reasons(&status(day2)), expected(false));

    let r = repo_tool(&config, &["promote", "--json", "--now", &at(day2)], 0);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["generation"], 2);
    assert_eq!(
        promoted(&report),
        [
            "core/libfoo 2-1",
            "extra/app 2-1",
            "extra/sec 2-1",
            "extra/young 1-1"
        ]
    );
    assert_eq!(held_reasons(&report), expected(false));
    let prev = &report["promoted"][0]["previous"];
    assert_eq!(
        (&prev["repo"], &prev["version"]),
        (&"core".into(), &"1-1".into())
    );

    // pacman upgrades exactly what was promoted. (-Syy: the two generations' databases
    // can carry the same second as mtime, and pacman's If-Modified-Since would skip one.)
    root.pacman_ok(["-Syyu"]);
    assert_eq!(
        versions(&root),
        want(&[
            ("app", "2-1"),
            ("glibc", "2.40-1"),
            ("libbar", "1-1"),
            ("libfoo", "2-1"),
            ("sec", "2-1"),
            ("split-a", "1-1"),
            ("split-b", "1-1"),
            ("tool", "1-1"),
            ("user", "1-1"),
        ])
    );
    assert_eq!(
        root.read("usr/share/libfoo/version").as_deref(),
        Some("libfoo 2-1\n")
    );
    let r = root.pacman_ok(["-Si", "young"]);
    assert!(r.stdout.contains("Version         : 1-1"), "{r:?}");

    // ---- Tampering -----------------------------------------------------------------------
    // The served file of `young` is replaced (a compromised mirror host): pacman refuses
    // it, and `verify` names it.
    let gen_dir = out.join(".generations/2/extra/os/x86_64");
    let young = gen_dir.join("young-1-1-x86_64.pkg.tar.zst");
    let mut evil = std::fs::read(&young).unwrap();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::remove_file(&young).unwrap();
    std::fs::write(&young, &evil).unwrap();
    let r = root.pacman(["-S", "young"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("error: young: signature from \"Upstream Packager <packager@lumina.invalid>\" is invalid")
            && r.stderr
                .contains("failed to commit transaction (invalid or corrupted package (PGP signature))"),
        "{r:?}"
    );
    assert!(!versions(&root).contains_key("young"));
    let r = repo_tool(&config, &["verify"], 1);
    assert!(
        r.stderr
            .contains("extra/os/x86_64: package `young` (`young-1-1-x86_64.pkg.tar.zst`): "),
        "{r:?}"
    );

    // The served `core` database is replaced by another one (its signature stays): pacman
    // refuses the database, and `verify` names it.
    let core_db = out.join(".generations/2/core/os/x86_64/core.db.tar.zst");
    let other = mirror.root.path().join("core/os/x86_64/core.db.tar.gz");
    std::fs::remove_file(&core_db).unwrap();
    std::fs::copy(&other, &core_db).unwrap();
    let r = root.pacman(["-Syy"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("core: signature from \"Lumina-Stable Test")
            && r.stderr
                .contains("invalid or corrupted database (PGP signature)"),
        "{r:?}"
    );
    let r = repo_tool(&config, &["verify"], 1);
    assert!(
        r.stderr.contains(
            "core/os/x86_64 (`core.db.sig`): signature: the signature of `core.db`: BAD signature"
        ),
        "{r:?}"
    );
    drop(served);
    drop(upstream);
}
