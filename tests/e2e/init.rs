//! `lumina init`, `apply`, `capture` and `status` against real pacman (Debian's pacman 6.0.2)
//! in scratch roots, with real packages in a `file://` repository and real git. Installing
//! needs root; these tests fail under `CI=true` without it.

use std::path::Path;

use lumina_e2e::pacman::{LocalRepo, PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{Home, Run, require_root};

/// A repository with `alpha` (which needs `libbeta`), `libbeta`, `gamma` and `delta`.
struct Repo {
    repo: LocalRepo,
    _dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalRepo::new(&dir.path().join("repo"), "lumina-e2e");
        for spec in [
            PkgSpec::new("alpha", "1.0-1")
                .file("usr/share/alpha/data", "a")
                .depend("libbeta"),
            PkgSpec::new("libbeta", "2.0-1").file("usr/lib/libbeta.so.2", "b"),
            PkgSpec::new("gamma", "3.0-1").file("usr/share/gamma/data", "g"),
            PkgSpec::new("delta", "4.0-1").file("usr/share/delta/data", "d"),
        ] {
            repo.add(&build_package(&spec, &dir.path().join("built")));
        }
        Self { repo, _dir: dir }
    }

    /// A synced scratch root using this repository.
    fn root(&self) -> ScratchRoot {
        let mut r = ScratchRoot::temp();
        r.add_repo(&self.repo);
        r.pacman_ok(["-Sy"]);
        r
    }
}

fn lumina(h: &Home, root: &ScratchRoot, args: &[&str]) -> Run {
    let mut a = vec!["--root", root.root().to_str().unwrap()];
    a.extend_from_slice(args);
    h.lumina(a)
}

fn explicit(root: &ScratchRoot) -> Vec<String> {
    let r = root.pacman(["-Qqe"]);
    r.stdout.lines().map(str::to_owned).collect()
}

fn declared(h: &Home, home: &Path) -> Vec<String> {
    let ctx = lumina_core::paths::Context {
        user_home: h.home.clone(),
        lumina_home: home.to_path_buf(),
    };
    let file = home.join("lumina.yaml");
    lumina_core::registry::load(&file, &ctx)
        .unwrap()
        .packages
        .into_iter()
        .map(|p| p.name)
        .collect()
}

