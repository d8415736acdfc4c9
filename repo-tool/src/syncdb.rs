//! Reading a sync database: `$repo.db` or `$repo.files`, a tar archive compressed with zstd,
//! gzip, xz or bzip2, or not at all, into validated [`DbEntry`]s.
//!
//! # Layout (libalpm's `sync_db_populate` and `sync_db_read`)
//!
//! One directory per package, `NAME-VERSION/`, holding `desc` and, in a `.files` database,
//! `files`; databases older than pacman 4.1 split some fields into `depends`, which is read
//! as part of `desc`. Nothing else belongs in the archive.
//!
//! # Hostile input
//!
//! The compression is detected from the first bytes, never from the file name (`core.db`
//! has no extension). Everything that could make the reader misbehave is an
//! [`Error::InvalidDatabase`] that names the entry and the field, never a panic:
//! - a file that is not a (compressed) tar archive, a damaged or truncated one (the
//!   archive must end with tar's end-of-archive block, so a cut at a member boundary is
//!   caught too), a compression this tool does not read;
//! - more decompressed bytes than [`Limits::max_decompressed`], a member larger than its
//!   limit, more entries than [`Limits::max_entries`] (memory stays bounded whatever the
//!   input claims);
//! - links, devices, members outside an entry directory or nested deeper, unknown files,
//!   a member twice, a directory without `desc`;
//! - an invalid field ([`DbEntry::parse_desc`]: a `%FILENAME%` with `/` or `..`, a size over
//!   [`Limits::max_package_size`], a non-numeric size, a missing required field, ...);
//! - a directory that is not `%NAME%-%VERSION%` of its `desc`, two entries of one name.
//!
//! The stream is read to its end, so the decompressor checks its own integrity data (zstd's
//! content checksum when the writer added one, as [`crate::dbwrite`] and the `zstd` command
//! do; gzip's CRC; xz's check). Whether the database is the one its publisher signed is the
//! signature's business (`crate::sign`), checked before this reads it. Damaged inputs are
//! exercised by `tests/db` (a corpus of hostile databases, and thousands of random
//! mutations of repo-add's output that must each be read or refused, never panic).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::entry::{DbEntry, FileList, MAX_PACKAGE_SIZE};
use crate::error::{DbProblem, Error};

/// Bounds on what a database may make this process hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest decompressed archive: 2 GiB by default. Arch's `extra.files`, the
    /// largest database there is, is a few hundred MiB decompressed.
    pub max_decompressed: u64,
    /// The largest `desc` or `depends` member: 1 MiB (pacman reads lines of at most 512
    /// KiB; a real `desc` is a few KiB).
    pub max_desc: u64,
    /// The largest `files` member: 256 MiB.
    pub max_files: u64,
    /// The most entries: 1,000,000 (Arch has about 15,000 packages).
    pub max_entries: usize,
    /// The largest `%CSIZE%` and `%ISIZE%`: [`MAX_PACKAGE_SIZE`].
    pub max_package_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_decompressed: 2 << 30,
            max_desc: 1 << 20,
            max_files: 256 << 20,
            max_entries: 1_000_000,
            max_package_size: MAX_PACKAGE_SIZE,
        }
    }
}

/// How a database or package file is compressed, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar archive (or something that is not an archive at all).
    None,
    /// gzip (`.tar.gz`; Arch's own databases).
    Gzip,
    /// bzip2 (`.tar.bz2`).
    Bzip2,
    /// xz (`.tar.xz`).
    Xz,
    /// zstd (`.tar.zst`; what `repo-add` and this tool write).
    Zstd,
}

impl Compression {
    /// The compression whose magic number starts `head` (at least 6 bytes when available).
    ///
    /// # Errors
    /// The name of a recognised compression this tool does not read (lz4, lzip, lzop,
    /// compress).
    pub fn detect(head: &[u8]) -> Result<Self, &'static str> {
        Ok(if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Self::Xz
        } else if head.starts_with(b"BZh") {
            Self::Bzip2
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            return Err("lz4");
        } else if head.starts_with(b"LZIP") {
            return Err("lzip");
        } else if head.starts_with(&[0x89, b'L', b'Z', b'O']) {
            return Err("lzop");
        } else if head.starts_with(&[0x1f, 0x9d]) {
            return Err("compress (`.Z`)");
        } else {
            Self::None
        })
    }

    /// Its name in messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Bzip2 => "bzip2",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
        }
    }
}

