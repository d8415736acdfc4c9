//! Reading a package file (`.pkg.tar.zst`, `.xz`, `.gz`, `.bz2` or plain) into the
//! database entry repo-add 6.0.2 would make for it.
//!
//! One pass over the file's bytes: they are hashed (SHA-256 and MD5) and counted as the
//! decompressor pulls them, the tar stream gives `.PKGINFO` and the member list, and what
//! follows the archive is read to the end so the digests cover the whole file.
//!
//! # What repo-add does, and what this does
//!
//! - `.PKGINFO` is read as repo-add's loop reads it (`IFS=' =' read -r var val`, then runs
//!   of whitespace collapsed to one space): `key = value`, comment lines skipped, the last
//!   value of a single-valued key winning, empty values dropped. An empty `url = ` (makepkg
//!   writes one when a PKGBUILD has no url) means no `%URL%`, as in repo-add.
//! - `%CSIZE%` is the file's size; `%SHA256SUM%` and `%MD5SUM%` its digests. MD5 is kept
//!   because repo-add 6.0.2 writes it and `pacman -Si` shows it under "Validated By":
//!   without it pacman's listing differs from repo-add's. pacman 6 verifies downloads with
//!   SHA-256 when both are present, so MD5 protects nothing, and it is the larger cost: about
//!   twice SHA-256's CPU time where the CPU has SHA instructions. Packages are read on every
//!   core, one per core, so on two cores adding 300 packages of 4 MiB took 1.8x the time of
//!   `openssl dgst -sha256` over the same bytes (`bench/repo --big-mb 4`).
//! - `FILE.sig` beside the package, if present, becomes `%PGPSIG%` (base64), with repo-add's
//!   checks: no ASCII armor, at most 16 KiB.
//! - The file list is every member whose path does not start with `.`, as stored
//!   (directories with their `/`), sorted bytewise and unique: repo-add's
//!   `bsdtar --exclude='^.*' -tf | LC_ALL=C sort -u`.
//!
//! Deliberate differences, each where repo-add would write a broken or misleading entry:
//! - a `.PKGINFO` key repo-add does not know is ignored (repo-add `declare`s any key, so a
//!   package's own `pgpsig = ...` would become the entry's signature);
//! - an empty value inside a list is dropped (repo-add writes an empty line, which ends the
//!   section early, or drops the whole list when the first value is empty);
//! - paths are written as raw bytes (bsdtar escapes non-printable characters when it lists
//!   them in the C locale);
//! - every value is validated ([`DbEntry::validate`]): a malformed relation, size or name
//!   makes the package invalid instead of producing an entry pacman misreads.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::depend::Depend;
use crate::entry::{DbEntry, FileList, OptDepend};
use crate::error::{Error, PackageProblem};
use crate::syncdb::{Bounded, Compression, decoder};

/// The largest `.PKGINFO` read: 1 MiB.
const MAX_PKGINFO: u64 = 1 << 20;
/// The largest detached signature embedded, as in repo-add.
const MAX_SIG: u64 = 16 * 1024;

/// How to read packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// The largest file size and installed size accepted.
    pub max_size: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_size: crate::entry::MAX_PACKAGE_SIZE,
        }
    }
}

/// A buffered reader of a package file that hashes and counts every byte it reads from the
/// file, exactly once, whoever consumes it. The buffer is borrowed, so a worker reuses one
/// buffer for all its packages.
struct HashingInput<'b> {
    file: File,
    buf: &'b mut [u8],
    pos: usize,
    filled: usize,
    sha256: Sha256,
    md5: Md5,
    len: u64,
}

impl<'b> HashingInput<'b> {
    fn new(file: File, buf: &'b mut [u8]) -> Self {
        Self {
            file,
            buf,
            pos: 0,
            filled: 0,
            sha256: Sha256::new(),
            md5: Md5::new(),
            len: 0,
        }
    }

    fn hash(&mut self, bytes_at: std::ops::Range<usize>, external: Option<&[u8]>) {
        let bytes = external.unwrap_or(&self.buf[bytes_at]);
        self.sha256.update(bytes);
        self.md5.update(bytes);
        self.len += bytes.len() as u64;
    }
}

impl Read for HashingInput<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with an empty buffer goes straight to the caller.
        if self.pos >= self.filled && out.len() >= self.buf.len() {
            let n = self.file.read(out)?;
            self.sha256.update(&out[..n]);
            self.md5.update(&out[..n]);
            self.len += n as u64;
            return Ok(n);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for HashingInput<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            let n = self.file.read(self.buf)?;
            self.pos = 0;
            self.filled = n;
            self.hash(0..n, None);
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
    }
}

