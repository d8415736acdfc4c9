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

/// The entry directories read so far, in the order first seen, each with its members.
///
/// An archive holds the members of one directory together, and mostly in ascending order
/// (repo-add's glob order; this tool's is by package name, which differs for a few names
/// such as `libc++` after `libc`): a member's directory is then the last one, or a new one
/// that sorts after every directory so far, and neither needs a lookup. Any other directory is looked up (a binary
/// search of the ascending ones, then a map of the others), so that the members of one
/// directory spread over the archive are still gathered and a member twice is still found.
#[derive(Debug, Default)]
struct Dirs {
    list: Vec<(String, Members)>,
    /// The positions in `list` of the directories that sorted after every one before them:
    /// ascending by name.
    ascending: Vec<usize>,
    /// The positions of the others, by name.
    others: HashMap<String, usize>,
}

impl Dirs {
    /// The position of `dir` in the list, when it was seen before.
    fn find(&self, dir: &str) -> Option<usize> {
        let (last, _) = self.list.last()?;
        if last == dir {
            return Some(self.list.len() - 1);
        }
        if dir > self.greatest()? {
            return None;
        }
        match self
            .ascending
            .binary_search_by(|&i| self.list[i].0.as_str().cmp(dir))
        {
            Ok(found) => Some(self.ascending[found]),
            Err(_) => self.others.get(dir).copied(),
        }
    }

    /// The greatest directory name so far.
    fn greatest(&self) -> Option<&str> {
        let &i = self.ascending.last()?;
        Some(self.list[i].0.as_str())
    }

    /// Adds `dir`, not seen before; its position.
    fn insert(&mut self, dir: &str) -> usize {
        let at = self.list.len();
        if self.greatest().is_none_or(|greatest| dir > greatest) {
            self.ascending.push(at);
        } else {
            self.others.insert(dir.to_owned(), at);
        }
        self.list.push((dir.to_owned(), Members::default()));
        at
    }

    /// How many directories.
    fn len(&self) -> usize {
        self.list.len()
    }