/// A reader of the decompressed stream of `input` (`zstd` with the given reusable context).
///
/// Multi-member gzip, xz and bzip2 streams and multi-frame zstd streams are read whole, as
/// libarchive reads them.
///
/// # Errors
/// When the decoder cannot be set up (out of memory).
pub(crate) fn decoder<'a, R: BufRead + 'a>(
    compression: Compression,
    input: R,
    zstd_context: Option<&'a mut zstd::zstd_safe::DCtx<'static>>,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => match zstd_context {
            Some(ctx) => Box::new(zstd::stream::read::Decoder::with_context(input, ctx)),
            None => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        },
    })
}

/// A reader that stops with an error after `limit` bytes and remembers the last 512 bytes
/// it passed on, so that the end of a tar archive can be checked.
///
/// It also "seeks" forward by reading and discarding into a reused buffer: the `tar` crate
/// skips an entry's unread data that way when its reader can seek, and otherwise zeroes a
/// 32 KiB buffer for every entry, which costs more than reading a small database entry.
#[derive(Debug)]
pub(crate) struct Bounded<R> {
    inner: R,
    limit: u64,
    total: u64,
    exceeded: bool,
    /// Whether the inner reader (the decompressor) failed, as opposed to the tar reader.
    pub(crate) inner_failed: bool,
    /// The last (up to) 512 bytes read.
    tail: Vec<u8>,
    /// Scratch space for forward seeks.
    scratch: Vec<u8>,
}

impl<R> Bounded<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            total: 0,
            exceeded: false,
            inner_failed: false,
            tail: Vec::with_capacity(1024),
            scratch: Vec::new(),
        }
    }

    /// Whether everything read so far ends with tar's end-of-archive block: a whole number
    /// of 512-byte blocks, the last one all zeros.
    pub(crate) fn ends_with_zero_block(&self) -> bool {
        self.total >= 512
            && self.total.is_multiple_of(512)
            && self.tail.len() == 512
            && self.tail.iter().all(|&b| b == 0)
    }
}

impl<R: Read> Bounded<R> {
    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.inner_failed = true;
            }
        })
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.total >= self.limit {
            // One byte past the limit tells "exactly the limit" from "more".
            let mut probe = [0u8; 1];
            if self.read_inner(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other("the size limit was reached"));
        }
        let room = usize::try_from(self.limit - self.total).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.read_inner(&mut buf[..want])?;
        self.total += n as u64;
        let chunk = &buf[..n];
        if chunk.len() >= 512 {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - 512..]);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > 512 {
                let excess = self.tail.len() - 512;
                self.tail.drain(..excess);
            }
        }
        Ok(n)
    }
}

impl<R: Read> Seek for Bounded<R> {
    /// Only forward relative seeks, done by reading; returns the position in the stream.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(amount) = pos else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a decompressed stream only skips forward",
            ));
        };
        let mut left = u64::try_from(amount).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a decompressed stream only skips forward",
            )
        })?;
        if left > 0 && self.scratch.is_empty() {
            self.scratch = vec![0; 8192];
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(scratch.len());
            let n = match self.read(&mut scratch[..want]) {
                Ok(0) => {
                    self.scratch = scratch;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "unexpected EOF during skip",
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.scratch = scratch;
                    return Err(e);
                }
            };
            left -= n as u64;
        }
        self.scratch = scratch;
        Ok(self.total)
    }
}

/// A database read into memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncDb {
    /// The entries, sorted by package name.
    pub entries: Vec<DbEntry>,
    /// The compression the file used.
    pub compression: Option<Compression>,
}

/// Reads and validates the database at `path` (following a `$repo.db` symlink).
///
/// # Errors
/// - [`Error::Fs`] when it cannot be opened;
/// - [`Error::InvalidDatabase`] for everything listed in the module documentation.
pub fn read(path: &Path, limits: &Limits) -> Result<SyncDb, Error> {
    let file =
        File::open(path).map_err(|e| lumina_core::Error::io(path, "opening the database", e))?;
    parse(BufReader::with_capacity(256 * 1024, file), path, limits)
}

/// Reads and validates a database from `input`; `path` names it in errors.
///
/// # Errors
/// [`Error::InvalidDatabase`] for everything listed in the module documentation.
pub fn parse<R: BufRead>(input: R, path: &Path, limits: &Limits) -> Result<SyncDb, Error> {
    parse_selected(input, path, limits, None)
}

