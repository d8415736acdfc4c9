//! The package users install from the AUR: `PKGBUILD` built by Debian's `makepkg` (as an
//! unprivileged build user, from a source tarball of the checkout), installed with real
//! pacman into a scratch root on a btrfs loop image, proven live by the next transaction
//! (its hooks take a snapshot), and removed without leaving anything of Lumina's but the
//! snapshots. Needs root; fails under `CI=true` without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_e2e::chroot::{install_file, shared_libs};
use lumina_e2e::mounts::{LoopBtrfs, run, run_ok};
use lumina_e2e::pacman::{LocalRepo, PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{TestUser, require_root, write};

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `PKGBUILD`'s `pkgver`.
fn pkgver(pkgbuild: &str) -> String {
    pkgbuild
        .lines()
        .find_map(|l| l.strip_prefix("pkgver="))
        .unwrap()
        .to_owned()
}

/// A tarball of the checkout as it is (tracked files and new ones git does not ignore),
/// every path under `lumina-VERSION/`, like GitHub's release tarballs.
fn source_tarball(dir: &Path, version: &str) -> PathBuf {
    let repo = checkout();
    let list = run_ok(Command::new("git").arg("-C").arg(&repo).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]));
    let files: Vec<&str> = list
        .stdout
        .lines()
        .filter(|f| repo.join(f).symlink_metadata().is_ok())
        .collect();
    let listing = dir.join("files.txt");
    std::fs::write(&listing, files.join("\n") + "\n").unwrap();
    let tarball = dir.join(format!("lumina-{version}.tar.gz"));
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&repo)
            .arg(format!("--transform=flags=r;s,^,lumina-{version}/,"))
            .arg("-czf")
            .arg(&tarball)
            .arg("-T")
            .arg(&listing),
    );
    tarball
}

/// Root's home made traversable (mode 0711) for the build user to reach rustup's
/// toolchains; its mode is put back on drop.
struct TraversableRootHome(u32);

impl TraversableRootHome {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata("/root").unwrap().permissions().mode() & 0o7777;
        std::fs::set_permissions("/root", std::fs::Permissions::from_mode(mode | 0o711)).unwrap();
        Self(mode)
    }
}

impl Drop for TraversableRootHome {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions("/root", std::fs::Permissions::from_mode(self.0));
    }
}

