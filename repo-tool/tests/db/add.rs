//! `add` on a real directory: new and updated repositories, all-or-nothing refusal, copies
//! from outside, repo-add's lock, and the signing seam.

use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use lumina_repo::add::{self, AddRequest, Change};
use lumina_repo::sign::DetachedSigner;
use lumina_repo::syncdb::{self, Limits};

use crate::{PACKAGES, fixture};

/// A repository directory holding copies of the given fixture packages (and signatures).
fn repo_with(files: &[&str]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for f in files {
        let dst = dir.path().join(f);
        std::fs::copy(fixture(&format!("pkg/{f}")), &dst).unwrap();
        let sig = fixture(&format!("pkg/{f}.sig"));
        if sig.exists() {
            std::fs::copy(sig, dir.path().join(format!("{f}.sig"))).unwrap();
        }
        paths.push(dst);
    }
    (dir, paths)
}

fn run(dir: &Path, packages: &[PathBuf]) -> Result<add::AddReport, lumina_repo::Error> {
    add::add(
        &Fs::new(),
        &AddRequest {
            dir,
            repo: "lumina",
            packages,
            limits: Limits::default(),
        },
        None,
    )
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = if e.file_type().unwrap().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_new_repository_holds_repo_adds_entries() {
    let files: Vec<&str> = PACKAGES.iter().map(|(f, _)| *f).collect();
    let (dir, paths) = repo_with(&files);
    let report = run(dir.path(), &paths).unwrap();
    assert_eq!(report.total, PACKAGES.len());
    assert_eq!(report.db, dir.path().join("lumina.db.tar.zst"));
    assert!(report.warnings.is_empty() && report.copied.is_empty());
    assert_eq!(
        std::fs::read_link(dir.path().join("lumina.db")).unwrap(),
        Path::new("lumina.db.tar.zst")
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("lumina.files")).unwrap(),
        Path::new("lumina.files.tar.zst")
    );
    assert!(
        !dir.path().join("lumina.db.lck").exists(),
        "the lock is removed"
    );
    // The same entries as repo-add's databases of the same packages.
    for (ours, theirs) in [
        ("lumina.db", "pkg/expected/fixtures.db.tar.zst"),
        ("lumina.files", "pkg/expected/fixtures.files.tar.zst"),
    ] {
        let ours = syncdb::read(&dir.path().join(ours), &Limits::default()).unwrap();
        let theirs = syncdb::read(&fixture(theirs), &Limits::default()).unwrap();
        assert_eq!(ours.entries, theirs.entries);
    }
    // Deterministic: the same packages give the same bytes.
    let before = all_files(dir.path());
    run(dir.path(), &paths).unwrap();
    assert_eq!(all_files(dir.path()), before);
}

#[test]
fn adding_replaces_an_entry_of_the_same_name() {
    let (dir, paths) = repo_with(&[
        "meta-1.0-1-any.pkg.tar.zst",
        "gzipped-0.1-1-x86_64.pkg.tar.gz",
    ]);
    run(dir.path(), &paths).unwrap();
    // A "newer meta": the same package under another version in its .PKGINFO.
    let newer = dir.path().join("meta-2.0-1-any.pkg.tar");
    let mut b = tar::Builder::new(Vec::new());
    let info = "pkgname = meta\npkgver = 2.0-1\narch = any\n";
    let mut h = tar::Header::new_ustar();
    h.set_size(info.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, ".PKGINFO", info.as_bytes()).unwrap();
    std::fs::write(&newer, b.into_inner().unwrap()).unwrap();
    let report = run(dir.path(), std::slice::from_ref(&newer)).unwrap();
    assert_eq!(
        report.changes,
        vec![Change::Replaced {
            name: "meta".into(),
            old: "1.0-1".into(),
            new: "2.0-1".into()
        }]
    );
    let db = syncdb::read(&dir.path().join("lumina.files"), &Limits::default()).unwrap();
    let versions: Vec<_> = db.entries.iter().map(|e| e.dir_name()).collect();
    assert_eq!(versions, ["gzipped-0.1-1", "meta-2.0-1"]);
    // The untouched entry keeps its file list.
    assert_eq!(db.entries[0].files.as_ref().unwrap().len(), 4);
    // Going back is a downgrade, reported as one.
    let report = run(dir.path(), &paths[..1]).unwrap();
    assert!(matches!(&report.changes[0], Change::Downgraded { old, .. } if old == "2.0-1"));
}

#[test]
fn a_file_that_is_not_a_package_changes_nothing() {
    let (dir, mut paths) = repo_with(&["meta-1.0-1-any.pkg.tar.zst"]);
    run(dir.path(), &paths).unwrap();
    let before = all_files(dir.path());
    let text = dir.path().join("README.pkg.tar.zst");
    std::fs::write(&text, "not a package\n").unwrap();
    paths.push(text);
    let e = run(dir.path(), &paths).unwrap_err();
    assert!(
        matches!(e, lumina_repo::Error::InvalidPackage { .. }),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("README.pkg.tar.zst")).unwrap();
    assert_eq!(all_files(dir.path()), before);
}

