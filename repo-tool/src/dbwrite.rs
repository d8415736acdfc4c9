//! Writing sync databases: `$repo.db.tar.zst` and `$repo.files.tar.zst` from
//! [`DbEntry`]s, byte for byte the same for the same entries.
//!
//! What pacman reads is the same as from repo-add 6.0.2 for the same packages: each entry's
//! `desc` (and `files`) is exactly repo-add's text ([`DbEntry::write_desc`]), so `pacman -Sl`,
//! `-Si` and `-Fl` print the same. The archive itself differs from repo-add's in what
//! pacman ignores and what would make the output depend on the machine or the time:
//! - members are sorted by package name (repo-add: the shell's glob order), one directory
//!   `NAME-VERSION/` (mode 0755) then its `desc` (and `files`) (mode 0644);
//! - owner `root:root` (uid and gid 0), modification time 0 (repo-add: its temporary
//!   directory's times), ustar headers (a PAX `path` record for a path that ustar's
//!   100-byte name and 155-byte prefix cannot hold), the stream ending in two zero blocks;
//! - zstd level 3, as repo-add's `zstd -c -z -q -`, with the content checksum the zstd
//!   command also writes, so a damaged database is detected when it is read.
//!
//! The databases are built in memory and handed to the caller, who writes them atomically
//! (`lumina_core::fs::Fs::write_atomic`) or publishes them in a generation.

use crate::entry::DbEntry;
use crate::error::Error;

/// The zstd level: repo-add's (`zstd` without a level is level 3).
pub const ZSTD_LEVEL: i32 = 3;

/// Which of the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// `$repo.db`: `desc` only.
    Db,
    /// `$repo.files`: `desc` and `files`.
    Files,
}

/// Both databases of a repository, compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Databases {
    /// `$repo.db.tar.zst`.
    pub db: Vec<u8>,
    /// `$repo.files.tar.zst`.
    pub files: Vec<u8>,
}

/// The entries in the order they are written, refusing two entries of one name.
///
/// # Errors
/// [`Error::BuildDatabase`] when two entries share a name.
pub fn sorted(entries: &[DbEntry]) -> Result<Vec<&DbEntry>, Error> {
    let mut sorted: Vec<&DbEntry> = entries.iter().collect();
    sorted.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    for pair in sorted.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(Error::BuildDatabase(format!(
                "package `{}` would appear twice, as `{}` and `{}`",
                pair[0].name,
                pair[0].dir_name(),
                pair[1].dir_name()
            )));
        }
    }
    Ok(sorted)
}

/// A minimal ustar writer for what a database holds: directories and small files, owned by
/// `root:root`, mode 0755/0644, mtime 0. A path that does not fit ustar's 100-byte name
/// (split at a `/` into a 155-byte prefix) gets a PAX `path` record, which libarchive,
/// bsdtar and the `tar` crate read.
#[derive(Debug)]
struct TarWriter {
    out: Vec<u8>,
}

impl TarWriter {
    fn header(&mut self, path: &str, kind: u8, mode: u32, size: u64) -> Result<(), Error> {
        if size >= 1 << 33 {
            return Err(Error::BuildDatabase(format!(
                "the member `{path}` is larger than 8 GiB"
            )));
        }
        let bytes = path.as_bytes();
        let split = if bytes.len() <= 100 {
            Some((&b""[..], bytes))
        } else {
            // ustar: PREFIX/NAME with PREFIX <= 155 and NAME <= 100 bytes, NAME not empty.
            bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'/' && i <= 155 && bytes.len() - i - 1 <= 100)
                .map(|(i, _)| (&bytes[..i], &bytes[i + 1..]))
                .find(|(_, name)| !name.is_empty())
        };
        let (prefix, name) = match split {
            Some(parts) => parts,
            None => {
                let mut record = format!(" path={path}\n");
                // The record's length counts its own digits.
                let mut len = record.len();
                while len.to_string().len() + record.len() != len {
                    len = len.to_string().len() + record.len();
                }
                record.insert_str(0, &len.to_string());
                self.raw_header(b"././@PaxHeader", b"", b'x', 0o644, record.len() as u64);
                self.data(record.as_bytes());
                // The ustar name is a truncated fallback for readers without PAX.
                let cut = (0..=100)
                    .rev()
                    .find(|&i| path.is_char_boundary(i))
                    .unwrap_or(0);
                (&b""[..], &bytes[..cut])
            }
        };
        self.raw_header(name, prefix, kind, mode, size);
        Ok(())
    }

    fn raw_header(&mut self, name: &[u8], prefix: &[u8], kind: u8, mode: u32, size: u64) {
        /// Zero-padded octal digits filling `field` but for a final NUL.
        fn octal(field: &mut [u8], mut value: u64) {
            let digits = field.len() - 1;
            for slot in field[..digits].iter_mut().rev() {
                *slot = b'0' + (value & 7) as u8;
                value >>= 3;
            }
            field[digits] = 0;
        }
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0);
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[345..345 + prefix.len()].copy_from_slice(prefix);
        // The checksum is computed with its own field as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        octal(&mut h[148..155], u64::from(sum));
        h[155] = b' ';
        self.out.extend_from_slice(&h);
    }

    /// A member's content, padded to the block size.
    fn data(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        let pad = (512 - bytes.len() % 512) % 512;
        self.out.resize(self.out.len() + pad, 0);
    }

    fn dir(&mut self, path: &str) -> Result<(), Error> {
        self.header(path, b'5', 0o755, 0)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        self.header(path, b'0', 0o644, bytes.len() as u64)?;
        self.data(bytes);
        Ok(())
    }

    /// Two zero blocks end the archive.
    fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 1024, 0);
        self.out
    }
}

