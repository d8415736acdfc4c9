//! Package files read as repo-add reads them: for each fixture package, the entry is byte
//! for byte the one repo-add 6.0.2 wrote (`desc` and `files`).

use std::path::Path;

use lumina_repo::pkgfile::{self, ReadOptions};
use rstest::rstest;

use crate::{PACKAGES, fixture};

#[test]
fn entries_are_byte_for_byte_repo_adds() {
    for (file, dir) in PACKAGES {
        let entry = pkgfile::read(&fixture(&format!("pkg/{file}")), &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let desc = std::fs::read_to_string(fixture(&format!("pkg/expected/{dir}/desc"))).unwrap();
        assert_eq!(entry.desc_text(), desc, "{file}: desc");
        let files = std::fs::read(fixture(&format!("pkg/expected/{dir}/files"))).unwrap();
        let mut member = Vec::new();
        entry.files.as_ref().unwrap().write_member(&mut member);
        assert_eq!(
            String::from_utf8_lossy(&member),
            String::from_utf8_lossy(&files),
            "{file}: files"
        );
    }
}

#[test]
fn many_packages_read_in_parallel_keep_their_order() {
    let paths: Vec<_> = PACKAGES
        .iter()
        .chain(PACKAGES.iter())
        .map(|(f, _)| fixture(&format!("pkg/{f}")))
        .collect();
    let entries = pkgfile::read_all(&paths, &ReadOptions::default());
    for (path, entry) in paths.iter().zip(entries) {
        let entry = entry.unwrap();
        assert_eq!(entry.filename, crate::file_name(path));
    }
}

fn message(path: &Path) -> String {
    match pkgfile::read(path, &ReadOptions::default()) {
        Ok(e) => panic!("`{}` should be refused, got {e:#?}", path.display()),
        Err(e) => e
            .to_string()
            .replace(&path.parent().unwrap().display().to_string(), "[DIR]"),
    }
}

#[rstest]
#[case::archive_without_pkginfo("not-a-package-1.0-1-x86_64.pkg.tar.zst")]
#[case::text_file("text-1.0-1-x86_64.pkg.tar.zst")]
fn non_packages_are_refused(#[case] file: &str) {
    let m = message(&fixture(&format!("pkg/{file}")));
    insta::assert_snapshot!(file, m);
}

/// Writes a package whose `.PKGINFO` is `pkginfo` (plain tar: packages need no compression).
fn package_with(dir: &Path, name: &str, pkginfo: &str) -> std::path::PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(pkginfo.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, ".PKGINFO", pkginfo.as_bytes())
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    path
}

#[rstest]
#[case("no_pkgname", "pkgver = 1-1\narch = any\n")]
#[case("no_pkgver", "pkgname = a\narch = any\n")]
#[case(
    "bad_relation",
    "pkgname = a\npkgver = 1-1\narch = any\ndepend = b >= 2\n"
)]
#[case("bad_size", "pkgname = a\npkgver = 1-1\narch = any\nsize = 12 KiB\n")]
#[case(
    "absurd_size",
    "pkgname = a\npkgver = 1-1\narch = any\nsize = 99999999999999\n"
)]
#[case("bad_name", "pkgname = a/b\npkgver = 1-1\narch = any\n")]
#[case("bad_version", "pkgname = a\npkgver = 1\narch = any\n")]
#[case("no_arch", "pkgname = a\npkgver = 1-1\n")]
fn invalid_pkginfo_is_refused_with_the_field_named(#[case] name: &str, #[case] pkginfo: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = package_with(dir.path(), "a-1-1-any.pkg.tar", pkginfo);
    let m = message(&path);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(name);
    settings.set_description(pkginfo);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(m));
}

#[test]
fn signatures_beside_packages_follow_repo_adds_rules() {
    let dir = tempfile::tempdir().unwrap();
    let info = "pkgname = a\npkgver = 1-1\narch = any\n";
    let path = package_with(dir.path(), "a-1-1-any.pkg.tar", info);
    let sig = dir.path().join("a-1-1-any.pkg.tar.sig");
    std::fs::write(&sig, b"-----BEGIN PGP SIGNATURE-----\nabc\n").unwrap();
    insta::assert_snapshot!("armored_signature", message(&path));
    std::fs::write(&sig, vec![0x88; 16 * 1024 + 1]).unwrap();
    insta::assert_snapshot!("oversized_signature", message(&path));
    std::fs::write(&sig, [0x88, 0x75, 0x04]).unwrap();
    let entry = pkgfile::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(entry.pgpsig.as_deref(), Some("iHUE"));
}

#[test]
fn the_digests_cover_bytes_after_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let info = "pkgname = a\npkgver = 1-1\narch = any\n";
    let path = package_with(dir.path(), "a-1-1-any.pkg.tar", info);
    let before = pkgfile::read(&path, &ReadOptions::default()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    bytes.extend_from_slice(b"trailing");
    std::fs::write(&path, &bytes).unwrap();
    let after = pkgfile::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(after.csize, bytes.len() as u64);
    assert_ne!(after.sha256sum, before.sha256sum);
    let sha = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&sha.stdout).starts_with(&after.sha256sum));
}