/// Reads the entries of the database at `path` whose directory (`NAME-VERSION`) `wanted`
/// accepts; the members of the others are skipped unread. For a database already
/// validated whole (an upstream snapshot `sync` checked), of which a few entries are needed:
/// the archive's structure and the decompressor's checksum are still checked, the entries
/// read are validated as by [`read`].
///
/// # Errors
/// As [`read`].
pub fn read_selected(
    path: &Path,
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<SyncDb, Error> {
    let file =
        File::open(path).map_err(|e| lumina_core::Error::io(path, "opening the database", e))?;
    parse_selected(
        BufReader::with_capacity(256 * 1024, file),
        path,
        limits,
        Some(wanted),
    )
}

fn parse_selected<R: BufRead>(
    mut input: R,
    path: &Path,
    limits: &Limits,
    wanted: Option<&dyn Fn(&str) -> bool>,
) -> Result<SyncDb, Error> {
    let invalid = |problem| Error::InvalidDatabase {
        path: path.to_path_buf(),
        problem,
    };
    let head = input
        .fill_buf()
        .map_err(|e| invalid(DbProblem::Corrupt(e.to_string())))?;
    let compression = Compression::detect(head)
        .map_err(|name| invalid(DbProblem::UnsupportedCompression(name)))?;
    let stream = decoder(compression, input, None)
        .map_err(|e| invalid(DbProblem::Corrupt(e.to_string())))?;
    let mut bounded = Bounded::new(stream, limits.max_decompressed);
    let members = read_members(&mut bounded, limits, wanted).map_err(invalid)?;
    let entries = assemble(members, limits).map_err(invalid)?;
    Ok(SyncDb {
        entries,
        compression: Some(compression),
    })
}

/// The decompressed tar archive of the database at `path`, as a stream (compression by
/// magic bytes; at most `limits.max_decompressed` bytes), for a caller that walks the
/// members itself.
///
/// # Errors
/// [`Error::Fs`] when it cannot be opened; [`Error::InvalidDatabase`] for an unknown
/// compression.
pub fn open_archive(path: &Path, limits: &Limits) -> Result<Box<dyn Read>, Error> {
    let file =
        File::open(path).map_err(|e| lumina_core::Error::io(path, "opening the database", e))?;
    let mut input = BufReader::with_capacity(256 * 1024, file);
    let invalid = |problem| Error::InvalidDatabase {
        path: path.to_path_buf(),
        problem,
    };
    let head = input
        .fill_buf()
        .map_err(|e| invalid(DbProblem::Corrupt(e.to_string())))?;
    let compression = Compression::detect(head)
        .map_err(|name| invalid(DbProblem::UnsupportedCompression(name)))?;
    let stream = decoder(compression, input, None)
        .map_err(|e| invalid(DbProblem::Corrupt(e.to_string())))?;
    Ok(Box::new(Bounded::new(stream, limits.max_decompressed)))
}

/// The members of one entry directory, as read.
#[derive(Debug, Default)]
struct Members {
    desc: Option<Vec<u8>>,
    depends: Option<Vec<u8>>,
    files: Option<FileList>,
}

/// Turns an I/O error from the decoder or the tar reader into the problem it shows.
fn stream_problem<R>(
    e: &io::Error,
    bounded: &Bounded<R>,
    limits: &Limits,
    members_read: usize,
) -> DbProblem {
    if bounded.exceeded {
        return DbProblem::TooLarge {
            limit: limits.max_decompressed,
        };
    }
    let text = e.to_string();
    let lower = text.to_lowercase();
    let cut = e.kind() == io::ErrorKind::UnexpectedEof
        || [
            "eof",
            "incomplete",
            "unexpected end",
            "failed to read entire block",
        ]
        .iter()
        .any(|s| lower.contains(s));
    if bounded.inner_failed {
        // The decompressor: a cut stream, or damaged data.
        if cut {
            DbProblem::Truncated(text)
        } else {
            DbProblem::Corrupt(text)
        }
    } else if members_read == 0 {
        DbProblem::NotAnArchive(if bounded.total == 0 {
            text
        } else {
            "no valid tar header at the start".into()
        })
    } else if cut {
        DbProblem::Truncated(text)
    } else {
        DbProblem::Corrupt(text)
    }
}

fn read_members<R: Read>(
    bounded: &mut Bounded<R>,
    limits: &Limits,
    wanted: Option<&dyn Fn(&str) -> bool>,
) -> Result<HashMap<String, Members>, DbProblem> {
    let mut dirs: HashMap<String, Members> = HashMap::new();
    let mut members_read = 0;
    {
        let mut archive = tar::Archive::new(&mut *bounded);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| DbProblem::Corrupt(e.to_string()))?;
        let mut pending_error = None;
        for member in entries {
            let mut member = match member {
                Ok(m) => {
                    members_read += 1;
                    m
                }
                Err(e) => {
                    pending_error = Some(e);
                    break;
                }
            };
            let raw_path = member.path_bytes().into_owned();
            let Ok(path) = String::from_utf8(raw_path) else {
                return Err(DbProblem::UnexpectedMember {
                    member: String::from_utf8_lossy(&member.path_bytes()).into_owned(),
                    reason: "its name is not UTF-8",
                });
            };
            let kind = member.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let unexpected = |reason| DbProblem::UnexpectedMember {
                member: path.clone(),
                reason,
            };
            let (dir, file) = split_member(&path).map_err(unexpected)?;
            if wanted.is_some_and(|w| !w(dir)) {
                continue;
            }
            if kind.is_dir() {
                if file.is_some() {
                    return Err(unexpected("a directory nested in an entry"));
                }
            } else if !(kind.is_file() || kind.is_contiguous()) {
                return Err(unexpected(
                    "links and special files have no place in a database",
                ));
            } else if file.is_none() {
                return Err(unexpected("a file outside any entry directory"));
            }
            if !dirs.contains_key(dir) && dirs.len() >= limits.max_entries {
                return Err(DbProblem::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            let slot = dirs.entry(dir.to_owned()).or_default();
            let Some(file) = file else { continue };
            let limit = if file == "files" {
                limits.max_files
            } else {
                limits.max_desc
            };
            let size = member.size();
            if size > limit {
                return Err(DbProblem::MemberTooLarge {
                    member: path,
                    size,
                    limit,
                });
            }
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            if let Err(e) = member.read_to_end(&mut bytes) {
                pending_error = Some(e);
                break;
            }
            let duplicate = match file {
                "desc" => slot.desc.replace(bytes).is_some(),
                "depends" => slot.depends.replace(bytes).is_some(),
                "files" => {
                    let list = FileList::parse(&bytes).map_err(|problem| DbProblem::Entry {
                        entry: dir.to_owned(),
                        problem,
                    })?;
                    slot.files.replace(list).is_some()
                }
                _ => return Err(unexpected("not `desc`, `files` or `depends`")),
            };
            if duplicate {
                return Err(DbProblem::DuplicateMember { member: path });
            }
        }
        if let Some(e) = pending_error {
            return Err(stream_problem(&e, bounded, limits, members_read));
        }
    }
    if !bounded.ends_with_zero_block() {
        return Err(if bounded.total == 0 {
            DbProblem::NotAnArchive("it is empty".into())
        } else if dirs.is_empty() && bounded.total < 512 {
            DbProblem::NotAnArchive(format!("only {} bytes", bounded.total))
        } else {
            DbProblem::Truncated("the archive has no end-of-archive block".into())
        });
    }
    // Read the rest (tar's padding) so that the decompressor reaches the end of its stream
    // and checks it: a zstd or xz checksum, gzip's CRC, a stream cut after the archive.
    if let Err(e) = io::copy(bounded, &mut io::sink()) {
        return Err(stream_problem(&e, bounded, limits, members_read.max(1)));
    }
    Ok(dirs)
}

/// `dir/` -> `(dir, None)`, `dir/file` -> `(dir, Some(file))`; anything else is refused.
fn split_member(path: &str) -> Result<(&str, Option<&str>), &'static str> {
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("an empty, `.` or `..` path component");
    }
    let mut parts = trimmed.split('/');
    let dir = parts.next().unwrap_or_default();
    let file = parts.next();
    if parts.next().is_some() {
        return Err("nested deeper than `NAME-VERSION/FILE`");
    }
    if file.is_some() && path.ends_with('/') {
        return Err("a directory nested in an entry");
    }
    Ok((dir, file))
}