    /// The directories sorted by name: the ascending ones merged with the others, sorted.
    fn into_sorted(self) -> Vec<(String, Members)> {
        let Self {
            list,
            ascending,
            others,
        } = self;
        if others.is_empty() {
            return list;
        }
        let name = |i: usize| list[i].0.as_str();
        let mut others: Vec<usize> = others.into_values().collect();
        others.sort_unstable_by(|&a, &b| name(a).cmp(name(b)));
        let mut order = Vec::with_capacity(list.len());
        let (mut a, mut b) = (ascending.iter().peekable(), others.iter().peekable());
        while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
            if name(x) < name(y) {
                order.push(x);
                a.next();
            } else {
                order.push(y);
                b.next();
            }
        }
        order.extend(a.chain(b));
        let mut slots: Vec<Option<(String, Members)>> = list.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

fn read_members<R: Read>(
    bounded: &mut Bounded<R>,
    limits: &Limits,
    wanted: Option<&dyn Fn(&str) -> bool>,
) -> Result<Dirs, DbProblem> {
    let mut dirs = Dirs::default();
    let mut members_read = 0;
    {
        let mut archive = tar::Archive::new(&mut *bounded);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| DbProblem::Corrupt(e.to_string()))?;
        let mut pending_error = None;
        // The member's path, one buffer for all.
        let mut path = String::new();
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
            {
                let raw_path = member.path_bytes();
                let Ok(text) = std::str::from_utf8(&raw_path) else {
                    return Err(DbProblem::UnexpectedMember {
                        member: String::from_utf8_lossy(&raw_path).into_owned(),
                        reason: "its name is not UTF-8",
                    });
                };
                path.clear();
                path.push_str(text);
            }
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
            let slot = match dirs.find(dir) {
                Some(slot) => slot,
                None if dirs.len() >= limits.max_entries => {
                    return Err(DbProblem::TooManyEntries {
                        limit: limits.max_entries,
                    });
                }
                None => dirs.insert(dir),
            };
            let Some(file) = file else { continue };
            let limit = if file == "files" {
                limits.max_files
            } else {
                limits.max_desc
            };
            let size = member.size();
            if size > limit {
                return Err(DbProblem::MemberTooLarge {
                    member: path.clone(),
                    size,
                    limit,
                });
            }
            let bytes = match read_data(&mut member, size) {
                Ok(bytes) => bytes,
                Err(e) => {
                    pending_error = Some(e);
                    break;
                }
            };
            let members = &mut dirs.list[slot].1;
            let duplicate = match file {
                "desc" => members.desc.replace(bytes).is_some(),
                "depends" => members.depends.replace(bytes).is_some(),
                "files" => {
                    let list =
                        FileList::parse_owned(bytes).map_err(|problem| DbProblem::Entry {
                            entry: dir.to_owned(),
                            problem,
                        })?;
                    members.files.replace(list).is_some()
                }
                _ => return Err(unexpected("not `desc`, `files` or `depends`")),
            };
            if duplicate {
                return Err(DbProblem::DuplicateMember {
                    member: path.clone(),
                });
            }
        }
        if let Some(e) = pending_error {
            return Err(stream_problem(&e, bounded, limits, members_read));
        }
    }
    if !bounded.ends_with_zero_block() {
        return Err(if bounded.total == 0 {
            DbProblem::NotAnArchive("it is empty".into())
        } else if dirs.list.is_empty() && bounded.total < 512 {
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

/// A member's data: its `size` bytes, or as many as come before the stream ends (what
/// `read_to_end` gives; reading the next header then fails), into one buffer of that size.
fn read_data(member: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    let Ok(len) = usize::try_from(size) else {
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes)?;
        return Ok(bytes);
    };
    let mut bytes = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match member.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// `dir/` -> `(dir, None)`, `dir/file` -> `(dir, Some(file))`; anything else is refused.
///
/// One pass over the bytes; every component is checked before the depth, as when the path
/// was split into a list first.
fn split_member(path: &str) -> Result<(&str, Option<&str>), &'static str> {
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let bytes = trimmed.as_bytes();
    // The first `/` (between the directory and the file) and whether there is another.
    let mut first_slash = None;
    let mut deeper = false;
    let mut start = 0;
    loop {
        let end = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'/'))
            .map_or(bytes.len(), |i| start + i);
        if matches!(bytes.get(start..end), None | Some(b"" | b"." | b"..")) {
            return Err("an empty, `.` or `..` path component");
        }
        if end == bytes.len() {
            break;
        }
        if first_slash.is_none() {
            first_slash = Some(end);
        } else {
            deeper = true;
        }
        start = end + 1;
    }
    if deeper {
        return Err("nested deeper than `NAME-VERSION/FILE`");
    }
    // `/` is ASCII: the split is at char boundaries.
    let (dir, file) = match first_slash {
        Some(at) => (&trimmed[..at], Some(&trimmed[at + 1..])),
        None => (trimmed, None),
    };
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
    if !is_dir_of(&dir, &entry) {
        return Err(DbProblem::DirectoryMismatch {
            entry: dir,
            described: entry.dir_name(),
        });
    }
    entry.files = members.files;
    Ok(entry)
}

/// Whether `dir` is the entry's [`DbEntry::dir_name`], `NAME-VERSION` (without building it).
fn is_dir_of(dir: &str, entry: &DbEntry) -> bool {
    let (dir, name, version) = (
        dir.as_bytes(),
        entry.name.as_bytes(),
        entry.version.as_bytes(),
    );
    dir.len() == name.len() + 1 + version.len()
        && dir.starts_with(name)
        && dir.get(name.len()) == Some(&b'-')
        && dir.ends_with(version)
}

/// How many threads parse entries: the cores available (asked once: it reads cgroup
/// files), at most 8.
fn parser_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8)
    })
}

