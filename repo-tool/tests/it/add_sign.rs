//! `lumina-repo add --sign`: like `repo-add --sign`, both databases get a detached
//! signature (and the `.sig` links), and each package without a signature is signed (its
//! `.sig` beside it, embedded as `%PGPSIG%`); a package already signed keeps its own.
//! Real pacman with `SigLevel = Required` trusts the result.

use std::path::Path;

use lumina_e2e::pacman::ScratchRoot;
use lumina_e2e::{require_root, write};
use lumina_repo::sign::Verifier;
use lumina_repo::syncdb::{self, Limits};

use crate::gnupg::Key;
use crate::promote_cli::{Run, lumina_repo};
use crate::stable::{PacmanKeyring, pkg};

fn add(dir: &Path, extra: &[&str], files: &[&Path]) -> Run {
    let mut args = vec![
        "add",
        "--repo-dir",
        dir.to_str().unwrap(),
        "--repo",
        "lumina",
    ];
    args.extend(extra);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    lumina_repo(&args)
}

#[test]
fn add_sign_signs_databases_and_unsigned_packages_and_pacman_trusts_them() {
    if !require_root("add_sign_signs_databases_and_unsigned_packages_and_pacman_trusts_them") {
        return;
    }
    let lumina = Key::new("Lumina Packages <packages@lumina.invalid>");
    let packager = Key::new("Another Packager <other@lumina.invalid>");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("repo");
    std::fs::create_dir(&dir).unwrap();
    let built = work.path().join("built");
    std::fs::create_dir(&built).unwrap();
    let mine = pkg("lumina-theme", "1.0-1").build(&built);
    let theirs = pkg("lumina-tools", "2.0-1")
        .deps(&["lumina-theme"])
        .build(&built);
    let mut other =
        lumina_repo::sign::Signer::new(Some(packager.home.path()), &packager.fpr).unwrap();
    let theirs_sig = other
        .sign_file(&lumina_core::fs::Fs::new(), &theirs)
        .unwrap();
    let theirs_sig_bytes = std::fs::read(&theirs_sig).unwrap();

    let home = lumina.home.path().to_str().unwrap();
    let r = add(
        &dir,
        &["--sign", "--key", &lumina.fpr, "--gnupg-home", home],
        &[&mine, &theirs],
    );
    assert_eq!(r.code, 0, "{r:?}");

    // Both databases are signed, with repo-add's names and links.
    let mut verifier = Verifier::new(lumina.home.path()).unwrap();
    for kind in ["db", "files"] {
        let link = dir.join(format!("lumina.{kind}.sig"));
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new(&format!("lumina.{kind}.tar.zst.sig"))
        );
        let v = verifier
            .verify_file_with(&dir.join(format!("lumina.{kind}")), &link)
            .unwrap();
        assert_eq!(v.fingerprint, lumina.fpr);
    }
    // The unsigned package was signed (copied into the directory first); the signed one
    // kept its packager's signature. Both signatures are embedded.
    let mine_in_repo = dir.join("lumina-theme-1.0-1-x86_64.pkg.tar.zst");
    verifier.verify_file(&mine_in_repo).unwrap();
    assert_eq!(
        std::fs::read(dir.join("lumina-tools-2.0-1-x86_64.pkg.tar.zst.sig")).unwrap(),
        theirs_sig_bytes
    );
    let db = syncdb::read(&dir.join("lumina.db"), &Limits::default()).unwrap();
    assert!(
        db.entries.iter().all(|e| e.pgpsig.is_some()),
        "{:?}",
        db.entries
    );

    // pacman, requiring signatures and trusting both keys, installs from it.
    let root = ScratchRoot::temp();
    let keyring = PacmanKeyring(root.path("etc/pacman.d/gnupg"));
    keyring.run(&["--init".as_ref()]);
    keyring.trust(&lumina);
    keyring.trust(&packager);
    write(
        &root.conf(),
        &format!(
            "[options]\nArchitecture = auto\nSigLevel = Required TrustedOnly\n\n[lumina]\n\
             Server = file://{}\n",
            dir.display()
        ),
    );
    root.pacman_ok(["-Sy"]);
    root.pacman_ok(["-S", "lumina-tools"]);
    let installed = root.installed();
    assert_eq!(
        installed.get("lumina-theme").map(String::as_str),
        Some("1.0-1")
    );
    assert_eq!(
        installed.get("lumina-tools").map(String::as_str),
        Some("2.0-1")
    );
}

#[test]
fn add_sign_needs_a_key_and_a_key_needs_sign() {
    let work = tempfile::tempdir().unwrap();
    let pkgfile = pkg("x", "1-1").build(work.path());
    let dir = work.path();
    let r = add(
        dir,
        &["--key", "0123456789ABCDEF0123456789ABCDEF01234567"],
        &[&pkgfile],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--sign"), "{r:?}");
    let r = add(dir, &["--sign"], &[&pkgfile]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("--sign needs a key: pass --key FINGERPRINT or set GPGKEY"),
        "{r:?}"
    );
    // An unknown key: nothing is written.
    let empty = tempfile::tempdir().unwrap();
    let r = add(
        dir,
        &[
            "--sign",
            "--key",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "--gnupg-home",
            empty.path().to_str().unwrap(),
        ],
        &[&pkgfile],
    );
    let _ = std::process::Command::new("gpgconf")
        .arg("--homedir")
        .arg(empty.path())
        .args(["--kill", "all"])
        .output();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("has no secret key with this fingerprint"),
        "{r:?}"
    );
    assert!(!dir.join("lumina.db.tar.zst").exists());
    assert!(!dir.join("lumina.db.lck").exists());
}