/// Lowercase hex of a digest.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Standard base64 with padding, without line breaks (`base64 FILE | tr -d '\n'`).
#[must_use]
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// One `.PKGINFO` line as repo-add's `IFS=' =' read -r var val` splits it, with the value's
/// whitespace runs collapsed to one space. `None` for comments and lines without a key.
fn split_pkginfo_line(line: &str) -> Option<(&str, String)> {
    // The outer `read -r line` trims spaces and tabs at both ends.
    let line = line.trim_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let key_end = line.find([' ', '=']).unwrap_or(line.len());
    let key = &line[..key_end];
    if key.is_empty() {
        return None;
    }
    // The separator: spaces, at most one `=`, spaces.
    let mut rest = line[key_end..].trim_start_matches(' ');
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(' ');
    }
    let rest = rest.trim_end_matches(' ');
    let mut value = String::with_capacity(rest.len());
    let mut in_space = false;
    for c in rest.chars() {
        // bash's [[:space:]]: space, \t, \n, \v, \f, \r.
        if matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r') {
            if !in_space {
                value.push(' ');
            }
            in_space = true;
        } else {
            value.push(c);
            in_space = false;
        }
    }
    Some((key, value))
}

/// The `.PKGINFO` values repo-add uses.
#[derive(Debug, Default)]
struct Pkginfo {
    pkgname: String,
    pkgbase: String,
    pkgver: String,
    pkgdesc: String,
    size: String,
    url: String,
    arch: String,
    builddate: String,
    packager: String,
    groups: Vec<String>,
    licenses: Vec<String>,
    replaces: Vec<String>,
    depends: Vec<String>,
    conflicts: Vec<String>,
    provides: Vec<String>,
    optdepends: Vec<String>,
    makedepends: Vec<String>,
    checkdepends: Vec<String>,
}

impl Pkginfo {
    fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let Some((key, value)) = split_pkginfo_line(line) else {
                continue;
            };
            let list = match key {
                "pkgname" => Some(&mut info.pkgname),
                "pkgbase" => Some(&mut info.pkgbase),
                "pkgver" => Some(&mut info.pkgver),
                "pkgdesc" => Some(&mut info.pkgdesc),
                "size" => Some(&mut info.size),
                "url" => Some(&mut info.url),
                "arch" => Some(&mut info.arch),
                "builddate" => Some(&mut info.builddate),
                "packager" => Some(&mut info.packager),
                _ => None,
            };
            if let Some(single) = list {
                *single = value;
                continue;
            }
            let list = match key {
                "group" => &mut info.groups,
                "license" => &mut info.licenses,
                "replaces" => &mut info.replaces,
                "depend" => &mut info.depends,
                "conflict" => &mut info.conflicts,
                "provides" => &mut info.provides,
                "optdepend" => &mut info.optdepends,
                "makedepend" => &mut info.makedepends,
                "checkdepend" => &mut info.checkdepends,
                _ => continue,
            };
            if !value.is_empty() {
                list.push(value);
            }
        }
        info
    }
}

/// What one pass over a package gives.
struct Scan {
    pkginfo: Option<String>,
    paths: Vec<Vec<u8>>,
    csize: u64,
    sha256: String,
    md5: String,
}

/// What a worker keeps from one package to the next.
struct Worker {
    zstd: zstd::zstd_safe::DCtx<'static>,
    buf: Vec<u8>,
}

impl Worker {
    fn new() -> Self {
        Self {
            zstd: zstd::zstd_safe::DCtx::create(),
            buf: vec![0; 128 * 1024],
        }
    }
}

