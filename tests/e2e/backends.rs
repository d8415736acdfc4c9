//! Lumina's ZFS and snapper backends under real pacman (Debian's pacman 6.0.2): the same
//! upgrade as in `hooks.rs`, once on a ZFS dataset of a real `zfs-fuse` daemon, once through
//! Debian's snapper on a btrfs loop image. pacman runs `lumina-hook` chrooted into the root,
//! so `zfs` and `snapper` run inside it, as on an Arch system. Needs root; fails under
//! `CI=true` without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lumina_e2e::chroot::{BindMount, chroot_run, install_binary, install_file, install_tool};
use lumina_e2e::mounts::{LoopBtrfs, Pool, ZFS_SOCKET_DIR, ZfsFuse, run, run_ok};
use lumina_e2e::pacman::{LocalRepo, PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{Run, bin, require_root, write};

/// Packages built in a temporary directory and published in a local repository.
struct Packages {
    repo: LocalRepo,
    dir: tempfile::TempDir,
}

impl Packages {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalRepo::new(&dir.path().join("repo"), "lumina-test");
        Self { repo, dir }
    }

    fn publish(&self, spec: &PkgSpec) {
        self.repo.add(&build_package(spec, self.dir.path()));
    }
}

fn foo(version: &str, data: &str) -> PkgSpec {
    PkgSpec::new("foo", version).file("usr/share/foo/data", data)
}

/// Make `base` a pacman root using `pkgs`' repository, with `lumina`, `lumina-hook`, Lumina's
/// two ALPM hooks and `config` (`/etc/lumina/config.yaml`) installed in it.
fn lumina_root(base: &Path, pkgs: &Packages, config: &str) -> ScratchRoot {
    let mut root = ScratchRoot::new(base);
    root.add_repo(&pkgs.repo);
    let r = root.root();
    install_binary(r, &bin("lumina-hook"), "/usr/bin/lumina-hook");
    install_binary(r, &bin("lumina"), "/usr/bin/lumina");
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hooks/alpm");
    for name in ["05-lumina-pre.hook", "zz-lumina-post.hook"] {
        let text = std::fs::read_to_string(hooks.join(name)).unwrap();
        write(&r.join("usr/share/libalpm/hooks").join(name), &text);
    }
    write(&r.join("etc/lumina/config.yaml"), config);
    root
}

/// `lumina --root R ARGS` from the host.
fn lumina(r: &Path, args: &[&str]) -> Run {
    run(Command::new(bin("lumina"))
        .arg("--root")
        .arg(r)
        .args(args)
        .env("NO_COLOR", "1"))
}

