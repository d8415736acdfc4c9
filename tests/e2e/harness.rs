//! The test harness itself, with the real tools: packages that pacman 6.0.2 installs and
//! verifies, hooks that pacman runs chrooted into the scratch root, btrfs on a loop device,
//! and a `zfs-fuse` daemon, each cleaned up by its guard (also when a test panics).
//! These tests need root; they fail under `CI=true` when not run as root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use lumina_e2e::chroot::{BindMount, chroot_run, install_script, install_tool};
use lumina_e2e::mounts::{
    LoopBtrfs, ReadOnlyBind, ZFS_SOCKET_DIR, ZfsFuse, is_mount_point, loops_of, mounts_below, run,
    run_ok, unique_name,
};
use lumina_e2e::pacman::{LocalRepo, PkgSpec, ScratchRoot, build_package};
use lumina_e2e::require_root;

/// `foo VERSION` with `usr/share/foo/version` = `CONTENT`.
fn foo(version: &str, content: &str) -> PkgSpec {
    PkgSpec::new("foo", version).file("usr/share/foo/version", content)
}

/// A repository `lue2e` in a new temporary directory holding `foo 1.0-1`; also returns the
/// path of a built `foo 2.0-1`, not yet added.
fn repo_with_foo() -> (tempfile::TempDir, LocalRepo, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("built");
    let v1 = build_package(&foo("1.0-1", "1"), &built);
    let v2 = build_package(&foo("2.0-1", "2"), &built);
    let repo = LocalRepo::new(&dir.path().join("repo"), "lue2e");
    repo.add(&v1);
    (dir, repo, v2)
}

fn installed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn done(test: &str, t0: Instant) {
    eprintln!("{test}: {:?}", t0.elapsed());
}

#[test]
fn harness_pacman_installs_verifies_and_upgrades_a_built_package() {
    if !require_root("harness_pacman_installs_verifies_and_upgrades_a_built_package") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, v2) = repo_with_foo();
    let mut r = ScratchRoot::temp();
    r.add_repo(&repo);

    r.pacman_ok(["-Sy", "foo"]);
    assert_eq!(r.read("usr/share/foo/version").as_deref(), Some("1"));
    assert_eq!(r.installed(), installed(&[("foo", "1.0-1")]));
    let qkk = r.pacman(["-Qkk", "foo"]);
    assert_eq!(qkk.code, 0, "{qkk:?}");
    assert!(qkk.stdout.contains("0 altered files"), "{qkk:?}");
    assert!(qkk.stderr.is_empty(), "{qkk:?}");

    // Usually within the second of the first sync: plain -Sy must still see the new database.
    repo.add(&v2);
    r.pacman_ok(["-Syu"]);
    assert_eq!(r.read("usr/share/foo/version").as_deref(), Some("2"));
    assert_eq!(r.installed(), installed(&[("foo", "2.0-1")]));
    let qkk = r.pacman(["-Qkk", "foo"]);
    assert_eq!(qkk.code, 0, "{qkk:?}");

    // -Qkk really checks the .MTREE: a changed file is reported.
    lumina_e2e::write(&r.path("usr/share/foo/version"), "tampered");
    let qkk = r.pacman(["-Qkk", "foo"]);
    assert_eq!(qkk.code, 1, "{qkk:?}");
    assert!(qkk.stderr.contains("SHA256 checksum mismatch"), "{qkk:?}");
    done("pacman install/upgrade", t0);
}