fn scan(path: &Path, worker: &mut Worker) -> Result<Scan, Error> {
    let invalid = |problem| Error::InvalidPackage {
        path: path.to_path_buf(),
        problem,
    };
    let file =
        File::open(path).map_err(|e| lumina_core::Error::io(path, "opening the package", e))?;
    let mut input = HashingInput::new(file, &mut worker.buf);
    let read_err =
        |e: io::Error| -> Error { lumina_core::Error::io(path, "reading the package", e).into() };
    let head = input.fill_buf().map_err(read_err)?;
    let compression = Compression::detect(head)
        .map_err(|name| invalid(PackageProblem::UnsupportedCompression(name)))?;
    let mut pkginfo = None;
    let mut paths = Vec::new();
    {
        let stream = decoder(compression, &mut input, Some(&mut worker.zstd))
            .map_err(|e| invalid(PackageProblem::NotAnArchive(e.to_string())))?;
        let mut bounded = Bounded::new(stream, u64::MAX);
        let mut archive = tar::Archive::new(&mut bounded);
        let mut any = false;
        let mut failure = None;
        let members = archive
            .entries_with_seek()
            .map_err(|e| invalid(PackageProblem::NotAnArchive(e.to_string())))?;
        for member in members {
            let mut member = match member {
                Ok(m) => m,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            any = true;
            let name = member.path_bytes();
            if name.first() == Some(&b'.') {
                if &*name == b".PKGINFO" {
                    if member.size() > MAX_PKGINFO {
                        return Err(invalid(PackageProblem::BadPkginfo("is larger than 1 MiB")));
                    }
                    let mut text = Vec::new();
                    if let Err(e) = member.read_to_end(&mut text) {
                        failure = Some(e);
                        break;
                    }
                    let text = String::from_utf8(text)
                        .map_err(|_| invalid(PackageProblem::BadPkginfo("is not UTF-8")))?;
                    pkginfo = Some(text);
                }
                continue;
            }
            paths.push(name.into_owned());
        }
        if let Some(e) = failure {
            let detail = if !any && !bounded.inner_failed {
                "no valid tar header at the start".to_owned()
            } else {
                e.to_string()
            };
            return Err(invalid(PackageProblem::NotAnArchive(detail)));
        }
        if !any {
            return Err(invalid(PackageProblem::NotAnArchive(
                "it holds no files".into(),
            )));
        }
    }
    // The digests cover the whole file, also what follows the archive.
    io::copy(&mut input, &mut io::sink()).map_err(read_err)?;
    Ok(Scan {
        pkginfo,
        paths,
        csize: input.len,
        sha256: hex(&input.sha256.finalize()),
        md5: hex(&input.md5.finalize()),
    })
}

/// `FILE.sig` as `%PGPSIG%`, if it exists.
fn signature(path: &Path) -> Result<Option<String>, Error> {
    let sig = lumina_core::fs::sibling(path, ".sig");
    let invalid = |why: String| Error::InvalidPackage {
        path: path.to_path_buf(),
        problem: PackageProblem::Signature(why),
    };
    let file = match File::open(&sig) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(lumina_core::Error::io(&sig, "opening the signature", e).into()),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| lumina_core::Error::io(&sig, "reading the signature", e))?;
    if bytes.len() as u64 > MAX_SIG {
        return Err(invalid(format!(
            "its signature `{}` is larger than 16 KiB, so it is not a detached signature",
            sig.display()
        )));
    }
    if bytes.windows(19).any(|w| w == b"BEGIN PGP SIGNATURE") {
        return Err(invalid(format!(
            "its signature `{}` is ASCII-armored; pacman reads binary signatures only \
             (`gpg --dearmor`)",
            sig.display()
        )));
    }
    Ok(Some(base64(&bytes)))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Reads one package into the entry repo-add would write for it, with its file list.
///
/// # Errors
/// - [`Error::Fs`] when the file or its signature cannot be read;
/// - [`Error::InvalidPackage`] when it is not a package (no `.PKGINFO`, not an archive),
///   lacks `pkgname` or `pkgver`, has an invalid value, or its signature is armored or
///   too large.
pub fn read(path: &Path, options: &ReadOptions) -> Result<DbEntry, Error> {
    read_with(path, options, &mut Worker::new())
}

fn read_with(path: &Path, options: &ReadOptions, worker: &mut Worker) -> Result<DbEntry, Error> {
    let invalid = |problem| Error::InvalidPackage {
        path: path.to_path_buf(),
        problem,
    };
    let scan = scan(path, worker)?;
    let info = Pkginfo::parse(
        &scan
            .pkginfo
            .ok_or_else(|| invalid(PackageProblem::NoPkginfo))?,
    );
    if info.pkgname.is_empty() {
        return Err(invalid(PackageProblem::MissingKey("pkgname")));
    }
    if info.pkgver.is_empty() {
        return Err(invalid(PackageProblem::MissingKey("pkgver")));
    }
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let field = |field: &str, value: &str, reason: String| {
        invalid(PackageProblem::Entry(crate::entry::EntryProblem::Field {
            field: field.to_owned(),
            problem: crate::entry::FieldProblem::Invalid {
                value: value.to_owned(),
                reason,
            },
        }))
    };
    let number = |key: &str, field_name: &str, value: &str| -> Result<Option<u64>, Error> {
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(field(
                field_name,
                value,
                format!("(`{key}`) is not a decimal number"),
            ));
        }
        value.parse().map(Some).map_err(|_| {
            field(
                field_name,
                value,
                format!("(`{key}`) is not a decimal number"),
            )
        })
    };
    let relations = |name: &str, values: Vec<String>| -> Result<Vec<Depend>, Error> {
        values
            .into_iter()
            .map(|v| crate::entry::parse_relation(&v).map_err(|reason| field(name, &v, reason)))
            .collect()
    };
    let isize = number("size", "ISIZE", &info.size)?;
    let builddate = number("builddate", "BUILDDATE", &info.builddate)?
        .map(|d| i64::try_from(d).unwrap_or(i64::MAX));
    let optdepends = info
        .optdepends
        .into_iter()
        .map(|v| OptDepend::parse(&v).map_err(|reason| field("OPTDEPENDS", &v, reason)))
        .collect::<Result<Vec<_>, _>>()?;
    let files = FileList::from_paths(scan.paths).map_err(|(p, reason)| {
        invalid(PackageProblem::BadPath {
            path: String::from_utf8_lossy(&p).into_owned(),
            reason,
        })
    })?;
    let entry = DbEntry {
        filename,
        name: info.pkgname,
        base: non_empty(info.pkgbase),
        version: info.pkgver,
        desc: non_empty(info.pkgdesc),
        groups: info.groups,
        csize: scan.csize,
        isize,
        md5sum: Some(scan.md5),
        sha256sum: scan.sha256,
        pgpsig: signature(path)?,
        url: non_empty(info.url),
        licenses: info.licenses,
        arch: info.arch,
        builddate,
        packager: non_empty(info.packager),
        replaces: relations("REPLACES", info.replaces)?,
        conflicts: relations("CONFLICTS", info.conflicts)?,
        provides: relations("PROVIDES", info.provides)?,
        depends: relations("DEPENDS", info.depends)?,
        optdepends,
        makedepends: relations("MAKEDEPENDS", info.makedepends)?,
        checkdepends: relations("CHECKDEPENDS", info.checkdepends)?,
        other: Vec::new(),
        files: Some(files),
    };
    entry
        .validate(options.max_size)
        .map_err(|p| invalid(PackageProblem::Entry(p)))?;
    Ok(entry)
}