/// One entry from its members.
fn entry_of(dir: String, members: Members, limits: &Limits) -> Result<DbEntry, DbProblem> {
    let Some(desc) = members.desc else {
        return Err(DbProblem::MissingDesc { entry: dir });
    };
    let mut text = String::from_utf8(desc).map_err(|_| DbProblem::NotUtf8 {
        member: format!("{dir}/desc"),
    })?;
    if let Some(depends) = members.depends {
        let depends = std::str::from_utf8(&depends).map_err(|_| DbProblem::NotUtf8 {
            member: format!("{dir}/depends"),
        })?;
        text.push_str("\n\n");
        text.push_str(depends);
    }
    let mut entry = match DbEntry::parse_desc_with_limit(&text, limits.max_package_size) {
        Ok(e) => e,
        Err(problem) => {
            return Err(DbProblem::Entry {
                entry: dir,
                problem,
            });
        }
    };
    let described = entry.dir_name();
    if described != dir {
        return Err(DbProblem::DirectoryMismatch {
            entry: dir,
            described,
        });
    }
    entry.files = members.files;
    Ok(entry)
}

/// Parses every entry (on every core; the first problem in directory order is reported),
/// sorts them by name and refuses a name that appears twice.
fn assemble(dirs: HashMap<String, Members>, limits: &Limits) -> Result<Vec<DbEntry>, DbProblem> {
    let mut dirs: Vec<(String, Members)> = dirs.into_iter().collect();
    dirs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let chunk = dirs.len().div_ceil(workers).max(256);
    let mut parts: Vec<Vec<(String, Members)>> = Vec::new();
    let mut rest = dirs;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let results: Vec<Result<Vec<DbEntry>, DbProblem>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|(dir, members)| entry_of(dir, members, limits))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(DbProblem::Corrupt("a parser thread panicked".into())))
            })
            .collect()
    });
    let mut entries = Vec::new();
    for part in results {
        entries.extend(part?);
    }
    // Directory order is name order but for rare names (`a-b` and `a` with a version
    // starting with a letter); sort by index, moving each entry once.
    if !entries.windows(2).all(|w| w[0].name <= w[1].name) {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
        let mut slots: Vec<Option<DbEntry>> = entries.into_iter().map(Some).collect();
        entries = order.into_iter().filter_map(|i| slots[i].take()).collect();
    }
    for pair in entries.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(DbProblem::DuplicatePackage {
                name: pair[0].name.clone(),
                first: pair[0].dir_name(),
                second: pair[1].dir_name(),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_detected_by_magic_bytes() {
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]),
            Ok(Compression::Zstd)
        );
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Ok(Compression::Gzip));
        assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Ok(Compression::Xz));
        assert_eq!(Compression::detect(b"BZh91AY"), Ok(Compression::Bzip2));
        assert_eq!(
            Compression::detect(b"foo-1.0-1/\0\0"),
            Ok(Compression::None)
        );
        assert_eq!(Compression::detect(b""), Ok(Compression::None));
        assert_eq!(Compression::detect(&[0x04, 0x22, 0x4d, 0x18]), Err("lz4"));
    }

    #[test]
    fn member_paths() {
        assert_eq!(split_member("foo-1-1/"), Ok(("foo-1-1", None)));
        assert_eq!(split_member("foo-1-1/desc"), Ok(("foo-1-1", Some("desc"))));
        assert!(split_member("foo-1-1/a/b").is_err());
        assert!(split_member("../desc").is_err());
        assert!(split_member("/desc").is_err());
        assert!(split_member("foo/desc/").is_err());
        assert!(split_member("foo//").is_err());
    }

    #[test]
    fn bounded_reader_stops_past_the_limit_and_tracks_the_tail() {
        let data = vec![7u8; 1000];
        let mut b = Bounded::new(&data[..], 1000);
        let mut out = Vec::new();
        b.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 1000);
        assert!(!b.exceeded);
        let mut b = Bounded::new(&data[..], 999);
        assert!(b.read_to_end(&mut Vec::new()).is_err());
        assert!(b.exceeded);
        let mut zeros = vec![1u8; 512];
        zeros.extend([0u8; 1024]);
        let mut b = Bounded::new(&zeros[..], u64::MAX);
        let mut buf = [0u8; 100];
        while b.read(&mut buf).unwrap() > 0 {}
        assert!(b.ends_with_zero_block());
    }
}