#[test]
fn harness_packages_are_laid_out_like_makepkg_builds_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PkgSpec::new("bar", "0.1-2")
        .file("etc/bar.conf", "a=1\n")
        .file("usr/bin/bar", "#!/bin/sh\n")
        .depend("foo>=1.0")
        .backup("etc/bar.conf");
    let pkg = build_package(&spec, dir.path());
    assert_eq!(pkg, dir.path().join("bar-0.1-2-x86_64.pkg.tar.zst"));
    let list = run_ok(Command::new("bsdtar").arg("-tvf").arg(&pkg)).stdout;
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        names,
        [
            ".MTREE",
            ".PKGINFO",
            "etc/",
            "etc/bar.conf",
            "usr/",
            "usr/bin/",
            "usr/bin/bar"
        ],
        "{list}"
    );
    assert!(list.lines().all(|l| l.contains(" root ")), "{list}");
    assert!(list.contains("-rwxr-xr-x"), "usr/bin is executable: {list}");
    let info = run_ok(
        Command::new("bsdtar")
            .args(["-xOf"])
            .arg(&pkg)
            .arg(".PKGINFO"),
    )
    .stdout;
    for line in [
        "pkgname = bar",
        "pkgver = 0.1-2",
        "arch = x86_64",
        "backup = etc/bar.conf",
        "depend = foo>=1.0",
        "size = 14",
    ] {
        assert!(info.lines().any(|l| l == line), "{line} missing: {info}");
    }
    let mtree = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("bsdtar -xOf \"$0\" .MTREE | gzip -dc")
            .arg(&pkg),
    )
    .stdout;
    assert!(mtree.starts_with("#mtree\n"), "{mtree}");
    for entry in ["./.PKGINFO ", "./etc ", "./etc/bar.conf ", "./usr/bin/bar "] {
        assert!(mtree.contains(entry), "{entry} missing: {mtree}");
    }
    assert!(!mtree.contains("./.MTREE"), "{mtree}");
    assert!(
        mtree.contains("sha256digest=") && mtree.contains("uid=0 gid=0"),
        "{mtree}"
    );
    // Same spec, same bytes.
    let again = build_package(&spec, &dir.path().join("again"));
    assert_eq!(std::fs::read(&pkg).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn harness_depends_and_backup_work_as_in_pacman() {
    if !require_root("harness_depends_and_backup_work_as_in_pacman") {
        return;
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::new(&dir.path().join("repo"), "lue2e");
    let conf = |v: &str, c: &str| {
        PkgSpec::new("conf", v)
            .file("etc/conf.conf", c)
            .backup("etc/conf.conf")
            .depend("foo")
    };
    repo.add(&build_package(&foo("1.0-1", "1"), dir.path()));
    repo.add(&build_package(&conf("1.0-1", "v1\n"), dir.path()));
    let mut r = ScratchRoot::temp();
    r.add_repo(&repo);

    r.pacman_ok(["-Sy", "conf"]);
    assert_eq!(
        r.installed(),
        installed(&[("conf", "1.0-1"), ("foo", "1.0-1")]),
        "the dependency is pulled in"
    );
    lumina_e2e::write(&r.path("etc/conf.conf"), "edited\n");
    repo.add(&build_package(&conf("2.0-1", "v2\n"), dir.path()));
    let up = r.pacman_ok(["-Syu"]);
    assert_eq!(
        r.read("etc/conf.conf").as_deref(),
        Some("edited\n"),
        "{up:?}"
    );
    assert_eq!(
        r.read("etc/conf.conf.pacnew").as_deref(),
        Some("v2\n"),
        "{up:?}"
    );
    done("depends/backup", t0);
}

#[test]
fn harness_a_post_transaction_hook_runs_chrooted_with_its_targets() {
    if !require_root("harness_a_post_transaction_hook_runs_chrooted_with_its_targets") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, _) = repo_with_foo();
    let mut r = ScratchRoot::temp();
    r.add_repo(&repo);
    let out = format!("/{}", unique_name("hook-ran-"));
    install_script(
        r.root(),
        "/usr/bin/hook-probe",
        &format!("while read -r t; do echo \"$t\" >> {out}; done\n"),
    );
    r.write_hook(
        "50-probe.hook",
        "[Trigger]\nOperation = Install\nOperation = Upgrade\nType = Path\n\
         Target = usr/share/foo/*\n\n[Action]\nDescription = probe\n\
         When = PostTransaction\nExec = /usr/bin/hook-probe\nNeedsTargets\n",
    );

    let res = r.pacman_ok(["-Sy", "foo"]);
    assert!(res.stdout.contains("(1/1) probe"), "{res:?}");
    let targets = r
        .read(&out)
        .unwrap_or_else(|| panic!("hook did not run: {res:?}"));
    assert_eq!(targets, "usr/share/foo/\nusr/share/foo/version\n");
    assert!(!Path::new(&out).exists(), "the hook ran outside the chroot");
    done("post-transaction hook", t0);
}

#[test]
fn harness_a_failing_abort_on_fail_hook_stops_the_transaction() {
    if !require_root("harness_a_failing_abort_on_fail_hook_stops_the_transaction") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, _) = repo_with_foo();
    let mut r = ScratchRoot::temp();
    r.add_repo(&repo);
    let false_bin = install_tool(r.root(), "false");
    let hook = r.write_hook(
        "10-veto.hook",
        &format!(
            "[Trigger]\nOperation = Install\nType = Package\nTarget = foo\n\n[Action]\n\
             Description = veto\nWhen = PreTransaction\nExec = {false_bin}\nAbortOnFail\n"
        ),
    );

    let res = r.pacman(["-Sy", "foo"]);
    assert_eq!(res.code, 1, "{res:?}");
    assert!(
        res.stderr.contains("failed to run transaction hooks"),
        "{res:?}"
    );
    assert_eq!(r.installed(), BTreeMap::new());
    assert!(!r.path("usr/share/foo/version").exists());

    // The hook was the reason: without it the same install succeeds.
    std::fs::remove_file(hook).unwrap();
    r.pacman_ok(["-S", "foo"]);
    assert_eq!(r.installed(), installed(&[("foo", "1.0-1")]));
    done("abort-on-fail hook", t0);
}