/// Reads many packages, one per core at a time; the results are in the order of `paths`.
#[must_use]
pub fn read_all(paths: &[PathBuf], options: &ReadOptions) -> Vec<Result<DbEntry, Error>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(paths.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<DbEntry, Error>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut worker = Worker::new();
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    done.push((i, read_with(path, options, &mut worker)));
                }
                let mut results = results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (i, r) in done {
                    results[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .zip(paths)
        .map(|(r, path)| {
            r.unwrap_or_else(|| {
                Err(lumina_core::Error::io(
                    path,
                    "reading the package (its reader thread stopped)",
                    io::Error::other("worker panicked"),
                )
                .into())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::plain("pkgname = foo", Some(("pkgname", "foo")))]
    #[case::no_spaces("pkgname=foo", Some(("pkgname", "foo")))]
    #[case::empty_url("url = ", Some(("url", "")))]
    #[case::bare_key("url", Some(("url", "")))]
    #[case::equals_in_value("pkgdesc = a = b", Some(("pkgdesc", "a = b")))]
    #[case::leading_equals("pkgdesc = =v", Some(("pkgdesc", "=v")))]
    #[case::whitespace_runs("pkgdesc =  spaced   value  ", Some(("pkgdesc", "spaced value")))]
    #[case::tabs_collapse("pkgdesc = a\t \tb", Some(("pkgdesc", "a b")))]
    #[case::indented("  pkgname = v", Some(("pkgname", "v")))]
    #[case::relation("depend = foo>=1.0", Some(("depend", "foo>=1.0")))]
    #[case::comment("# Generated by makepkg 6.0.2", None)]
    #[case::blank("", None)]
    fn pkginfo_lines_split_like_repo_add(
        #[case] line: &str,
        #[case] expected: Option<(&str, &str)>,
    ) {
        let got = split_pkginfo_line(line);
        assert_eq!(
            got.as_ref().map(|(k, v)| (*k, v.as_str())),
            expected,
            "{line:?}"
        );
    }

    #[test]
    fn pkginfo_last_single_value_wins_and_empty_list_values_are_dropped() {
        let info = Pkginfo::parse(
            "pkgname = a\npkgname = b\ndepend = x\ndepend = \ndepend = y\nurl = \npgpsig = AAAA\n",
        );
        assert_eq!(info.pkgname, "b");
        assert_eq!(info.depends, vec!["x", "y"]);
        assert!(info.url.is_empty());
    }

    #[rstest]
    #[case::empty(b"", "")]
    #[case::one(b"f", "Zg==")]
    #[case::two(b"fo", "Zm8=")]
    #[case::three(b"foo", "Zm9v")]
    #[case::binary(&[0xff, 0xfe, 0x00, 0x01], "//4AAQ==")]
    fn base64_matches_coreutils(#[case] input: &[u8], #[case] expected: &str) {
        assert_eq!(base64(input), expected);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
