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
//! - zstd level 2 (repo-add: `zstd -c -z -q -`, level 3): on a 15,000-entry database as
//!   small as level 3 and a quarter faster to write; with the content checksum the zstd
//!   command also writes, so a damaged database is detected when it is read.
//!
//! The databases are built in memory and handed to the caller, who writes them atomically
//! (`lumina_core::fs::Fs::write_atomic`) or publishes them in a generation. `promote` makes
//! the next generation's databases from the served ones ([`render_merged`]): the entries
//! that stay are carried over as they are, streamed into two compressors at once.

use crate::entry::DbEntry;
use crate::error::Error;

/// The zstd level. repo-add's is 3 (`zstd` without a level); on the databases of
/// `bench/repo` level 2 writes output as small (within 0.5%) in three quarters of the time.
pub const ZSTD_LEVEL: i32 = 2;

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
#[derive(Debug, Default)]
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

/// How many bytes of an archive the compressor is given at a time. Always this many (but
/// for the last piece), whether the archive was built whole ([`compress`]) or streamed
/// ([`render_merged`]): the compressed bytes then depend on the archive alone.
const CHUNK: usize = 1 << 20;

fn zstd_fail(e: std::io::Error) -> Error {
    Error::BuildDatabase(format!("zstd: {e}"))
}

fn encoder() -> Result<zstd::stream::write::Encoder<'static, Vec<u8>>, Error> {
    let mut zstd = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).map_err(zstd_fail)?;
    zstd.include_checksum(true).map_err(zstd_fail)?;
    Ok(zstd)
}

/// A database archive compressed as it is written: zstd at [`ZSTD_LEVEL`] with a content
/// checksum, fed [`CHUNK`] bytes at a time, on a thread of its own (so that the two
/// databases of a repository are compressed at once while their archives are written).
struct Stream {
    tar: TarWriter,
    chunks: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    compressor: std::thread::JoinHandle<Result<Vec<u8>, Error>>,
}

impl Stream {
    fn new() -> Result<Self, Error> {
        let mut zstd = encoder()?;
        let (chunks, incoming) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let compressor = std::thread::spawn(move || {
            use std::io::Write as _;
            for chunk in incoming {
                zstd.write_all(&chunk).map_err(zstd_fail)?;
            }
            zstd.finish().map_err(zstd_fail)
        });
        Ok(Self {
            tar: TarWriter {
                out: Vec::with_capacity(2 * CHUNK),
            },
            chunks: Some(chunks),
            compressor,
        })
    }

    fn send(&mut self, piece: &[u8]) -> Result<(), Error> {
        let sent = self
            .chunks
            .as_ref()
            .is_some_and(|c| c.send(piece.to_vec()).is_ok());
        if sent {
            return Ok(());
        }
        // The compressor stopped: its error is the one to report.
        self.chunks = None;
        Err(Error::BuildDatabase("zstd: the compressor stopped".into()))
    }

    /// Hands every whole [`CHUNK`] written so far to the compressor.
    fn spill(&mut self) -> Result<(), Error> {
        let whole = self.tar.out.len() / CHUNK * CHUNK;
        if whole == 0 {
            return Ok(());
        }
        let out = std::mem::take(&mut self.tar.out);
        let mut result = Ok(());
        for piece in out[..whole].chunks(CHUNK) {
            result = result.and_then(|()| self.send(piece));
        }
        self.tar.out = out;
        self.tar.out.drain(..whole);
        result
    }

    fn finish(mut self) -> Result<Vec<u8>, Error> {
        let tail = std::mem::take(&mut self.tar).finish();
        let mut sent = Ok(());
        for piece in tail.chunks(CHUNK) {
            sent = sent.and_then(|()| self.send(piece));
        }
        drop(self.chunks.take());
        let done = self
            .compressor
            .join()
            .unwrap_or_else(|_| Err(Error::BuildDatabase("zstd: the compressor panicked".into())));
        // The compressor's own error explains a failed send.
        let bytes = done?;
        sent.map(|()| bytes)
    }
}

/// Compresses a tar archive with zstd at [`ZSTD_LEVEL`], with a content checksum.
///
/// # Errors
/// [`Error::BuildDatabase`] when the compressor fails.
pub fn compress(tar: &[u8]) -> Result<Vec<u8>, Error> {
    use std::io::Write as _;
    let mut zstd = encoder()?;
    for piece in tar.chunks(CHUNK) {
        zstd.write_all(piece).map_err(zstd_fail)?;
    }
    zstd.finish().map_err(zstd_fail)
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

/// The served database a new one is made from ([`render_merged`]): its entries, as parsed
/// from the served `$repo.db`, and the archive of the served `$repo.files` (or, for a tree
/// without one, `$repo.db`), decompressed, whose members are carried over as they are.
pub struct Served<'a> {
    /// The served entries, sorted by name (as [`crate::syncdb`] returns them).
    pub entries: &'a [DbEntry],
    /// The decompressed tar archive whose members are copied.
    pub archive: &'a mut dyn std::io::Read,
    /// Names the archive in errors.
    pub path: &'a std::path::Path,
}