/// `lumina --root R snapshot list --json`.
fn snapshot_list(r: &Path) -> Vec<serde_json::Value> {
    let out = lumina(r, &["snapshot", "list", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(list: &[serde_json::Value]) -> Vec<u64> {
    list.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

/// The backend id of Lumina snapshot `id` (its only part).
fn backend_id(r: &Path, id: u64) -> String {
    let list = snapshot_list(r);
    let m = list
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no snapshot {id} in {list:?}"));
    assert_eq!(m["parts"].as_array().unwrap().len(), 1, "{m}");
    m["parts"][0]["backend_id"].as_str().unwrap().to_owned()
}

/// The first install and the upgrade of `foo`; checks the hooks' lines and the diff, and
/// returns the ids of Lumina's snapshots.
fn install_then_upgrade(root: &ScratchRoot, pkgs: &Packages, backend: &str) -> Vec<u64> {
    pkgs.publish(&foo("1.0-1", "one"));
    let out = root.pacman_ok(["-Syy", "foo"]);
    assert!(
        out.stdout.contains(&format!(
            "lumina: snapshots 1 (pre) and 2 (post) taken with {backend}"
        )),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    pkgs.publish(&foo("2.0-1", "two"));
    let out = root.pacman_ok(["-Syyu"]);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("lumina:"))
        .collect();
    assert_eq!(
        lines,
        [
            format!("lumina: snapshot 3 (pre) taken with {backend}"),
            format!("lumina: snapshots 3 (pre) and 4 (post) taken with {backend}"),
        ],
        "exactly one line per hook:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(root.read("usr/share/foo/data").as_deref(), Some("two"));
    let r = root.root();
    for id in ["3", "4"] {
        let d = lumina(r, &["snapshot", "diff", id]);
        assert_eq!(
            (d.code, d.stdout.as_str()),
            (0, "foo 1.0-1 -> 2.0-1\n"),
            "{d:?}"
        );
    }
    let list = snapshot_list(r);
    let post = list.last().unwrap();
    assert_eq!(
        (&post["id"], &post["kind"], &post["pair"], &post["backend"]),
        (&4.into(), &"post".into(), &3.into(), &backend.into())
    );
    ids(&list)
}

/// `zfs ARGS` on the host, which must succeed.
fn zfs(args: &[&str]) -> Run {
    run_ok(Command::new("zfs").args(args))
}

/// The snapshots of `dataset`, oldest first.
fn zfs_snapshots(dataset: &str) -> Vec<String> {
    zfs(&[
        "list", "-H", "-t", "snapshot", "-o", "name", "-s", "creation", "-r", dataset,
    ])
    .stdout
    .lines()
    .map(str::to_owned)
    .collect()
}

/// `REL` as it is in the ZFS snapshot `snap`. zfs-fuse has no `.zfs/snapshot/` directory
/// (not even with `snapdir=visible`), so the snapshot is cloned, read and the clone destroyed.
fn read_in_zfs_snapshot(pool: &Pool<'_>, snap: &str, rel: &str) -> Option<String> {
    let clone = lumina_e2e::mounts::unique_name("check");
    let name = format!("{}/{clone}", pool.name());
    zfs(&["clone", snap, &name]);
    let text = std::fs::read_to_string(pool.mountpoint().join(&clone).join(rel)).ok();
    // zfs-fuse answers "dataset is busy" for a moment after a clone is mounted.
    let t0 = Instant::now();
    loop {
        let r = run(Command::new("zfs").args(["destroy", &name]));
        if r.code == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "zfs destroy {name}: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    text
}

#[test]
fn zfs_an_upgrade_gets_a_pre_and_post_snapshot_and_rollback_restores_the_old_files() {
    if !require_root(
        "zfs_an_upgrade_gets_a_pre_and_post_snapshot_and_rollback_restores_the_old_files",
    ) {
        return;
    }
    let t0 = Instant::now();
    // Declaration order is the reverse of drop order: the bind mounts go first, then the
    // root's files, the pool, and the daemon last.
    let daemon = ZfsFuse::start();
    let pool = daemon.create_pool("lumina", 512);
    let dataset = format!("{}/root", pool.name());
    let base = pool.dataset("root");
    let pkgs = Packages::new();
    // keep: 1 -- the post hook of the upgrade prunes the first pair (a `zfs destroy` from
    // inside the root), after the upgrade's pre snapshot was taken with its records.
    let config = format!(
        "version: 1\nbackend: zfs\ndatasets: [{dataset}]\ntools: {{ zfs: /usr/sbin/zfs }}\n\
         retention: {{ keep: 1 }}\n"
    );
    let root = lumina_root(&base, &pkgs, &config);
    let r: PathBuf = root.root().to_path_buf();
    // The hook runs `zfs` chrooted: it reads /proc/mounts and talks to zfs-fuse through
    // its socket directory.
    assert_eq!(install_tool(&r, "zfs"), "/usr/sbin/zfs");
    let _proc = BindMount::new(&r, Path::new("/proc"));
    let _socket = BindMount::new(&r, Path::new(ZFS_SOCKET_DIR));
    let setup = t0.elapsed();

    assert_eq!(install_then_upgrade(&root, &pkgs, "zfs"), [3, 4]);
    let snaps = |ids: &[&str]| -> Vec<String> {
        ids.iter()
            .map(|s| format!("{dataset}@lumina-{s}"))
            .collect()
    };
    assert_eq!(
        zfs_snapshots(&dataset),
        snaps(&["000003-pre", "000004-post"])
    );
    let pre = backend_id(&r, 3);
    let post = backend_id(&r, 4);
    assert_eq!(pre, format!("{dataset}@lumina-000003-pre"));
    assert_eq!(post, format!("{dataset}@lumina-000004-post"));
    assert_eq!(
        snapshot_list(&r)[0]["parts"][0]["subject"],
        dataset.as_str()
    );
    // The pre holds the old package's files and database, the post the new.
    let data = "usr/share/foo/data";
    assert_eq!(
        read_in_zfs_snapshot(&pool, &pre, data).as_deref(),
        Some("one")
    );
    assert!(read_in_zfs_snapshot(&pool, &pre, "var/lib/pacman/local/foo-1.0-1/desc").is_some());
    assert_eq!(
        read_in_zfs_snapshot(&pool, &post, data).as_deref(),
        Some("two")
    );

    // Rollback: the later snapshot it destroys is listed, and nothing happens without --yes.
    let dry = lumina(&r, &["snapshot", "rollback", "3", "--dry-run"]);
    assert_eq!(
        (dry.code, dry.stdout.as_str()),
        (
            0,
            format!(
                "would zfs rollback -r {pre}\nwould clear a stale pacman lock \
                 (`/var/lib/pacman/db.lck`) the snapshot restores\nwould destroy {post}\n"
            )
            .as_str()
        ),
        "{dry:?}"
    );
    let refused = lumina(&r, &["snapshot", "rollback", "3"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "rolling back destroys these later snapshots:\n  {post}\n"
        )),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert_eq!(root.read(data).as_deref(), Some("two"));
    assert_eq!(
        zfs_snapshots(&dataset).len(),
        2,
        "a refused rollback destroyed"
    );

    let done = lumina(&r, &["snapshot", "rollback", "3", "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(
        done.stdout,
        format!(
            "zfs rollback -r {pre}\nclear a stale pacman lock (`/var/lib/pacman/db.lck`) the \
             snapshot restores\nremoved a stale `/var/lib/pacman/db.lck`\ndestroy {post}\n"
        ),
        "{done:?}"
    );
    assert_eq!(root.read(data).as_deref(), Some("one"));
    assert_eq!(
        root.installed().get("foo").map(String::as_str),
        Some("1.0-1"),
        "pacman's database agrees with the restored files"
    );
    let q = root.pacman(["-Q", "foo"]);
    assert_eq!((q.code, q.stdout.as_str()), (0, "foo 1.0-1\n"), "{q:?}");
    assert_eq!(zfs_snapshots(&dataset), snaps(&["000003-pre"]));
    // The rollback rewound the live dataset, Lumina's records and pacman's lock with it:
    // the records are those of the snapshots that are left (not 4, destroyed; not 1 and 2,
    // which the pre snapshot still held), and the pre's stale lock is gone.
    assert_eq!(ids(&snapshot_list(&r)), [3]);
    assert!(
        !r.join("var/lib/pacman/db.lck").exists(),
        "the pre snapshot's pacman lock is left in the restored root"
    );
    // The restored system upgrades again, with new snapshots.
    let again = root.pacman_ok(["-Syyu"]);
    assert!(
        again
            .stdout
            .contains("lumina: snapshots 4 (pre) and 5 (post) taken with zfs"),
        "{}\n{}",
        again.stdout,
        again.stderr
    );
    assert_eq!(root.read(data).as_deref(), Some("two"));
    assert_eq!(ids(&snapshot_list(&r)), [4, 5]);
    assert_eq!(
        zfs_snapshots(&dataset),
        snaps(&["000004-pre", "000005-post"])
    );
    eprintln!(
        "zfs: daemon started in {:?}, set up in {setup:?}, test body {:?}",
        daemon.startup(),
        t0.elapsed() - setup
    );
}

/// `snapper --no-dbus -c root ARGS` chrooted into `r`, which must succeed.
fn snapper_in(r: &Path, args: &[&str]) -> Run {
    let mut argv = vec!["/usr/bin/snapper", "--no-dbus", "-c", "root"];
    argv.extend_from_slice(args);
    let out = chroot_run(r, &argv);
    assert_eq!(out.code, 0, "snapper {args:?}: {out:?}");
    out
}

/// snapper's own list: `number,type,pre-number,cleanup,userdata` of each snapshot but the
/// current system (0).
fn snapper_list(r: &Path) -> Vec<String> {
    snapper_in(
        r,
        &[
            "--csvout",
            "list",
            "--columns",
            "number,type,pre-number,cleanup,userdata",
        ],
    )
    .stdout
    .lines()
    .skip(1)
    .filter(|l| !l.starts_with("0,"))
    .map(str::to_owned)
    .collect()
}

#[test]
fn snapper_an_upgrade_gets_a_pre_post_pair_snapper_knows_and_delete_removes_it_there_too() {
    if !require_root(
        "snapper_an_upgrade_gets_a_pre_post_pair_snapper_knows_and_delete_removes_it_there_too",
    ) {
        return;
    }
    let t0 = Instant::now();
    let fs = LoopBtrfs::new(400);
    let sub = fs.subvolume("root");
    let pkgs = Packages::new();
    let root = lumina_root(
        &sub,
        &pkgs,
        "version: 1\nbackend: snapper\ntools: { snapper: /usr/bin/snapper }\n",
    );
    let r: PathBuf = root.root().to_path_buf();
    // snapper inside the root: the program, its sysconfig file (SNAPPER_CONFIGS) and the
    // config template. It needs no /proc or /dev there, but without /proc/mounts it cannot
    // detect the filesystem type, so create-config is told. (Not `snapper --root R
    // create-config` from the host: snapper 0.10.4 then rewrites the host's
    // /etc/default/snapper and /etc/snapper/configs/root.)
    assert_eq!(install_tool(&r, "snapper"), "/usr/bin/snapper");
    install_file(&r, Path::new("/usr/share/snapper/config-templates/default"));
    write(&r.join("etc/default/snapper"), "SNAPPER_CONFIGS=\"\"\n");
    std::fs::create_dir_all(r.join("etc/snapper/configs")).unwrap();
    snapper_in(&r, &["create-config", "--fstype", "btrfs", "/"]);
    // A snapshot Lumina did not take: snapper's numbers and Lumina's ids differ by one.
    snapper_in(&r, &["create", "--description", "by hand"]);
    let setup = t0.elapsed();

    assert_eq!(install_then_upgrade(&root, &pkgs, "snapper"), [1, 2, 3, 4]);
    assert_eq!(backend_id(&r, 3), "root:4");
    assert_eq!(backend_id(&r, 4), "root:5");
    // snapper sees pre/post pairs, with the pre number linked, number cleanup, and Lumina's
    // id in the userdata.
    assert_eq!(
        snapper_list(&r),
        [
            "1,single,,,",
            "2,pre,,number,lumina=1",
            "3,post,2,number,lumina=2",
            "4,pre,,number,lumina=3",
            "5,post,4,number,lumina=4",
        ]
    );
    // The pre holds the old package's files, the post the new; both read-only.
    let snap = |n: u32| r.join(format!(".snapshots/{n}/snapshot"));
    let data = "usr/share/foo/data";
    assert_eq!(std::fs::read_to_string(snap(4).join(data)).unwrap(), "one");
    assert_eq!(std::fs::read_to_string(snap(5).join(data)).unwrap(), "two");
    assert!(snap(4).join("var/lib/pacman/local/foo-1.0-1/desc").exists());
    for n in [4, 5] {
        let ro = run_ok(
            Command::new("btrfs")
                .args(["property", "get", "-ts"])
                .arg(snap(n))
                .arg("ro"),
        );
        assert_eq!(ro.stdout.trim(), "ro=true", "{ro:?}");
    }

    // `lumina snapshot delete` (from the host, `--root R`) removes them from snapper too.
    for id in ["4", "3"] {
        let out = lumina(&r, &["snapshot", "delete", id]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(ids(&snapshot_list(&r)), [1, 2]);
    assert_eq!(
        snapper_list(&r),
        [
            "1,single,,,",
            "2,pre,,number,lumina=1",
            "3,post,2,number,lumina=2",
        ]
    );
    assert!(!r.join(".snapshots/4").exists());
    assert!(!r.join(".snapshots/5").exists());
    eprintln!(
        "snapper: set up in {setup:?}, test body {:?}",
        t0.elapsed() - setup
    );
}

#[test]
fn snapper_rollback_makes_the_pre_snapshot_the_default_subvolume_with_its_own_database() {
    if !require_root(
        "snapper_rollback_makes_the_pre_snapshot_the_default_subvolume_with_its_own_database",
    ) {
        return;
    }
    let fs = LoopBtrfs::new(400);
    let sub = fs.subvolume("root");
    let pkgs = Packages::new();
    let root = lumina_root(
        &sub,
        &pkgs,
        "version: 1\nbackend: snapper\ntools: { snapper: /usr/bin/snapper }\n",
    );
    let r: PathBuf = root.root().to_path_buf();
    assert_eq!(install_tool(&r, "snapper"), "/usr/bin/snapper");
    install_file(&r, Path::new("/usr/share/snapper/config-templates/default"));
    write(&r.join("etc/default/snapper"), "SNAPPER_CONFIGS=\"\"\n");
    std::fs::create_dir_all(r.join("etc/snapper/configs")).unwrap();
    snapper_in(&r, &["create-config", "--fstype", "btrfs", "/"]);
    assert_eq!(install_then_upgrade(&root, &pkgs, "snapper"), [1, 2, 3, 4]);

    let dry = lumina(&r, &["snapshot", "rollback", "3", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout
            .contains("snapper -c root --ambit classic rollback 3"),
        "{dry:?}"
    );
    // The pre snapshot was taken while pacman held its lock.
    assert!(
        r.join(".snapshots/3/snapshot/var/lib/pacman/db.lck")
            .exists()
    );
    let out = lumina(&r, &["snapshot", "rollback", "3", "--yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    // snapper keeps the current system as snapshot 5 and makes a writable copy of 3 (6),
    // the new default subvolume: what boots next.
    assert!(
        out.stdout
            .contains("snapper made snapshot 6 the default subvolume"),
        "{out:?}"
    );
    assert!(out.stderr.contains("reboot"), "{out:?}");
    let default = run_ok(
        Command::new("btrfs")
            .args(["subvolume", "get-default"])
            .arg(&r),
    );
    assert!(
        default
            .stdout
            .trim_end()
            .ends_with("path root/.snapshots/6/snapshot"),
        "{default:?}"
    );
    let m = r.join(".snapshots/6/snapshot");
    assert_eq!(
        std::fs::read_to_string(m.join("usr/share/foo/data")).unwrap(),
        "one"
    );
    assert!(
        !m.join("var/lib/pacman/db.lck").exists(),
        "the stale lock is gone"
    );
    let q = run_ok(
        Command::new("pacman")
            .arg("--dbpath")
            .arg(m.join("var/lib/pacman"))
            .args(["-Q", "foo"]),
    );
    assert_eq!(q.stdout, "foo 1.0-1\n");
    let ro = run_ok(
        Command::new("btrfs")
            .args(["property", "get", "-ts"])
            .arg(&m)
            .arg("ro"),
    );
    assert_eq!(
        ro.stdout.trim(),
        "ro=false",
        "the restored root is writable"
    );
}
