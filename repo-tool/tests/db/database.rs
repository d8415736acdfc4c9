//! Reading databases: repo-add's own, in every compression, and hostile ones (each
//! rejection's message is snapshotted).

use std::io::Write as _;
use std::path::Path;

use lumina_repo::dbwrite::{self, DbKind};
use lumina_repo::entry::{DbEntry, FileList};
use lumina_repo::syncdb::{self, Compression, Limits};
use rstest::rstest;
use tar::EntryType;

use crate::{PACKAGES, fixture};

/// A tar member: path, type, content (a link's target for links).
type Member<'a> = (&'a str, EntryType, &'a [u8]);

/// A tar archive with exactly these members, names written as given (also hostile ones the
/// `tar` crate's builder refuses).
fn tar(members: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in members {
        let mut h = tar::Header::new_ustar();
        let name = name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_mtime(0);
        let is_link = matches!(kind, EntryType::Symlink | EntryType::Link);
        if is_link {
            h.as_old_mut().linkname[..data.len()].copy_from_slice(data);
            h.set_size(0);
        } else {
            h.set_size(data.len() as u64);
        }
        h.set_cksum();
        let body: &[u8] = if is_link { &[] } else { data };
        builder.append(&h, body).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// repo-add's `desc` of `binutils-2.40-2`.
fn binutils() -> String {
    std::fs::read_to_string(fixture("desc/repo-add/gen-dataset-binutils-2.40-2.desc")).unwrap()
}

fn with_field(field: &str, value: &str) -> String {
    let text = binutils();
    let header = format!("%{field}%\n");
    let start = text.find(&header).unwrap() + header.len();
    let end = start + text[start..].find("\n\n").unwrap();
    format!("{}{value}{}", &text[..start], &text[end..])
}

/// A valid one-entry database (plain tar).
fn one_entry() -> Vec<u8> {
    let desc = binutils();
    tar(&[
        ("binutils-2.40-2/", EntryType::Directory, b""),
        ("binutils-2.40-2/desc", EntryType::Regular, desc.as_bytes()),
    ])
}

fn parse(bytes: &[u8], limits: &Limits) -> Result<syncdb::SyncDb, lumina_repo::Error> {
    syncdb::parse(bytes, Path::new("core.db"), limits)
}

#[test]
fn repo_adds_databases_read_back_entry_by_entry() {
    let expected = |dir: &str, member: &str| {
        std::fs::read(fixture(&format!("pkg/expected/{dir}/{member}"))).unwrap()
    };
    for (file, has_files) in [
        ("pkg/expected/fixtures.db.tar.zst", false),
        ("pkg/expected/fixtures.files.tar.zst", true),
    ] {
        let db = syncdb::read(&fixture(file), &Limits::default()).unwrap();
        assert_eq!(db.compression, Some(Compression::Zstd));
        assert_eq!(db.entries.len(), PACKAGES.len());
        for (_, dir) in PACKAGES {
            let entry = db.entries.iter().find(|e| e.dir_name() == dir).unwrap();
            assert_eq!(entry.desc_text().as_bytes(), expected(dir, "desc"), "{dir}");
            assert_eq!(entry.files.is_some(), has_files, "{file} {dir}");
            if let Some(list) = &entry.files {
                let mut member = Vec::new();
                list.write_member(&mut member);
                assert_eq!(member, expected(dir, "files"), "{dir}");
            }
        }
        // Writing them again gives back the same entries.
        let kind = if has_files { DbKind::Files } else { DbKind::Db };
        let again = dbwrite::render(&db.entries, kind).unwrap();
        assert_eq!(
            parse(&again, &Limits::default()).unwrap().entries,
            db.entries
        );
    }
    let gz = syncdb::read(&fixture("pkg/expected/gz.db.tar.gz"), &Limits::default()).unwrap();
    assert_eq!(gz.compression, Some(Compression::Gzip));
    assert_eq!(gz.entries.len(), 2);
}

#[test]
fn every_compression_reads_the_same() {
    let plain = one_entry();
    let expected = parse(&plain, &Limits::default()).unwrap().entries;
    assert_eq!(expected.len(), 1);
    for (compression, bytes) in [
        (Compression::Zstd, zst(&plain)),
        (Compression::Gzip, gz(&plain)),
        (Compression::Xz, xz(&plain)),
        (Compression::Bzip2, bz2(&plain)),
    ] {
        let db = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(db.compression, Some(compression));
        assert_eq!(db.entries, expected, "{compression:?}");
    }
}

#[test]
fn old_databases_with_a_depends_member_are_merged() {
    let full = binutils();
    let (desc, depends) = full.split_at(full.find("%CONFLICTS%").unwrap());
    let bytes = tar(&[
        ("binutils-2.40-2/", EntryType::Directory, b""),
        ("binutils-2.40-2/desc", EntryType::Regular, desc.as_bytes()),
        (
            "binutils-2.40-2/depends",
            EntryType::Regular,
            depends.as_bytes(),
        ),
    ]);
    let db = parse(&bytes, &Limits::default()).unwrap();
    assert_eq!(db.entries[0].desc_text(), full);
}

#[test]
fn empty_databases_are_valid() {
    // repo-add's "zip up some emptiness": `bsdtar -cf - -T /dev/null`.
    let db = parse(&zst(&[0u8; 10240]), &Limits::default()).unwrap();
    assert!(db.entries.is_empty());
    let ours = dbwrite::render(&[], DbKind::Files).unwrap();
    assert!(parse(&ours, &Limits::default()).unwrap().entries.is_empty());
}

#[test]
fn a_database_exactly_at_the_limit_is_read() {
    let plain = one_entry();
    let limits = Limits {
        max_decompressed: plain.len() as u64,
        ..Limits::default()
    };
    assert_eq!(parse(&zst(&plain), &limits).unwrap().entries.len(), 1);
}

#[test]
fn file_lists_survive_non_utf8_paths() {
    let mut entry = DbEntry::parse_desc(&binutils()).unwrap();
    entry.files =
        Some(FileList::from_paths(vec![b"usr/".to_vec(), b"usr/caf\xe9".to_vec()]).unwrap());
    let bytes = dbwrite::render(std::slice::from_ref(&entry), DbKind::Files).unwrap();
    assert_eq!(
        parse(&bytes, &Limits::default()).unwrap().entries,
        vec![entry]
    );
}

fn cut(mut bytes: Vec<u8>, keep: usize) -> Vec<u8> {
    bytes.truncate(keep);
    bytes
}

/// A hostile or broken database, and the limits to read it with.
fn hostile(case: &str) -> (Vec<u8>, Limits) {
    let limits = Limits::default();
    let desc = binutils();
    let d = desc.as_bytes();
    let dir = ("binutils-2.40-2/", EntryType::Directory, &b""[..]);
    let desc_member = ("binutils-2.40-2/desc", EntryType::Regular, d);
    let plain = one_entry();
    let bytes = match case {
        "text" => b"this is a web server's error page, not a database\n".repeat(20),
        "short_text" => b"404 Not Found\n".to_vec(),
        "empty" => Vec::new(),
        "html_gzip" => gz(b"<html>not a tar</html>\n"),
        "lz4" => vec![0x04, 0x22, 0x4d, 0x18, 0, 0, 0, 0],
        "truncated_zstd" => cut(zst(&plain), zst(&plain).len() / 2),
        "truncated_gzip" => cut(gz(&plain), gz(&plain).len() / 2),
        "truncated_xz" => cut(xz(&plain), xz(&plain).len() / 2),
        "truncated_tar_at_member_boundary" => cut(plain.clone(), 512 + 512 + 1024),
        "truncated_tar_inside_member" => cut(plain.clone(), 512 + 512 + 100),
        "corrupt_zstd" => {
            let mut z = zst(&plain);
            let mid = z.len() / 2;
            z[mid] ^= 0xff;
            z[mid + 1] ^= 0xff;
            z
        }
        "corrupt_zstd_checksummed" => {
            let mut z = dbwrite::compress(&plain).unwrap();
            let at = z.len() - 6;
            z[at] ^= 0x01;
            z
        }
        "zstd_cut_after_the_archive" => {
            let z = dbwrite::compress(&plain).unwrap();
            cut(z.clone(), z.len() - 2)
        }
        "trailing_garbage_in_xz" => {
            let mut x = xz(&plain);
            x.extend_from_slice(b"garbage after the stream");
            x
        }
        "too_large" => {
            return (
                zst(&plain),
                Limits {
                    max_decompressed: 1024,
                    ..limits
                },
            );
        }
        "member_too_large" => {
            return (
                plain,
                Limits {
                    max_desc: 100,
                    ..limits
                },
            );
        }
        "too_many_entries" => {
            return (
                plain,
                Limits {
                    max_entries: 0,
                    ..limits
                },
            );
        }
        "duplicate_package" => {
            let other = desc.replace("2.40-2", "2.41-1");
            tar(&[
                dir,
                desc_member,
                ("binutils-2.41-1/", EntryType::Directory, b""),
                ("binutils-2.41-1/desc", EntryType::Regular, other.as_bytes()),
            ])
        }
        "directory_mismatch" => tar(&[
            ("glibc-2.39-1/", EntryType::Directory, b""),
            ("glibc-2.39-1/desc", EntryType::Regular, d),
        ]),
        "symlink_member" => tar(&[
            dir,
            ("binutils-2.40-2/desc", EntryType::Symlink, b"/etc/passwd"),
        ]),
        "hard_link_member" => tar(&[
            dir,
            desc_member,
            (
                "binutils-2.40-2/files",
                EntryType::Link,
                b"binutils-2.40-2/desc",
            ),
        ]),
        "device_member" => tar(&[
            dir,
            desc_member,
            ("binutils-2.40-2/null", EntryType::Char, b""),
        ]),
        "file_outside_entry" => tar(&[("desc", EntryType::Regular, d)]),
        "nested_member" => tar(&[dir, ("binutils-2.40-2/sub/desc", EntryType::Regular, d)]),
        "traversal_member" => tar(&[("../binutils-2.40-2/desc", EntryType::Regular, d)]),
        "absolute_member" => tar(&[("/binutils-2.40-2/desc", EntryType::Regular, d)]),
        "unknown_member" => tar(&[
            dir,
            desc_member,
            (
                "binutils-2.40-2/install",
                EntryType::Regular,
                b"#!/bin/sh\n",
            ),
        ]),
        "missing_desc" => tar(&[dir]),
        "duplicate_member" => tar(&[dir, desc_member, desc_member]),
        "desc_not_utf8" => tar(&[
            dir,
            (
                "binutils-2.40-2/desc",
                EntryType::Regular,
                b"%NAME%\n\xff\xfe\n\n",
            ),
        ]),
        "name_not_utf8" => {
            let mut bytes = tar(&[("binXX/", EntryType::Directory, b"")]);
            bytes[3] = 0xff;
            bytes[4] = 0xfe;
            // The header checksum covers the name.
            let mut h = tar::Header::new_old();
            h.as_mut_bytes().copy_from_slice(&bytes[..512]);
            h.set_cksum();
            bytes[..512].copy_from_slice(h.as_bytes());
            bytes
        }
        "files_with_backup" => tar(&[
            dir,
            desc_member,
            (
                "binutils-2.40-2/files",
                EntryType::Regular,
                b"%FILES%\nusr/\n\n%BACKUP%\netc/x\tabc\n",
            ),
        ]),
        "files_without_header" => tar(&[
            dir,
            desc_member,
            (
                "binutils-2.40-2/files",
                EntryType::Regular,
                b"usr/\nusr/bin/\n",
            ),
        ]),
        "filename_traversal" => {
            let evil = with_field("FILENAME", "../../../etc/cron.d/evil");
            zst(&tar(&[
                dir,
                ("binutils-2.40-2/desc", EntryType::Regular, evil.as_bytes()),
            ]))
        }
        "absurd_size" => {
            let evil = with_field("CSIZE", "1099511627776");
            zst(&tar(&[
                dir,
                ("binutils-2.40-2/desc", EntryType::Regular, evil.as_bytes()),
            ]))
        }
        "missing_sha256" => {
            let evil = desc.replace("%SHA256SUM%", "%SHA512SUM%");
            tar(&[
                dir,
                ("binutils-2.40-2/desc", EntryType::Regular, evil.as_bytes()),
            ])
        }
        "non_numeric_size" => {
            let evil = with_field("ISIZE", "lots");
            gz(&tar(&[
                dir,
                ("binutils-2.40-2/desc", EntryType::Regular, evil.as_bytes()),
            ]))
        }
        other => panic!("unknown case {other}"),
    };
    (bytes, limits)
}

#[rstest]
#[case::text("text")]
#[case::short_text("short_text")]
#[case::empty("empty")]
#[case::html_gzip("html_gzip")]
#[case::lz4("lz4")]
#[case::truncated_zstd("truncated_zstd")]
#[case::truncated_gzip("truncated_gzip")]
#[case::truncated_xz("truncated_xz")]
#[case::truncated_tar_at_member_boundary("truncated_tar_at_member_boundary")]
#[case::truncated_tar_inside_member("truncated_tar_inside_member")]
#[case::corrupt_zstd("corrupt_zstd")]
#[case::corrupt_zstd_checksummed("corrupt_zstd_checksummed")]
#[case::zstd_cut_after_the_archive("zstd_cut_after_the_archive")]
#[case::trailing_garbage_in_xz("trailing_garbage_in_xz")]
#[case::too_large("too_large")]
#[case::member_too_large("member_too_large")]
#[case::too_many_entries("too_many_entries")]
#[case::duplicate_package("duplicate_package")]
#[case::directory_mismatch("directory_mismatch")]
#[case::symlink_member("symlink_member")]
#[case::hard_link_member("hard_link_member")]
#[case::device_member("device_member")]
#[case::file_outside_entry("file_outside_entry")]
#[case::nested_member("nested_member")]
#[case::traversal_member("traversal_member")]
#[case::absolute_member("absolute_member")]
#[case::unknown_member("unknown_member")]
#[case::missing_desc("missing_desc")]
#[case::duplicate_member("duplicate_member")]
#[case::desc_not_utf8("desc_not_utf8")]
#[case::name_not_utf8("name_not_utf8")]
#[case::files_with_backup("files_with_backup")]
#[case::files_without_header("files_without_header")]
#[case::filename_traversal("filename_traversal")]
#[case::absurd_size("absurd_size")]
#[case::missing_sha256("missing_sha256")]
#[case::non_numeric_size("non_numeric_size")]
fn hostile_databases_are_rejected_with_the_entry_and_field_named(#[case] case: &str) {
    let (bytes, limits) = hostile(case);
    let message = match parse(&bytes, &limits) {
        Ok(db) => panic!(
            "`{case}` should be rejected, but read {} entries",
            db.entries.len()
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        message.starts_with("invalid database `core.db`: "),
        "{case}: {message}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(case);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(message));
}

/// A small deterministic generator (xorshift64*), so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Damaged databases (bytes flipped, cut, duplicated) are read or refused, never a panic;
/// whatever is read is valid and writes back to a database that reads the same.
#[test]
fn mutated_databases_never_panic() {
    let full = std::fs::read(fixture("pkg/expected/fixtures.files.tar.zst")).unwrap();
    let plain = zstd::decode_all(&full[..]).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut refused = 0;
    for round in 0..3000 {
        let mut bytes = if round % 2 == 0 {
            plain.clone()
        } else {
            full.clone()
        };
        match rng.below(4) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.below(bytes.len());
                bytes.truncate(at);
            }
            2 => {
                let at = rng.below(bytes.len());
                let len = rng.below(600).min(bytes.len() - at);
                let chunk = bytes[at..at + len].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
            _ => {
                let at = rng.below(bytes.len());
                bytes[at] = *b"%/\n.:0\xff".get(rng.below(7)).unwrap_or(&b'%');
            }
        }
        match parse(&bytes, &Limits::default()) {
            Ok(db) => {
                for e in &db.entries {
                    e.validate(lumina_repo::entry::MAX_PACKAGE_SIZE).unwrap();
                }
                let again = dbwrite::render(&db.entries, DbKind::Files).unwrap();
                assert_eq!(
                    parse(&again, &Limits::default()).unwrap().entries,
                    db.entries
                );
            }
            Err(e) => {
                refused += 1;
                assert!(
                    e.to_string().starts_with("invalid database `core.db`: "),
                    "{e}"
                );
            }
        }
    }
    assert!(
        refused > 1000,
        "only {refused} of 3000 damaged databases were refused"
    );
}