/// Parses every entry (on every core; the first problem in directory order is reported),
/// sorts them by name and refuses a name that appears twice.
fn assemble(dirs: Dirs, limits: &Limits) -> Result<Vec<DbEntry>, DbProblem> {
    let mut dirs = dirs.into_sorted();
    let total = dirs.len();
    let chunk = total.div_ceil(parser_threads()).max(256);
    let results: Vec<Result<Vec<DbEntry>, DbProblem>> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, part)| {
                s.spawn(move || {
                    // The first part is the result: room for all, the others are appended.
                    let mut out = Vec::with_capacity(if i == 0 { total } else { part.len() });
                    for (dir, members) in part {
                        let (dir, members) = (std::mem::take(dir), std::mem::take(members));
                        out.push(entry_of(dir, members, limits)?);
                    }
                    Ok(out)
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
        let part = part?;
        if entries.is_empty() {
            entries = part;
        } else {
            entries.extend(part);
        }
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

    /// `split_member` as it was: split into a list of components first.
    fn reference_split(path: &str) -> Result<(&str, Option<&str>), &'static str> {
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

    proptest::proptest! {
        #[test]
        fn member_paths_split_as_before(path in "[a./é]{0,9}") {
            proptest::prop_assert_eq!(split_member(&path), reference_split(&path));
        }

        /// `Dirs` finds exactly the directories added before, in any order, and sorts
        /// them as a sort would.
        #[test]
        fn dirs_find_what_was_added(names in proptest::collection::vec("[ab+-]{1,3}", 0..40)) {
            let mut dirs = Dirs::default();
            let mut model: HashMap<String, usize> = HashMap::new();
            for name in &names {
                let found = dirs.find(name);
                proptest::prop_assert_eq!(found, model.get(name).copied(), "{}", name);
                if found.is_none() {
                    let at = dirs.insert(name);
                    model.insert(name.clone(), at);
                }
            }
            let mut expected: Vec<String> = model.into_keys().collect();
            expected.sort();
            let sorted: Vec<String> = dirs.into_sorted().into_iter().map(|(n, _)| n).collect();
            proptest::prop_assert_eq!(sorted, expected);
        }
    }

    /// A tar archive of these members (`None`: a directory).
    fn archive(members: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in members {
            let mut header = tar::Header::new_ustar();
            header.set_path(path).unwrap();
            header.set_mode(0o644);
            header.set_mtime(0);
            let data = data.unwrap_or_default().as_bytes();
            header.set_entry_type(if data.is_empty() && path.ends_with('/') {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn desc(name: &str, version: &str) -> String {
        format!(
            "%FILENAME%\n{name}-{version}-any.pkg.tar.zst\n\n%NAME%\n{name}\n\n%VERSION%\n\
             {version}\n\n%CSIZE%\n1\n\n%SHA256SUM%\n{}\n\n%ARCH%\nany\n\n",
            "0".repeat(64)
        )
    }

    fn read_archive(members: &[(&str, Option<&str>)], limits: &Limits) -> Result<SyncDb, Error> {
        parse(&archive(members)[..], Path::new("t.db"), limits)
    }

    #[test]
    fn members_of_one_directory_may_be_spread_over_the_archive() {
        let (a, b, c) = (desc("a", "1-1"), desc("b", "1-1"), desc("c++", "1-1"));
        let consecutive = read_archive(
            &[
                ("a-1-1/", None),
                ("a-1-1/desc", Some(&a)),
                ("a-1-1/files", Some("%FILES%\na\n")),
                ("b-1-1/", None),
                ("b-1-1/desc", Some(&b)),
                ("c++-1-1/", None),
                ("c++-1-1/desc", Some(&c)),
                ("c++-1-1/files", Some("%FILES%\nc\n")),
            ],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(consecutive.entries.len(), 3);
        // Directories first, then every `desc`, then the file lists, in other orders
        // (`c++-1-1` sorts before `c-...` would: `+` is below `-`).
        let spread = [
            ("b-1-1/", None),
            ("c++-1-1/", None),
            ("a-1-1/", None),
            ("c++-1-1/desc", Some(c.as_str())),
            ("b-1-1/desc", Some(b.as_str())),
            ("a-1-1/desc", Some(a.as_str())),
            ("a-1-1/files", Some("%FILES%\na\n")),
            ("c++-1-1/files", Some("%FILES%\nc\n")),
        ];
        assert_eq!(
            read_archive(&spread, &Limits::default()).unwrap(),
            consecutive
        );
        // Also when only the last member comes back to an earlier directory.
        let mut back = spread;
        back.swap(0, 7);
        assert_eq!(
            read_archive(&back, &Limits::default()).unwrap(),
            consecutive
        );
        // A member twice is found wherever the second one is.
        for at in 0..=spread.len() {
            let mut twice = spread.to_vec();
            twice.insert(at, ("b-1-1/desc", Some(&b)));
            assert_eq!(
                read_archive(&twice, &Limits::default())
                    .unwrap_err()
                    .to_string(),
                "invalid database `t.db`: the member `b-1-1/desc` appears twice",
                "second copy at {at}"
            );
        }
        let mut twice = spread.to_vec();
        twice.push(("c++-1-1/", None));
        twice.push(("c++-1-1/files", Some("%FILES%\nc\n")));
        assert!(
            read_archive(&twice, &Limits::default())
                .unwrap_err()
                .to_string()
                .contains("the member `c++-1-1/files` appears twice")
        );
        // The entry limit counts directories, not members.
        let three = Limits {
            max_entries: 3,
            ..Limits::default()
        };
        assert!(read_archive(&spread, &three).is_ok());
        let mut four = spread.to_vec();
        four.insert(4, ("d-1-1/", None));
        assert!(
            read_archive(&four, &three)
                .unwrap_err()
                .to_string()
                .ends_with("it has more than 3 entries")
        );
    }
}