/// The `desc` texts of sorted entries, formatted on every core.
fn descs(sorted: &[&DbEntry]) -> Vec<String> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let chunk = sorted.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = sorted
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|e| e.desc_text()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn tar_with(sorted: &[&DbEntry], descs: &[String], kind: DbKind) -> Result<Vec<u8>, Error> {
    let per_entry = match kind {
        DbKind::Db => 2048,
        DbKind::Files => 3072,
    };
    let mut tar = TarWriter {
        out: Vec::with_capacity(sorted.len() * per_entry + 1024),
    };
    let mut path = String::with_capacity(300);
    let mut files = Vec::new();
    for (entry, desc) in sorted.iter().zip(descs) {
        path.clear();
        path.push_str(&entry.name);
        path.push('-');
        path.push_str(&entry.version);
        let dir_len = path.len();
        path.push('/');
        tar.dir(&path)?;
        path.push_str("desc");
        tar.file(&path, desc.as_bytes())?;
        if kind == DbKind::Files
            && let Some(list) = &entry.files
        {
            files.clear();
            list.write_member(&mut files);
            path.truncate(dir_len + 1);
            path.push_str("files");
            tar.file(&path, &files)?;
        }
    }
    Ok(tar.finish())
}

/// The uncompressed tar archive of `kind` for `entries`, sorted by name.
///
/// # Errors
/// [`Error::BuildDatabase`] when two entries share a name.
pub fn tar(entries: &[DbEntry], kind: DbKind) -> Result<Vec<u8>, Error> {
    let sorted = sorted(entries)?;
    let descs: Vec<String> = sorted.iter().map(|e| e.desc_text()).collect();
    tar_with(&sorted, &descs, kind)
}

/// Compresses a tar archive with zstd at [`ZSTD_LEVEL`], with a content checksum.
///
/// # Errors
/// [`Error::BuildDatabase`] when the compressor fails.
pub fn compress(tar: &[u8]) -> Result<Vec<u8>, Error> {
    let fail = |e: std::io::Error| Error::BuildDatabase(format!("zstd: {e}"));
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(fail)?;
    compressor
        .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .map_err(fail)?;
    compressor.compress(tar).map_err(fail)
}

/// One database, compressed.
///
/// # Errors
/// [`Error::BuildDatabase`] when two entries share a name or the compressor fails.
pub fn render(entries: &[DbEntry], kind: DbKind) -> Result<Vec<u8>, Error> {
    compress(&tar(entries, kind)?)
}

/// Both databases: the `desc` texts formatted once, then each archive built and compressed
/// on its own thread.
///
/// # Errors
/// [`Error::BuildDatabase`] when two entries share a name or the compressor fails.
pub fn render_both(entries: &[DbEntry]) -> Result<Databases, Error> {
    let sorted = sorted(entries)?;
    let descs = descs(&sorted);
    let (db, files) = std::thread::scope(|s| {
        let files = s.spawn(|| compress(&tar_with(&sorted, &descs, DbKind::Files)?));
        let db = tar_with(&sorted, &descs, DbKind::Db).and_then(|t| compress(&t));
        let files = files
            .join()
            .unwrap_or_else(|_| Err(Error::BuildDatabase("the writer thread panicked".into())));
        (db, files)
    });
    Ok(Databases {
        db: db?,
        files: files?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::entry::FileList;
    use crate::syncdb::{self, Limits};

    fn entry(name: &str, version: &str) -> DbEntry {
        DbEntry {
            filename: format!("{name}-{version}-x86_64.pkg.tar.zst"),
            name: name.into(),
            base: Some(name.into()),
            version: version.into(),
            csize: 1000,
            isize: Some(4096),
            sha256sum: "ab".repeat(32),
            arch: "x86_64".into(),
            builddate: Some(1_700_000_000),
            depends: vec!["glibc>=2.39".parse().unwrap()],
            files: Some(
                FileList::from_paths(vec![
                    b"usr/".to_vec(),
                    format!("usr/bin/{name}").into_bytes(),
                ])
                .unwrap(),
            ),
            ..DbEntry::default()
        }
    }

    #[test]
    fn databases_read_back_and_are_deterministic() {
        let entries = vec![entry("zsh", "5.9-5"), entry("bash", "5.2.026-2")];
        let both = render_both(&entries).unwrap();
        assert_eq!(
            both,
            render_both(&[entries[1].clone(), entries[0].clone()]).unwrap()
        );
        let db = syncdb::parse(&both.db[..], Path::new("t.db"), &Limits::default()).unwrap();
        assert_eq!(db.compression, Some(syncdb::Compression::Zstd));
        let mut expected: Vec<DbEntry> = entries
            .iter()
            .map(|e| DbEntry {
                files: None,
                ..e.clone()
            })
            .collect();
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(db.entries, expected);
        let files =
            syncdb::parse(&both.files[..], Path::new("t.files"), &Limits::default()).unwrap();
        assert_eq!(files.entries[0], entries[1]);
        assert_eq!(files.entries[1], entries[0]);
    }

    #[test]
    fn long_names_and_empty_databases() {
        let long = "a".repeat(200);
        let entries = vec![entry(&long, "1-1")];
        let bytes = render(&entries, DbKind::Files).unwrap();
        let back = syncdb::parse(&bytes[..], Path::new("t"), &Limits::default()).unwrap();
        assert_eq!(back.entries, entries);
        let empty = render(&[], DbKind::Db).unwrap();
        let back = syncdb::parse(&empty[..], Path::new("t"), &Limits::default()).unwrap();
        assert!(back.entries.is_empty());
    }

    #[test]
    fn two_entries_of_one_name_are_refused() {
        let e = tar(&[entry("a", "1-1"), entry("a", "2-1")], DbKind::Db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot build the database: package `a` would appear twice, as `a-1-1` and `a-2-1`"
        );
    }
}