/// Every path in a package (`bsdtar -tf`), without the metadata files.
fn contents(pkg: &Path) -> Vec<String> {
    let out = run_ok(Command::new("bsdtar").arg("-tf").arg(pkg));
    out.stdout
        .lines()
        .filter(|l| !l.starts_with('.'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect()
}

/// Files and symlinks under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let out = run_ok(Command::new("find").arg(root).args([
        "-xdev", "(", "-type", "f", "-o", "-type", "l", ")", "-printf", "%P\n",
    ]));
    let mut v: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn makepkg_builds_a_package_that_installs_fires_its_hooks_and_removes_cleanly() {
    if !require_root("makepkg_builds_a_package_that_installs_fires_its_hooks_and_removes_cleanly") {
        return;
    }
    let repo = checkout();
    let pkgbuild = std::fs::read_to_string(repo.join("PKGBUILD")).unwrap();
    let version = pkgver(&pkgbuild);
    let work = tempfile::Builder::new()
        .prefix("lumina-makepkg.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let build = work.path().join("build");
    std::fs::create_dir_all(&build).unwrap();

    // The source tarball, and the PKGBUILD with its real checksum.
    let tarball = source_tarball(&build, &version);
    let sum = run_ok(Command::new("sha256sum").arg(&tarball));
    let sum = sum.stdout.split_whitespace().next().unwrap();
    assert!(pkgbuild.contains("sha256sums=('SKIP')"), "{pkgbuild}");
    let pkgbuild = pkgbuild.replace("sha256sums=('SKIP')", &format!("sha256sums=('{sum}')"));
    write(&build.join("PKGBUILD"), &pkgbuild);
    std::fs::rename(&tarball, build.join(format!("lumina-{version}.tar.gz"))).unwrap();

    // The build user, with its own CARGO_HOME holding a copy of the crates this machine
    // already fetched (so the build is offline), and rustup's toolchain reachable.
    let home = work.path().join("home");
    std::fs::create_dir_all(home.join("cargo/registry")).unwrap();
    let cargo_home =
        std::env::var_os("CARGO_HOME").map_or_else(|| PathBuf::from("/root/.cargo"), PathBuf::from);
    for part in ["index", "cache"] {
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(cargo_home.join("registry").join(part))
                .arg(home.join("cargo/registry")),
        );
    }
    let user = TestUser::create(&home);
    user.chown_tree(&build);
    let _root_home = TraversableRootHome::new();
    let rustup_home = run_ok(Command::new("rustup").args(["show", "home"]));
    let cargo = run_ok(Command::new("sh").args(["-c", "command -v cargo"]));
    let cargo_bin = Path::new(cargo.stdout.trim())
        .parent()
        .unwrap()
        .to_path_buf();

    let t0 = std::time::Instant::now();
    let made = run(Command::new("runuser")
        .args(["-u", &user.name, "--", "env", "-i"])
        .arg(format!("HOME={}", home.display()))
        .arg(format!("PATH={}:/usr/bin:/bin", cargo_bin.display()))
        .arg(format!("RUSTUP_HOME={}", rustup_home.stdout.trim()))
        .arg(format!("CARGO_HOME={}", home.join("cargo").display()))
        .arg("CARGO_NET_OFFLINE=true")
        .arg("LC_ALL=C")
        // check() runs too, as an AUR helper would: the unit tests must pass as an
        // unprivileged build user, offline, without the tools the end-to-end tests use.
        .args(["makepkg", "--nodeps", "--noconfirm", "--noprogressbar"])
        .current_dir(&build));
    assert_eq!(
        made.code, 0,
        "makepkg failed:\n{}\n{}",
        made.stdout, made.stderr
    );
    eprintln!("makepkg: {:?}", t0.elapsed());
    let log = format!("{}{}", made.stdout, made.stderr);
    assert!(
        log.contains("Starting check()"),
        "check() did not run:\n{log}"
    );
    let passed: usize = log
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed > 300 && !log.contains("test result: FAILED"),
        "check() ran {passed} unit tests:\n{log}"
    );
    let pkg = std::fs::read_dir(&build)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("lumina-{version}-1-"))
                && p.to_string_lossy().contains(".pkg.tar")
        })
        .unwrap_or_else(|| panic!("no package in {}:\n{}", build.display(), made.stdout));

    // What it installs.
    let files = contents(&pkg);
    for want in [
        "usr/bin/lumina",
        "usr/bin/lumina-hook",
        "usr/bin/lumina-repo",
        "usr/share/libalpm/hooks/05-lumina-pre.hook",
        "usr/share/libalpm/hooks/zz-lumina-post.hook",
        "etc/lumina/config.yaml",
        "usr/share/lumina/lumina-stable.conf",
        "usr/share/lumina/lumina-stable.asc",
        "usr/lib/systemd/system/lumina-repo-promote.service",
        "usr/lib/systemd/system/lumina-repo-promote.timer",
        "usr/lib/tmpfiles.d/lumina.conf",
        "usr/lib/sysusers.d/lumina.conf",
        "usr/share/man/man1/lumina.1.gz",
        "usr/share/man/man1/lumina-link.1.gz",
        "usr/share/man/man1/lumina-repo-promote.1.gz",
        "usr/share/man/man8/lumina-hook.8.gz",
        "usr/share/bash-completion/completions/lumina",
        "usr/share/bash-completion/completions/lumina-repo",
        "usr/share/zsh/site-functions/_lumina",
        "usr/share/fish/vendor_completions.d/lumina.fish",
        "usr/share/licenses/lumina/LICENSE",
        "usr/share/lumina/profiles/generic.yaml",
    ] {
        assert!(
            files.iter().any(|f| f == want),
            "{want} is not in the package: {files:#?}"
        );
    }
    let info = run_ok(Command::new("bsdtar").arg("-xOf").arg(&pkg).arg(".PKGINFO"));
    assert!(
        info.stdout.contains("backup = etc/lumina/config.yaml"),
        "{}",
        info.stdout
    );
    for dep in ["btrfs-progs", "gpgme", "pacman"] {
        assert!(
            info.stdout.contains(&format!("depend = {dep}\n")),
            "{}",
            info.stdout
        );
    }

    // Installed with pacman into a root on btrfs. `-dd`: the scratch root has none of
    // Arch's packages. pacman runs hooks chrooted, so the libraries the binaries link are
    // put in the root too (on Arch, the dependencies bring them).
    let fs = LoopBtrfs::new(600);
    let sub = fs.subvolume("root");
    let pkgs = tempfile::tempdir().unwrap();
    let local = LocalRepo::new(&pkgs.path().join("repo"), "lumina-test");
    let mut root = ScratchRoot::new(&sub);
    root.add_repo(&local);
    let r = root.root().to_path_buf();
    let before = tree(&r);
    let pkg_arg = pkg.to_str().unwrap().to_owned();
    root.pacman_ok(["-U", "-dd", pkg_arg.as_str()]);
    let mut libs: Vec<String> = Vec::new();
    for bin in ["lumina", "lumina-hook", "lumina-repo"] {
        for lib in shared_libs(&r.join("usr/bin").join(bin)) {
            let copy = install_file(&r, &lib);
            libs.push(
                copy.strip_prefix(&r)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    let q = root.pacman_ok(["-Q", "lumina"]);
    assert_eq!(q.stdout.trim(), format!("lumina {version}-1"));

    // The next transaction fires the installed hooks: a snapshot pair, with the shipped
    // default configuration (backend auto: btrfs here).
    local.add(&build_package(
        &PkgSpec::new("foo", "1.0-1").file("usr/share/foo/data", "one"),
        pkgs.path(),
    ));
    let t = root.pacman_ok(["-Sy", "foo"]);
    assert!(
        t.stdout
            .contains("lumina: snapshot 1 (pre) taken with btrfs"),
        "{}\n{}",
        t.stdout,
        t.stderr
    );
    assert!(
        t.stdout
            .contains("lumina: snapshots 1 (pre) and 2 (post) taken with btrfs"),
        "{}\n{}",
        t.stdout,
        t.stderr
    );

    // Removed: nothing of Lumina's is left but its snapshots (and their records).
    let rm = root.pacman_ok(["-R", "lumina"]);
    assert!(!rm.stderr.contains("error"), "{}\n{}", rm.stdout, rm.stderr);
    let after: Vec<String> = tree(&r).into_iter().filter(|p| !libs.contains(p)).collect();
    let foo_files = ["usr/share/foo/data"];
    let left: Vec<&String> = after
        .iter()
        .filter(|p| !before.contains(p))
        .filter(|p| !foo_files.contains(&p.as_str()))
        .filter(|p| !p.starts_with("var/lib/pacman/") && !p.starts_with("var/cache/pacman/"))
        .filter(|p| !p.starts_with("var/log/"))
        .filter(|p| !p.starts_with("var/lib/lumina/snapshots/"))
        .filter(|p| !p.starts_with(".lumina-snapshots/"))
        // The removal's own pre hook ran (and took its snapshot); its post hook went with
        // the package, so the hand-off stays in /run, a tmpfs on a running system.
        .filter(|p| p.as_str() != "run/lumina/transaction.json")
        .collect();
    assert!(
        left.is_empty(),
        "left behind by `pacman -R lumina`: {left:#?}"
    );
    for gone in [
        "usr/bin/lumina-hook",
        "usr/share/libalpm/hooks/05-lumina-pre.hook",
        "etc/lumina/config.yaml",
    ] {
        assert!(!r.join(gone).exists(), "{gone} is still there");
    }
    // The snapshots are the user's: still there.
    assert!(r.join("var/lib/lumina/snapshots/000002.json").exists());
}

#[test]
fn srcinfo_matches_what_makepkg_prints_for_the_pkgbuild() {
    if !require_root("srcinfo_matches_what_makepkg_prints_for_the_pkgbuild") {
        return;
    }
    // makepkg refuses to run as root: print it as `nobody`, in a directory it may write.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(checkout().join("PKGBUILD"), dir.path().join("PKGBUILD")).unwrap();
    run_ok(Command::new("chmod").arg("777").arg(dir.path()));
    let out = run(Command::new("runuser")
        .args(["-u", "nobody", "--", "makepkg", "--printsrcinfo"])
        .env("LC_ALL", "C")
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{out:?}");
    let committed = std::fs::read_to_string(checkout().join(".SRCINFO")).unwrap();
    assert_eq!(
        committed, out.stdout,
        ".SRCINFO is out of date: run `makepkg --printsrcinfo > .SRCINFO`"
    );
}
