//! Real pacman reads what was published, with `SigLevel = Required` and a keyring made by
//! the real `pacman-key`: it installs and upgrades from a generation, and refuses a
//! database whose signature does not match and a package signed by an untrusted key.
//!
//! pacman refuses `-Sy` and `-S` unless run as root, and `pacman-key --init`/`--add`/
//! `--lsign-key` need root too: this test runs as root, and fails under `CI=true` without.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_e2e::pacman::{PkgSpec, ScratchRoot, build_package};
use lumina_e2e::{require_root, write};
use lumina_repo::lock::RepoLock;
use lumina_repo::publish::{Release, RepoFiles, pool_insert, pool_insert_file, publish};
use lumina_repo::sign::{DetachedSigner, Signer};

use crate::gnupg::Key;
use crate::stable::PacmanKeyring;

/// A database of `packages` made by the real `repo-add` (before the packages are signed,
/// so that pacman fetches each `.sig` from the mirror): `(db, files)` bytes.
fn repo_add(packages: &[&Path]) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("core.db.tar.zst");
    let out = Command::new("repo-add")
        .arg("--quiet")
        .arg(&db)
        .args(packages)
        .env("LANG", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read(&db).unwrap(),
        std::fs::read(dir.path().join("core.files.tar.zst")).unwrap(),
    )
}

fn hello(version: &str, dir: &Path) -> PathBuf {
    build_package(
        &PkgSpec::new("hello", version).file("usr/share/hello/version", version),
        dir,
    )
}

fn release(
    lock: &RepoLock,
    signer: &mut Signer,
    pkg: &Path,
    pkg_signer: Option<&mut Signer>,
    t: u64,
) -> u64 {
    let (db, files) = repo_add(&[pkg]);
    let name = pkg.file_name().unwrap().to_string_lossy().into_owned();
    pool_insert_file(lock, &Fs::new(), &name, pkg).unwrap();
    let bytes = std::fs::read(pkg).unwrap();
    let sig = match pkg_signer {
        Some(other) => other.sign(&bytes),
        None => signer.sign(&bytes),
    }
    .unwrap();
    pool_insert(lock, &Fs::new(), &format!("{name}.sig"), &sig).unwrap();
    let repos = [RepoFiles {
        name: "core".into(),
        db,
        files,
        packages: vec![name],
    }];
    publish(
        lock,
        &Fs::new(),
        signer,
        &Release {
            arch: "x86_64",
            repos: &repos,
            lastsync: t,
            lastupdate: t,
            report: b"{}\n",
        },
        3,
    )
    .unwrap()
}

#[test]
fn pacman_with_siglevel_required_installs_upgrades_and_refuses_bad_signatures() {
    if !require_root("pacman_with_siglevel_required_installs_upgrades_and_refuses_bad_signatures") {
        return;
    }
    let lumina = Key::new("Lumina-Stable Test <stable@lumina.invalid>");
    let stranger = Key::new("Not Trusted <stranger@lumina.invalid>");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let lock = RepoLock::acquire(&Fs::new(), &out, "test").unwrap();
    let mut signer = Signer::new(Some(lumina.home.path()), &lumina.fpr).unwrap();
    let mut bad_signer = Signer::new(Some(stranger.home.path()), &stranger.fpr).unwrap();

    let root = ScratchRoot::temp();
    let keyring = PacmanKeyring(root.path("etc/pacman.d/gnupg"));
    keyring.run(&["--init".as_ref()]);
    keyring.run(&["--add".as_ref(), lumina.export_file().as_os_str()]);
    keyring.run(&["--lsign-key".as_ref(), lumina.fpr.as_ref()]);
    // The stranger's key is in the keyring, but not trusted (so pacman does not try to
    // fetch it from a keyserver either).
    keyring.run(&["--add".as_ref(), stranger.export_file().as_os_str()]);
    write(
        &root.conf(),
        &format!(
            "[options]\nArchitecture = auto\nSigLevel = Required\n\n[core]\nServer = \
             file://{}/current/$repo/os/$arch\n",
            out.display()
        ),
    );

    // Generation 1: hello 1.0-1, signed by Lumina. pacman installs it.
    let g1 = release(&lock, &mut signer, &hello("1.0-1", work.path()), None, 1);
    root.pacman_ok(["-Syy"]);
    root.pacman_ok(["-S", "hello"]);
    assert_eq!(
        root.installed().get("hello").map(String::as_str),
        Some("1.0-1")
    );
    assert_eq!(
        root.read("usr/share/hello/version").as_deref(),
        Some("1.0-1")
    );

    // Someone replaces the served database (not the signature): pacman refuses it.
    let served_db = out.join(format!(".generations/{g1}/core/os/x86_64/core.db.tar.zst"));
    let (other_db, _) = repo_add(&[&hello("1.1-1", work.path())]);
    std::fs::remove_file(&served_db).unwrap();
    std::fs::write(&served_db, other_db).unwrap();
    let r = root.pacman(["-Syy"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("error: core: signature from \"Lumina-Stable Test")
            && r.stderr
                .contains("invalid or corrupted database (PGP signature)"),
        "{r:?}"
    );

    // Generation 2: hello 1.1-1 whose package signature is by a key pacman does not trust.
    // The database verifies; the package is refused and 1.0-1 stays installed.
    release(
        &lock,
        &mut signer,
        &hello("1.1-1", work.path()),
        Some(&mut bad_signer),
        2,
    );
    root.pacman_ok(["-Syy"]);
    let r = root.pacman(["-Su"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("error: hello: signature from \"Not Trusted")
            && r.stderr.contains(
                "failed to commit transaction (invalid or corrupted package (PGP signature))"
            ),
        "{r:?}"
    );
    assert_eq!(
        root.installed().get("hello").map(String::as_str),
        Some("1.0-1")
    );

    // Generation 3: hello 1.2-1, properly signed: pacman upgrades.
    release(&lock, &mut signer, &hello("1.2-1", work.path()), None, 3);
    root.pacman_ok(["-Syy"]);
    root.pacman_ok(["-Su"]);
    assert_eq!(
        root.installed().get("hello").map(String::as_str),
        Some("1.2-1")
    );
    assert_eq!(
        root.read("usr/share/hello/version").as_deref(),
        Some("1.2-1")
    );
}