impl std::fmt::Debug for Served<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("entries", &self.entries.len())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The members of one entry directory of a served archive.
#[derive(Default)]
struct Carry {
    dir: String,
    desc: Vec<u8>,
    files: Option<Vec<u8>>,
}

/// Both databases of a repository made from the served ones: each served entry that
/// `keep` accepts is carried over with its `desc` and `files` members as they are (neither
/// parsed nor formatted again), and `new` (with their file lists) are added in name order.
/// The result is byte for byte [`render_both`] of the same entries when the served
/// databases were written by this module; promote uses it because at 15,000 packages it
/// formats a few hundred entries instead of all of them, and never holds a whole archive.
///
/// # Errors
/// [`Error::BuildDatabase`] when two entries share a name, when the archive does not match
/// the served entries (not the same entry directories in the same order: the served
/// `.files` and `.db` disagree), or it cannot be read.
pub fn render_merged(
    served: Option<Served<'_>>,
    keep: &dyn Fn(&DbEntry) -> bool,
    new: &[DbEntry],
) -> Result<Databases, Error> {
    let mut merge = Merge {
        db: Stream::new()?,
        files: Stream::new()?,
        new: sorted(new)?,
        next_new: 0,
    };
    if let Some(served) = served {
        merge.carry_over(served, keep)?;
    }
    merge.add_new_before(None)?;
    Ok(Databases {
        db: merge.db.finish()?,
        files: merge.files.finish()?,
    })
}

/// The state of [`render_merged`]: both archives, and the new entries not written yet.
struct Merge<'a> {
    db: Stream,
    files: Stream,
    new: Vec<&'a DbEntry>,
    next_new: usize,
}

impl Merge<'_> {
    /// Writes every new entry that sorts before `name` (all that are left for `None`).
    fn add_new_before(&mut self, name: Option<&str>) -> Result<(), Error> {
        let mut list = Vec::new();
        while let Some(e) = self.new.get(self.next_new) {
            match name {
                Some(n) if e.name.as_str() > n => break,
                Some(n) if e.name == n => {
                    return Err(Error::BuildDatabase(format!(
                        "package `{n}` would appear twice: carried over and as `{}`",
                        e.dir_name()
                    )));
                }
                _ => {}
            }
            list.clear();
            let with_list = e.files.as_ref().map(|l| {
                l.write_member(&mut list);
                &list[..]
            });
            write_entry(
                &mut self.db,
                &mut self.files,
                &e.dir_name(),
                e.desc_text().as_bytes(),
                with_list,
            )?;
            self.next_new += 1;
        }
        Ok(())
    }

    /// Walks the served archive in lockstep with the served entries, writing those `keep`
    /// accepts (and the new entries in their places).
    fn carry_over(
        &mut self,
        served: Served<'_>,
        keep: &dyn Fn(&DbEntry) -> bool,
    ) -> Result<(), Error> {
        let path = served.path;
        let mismatch = |what: String| {
            Error::BuildDatabase(format!(
                "the served database `{}` {what}; it does not match the served `.db`",
                path.display()
            ))
        };
        let unreadable = |e: std::io::Error| mismatch(format!("cannot be read ({e})"));
        let mut expected = served.entries.iter();
        let mut pending: Option<Carry> = None;
        let mut archive = tar::Archive::new(served.archive);
        for member in archive.entries().map_err(unreadable)? {
            let mut member = member.map_err(unreadable)?;
            let path = String::from_utf8(member.path_bytes().into_owned())
                .map_err(|_| mismatch("has a member name that is not UTF-8".into()))?;
            let kind = member.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let (dir, file) = match path.trim_end_matches('/').split_once('/') {
                Some((d, f)) => (d, Some(f)),
                None => (path.trim_end_matches('/'), None),
            };
            if pending.as_ref().is_none_or(|c| c.dir != dir) {
                if let Some(done) = pending.take() {
                    self.carry(done, expected.next(), keep, &mismatch)?;
                }
                pending = Some(Carry {
                    dir: dir.to_owned(),
                    ..Carry::default()
                });
            }
            let Some(carry) = pending.as_mut() else {
                continue;
            };
            let slot = match file {
                None if kind.is_dir() => continue,
                Some("desc") => &mut carry.desc,
                Some("files") => carry.files.insert(Vec::new()),
                _ => return Err(mismatch(format!("has an unexpected member `{path}`"))),
            };
            std::io::Read::read_to_end(&mut member, slot).map_err(unreadable)?;
        }
        if let Some(done) = pending.take() {
            self.carry(done, expected.next(), keep, &mismatch)?;
        }
        if let Some(e) = expected.next() {
            return Err(mismatch(format!("lacks `{}`", e.dir_name())));
        }
        Ok(())
    }

    /// One served entry's members, read: written if kept, after the new entries before it.
    fn carry(
        &mut self,
        c: Carry,
        expected: Option<&DbEntry>,
        keep: &dyn Fn(&DbEntry) -> bool,
        mismatch: &dyn Fn(String) -> Error,
    ) -> Result<(), Error> {
        let Some(e) = expected else {
            return Err(mismatch(format!("has `{}`, an entry too many", c.dir)));
        };
        if c.dir != e.dir_name() {
            return Err(mismatch(format!(
                "has `{}` where `{}` was expected",
                c.dir,
                e.dir_name()
            )));
        }
        if c.desc.is_empty() {
            return Err(mismatch(format!("has no `{}/desc`", c.dir)));
        }
        if !keep(e) {
            return Ok(());
        }
        self.add_new_before(Some(&e.name))?;
        write_entry(
            &mut self.db,
            &mut self.files,
            &c.dir,
            &c.desc,
            c.files.as_deref(),
        )
    }
}

