//! Lumina's ALPM hooks under real pacman (Debian's pacman 6.0.2) in a scratch root on a
//! real btrfs loop image: pacman runs `lumina-hook` chrooted into the root, exactly as on an
//! Arch system. Needs root; fails under `CI=true` without it.

use std::path::{Path, PathBuf};

use lumina_e2e::chroot::{chroot_run, install_binary};
use lumina_e2e::mounts::{LoopBtrfs, ReadOnlyBind};
use lumina_e2e::pacman::{LocalRepo, PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{Run, bin, require_root, write};

/// A btrfs loop image with a pacman root in subvolume `root`, Lumina's hooks and binaries
/// installed in it, and a local repository.
struct World {
    // Field order is drop order: the root's files go before the filesystem is unmounted.
    root: ScratchRoot,
    repo: LocalRepo,
    pkgs: tempfile::TempDir,
    fs: LoopBtrfs,
}

impl World {
    fn new(config: &str) -> Self {
        Self::sized(config, 400)
    }

    fn sized(config: &str, mib: u64) -> Self {
        let fs = LoopBtrfs::new(mib);
        let sub = fs.subvolume("root");
        let pkgs = tempfile::tempdir().unwrap();
        let repo = LocalRepo::new(&pkgs.path().join("repo"), "lumina-test");
        let mut root = ScratchRoot::new(&sub);
        root.add_repo(&repo);
        let r = root.root().to_path_buf();
        install_binary(&r, &bin("lumina-hook"), "/usr/bin/lumina-hook");
        install_binary(&r, &bin("lumina"), "/usr/bin/lumina");
        let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hooks/alpm");
        for name in ["05-lumina-pre.hook", "zz-lumina-post.hook"] {
            let text = std::fs::read_to_string(hooks.join(name)).unwrap();
            write(&r.join("usr/share/libalpm/hooks").join(name), &text);
        }
        write(&r.join("etc/lumina/config.yaml"), config);
        Self {
            root,
            repo,
            pkgs,
            fs,
        }
    }

    /// Build `name-version` with `files` and publish it in the repository.
    fn publish(&self, spec: PkgSpec) {
        let p = build_package(&spec, self.pkgs.path());
        self.repo.add(&p);
    }

    fn r(&self) -> &Path {
        self.root.root()
    }

    /// `lumina --root R ARGS` from the host.
    fn lumina(&self, args: &[&str]) -> Run {
        let mut a = vec!["--root", self.r().to_str().unwrap()];
        a.extend_from_slice(args);
        lumina_e2e::mounts::run(
            std::process::Command::new(bin("lumina"))
                .args(&a)
                .env("NO_COLOR", "1"),
        )
    }

    fn snapshot_list(&self) -> serde_json::Value {
        let r = self.lumina(&["snapshot", "list", "--json"]);
        assert_eq!(r.code, 0, "{r:?}");
        serde_json::from_str(&r.stdout).unwrap()
    }

    /// The host path of a snapshot's files: `R/<backend id>`.
    fn snapshot_dir(&self, id: u64) -> PathBuf {
        let list = self.snapshot_list();
        let m = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap();
        let bid = m["parts"][0]["backend_id"].as_str().unwrap();
        self.r().join(bid.trim_start_matches('/'))
    }

    /// Lumina-Stable enabled the way `lumina stable enable` leaves pacman.conf, and a
    /// `core.db` pacman synced `ago` (`touch -d` syntax: its mtime is the server's
    /// Last-Modified). Returns that database's path.
    ///
    /// The test's own pacman runs from the scratch root's pacman.conf, whose `Include`
    /// pacman would resolve on the host: the enabled copy is another file, named by the
    /// record `enable` keeps.
    fn lumina_stable_synced(&self, ago: &str) -> PathBuf {
        write(
            &self.r().join("var/lib/lumina/stable.json"),
            r#"{"version":1,"pacman_conf":"/etc/pacman-stable.conf","snippet":"/etc/pacman.d/lumina-stable.conf","gpgdir":"/etc/pacman.d/gnupg","keys":[],"backup":null,"enabled_at":0}"#,
        );
        write(
            &self.r().join("etc/pacman-stable.conf"),
            "[options]\nArchitecture = auto\n\n# BEGIN lumina-stable\n\
             Include = /etc/pacman.d/lumina-stable.conf\n# END lumina-stable\n",
        );
        write(
            &self.r().join("etc/pacman.d/lumina-stable.conf"),
            "[core]\nServer = https://stable.example.org/$repo/os/$arch\n",
        );
        let db = self.r().join("var/lib/pacman/sync/core.db");
        write(&db, "not read\n");
        lumina_e2e::mounts::run_ok(
            std::process::Command::new("touch")
                .args(["-d", ago])
                .arg(&db),
        );
        db
    }

    /// The `lumina: Lumina-Stable ...` lines of a pacman run's output.
    fn stale_warnings(stdout: &str) -> Vec<&str> {
        stdout
            .lines()
            .filter(|l| l.starts_with("lumina: Lumina-Stable's databases are "))
            .collect()
    }

    /// `lumina stable status --json`'s `freshness`.
    fn stable_freshness(&self) -> serde_json::Value {
        let r = self.lumina(&["stable", "status", "--json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["enabled"], true, "{v}");
        v["freshness"].clone()
    }
}

fn foo(version: &str, data: &str) -> PkgSpec {
    PkgSpec::new("foo", version)
        .file("usr/share/foo/data", data)
        .file("etc/foo.conf", &format!("pkg conf {data}\n"))
}

const BTRFS: &str = "version: 1\nbackend: btrfs\n";

#[test]
fn an_upgrade_gets_a_pre_and_post_snapshot_holding_old_and_new_files() {
    if !require_root("an_upgrade_gets_a_pre_and_post_snapshot_holding_old_and_new_files") {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(foo("1.0-1", "one"));
    let r = w.root.pacman_ok(["-Syy", "foo"]);
    assert!(
        r.stdout
            .contains("lumina: snapshot 1 (pre) taken with btrfs"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("lumina: snapshots 1 (pre) and 2 (post) taken with btrfs"),
        "{}",
        r.stdout
    );
    w.publish(foo("2.0-1", "two"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert!(
        r.stdout
            .contains("lumina: snapshots 3 (pre) and 4 (post) taken with btrfs"),
        "{}",
        r.stdout
    );
    // Exactly one line of Lumina's per hook on success.
    assert_eq!(r.stdout.matches("lumina:").count(), 2, "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(w.snapshot_dir(3).join("usr/share/foo/data")).unwrap(),
        "one"
    );
    assert_eq!(
        std::fs::read_to_string(w.snapshot_dir(4).join("usr/share/foo/data")).unwrap(),
        "two"
    );
    assert_eq!(w.root.read("usr/share/foo/data").as_deref(), Some("two"));
    // The snapshots are read-only subvolumes.
    let ro = lumina_e2e::mounts::run(
        std::process::Command::new("btrfs")
            .args(["property", "get", "-ts"])
            .arg(w.snapshot_dir(3))
            .arg("ro"),
    );
    assert_eq!(ro.stdout.trim(), "ro=true", "{ro:?}");
    let d = w.lumina(&["snapshot", "diff", "3"]);
    assert_eq!(
        (d.code, d.stdout.as_str()),
        (0, "foo 1.0-1 -> 2.0-1\n"),
        "{d:?}"
    );
    let list = w.snapshot_list();
    let post = &list.as_array().unwrap()[3];
    assert_eq!(post["kind"], "post");
    assert_eq!(post["pair"], 3);
    assert_eq!(
        post["targets"][0],
        serde_json::json!({"name": "foo", "old": "1.0-1", "new": "2.0-1"})
    );
}

#[test]
fn a_package_that_overwrites_a_linked_file_gets_its_link_back_and_the_pacnew_reported() {
    if !require_root(
        "a_package_that_overwrites_a_linked_file_gets_its_link_back_and_the_pacnew_reported",
    ) {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(foo("1.0-1", "one"));
    w.root.pacman_ok(["-Syy", "foo"]);
    // A system profile links /etc/foo.conf to the user's version (linked once by hand,
    // inside the root, moving the package's file aside).
    write(
        &w.r().join("etc/lumina/system/lumina.yaml"),
        "version: 1\nlinks:\n  /etc/foo.conf: foo.conf\n",
    );
    write(&w.r().join("etc/lumina/system/foo.conf"), "my conf\n");
    let r = chroot_run(
        w.r(),
        &[
            "/usr/bin/lumina",
            "--home",
            "/etc/lumina/system",
            "link",
            "--backup",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read_link(w.r().join("etc/foo.conf")).unwrap(),
        PathBuf::from("/etc/lumina/system/foo.conf")
    );
    // foo 2.0 overwrites /etc/foo.conf (not a backup file): pacman replaces the link.
    w.publish(foo("2.0-1", "two"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert_eq!(
        std::fs::read_link(w.r().join("etc/foo.conf")).ok(),
        Some(PathBuf::from("/etc/lumina/system/foo.conf")),
        "the link is back after the transaction:\n{}",
        r.stdout
    );
    assert_eq!(
        w.root.read("etc/foo.conf.pacnew").as_deref(),
        Some("pkg conf two\n"),
        "{}\nsource: {:?}",
        r.stdout,
        w.root.read("etc/lumina/system/foo.conf")
    );
    assert!(
        r.stdout.contains("lumina: `/etc/foo.conf.pacnew` appeared"),
        "the .pacnew is reported:\n{}",
        r.stdout
    );
}

#[test]
fn the_post_hook_links_a_profile_edit_and_leaves_undisturbed_links_alone() {
    if !require_root("the_post_hook_links_a_profile_edit_and_leaves_undisturbed_links_alone") {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(PkgSpec::new("bar", "1.0-1").file("usr/share/bar/data", "one"));
    w.publish(PkgSpec::new("baz", "1.0-1").file("usr/share/baz/data", "one"));
    w.root.pacman_ok(["-Syy", "bar"]);
    write(
        &w.r().join("etc/lumina/system/lumina.yaml"),
        "version: 1\nlinks:\n  /etc/one.conf: one.conf\n",
    );
    write(&w.r().join("etc/lumina/system/one.conf"), "one\n");
    write(&w.r().join("etc/lumina/system/two.conf"), "two\n");
    let r = chroot_run(
        w.r(),
        &["/usr/bin/lumina", "--home", "/etc/lumina/system", "link"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let record = w.r().join("etc/lumina/system/.state/links.json");
    let before = std::fs::read(&record).unwrap();

    // A transaction that touches no linked directory: the record (the linker's stamps)
    // is not rewritten, the link stays.
    let r = w.root.pacman_ok(["-S", "baz"]);
    assert!(!r.stdout.contains("failed"), "{}", r.stdout);
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&record).unwrap()),
        String::from_utf8_lossy(&before)
    );
    assert_eq!(
        std::fs::read_link(w.r().join("etc/one.conf")).unwrap(),
        PathBuf::from("/etc/lumina/system/one.conf")
    );

    // The profile gains a link that was not linked by hand: the next transaction links it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(
        &w.r().join("etc/lumina/system/lumina.yaml"),
        "version: 1\nlinks:\n  /etc/one.conf: one.conf\n  /etc/two.conf: two.conf\n",
    );
    let r = w.root.pacman_ok(["-R", "baz"]);
    assert_eq!(
        std::fs::read_link(w.r().join("etc/two.conf")).ok(),
        Some(PathBuf::from("/etc/lumina/system/two.conf")),
        "the edit is linked by the post hook:\n{}",
        r.stdout
    );
}

/// `n` bytes of incompressible text (hex of a xorshift stream seeded with `seed`).
fn noise(n: usize, seed: u64) -> String {
    let mut x = seed | 1;
    let mut s = String::with_capacity(n);
    while s.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s.truncate(n);
    s
}

/// Free bytes of the filesystem holding `path`, once btrfs has committed and cleaned.
fn free_bytes(path: &Path) -> u64 {
    lumina_e2e::mounts::run_ok(
        std::process::Command::new("btrfs")
            .args(["subvolume", "sync"])
            .arg(path),
    );
    let st = nix::sys::statvfs::statvfs(path).unwrap();
    st.blocks_available() * st.fragment_size()
}

#[test]
fn the_free_space_floor_deletes_the_oldest_pairs_until_space_is_back_and_no_more() {
    if !require_root(
        "the_free_space_floor_deletes_the_oldest_pairs_until_space_is_back_and_no_more",
    ) {
        return;
    }
    const MIB: usize = 1 << 20;
    let big =
        |v: &str, seed| PkgSpec::new("big", v).file("usr/share/big/blob", &noise(24 * MIB, seed));
    let w = World::sized("version: 1\nbackend: btrfs\nretention: { keep: 10 }\n", 900);
    // Three transactions: each version's 24 MiB blob stays in the snapshots taken while
    // it was installed (v1 in 2 and 3, v2 in 4 and 5, v3 in 6 and the root).
    for (v, seed) in [("1-1", 1), ("2-1", 2), ("3-1", 3)] {
        w.publish(big(v, seed));
        w.root.pacman_ok(["-Syy", "big"]);
    }
    let free = free_bytes(w.r());
    // A floor 24 MiB below today's free space: the next upgrade (a 24 MiB blob and its
    // 12.5 MiB package in pacman's cache) goes 12.5 MiB below it; deleting the oldest pair
    // frees nothing (v1 is still in snapshot 3), deleting the second frees v1's blob and
    // is enough. The third pair must stay: space freed in the background is waited for,
    // not mistaken for space still missing.
    let floor = free - 24 * MIB as u64;
    write(
        &w.r().join("etc/lumina/config.yaml"),
        &format!("version: 1\nbackend: btrfs\nretention: {{ keep: 10, min_free: {floor}B }}\n"),
    );
    w.publish(big("4-1", 4));
    let r = w.root.pacman_ok(["-Syy", "big"]);
    assert!(!r.stdout.contains("cannot prune"), "{}", r.stdout);
    let list = w.lumina(&["snapshot", "list", "--json"]);
    let ids: Vec<u64> = serde_json::from_str::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [5, 6, 7, 8], "{}", r.stdout);
    assert!(free_bytes(w.r()) >= floor);
}

#[test]
fn root_and_home_are_snapshotted_together_under_one_transaction() {
    if !require_root("root_and_home_are_snapshotted_together_under_one_transaction") {
        return;
    }
    let w = World::new("version: 1\nbackend: btrfs\nsubjects: [/, /home]\n");
    // /home is a subvolume of its own, holding a user's virtual root.
    let home = w.r().join("home");
    if home.exists() {
        std::fs::remove_dir(&home).unwrap();
    }
    lumina_e2e::mounts::run_ok(
        std::process::Command::new("btrfs")
            .args(["subvolume", "create"])
            .arg(&home),
    );
    write(
        &home.join("ana/.lumina/lumina.yaml"),
        "version: 1\n# before\n",
    );
    w.publish(foo("1.0-1", "one"));
    w.root.pacman_ok(["-Syy", "foo"]);
    w.publish(foo("2.0-1", "two"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert!(
        r.stdout
            .contains("lumina: snapshots 3 (pre) and 4 (post) taken with btrfs"),
        "{}",
        r.stdout
    );
    write(
        &home.join("ana/.lumina/lumina.yaml"),
        "version: 1\n# after\n",
    );

    // One record per snapshot, one part per subject, one transaction id for the pair.
    let list = w.snapshot_list();
    let pre = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == 3)
        .unwrap();
    let post = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == 4)
        .unwrap();
    assert_eq!(pre["txid"], post["txid"]);
    let parts = |m: &serde_json::Value| -> Vec<(String, PathBuf)> {
        m["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let bid = p["backend_id"].as_str().unwrap();
                (
                    p["subject"].as_str().unwrap().to_owned(),
                    w.r().join(bid.trim_start_matches('/')),
                )
            })
            .collect()
    };
    let (pre_parts, post_parts) = (parts(pre), parts(post));
    assert_eq!(
        pre_parts.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["/", "/home"]
    );
    // The root's snapshot holds the old package, the home's the profile as it was.
    assert_eq!(
        std::fs::read_to_string(pre_parts[0].1.join("usr/share/foo/data")).unwrap(),
        "one"
    );
    assert_eq!(
        std::fs::read_to_string(post_parts[0].1.join("usr/share/foo/data")).unwrap(),
        "two"
    );
    assert_eq!(
        std::fs::read_to_string(pre_parts[1].1.join("ana/.lumina/lumina.yaml")).unwrap(),
        "version: 1\n# before\n"
    );
    // Deleting the snapshot deletes both parts.
    let d = w.lumina(&["snapshot", "delete", "3"]);
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!pre_parts[0].1.exists() && !pre_parts[1].1.exists());
    assert!(post_parts[1].1.exists());
}

#[test]
fn the_pre_hook_warns_in_one_line_when_lumina_stable_databases_are_stale() {
    if !require_root("the_pre_hook_warns_in_one_line_when_lumina_stable_databases_are_stale") {
        return;
    }
    let w = World::new(BTRFS);
    let db = w.lumina_stable_synced("5 days ago");
    w.publish(foo("1.0-1", "one"));
    let r = w.root.pacman_ok(["-Syy", "foo"]);
    let warnings = World::stale_warnings(&r.stdout);
    assert_eq!(
        warnings.len(),
        1,
        "one line, the transaction still runs:\n{}",
        r.stdout
    );
    assert!(
        warnings[0].starts_with("lumina: Lumina-Stable's databases are 5 days old"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("lumina: snapshot 1 (pre) taken with btrfs"),
        "{}",
        r.stdout
    );

    // Freshly synced: silent.
    lumina_e2e::mounts::run_ok(std::process::Command::new("touch").arg(&db));
    w.publish(foo("2.0-1", "two"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert!(!r.stdout.contains("Lumina-Stable"), "{}", r.stdout);
}

#[test]
fn the_stable_section_of_the_config_sets_when_the_pre_hook_warns() {
    if !require_root("the_stable_section_of_the_config_sets_when_the_pre_hook_warns") {
        return;
    }
    // Databases 30 hours old: fresh by the default 72 h, stale by `max_age: 1d`.
    let w = World::new(&format!("{BTRFS}stable:\n  max_age: 1d\n"));
    w.lumina_stable_synced("30 hours ago");
    w.publish(foo("1.0-1", "one"));
    let r = w.root.pacman_ok(["-Syy", "foo"]);
    let warnings = World::stale_warnings(&r.stdout);
    assert_eq!(warnings.len(), 1, "{}", r.stdout);
    assert!(
        warnings[0].starts_with("lumina: Lumina-Stable's databases are 30 hours old"),
        "{}",
        r.stdout
    );
    // `lumina stable status` applies the same threshold and shows it.
    let f = w.stable_freshness();
    assert_eq!(
        (&f["max_age"], &f["max_age_secs"], &f["warn"], &f["stale"]),
        (
            &serde_json::json!("24h"),
            &serde_json::json!(86_400),
            &serde_json::json!(true),
            &serde_json::json!(true)
        ),
        "{f}"
    );
    let text = w.lumina(&["stable", "status"]);
    assert!(
        text.stdout.contains(
            "freshness: stale after 24h; the pre hook warns (`stable:` in /etc/lumina/config.yaml)"
        ),
        "{text:?}"
    );
    assert!(
        text.stderr
            .contains("warning: Lumina-Stable's databases are 30 hours old"),
        "{text:?}"
    );

    // The default threshold: the same databases are fresh, the hook is silent.
    write(&w.r().join("etc/lumina/config.yaml"), BTRFS);
    w.publish(foo("2.0-1", "two"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert!(World::stale_warnings(&r.stdout).is_empty(), "{}", r.stdout);
    let f = w.stable_freshness();
    assert_eq!(
        (&f["max_age"], &f["stale"]),
        (&serde_json::json!("72h"), &serde_json::json!(false))
    );

    // `warn: false`: stale by its `max_age`, yet the hook says nothing; the snapshot is
    // still taken, and `lumina stable status` still reports.
    write(
        &w.r().join("etc/lumina/config.yaml"),
        &format!("{BTRFS}stable:\n  max_age: 90m\n  warn: false\n"),
    );
    w.publish(foo("3.0-1", "three"));
    let r = w.root.pacman_ok(["-Syyu"]);
    assert!(World::stale_warnings(&r.stdout).is_empty(), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("lumina: snapshot 5 (pre) taken with btrfs"),
        "{}",
        r.stdout
    );
    let f = w.stable_freshness();
    assert_eq!(
        (&f["max_age"], &f["warn"], &f["stale"]),
        (
            &serde_json::json!("90m"),
            &serde_json::json!(false),
            &serde_json::json!(true)
        ),
        "{f}"
    );
    let text = w.lumina(&["stable", "status"]);
    assert!(
        text.stdout
            .contains("freshness: stale after 90m; the pre hook does not warn"),
        "{text:?}"
    );

    // A bad value is a config error like any other: file:line:column, and with the default
    // `on_failure: abort` the transaction does not run; `lumina stable status` exits 2.
    write(
        &w.r().join("etc/lumina/config.yaml"),
        &format!("{BTRFS}stable:\n  max_age: soon\n"),
    );
    w.publish(PkgSpec::new("bar", "1.0-1").file("usr/share/bar/data", "bar"));
    let before = w.root.installed();
    let r = w.root.pacman(["-Sy", "bar"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(
            "lumina: cannot read the snapshot policy: /etc/lumina/config.yaml:4:12: `max_age` \
             `soon` is not a duration; the transaction was not run"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(w.root.installed(), before);
    let s = w.lumina(&["stable", "status", "--json"]);
    assert_eq!(s.code, 2, "{s:?}");
    assert!(
        s.stderr
            .contains("config.yaml:4:12: `max_age` `soon` is not a duration"),
        "{s:?}"
    );
}

#[test]
fn a_snapshot_that_cannot_be_taken_aborts_the_transaction_or_warns() {
    if !require_root("a_snapshot_that_cannot_be_taken_aborts_the_transaction_or_warns") {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(foo("1.0-1", "one"));
    w.publish(PkgSpec::new("bar", "1.0-1").file("usr/share/bar/data", "bar"));
    w.root.pacman_ok(["-Syy", "foo"]);
    let before = w.root.installed();
    // The snapshot directory becomes read-only.
    let ro = ReadOnlyBind::new(&w.r().join(".lumina-snapshots"));
    let r = w.root.pacman(["-S", "bar"]);
    assert_ne!(r.code, 0, "pacman must abort: {r:?}");
    assert!(
        r.stdout
            .contains("lumina: cannot take the pre-transaction snapshot"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("the transaction was not run"),
        "{}",
        r.stdout
    );
    assert_eq!(
        w.root.installed(),
        before,
        "the root changed although the snapshot failed"
    );
    assert!(!w.r().join("usr/share/bar/data").exists());
    // With on_failure: warn, the transaction runs and says so in one line.
    write(
        &w.r().join("etc/lumina/config.yaml"),
        "version: 1\nbackend: btrfs\non_failure: warn\n",
    );
    let r = w.root.pacman(["-S", "bar"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("continuing without one (on_failure: warn)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        w.root.installed().get("bar").map(String::as_str),
        Some("1.0-1")
    );
    drop(ro);
}

#[test]
fn a_bad_config_aborts_with_file_line_and_column() {
    if !require_root("a_bad_config_aborts_with_file_line_and_column") {
        return;
    }
    let w = World::new("version: 1\nbackend: lvm\n");
    w.publish(foo("1.0-1", "one"));
    let r = w.root.pacman(["-Syy", "foo"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("lumina: cannot read the snapshot policy: /etc/lumina/config.yaml:2:10: unknown backend `lvm`"),
        "{}",
        r.stdout
    );
    assert!(w.root.installed().is_empty());
    // LUMINA_SKIP_SNAPSHOT=1 lets a transaction through, without a snapshot.
    let r = lumina_e2e::mounts::run(
        w.root
            .command()
            .env("LUMINA_SKIP_SNAPSHOT", "1")
            .args(["-S", "foo"]),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(w.snapshot_list().as_array().unwrap().is_empty());
}

#[test]
fn rollback_restores_the_old_files_and_a_database_that_agrees_with_them() {
    if !require_root("rollback_restores_the_old_files_and_a_database_that_agrees_with_them") {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(foo("1.0-1", "one"));
    w.root.pacman_ok(["-Syy", "foo"]);
    w.publish(foo("2.0-1", "two"));
    w.root.pacman_ok(["-Syyu"]);
    // The pre snapshot was taken while pacman held its lock: the lock is in it.
    assert!(w.snapshot_dir(3).join("var/lib/pacman/db.lck").exists());
    let dry = w.lumina(&["snapshot", "rollback", "3", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("would make it the default subvolume"),
        "{}",
        dry.stdout
    );
    let r = w.lumina(&["snapshot", "rollback", "3"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("reboot"), "{}", r.stderr);
    // What the next boot mounts: the filesystem's default subvolume.
    let booted = w.fs.remount_default();
    let m = booted.path();
    assert_eq!(
        std::fs::read_to_string(m.join("usr/share/foo/data")).unwrap(),
        "one"
    );
    assert!(
        !m.join("var/lib/pacman/db.lck").exists(),
        "the stale lock was not cleared"
    );
    let q = lumina_e2e::mounts::run(
        std::process::Command::new("pacman")
            .arg("--root")
            .arg(m)
            .arg("--dbpath")
            .arg(m.join("var/lib/pacman"))
            .args(["-Q", "foo"]),
    );
    assert_eq!((q.code, q.stdout.as_str()), (0, "foo 1.0-1\n"), "{q:?}");
    // The sync databases travel with the restored root.
    assert!(m.join("var/lib/pacman/sync/lumina-test.db").exists());
    drop(booted);
}

#[test]
fn retention_keeps_exactly_the_configured_pairs_and_leaves_other_snapshots_alone() {
    if !require_root(
        "retention_keeps_exactly_the_configured_pairs_and_leaves_other_snapshots_alone",
    ) {
        return;
    }
    let w = World::new("version: 1\nbackend: btrfs\nretention: { keep: 2, keep_important: 0 }\n");
    w.publish(foo("1.0-1", "one"));
    w.publish(PkgSpec::new("bar", "1.0-1").file("usr/share/bar/data", "bar"));
    w.root.pacman_ok(["-Syy", "foo"]);
    // Snapshots Lumina did not take, one of them named like Lumina's.
    let snaps = w.r().join(".lumina-snapshots");
    for name in ["manual", "lumina-000099-pre"] {
        let r = lumina_e2e::mounts::run(
            std::process::Command::new("btrfs")
                .args(["subvolume", "snapshot", "-r"])
                .arg(w.r())
                .arg(snaps.join(name)),
        );
        assert_eq!(r.code, 0, "{r:?}");
    }
    w.root.pacman_ok(["-S", "bar"]);
    w.root.pacman_ok(["-R", "bar"]);
    w.root.pacman_ok(["-S", "bar"]);
    let ids: Vec<u64> = w
        .snapshot_list()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [5, 6, 7, 8], "exactly the last two pairs are kept");
    let mut on_disk: Vec<String> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        [
            "lumina-000005-pre",
            "lumina-000006-post",
            "lumina-000007-pre",
            "lumina-000008-post",
            "lumina-000099-pre",
            "manual"
        ]
    );
}

#[test]
fn the_post_hook_relinks_an_enrolled_users_links_as_that_user() {
    if !require_root("the_post_hook_relinks_an_enrolled_users_links_as_that_user") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let w = World::new("version: 1\nbackend: btrfs\nusers: [ana]\n");
    let r = w.r();
    // A user who exists only inside the root.
    write(
        &r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nana:x:1500:1500::/home/ana:/bin/sh\n",
    );
    write(&r.join("etc/group"), "root:x:0:\nana:x:1500:\n");
    write(
        &r.join("home/ana/.lumina/lumina.yaml"),
        "version: 1\nlinks:\n  ~/.bashrc: shell/bashrc\n",
    );
    write(&r.join("home/ana/.lumina/shell/bashrc"), "export A=1\n");
    let st = std::process::Command::new("chown")
        .args(["-R", "1500:1500"])
        .arg(r.join("home/ana"))
        .status()
        .unwrap();
    assert!(st.success());
    w.publish(foo("1.0-1", "one"));
    let out = w.root.pacman_ok(["-Syy", "foo"]);
    let link = r.join("home/ana/.bashrc");
    let m = std::fs::symlink_metadata(&link)
        .unwrap_or_else(|e| panic!("no link ({e}):\n{}", out.stdout));
    assert!(m.file_type().is_symlink());
    assert_eq!(
        (m.uid(), m.gid()),
        (1500, 1500),
        "the link must be made as ana, not as root"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("/home/ana/.lumina/shell/bashrc")
    );
    assert_eq!(out.stdout.matches("lumina:").count(), 2, "{}", out.stdout);
}

#[test]
fn snapshots_can_be_deleted_by_id_and_pruned_on_demand() {
    if !require_root("snapshots_can_be_deleted_by_id_and_pruned_on_demand") {
        return;
    }
    let w = World::new(BTRFS);
    w.publish(foo("1.0-1", "one"));
    w.root.pacman_ok(["-Syy", "foo"]);
    w.root.pacman_ok(["-R", "foo"]);
    let r = w.lumina(&["snapshot", "delete", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!w.r().join(".lumina-snapshots/lumina-000001-pre").exists());
    let r = w.lumina(&["snapshot", "show", "1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no Lumina snapshot with id 1"),
        "{}",
        r.stderr
    );
    write(
        &w.r().join("etc/lumina/config.yaml"),
        "version: 1\nbackend: btrfs\nretention: { keep: 1 }\n",
    );
    let r = w.lumina(&["snapshot", "prune", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["pruned"]["by_count"], serde_json::json!([2]));
    assert!(
        w.r().join(".lumina-snapshots/lumina-000002-post").exists(),
        "a dry run deleted"
    );
    assert_eq!(w.lumina(&["snapshot", "prune"]).code, 0);
    let ids: Vec<u64> = w
        .snapshot_list()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 4]);
}