fn git_log(repo: &Path) -> Vec<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["log", "--format=%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn init_captures_exactly_the_explicit_packages_then_apply_installs_them_elsewhere() {
    if !require_root(
        "init_captures_exactly_the_explicit_packages_then_apply_installs_them_elsewhere",
    ) {
        return;
    }
    let repo = Repo::new();
    let first = repo.root();
    first.pacman_ok(["-S", "alpha", "gamma"]);
    // `libbeta` came in as a dependency of `alpha`.
    assert_eq!(explicit(&first), ["alpha", "gamma"]);
    let h = Home::new();
    let r = lumina(&h, &first, &["init", "--hardware", "none"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(declared(&h, &h.root), ["alpha", "gamma"]);
    let text = std::fs::read_to_string(h.root.join("lumina.yaml")).unwrap();
    assert!(
        text.starts_with("# lumina.yaml: the declared state of this machine"),
        "{text}"
    );
    assert_eq!(git_log(&h.root), ["lumina init: this machine as it is"]);
    assert_eq!(
        std::fs::read_to_string(h.root.join(".gitignore")).unwrap(),
        ".state/\n"
    );
    // As root, init enrols the user (root here) for the post-transaction hook.
    let config = first.read("etc/lumina/config.yaml").unwrap();
    assert!(config.contains("users: [root]"), "{config}");
    // The hooks are not installed in this root: one line says so.
    assert_eq!(
        r.stderr.matches("hooks are not installed").count(),
        1,
        "{}",
        r.stderr
    );
    // The machine matches: no drift.
    assert_eq!(lumina(&h, &first, &["status"]).code, 0);

    // A second machine: clone the registry and apply it.
    let second = repo.root();
    let h2 = Home::new();
    let clone = h2.scratch().join("cloned");
    let no_tty = lumina(
        &h2,
        &second,
        &[
            "--home",
            clone.to_str().unwrap(),
            "init",
            "--from",
            h.root.to_str().unwrap(),
        ],
    );
    // Without a terminal to ask on and without --yes, nothing is installed.
    assert_eq!(no_tty.code, 2, "{no_tty:?}");
    assert!(no_tty.stderr.contains("use --yes"), "{}", no_tty.stderr);
    assert!(second.installed().is_empty());
    let dry = lumina(
        &h2,
        &second,
        &[
            "--home",
            clone.to_str().unwrap(),
            "apply",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(
        plan["packages"]["install"],
        serde_json::json!(["alpha", "gamma"])
    );
    assert!(second.installed().is_empty());
    let r = lumina(
        &h2,
        &second,
        &["--home", clone.to_str().unwrap(), "apply", "--yes"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let installed: Vec<String> = second.installed().into_keys().collect();
    assert_eq!(installed, ["alpha", "gamma", "libbeta"]);
    assert_eq!(explicit(&second), ["alpha", "gamma"]);
    // Applying again has nothing to install and needs no --yes.
    let again = lumina(&h2, &second, &["--home", clone.to_str().unwrap(), "apply"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains("applied: 0 packages installed"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_package_no_repository_has_fails_by_name_and_nothing_is_installed() {
    if !require_root("a_package_no_repository_has_fails_by_name_and_nothing_is_installed") {
        return;
    }
    let repo = Repo::new();
    let root = repo.root();
    let h = Home::new();
    h.registry("version: 1\npackages: [alpha, no-such-package, gamma]\nlinks:\n  ~/.x: x\n");
    h.source("x", "x");
    let r = lumina(&h, &root, &["apply", "--yes"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "error: no repository has the declared package `no-such-package`; nothing was \
             installed or changed"
        ),
        "{}",
        r.stderr
    );
    assert!(root.installed().is_empty());
    // Nothing else changed either: the link was not made.
    assert!(std::fs::symlink_metadata(h.at(".x")).is_err());
}

#[test]
fn capture_declares_a_package_installed_outside_lumina_and_commits() {
    if !require_root("capture_declares_a_package_installed_outside_lumina_and_commits") {
        return;
    }
    let repo = Repo::new();
    let root = repo.root();
    root.pacman_ok(["-S", "alpha"]);
    let h = Home::new();
    assert_eq!(lumina(&h, &root, &["init", "--hardware", "none"]).code, 0);
    // Installed with plain pacman, outside Lumina.
    root.pacman_ok(["-S", "delta"]);
    let r = lumina(&h, &root, &["status", "--json"]);
    assert_eq!(r.code, 4, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["packages"]["undeclared"], serde_json::json!(["delta"]));
    assert_eq!(v["packages"]["missing"], serde_json::json!([]));
    let before = std::fs::read_to_string(h.root.join("lumina.yaml")).unwrap();
    let dry = lumina(&h, &root, &["capture", "--dry-run"]);
    assert_eq!(
        (dry.code, dry.stdout.as_str()),
        (0, "add      delta\n"),
        "{dry:?}"
    );
    assert_eq!(
        std::fs::read_to_string(h.root.join("lumina.yaml")).unwrap(),
        before
    );
    let r = lumina(&h, &root, &["capture", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    let after = std::fs::read_to_string(h.root.join("lumina.yaml")).unwrap();
    // The edit only added a line: every line before is still there, in order.
    assert_eq!(
        after,
        before.replace("  - alpha\n", "  - alpha\n  - delta\n")
    );
    assert_eq!(declared(&h, &h.root), ["alpha", "delta"]);
    assert_eq!(
        git_log(&h.root),
        [
            "lumina capture: declare delta",
            "lumina init: this machine as it is"
        ]
    );
    assert_eq!(lumina(&h, &root, &["status"]).code, 0);
    // Removed outside Lumina: declared but missing is drift too.
    root.pacman_ok(["-R", "delta"]);
    let r = lumina(&h, &root, &["status"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stdout.contains("missing    package delta"),
        "{}",
        r.stdout
    );
}

#[test]
fn enrol_adds_the_user_to_the_commented_config_in_place() {
    if !require_root("enrol_adds_the_user_to_the_commented_config_in_place") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("etc/lumina/config.yaml");
    let shipped = include_str!("../../pkg/config.yaml");
    lumina_e2e::write(&config, shipped);
    let h = Home::new();
    let r = h.lumina([
        "--root",
        root.path().to_str().unwrap(),
        "init",
        "--enrol",
        "root",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let after = std::fs::read_to_string(&config).unwrap();
    assert_eq!(after, shipped.replace("users: []", "users: [root]"));
    let r = h.lumina([
        "--root",
        root.path().to_str().unwrap(),
        "init",
        "--enrol",
        "root",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("root is already enrolled"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
    let r = h.lumina([
        "--root",
        root.path().to_str().unwrap(),
        "init",
        "--enrol",
        "no-such-user-lumina",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no user named `no-such-user-lumina`"),
        "{}",
        r.stderr
    );
}

#[test]
fn init_never_overwrites_a_registry() {
    let h = Home::new();
    h.registry("version: 1\n");
    let r = h.lumina(["init", "--hardware", "none"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("already exists; `lumina init` never overwrites a registry"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(h.root.join("lumina.yaml")).unwrap(),
        "version: 1\n"
    );
}

#[test]
fn init_reads_a_captured_sysroot_and_writes_its_profile() {
    let h = Home::new();
    let sysroot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lumina-core/tests/fixtures/sysroot/framework-13-amd-7040");
    let empty = tempfile::tempdir().unwrap();
    let r = h.lumina([
        "--root",
        empty.path().to_str().unwrap(),
        "init",
        "--dry-run",
        "--json",
        "--sysroot",
        sysroot.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["profile"], "framework-13-amd");
    assert_eq!(
        v["hardware"]["model"]["generation"],
        "AMD Ryzen 7040 Series"
    );
    assert_eq!(
        v["profile_packages"],
        serde_json::json!([
            "fwupd",
            "power-profiles-daemon",
            "iio-sensor-proxy",
            "fprintd"
        ])
    );
    assert_eq!(
        v["kernel_parameters"][0]["value"],
        "amdgpu.dcdebugmask=0x10"
    );
    // A dry run writes nothing.
    assert!(!h.root.join("lumina.yaml").exists());
    assert!(!h.root.join(".git").exists());
    assert!(!empty.path().join("etc").exists());
}