/// One entry into both archives: `DIR/` and `DIR/desc` into each, `DIR/files` (when it
/// has a file list) into the `.files` one.
fn write_entry(
    db: &mut Stream,
    files: &mut Stream,
    dir: &str,
    desc: &[u8],
    list: Option<&[u8]>,
) -> Result<(), Error> {
    let mut path = String::with_capacity(dir.len() + 7);
    path.push_str(dir);
    path.push('/');
    db.tar.dir(&path)?;
    files.tar.dir(&path)?;
    path.push_str("desc");
    db.tar.file(&path, desc)?;
    files.tar.file(&path, desc)?;
    if let Some(list) = list {
        path.truncate(dir.len() + 1);
        path.push_str("files");
        files.tar.file(&path, list)?;
    }
    db.spill()?;
    files.spill()
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

    /// The served `.db`'s view of entries: no file lists.
    fn described(entries: &[DbEntry]) -> Vec<DbEntry> {
        let mut out: Vec<DbEntry> = entries
            .iter()
            .map(|e| DbEntry {
                files: None,
                ..e.clone()
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn merged(
        served: &[DbEntry],
        archive: &[u8],
        gone: &[&str],
        new: &[DbEntry],
    ) -> Result<Databases, Error> {
        let mut plain = &zstd::stream::decode_all(archive).unwrap()[..];
        let entries = described(served);
        render_merged(
            Some(Served {
                entries: &entries,
                archive: &mut plain,
                path: Path::new("core.files"),
            }),
            &|e: &DbEntry| !gone.contains(&e.name.as_str()),
            new,
        )
    }

    #[test]
    fn a_merged_render_is_the_render_of_the_whole() {
        let served = vec![
            entry("bash", "5.2.026-2"),
            entry("glibc", "2.40-1"),
            entry("vim", "9.1-1"),
            entry(&"l".repeat(200), "1-1"),
            entry("zsh", "5.9-5"),
        ];
        let before = render_both(&served).unwrap();
        // glibc is updated, zsh removed, two packages are new (one sorts first).
        let new = vec![
            entry("glibc", "2.41-1"),
            entry("acl", "2.3-1"),
            entry("nano", "8.0-1"),
        ];
        let whole: Vec<DbEntry> = served
            .iter()
            .filter(|e| e.name != "glibc" && e.name != "zsh")
            .chain(&new)
            .cloned()
            .collect();
        let expected = render_both(&whole).unwrap();
        let got = merged(&served, &before.files, &["glibc", "zsh"], &new).unwrap();
        assert_eq!(got, expected, "byte for byte the whole render");
        // Nothing dropped, nothing new: the same bytes again.
        assert_eq!(merged(&served, &before.files, &[], &[]).unwrap(), before);
        // From a served `.db` alone, the carried entries have no file lists.
        let got = merged(&served, &before.db, &["glibc", "zsh"], &new).unwrap();
        let without: Vec<DbEntry> = whole
            .iter()
            .map(|e| DbEntry {
                files: new
                    .iter()
                    .any(|n| n.name == e.name)
                    .then(|| e.files.clone())
                    .flatten(),
                ..e.clone()
            })
            .collect();
        assert_eq!(got, render_both(&without).unwrap());
    }

    #[test]
    fn a_merged_render_refuses_a_served_archive_that_disagrees_and_a_duplicate() {
        let served = vec![entry("bash", "5.2.026-2"), entry("vim", "9.1-1")];
        let archive = render_both(&served).unwrap().files;
        let other = vec![entry("bash", "5.2.026-2"), entry("vim", "9.0-1")];
        assert_eq!(
            merged(&other, &archive, &[], &[]).unwrap_err().to_string(),
            "cannot build the database: the served database `core.files` has `vim-9.1-1` \
             where `vim-9.0-1` was expected; it does not match the served `.db`"
        );
        let fewer = vec![entry("bash", "5.2.026-2")];
        assert!(
            merged(&fewer, &archive, &[], &[])
                .unwrap_err()
                .to_string()
                .contains("has `vim-9.1-1`, an entry too many")
        );
        let more = vec![served[0].clone(), served[1].clone(), entry("zsh", "5.9-5")];
        assert!(
            merged(&more, &archive, &[], &[])
                .unwrap_err()
                .to_string()
                .contains("lacks `zsh-5.9-5`")
        );
        assert_eq!(
            merged(&served, &archive, &[], &[entry("vim", "9.2-1")])
                .unwrap_err()
                .to_string(),
            "cannot build the database: package `vim` would appear twice: carried over and \
             as `vim-9.2-1`"
        );
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