#[test]
fn packages_outside_the_directory_are_copied_in() {
    let dir = tempfile::tempdir().unwrap();
    let outside: Vec<PathBuf> = [
        "signed-1.0-1-x86_64.pkg.tar.zst",
        "meta-1.0-1-any.pkg.tar.zst",
    ]
    .iter()
    .map(|f| fixture(&format!("pkg/{f}")))
    .collect();
    let report = run(dir.path(), &outside).unwrap();
    assert_eq!(report.copied.len(), 2);
    for p in &outside {
        let copy = dir.path().join(p.file_name().unwrap());
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(p).unwrap());
    }
    assert!(
        dir.path()
            .join("signed-1.0-1-x86_64.pkg.tar.zst.sig")
            .exists()
    );
    // Again: the same files are there already, nothing to copy.
    assert!(run(dir.path(), &outside).unwrap().copied.is_empty());
    // A different file of the same name is refused.
    std::fs::write(dir.path().join("meta-1.0-1-any.pkg.tar.zst"), "other").unwrap();
    let e = run(dir.path(), &outside).unwrap_err().to_string();
    assert!(
        e.contains("a different `meta-1.0-1-any.pkg.tar.zst` is already"),
        "{e}"
    );
}

#[test]
fn a_held_lock_is_reported_with_its_holder() {
    let (dir, paths) = repo_with(&["meta-1.0-1-any.pkg.tar.zst"]);
    std::fs::write(dir.path().join("lumina.db.lck"), "4242\n").unwrap();
    let e = run(dir.path(), &paths).unwrap_err().to_string();
    assert!(e.contains("is locked by process 4242"), "{e}");
    assert!(!dir.path().join("lumina.db").exists());
    assert!(
        dir.path().join("lumina.db.lck").exists(),
        "another's lock is left alone"
    );
}

#[test]
fn invalid_requests_are_refused() {
    let (dir, paths) = repo_with(&["meta-1.0-1-any.pkg.tar.zst"]);
    let e = add::add(
        &Fs::new(),
        &AddRequest {
            dir: dir.path(),
            repo: "../evil",
            packages: &paths,
            limits: Limits::default(),
        },
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("is not a valid repository name"),
        "{e}"
    );
    let e = run(&dir.path().join("missing"), &paths).unwrap_err();
    assert!(e.to_string().ends_with("it is not a directory"), "{e}");
    let e = run(dir.path(), &[]).unwrap_err();
    assert!(
        e.to_string().ends_with("no package files were given"),
        "{e}"
    );
    let e = run(dir.path(), &[dir.path().join("missing.pkg.tar.zst")]).unwrap_err();
    assert!(
        e.to_string().ends_with("does not exist or is not a file"),
        "{e}"
    );
    assert!(!dir.path().join("lumina.db.lck").exists());
}

/// A signer that "signs" with a recognisable, deterministic byte string.
#[derive(Debug, Default)]
struct FakeSigner {
    signed: usize,
}

impl DetachedSigner for FakeSigner {
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, lumina_repo::Error> {
        self.signed += 1;
        Ok(format!("sig of {} bytes", data.len()).into_bytes())
    }
}

#[test]
fn the_signing_seam_signs_packages_and_databases() {
    let (dir, paths) = repo_with(&[
        "meta-1.0-1-any.pkg.tar.zst",
        "signed-1.0-1-x86_64.pkg.tar.zst",
    ]);
    let mut signer = FakeSigner::default();
    let request = AddRequest {
        dir: dir.path(),
        repo: "lumina",
        packages: &paths,
        limits: Limits::default(),
    };
    add::add(&Fs::new(), &request, Some(&mut signer)).unwrap();
    // meta had no signature (signed), `signed` has its own; plus the two databases.
    assert_eq!(signer.signed, 3);
    let db = std::fs::read(dir.path().join("lumina.db.tar.zst")).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("lumina.db.sig")).unwrap(),
        format!("sig of {} bytes", db.len()).into_bytes()
    );
    let entries = syncdb::read(&dir.path().join("lumina.db"), &Limits::default())
        .unwrap()
        .entries;
    let meta_sig = std::fs::read(dir.path().join("meta-1.0-1-any.pkg.tar.zst.sig")).unwrap();
    assert_eq!(
        entries[0].pgpsig.as_deref(),
        Some(lumina_repo::pkgfile::base64(&meta_sig).as_str())
    );
    // Without a signer, the database signatures no longer match: removed, and said so.
    let report = run(dir.path(), &paths[..1]).unwrap();
    assert!(!dir.path().join("lumina.db.sig").exists());
    assert!(!dir.path().join("lumina.db.tar.zst.sig").exists());
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
}

#[test]
fn a_missing_files_database_is_reported() {
    let (dir, paths) = repo_with(&[
        "meta-1.0-1-any.pkg.tar.zst",
        "gzipped-0.1-1-x86_64.pkg.tar.gz",
    ]);
    run(dir.path(), &paths[..1]).unwrap();
    std::fs::remove_file(dir.path().join("lumina.files")).unwrap();
    std::fs::remove_file(dir.path().join("lumina.files.tar.zst")).unwrap();
    let report = run(dir.path(), &paths[1..]).unwrap();
    assert_eq!(report.total, 2);
    assert!(
        report.warnings[0].contains("`lumina.files` is missing"),
        "{:?}",
        report.warnings
    );
}