/// pacman 6.0.2 reads `ROOT/usr/share/libalpm/hooks` and `--hookdir` (not root-prefixed);
/// hooks run sorted by file name, and one in `--hookdir` overrides a same-named system one.
#[test]
fn harness_hook_directories_are_the_roots_system_dir_and_hookdir() {
    if !require_root("harness_hook_directories_are_the_roots_system_dir_and_hookdir") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, _) = repo_with_foo();
    let mut r = ScratchRoot::temp();
    r.add_repo(&repo);
    let touch = install_tool(r.root(), "touch");
    let hook = |desc: &str, file: &str| {
        format!(
            "[Trigger]\nOperation = Install\nType = Package\nTarget = *\n\n[Action]\n\
             Description = {desc}\nWhen = PostTransaction\nExec = {touch} /{file}\n"
        )
    };
    let sys = r.path("usr/share/libalpm/hooks");
    lumina_e2e::write(&sys.join("20-sys.hook"), &hook("sys", "ran-sys"));
    lumina_e2e::write(&sys.join("30-same.hook"), &hook("same-sys", "ran-same-sys"));
    r.write_hook("10-etc.hook", &hook("etc", "ran-etc"));
    r.write_hook("30-same.hook", &hook("same-etc", "ran-same-etc"));

    let res = r.pacman_ok(["-Sy", "foo"]);
    let order: Vec<&str> = res.stdout.lines().filter(|l| l.starts_with('(')).collect();
    assert_eq!(
        order,
        ["(1/3) etc", "(2/3) sys", "(3/3) same-etc"],
        "{res:?}"
    );
    for f in ["ran-etc", "ran-sys", "ran-same-etc"] {
        assert!(r.path(f).exists(), "{f}: {res:?}");
    }
    assert!(!r.path("ran-same-sys").exists());
    done("hook directories", t0);
}

#[test]
fn harness_btrfs_root_installs_snapshots_rolls_back_and_cleans_up() {
    if !require_root("harness_btrfs_root_installs_snapshots_rolls_back_and_cleans_up") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, v2) = repo_with_foo();
    let fs = LoopBtrfs::new(160);
    let (image, mnt) = (fs.image().to_owned(), fs.mnt().to_owned());
    assert_eq!(loops_of(&image), [fs.device()]);
    let t_fs = t0.elapsed();
    let sub = fs.subvolume("root");
    let mut r = ScratchRoot::new(&sub);
    r.add_repo(&repo);
    r.pacman_ok(["-Sy", "foo"]);

    let snap = mnt.join("snap-1");
    run_ok(
        Command::new("btrfs")
            .args(["subvolume", "snapshot", "-r"])
            .arg(&sub)
            .arg(&snap),
    );
    repo.add(&v2);
    r.pacman_ok(["-Syu"]);
    assert_eq!(r.read("usr/share/foo/version").as_deref(), Some("2"));
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    assert_eq!(
        read(snap.join("usr/share/foo/version")).as_deref(),
        Some("1")
    );
    assert!(snap.join("var/lib/pacman/local/foo-1.0-1/desc").is_file());
    let w = std::fs::write(snap.join("x"), "");
    assert_eq!(w.unwrap_err().raw_os_error(), Some(nix::libc::EROFS));

    // A rollback: a writable snapshot of snap-1 becomes the default subvolume; a fresh
    // mount without subvol= sees it.
    let back = mnt.join("root-rollback");
    run_ok(
        Command::new("btrfs")
            .args(["subvolume", "snapshot"])
            .arg(&snap)
            .arg(&back),
    );
    run_ok(
        Command::new("btrfs")
            .args(["subvolume", "set-default"])
            .arg(&back),
    );
    let m = fs.remount_default();
    assert_eq!(
        read(m.path().join("usr/share/foo/version")).as_deref(),
        Some("1")
    );
    let second = m.path().to_owned();
    drop(m);
    assert!(!is_mount_point(&second) && !second.exists());

    drop(r);
    drop(fs);
    assert!(loops_of(&image).is_empty(), "loop device left attached");
    assert!(mounts_below(&mnt).is_empty(), "still mounted");
    assert!(!image.exists() && !mnt.exists(), "files left behind");
    let all = run_ok(Command::new("losetup").arg("-a")).stdout;
    assert!(!all.contains(&image.display().to_string()), "{all}");
    eprintln!("btrfs: mkfs+mount {t_fs:?}");
    done("btrfs", t0);
}

#[test]
fn harness_zfs_fuse_root_installs_snapshots_and_cleans_up() {
    if !require_root("harness_zfs_fuse_root_installs_snapshots_and_cleans_up") {
        return;
    }
    let t0 = Instant::now();
    let (_dir, repo, v2) = repo_with_foo();
    let zfs = ZfsFuse::start();
    let pid = zfs.pid();
    eprintln!("zfs-fuse started in {:?}", zfs.startup());
    let pool = zfs.create_pool("lue2e", 128);
    let name = pool.name().to_owned();
    let pool_mnt = pool.mountpoint().to_owned();
    let ds = pool.dataset("root");
    let dataset = format!("{name}/root");
    assert!(is_mount_point(&ds), "{} is not mounted", ds.display());

    let mut r = ScratchRoot::new(&ds);
    r.add_repo(&repo);
    r.pacman_ok(["-Sy", "foo"]);
    assert_eq!(r.installed(), installed(&[("foo", "1.0-1")]));
    let qkk = r.pacman(["-Qkk", "foo"]);
    assert_eq!(qkk.code, 0, "{qkk:?}");
    run_ok(
        Command::new("zfs")
            .arg("snapshot")
            .arg(format!("{dataset}@pre")),
    );
    let snaps = run_ok(Command::new("zfs").args(["list", "-H", "-o", "name", "-t", "snapshot"]));
    assert!(
        snaps.stdout.lines().any(|l| l == format!("{dataset}@pre")),
        "{snaps:?}"
    );
    repo.add(&v2);
    r.pacman_ok(["-Syu"]);
    assert_eq!(r.read("usr/share/foo/version").as_deref(), Some("2"));

    // zfs inside the root (as a hook would run it) needs the daemon's socket and /proc.
    {
        let zfs_bin = install_tool(r.root(), "zfs");
        let _sock = BindMount::new(r.root(), Path::new(ZFS_SOCKET_DIR));
        let _proc = BindMount::new(r.root(), Path::new("/proc"));
        let l = chroot_run(r.root(), &[&zfs_bin, "list", "-H", "-o", "name"]);
        assert_eq!(l.code, 0, "{l:?}");
        assert!(l.stdout.lines().any(|x| x == dataset), "{l:?}");
    }
    assert!(mounts_below(r.root()) == [r.root().to_path_buf()]);

    drop(r);
    drop(pool);
    let pools = run_ok(Command::new("zpool").args(["list", "-H", "-o", "name"]));
    assert!(!pools.stdout.lines().any(|l| l == name), "{pools:?}");
    assert!(mounts_below(&pool_mnt).is_empty());
    drop(zfs);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "zfs-fuse {pid} still running"
    );
    let after = run(Command::new("zpool").arg("list"));
    assert_ne!(after.code, 0, "a zfs-fuse still answers: {after:?}");
    done("zfs-fuse", t0);
}

#[test]
fn harness_read_only_bind_lasts_until_dropped() {
    if !require_root("harness_read_only_bind_lasts_until_dropped") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ro = ReadOnlyBind::new(dir.path());
    let err = std::fs::write(dir.path().join("f"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS));
    drop(ro);
    std::fs::write(dir.path().join("f"), "x").unwrap();
    assert!(!is_mount_point(dir.path()));
}

#[test]
fn harness_guards_clean_up_when_a_test_panics() {
    if !require_root("harness_guards_clean_up_when_a_test_panics") {
        return;
    }
    let seen = std::sync::Mutex::new(None);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let fs = LoopBtrfs::new(128);
        let sub = fs.subvolume("root");
        let _ro = ReadOnlyBind::new(&sub);
        let m = fs.remount_default();
        *seen.lock().unwrap() = Some((
            fs.image().to_owned(),
            fs.mnt().to_owned(),
            m.path().to_owned(),
        ));
        panic!("deliberate panic: the guards must clean up");
    }));
    assert!(res.is_err());
    let (image, mnt, second) = seen.lock().unwrap().take().unwrap();
    assert!(loops_of(&image).is_empty(), "loop device left attached");
    assert!(mounts_below(&mnt).is_empty() && mounts_below(&second).is_empty());
    assert!(!image.exists() && !mnt.exists() && !second.exists());
}
