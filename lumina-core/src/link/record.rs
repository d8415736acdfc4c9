//! The record of links Lumina made: `$LUMINA_HOME/.state/links.json`.
//!
//! Ownership rule: a target is Lumina's when it is recorded here **and** it is still a
//! symlink whose text is the recorded `text` (or the `pending` text of an operation that a
//! crash interrupted). Anything else at a target is the user's and is never removed.
//!
//! The record is written twice by a run that changes something: before the first change
//! (every target about to change marked `pending`, a write-ahead intent) and after the last.
//! A run that changes nothing does not write it. Writes are atomic and fsynced.
//!
//! # Format
//!
//! Version 2 (written since the linker keeps every list sorted, see [`super::order`]) is one
//! JSON array of entries sorted by target, one entry per line, each path front-coded
//! against the previous entry's (a sorted list of targets shares long prefixes: this keeps
//! the file about six times smaller than spelling every path out, which is what a first link
//! of thousands of files writes twice and every run reads):
//!
//! ```text
//! {"version":2,"links":[
//! [0,"/home/ana/.config/nvim/init.lua",0,"/home/ana/.lumina/nvim/init.lua",[2049,131,1764097392,5]],
//! [23,"lua/plugins.lua",23,"lua/plugins.lua",[1]],
//! [11,"zshrc",18,"zsh/zshrc",null,true]
//! ]}
//! ```
//!
//! An entry is `[n, rest, m, text_rest, stamp, pending]`: the target is the first `n` bytes
//! of the previous entry's target followed by `rest`; the text is the first `m` bytes of the
//! previous entry's text followed by `text_rest` (the first entry has `n = m = 0`). `stamp`
//! is `[dev, ino, ctime_sec, ctime_nsec]`; or, when the previous entry has a stamp with the
//! same `dev` and `ctime_sec` (links made by one run mostly do: ctime has the kernel clock's
//! coarse granularity), `[ino - previous ino, ctime_nsec]`, or just `[ino - previous ino]`
//! when `ctime_nsec` is the same too; or `null`. `pending` (the text being written, only
//! while an operation is in flight) is omitted when there is none, and `true` when it is
//! the entry's `text` itself (as for every new link in the write-ahead record).
//!
//! Version 1 (a JSON object `{"version":1,"links":{TARGET:{"text":..,"pending":..,
//! "stamp":..}}}`) is still read; the next run that changes something writes version 2.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::order;
use crate::error::{Error, Result};
use crate::fs::Fs;

/// The record's format version (written); version 1 is also read.
pub const RECORD_VERSION: u32 = 2;

/// What Lumina knows about one link it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The link text Lumina wrote (the absolute source path).
    pub text: PathBuf,
    /// Set while an operation on this target is in flight: the text being written. A crash
    /// leaves it set; the next run then checks for a leftover temporary beside the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PathBuf>,
    /// `(dev, ino, ctime_sec, ctime_nsec)` of the link when Lumina last saw it: a link whose
    /// lstat still matches needs no `readlink` (the fast path of a no-op run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
}

/// Identity of a symlink inode at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp(pub u64, pub u64, pub i64, pub i64);

impl Stamp {
    /// The stamp of an lstat result.
    pub fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self(m.dev(), m.ino(), m.ctime(), m.ctime_nsec())
    }

    /// The stamp of a [`crate::fs::Stat`] (the same fields as [`Stamp::of`]).
    pub fn of_stat(s: &crate::fs::Stat) -> Self {
        Self(s.dev, s.ino, s.ctime, s.ctime_nsec)
    }
}

impl Entry {
    /// Is a symlink with this text Lumina's?
    pub fn owns_text(&self, text: &Path) -> bool {
        self.text == text || self.pending.as_deref() == Some(text)
    }

    /// The entry, borrowed (for [`Encoder::push`]).
    pub fn borrowed(&self) -> EntryRef<'_> {
        EntryRef {
            text: &self.text,
            pending: self.pending.as_deref(),
            stamp: self.stamp,
        }
    }
}

/// An [`Entry`] to write, borrowed from wherever its parts are (a run writes its records
/// straight from the old record and the plan, without building them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// See [`Entry::text`].
    pub text: &'a Path,
    /// See [`Entry::pending`].
    pub pending: Option<&'a Path>,
    /// See [`Entry::stamp`].
    pub stamp: Option<Stamp>,
}

/// The recorded links: one entry per target, sorted by target ([`order::cmp`]), so that a
/// run can walk them together with the desired links in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<(PathBuf, Entry)>);

impl Links {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// From entries in any order: sorted, and of two entries for the same target the last
    /// one is kept.
    pub fn from_vec(mut v: Vec<(PathBuf, Entry)>) -> Self {
        if !v.is_sorted_by(|a, b| order::cmp(&a.0, &b.0).is_lt()) {
            v.sort_by(|a, b| order::cmp(&a.0, &b.0));
            // Keep the last of equal targets, as a JSON object read into a map does.
            v.reverse();
            v.dedup_by(|later, earlier| later.0.as_os_str() == earlier.0.as_os_str());
            v.reverse();
        }
        Self(v)
    }

    /// The entries, sorted by target.
    pub fn as_slice(&self) -> &[(PathBuf, Entry)] {
        &self.0
    }

    /// The entries, sorted by target.
    pub fn iter(&self) -> std::slice::Iter<'_, (PathBuf, Entry)> {
        self.0.iter()
    }

    /// The targets, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &PathBuf> {
        self.0.iter().map(|(t, _)| t)
    }

    /// How many targets are recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Is nothing recorded?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, target: &Path) -> std::result::Result<usize, usize> {
        self.0.binary_search_by(|(t, _)| order::cmp(t, target))
    }

    /// The entry of a target.
    pub fn get(&self, target: &Path) -> Option<&Entry> {
        self.find(target).ok().map(|i| &self.0[i].1)
    }

    /// Is the target recorded?
    pub fn contains_key(&self, target: &Path) -> bool {
        self.find(target).is_ok()
    }

    /// Record a target (replacing its entry); returns the old entry. `O(n)`: for single
    /// changes (a run writes its new record in one pass instead, see [`Encoder`]).
    pub fn insert(&mut self, target: PathBuf, entry: Entry) -> Option<Entry> {
        match self.find(&target) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, entry)),
            Err(i) => {
                self.0.insert(i, (target, entry));
                None
            }
        }
    }

    /// Forget a target; returns its entry. `O(n)`.
    pub fn remove(&mut self, target: &Path) -> Option<Entry> {
        self.find(target).ok().map(|i| self.0.remove(i).1)
    }

    /// Keep only the entries for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&Path, &Entry) -> bool) {
        self.0.retain(|(t, e)| f(t, e));
    }
}

impl<'a> IntoIterator for &'a Links {
    type Item = &'a (PathBuf, Entry);
    type IntoIter = std::slice::Iter<'a, (PathBuf, Entry)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The whole record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Format version (of the file as read; always [`RECORD_VERSION`] when written).
    pub version: u32,
    /// Links by target, sorted.
    pub links: Links,
}

/// The state directory inside the virtual root.
pub fn state_dir(lumina_home: &Path) -> PathBuf {
    lumina_home.join(".state")
}

/// The record file inside the virtual root.
pub fn path(lumina_home: &Path) -> PathBuf {
    state_dir(lumina_home).join("links.json")
}

impl Record {
    /// Load the record; an absent file is an empty record.
    ///
    /// # Errors
    /// [`Error::Record`] when it is not a record this Lumina reads; [`Error::Io`].
    pub fn load(lumina_home: &Path) -> Result<Self> {
        let p = path(lumina_home);
        if crate::fs::lstat(&p)?.is_none() {
            return Ok(Self {
                version: RECORD_VERSION,
                links: Links::new(),
            });
        }
        let bytes = crate::fs::read(&p)?;
        Self::decode(&bytes).map_err(|message| Error::Record { path: p, message })
    }

    /// Parse a record file's contents (version 1 or 2).
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        // The file as Lumina writes it is read by a parser of just that shape; anything else
        // (version 1, another layout, an error to report) by serde_json.
        let file = match fast::decode_v2(bytes) {
            Some(entries) => File {
                version: 2,
                links: Parsed {
                    shape: Shape::List,
                    entries,
                },
            },
            None => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
        };
        match (file.version, file.links.shape) {
            (1, Shape::Map) | (2, Shape::List) => {}
            (1 | 2, shape) => {
                return Err(format!(
                    "version {} with `links` as {}",
                    file.version,
                    match shape {
                        Shape::Map => "an object",
                        Shape::List => "a list",
                    }
                ));
            }
            (v, _) => return Err(format!("version {v} (this Lumina reads 1 and 2)")),
        }
        let mut v = file.links.entries;
        if v.iter().any(|(t, _)| order::needs_normalizing(t)) {
            for (t, _) in &mut v {
                if order::needs_normalizing(t) {
                    *t = crate::paths::normalize(t);
                }
            }
        }
        Ok(Self {
            version: file.version,
            links: Links::from_vec(v),
        })
    }

    /// The file's contents (version 2, see the module documentation).
    ///
    /// # Errors
    /// A path that is not UTF-8 (JSON cannot hold it).
    pub fn encode(&self) -> std::result::Result<Vec<u8>, String> {
        let mut enc = Encoder::new(self.links.len());
        for (target, e) in &self.links {
            enc.push(target, e.borrowed())?;
        }
        Ok(enc.finish())
    }

    /// Write the record atomically (temp + fsync + rename + directory fsync).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn save(&self, lumina_home: &Path, fs: &Fs) -> Result<()> {
        self.save_with(lumina_home, fs, false)
    }

    /// [`Record::save`] after the changes it records, making those durable too
    /// ([`Fs::sync_touched_dirs_and_write_atomic`]).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Injected`].
    pub fn save_after_changes(&self, lumina_home: &Path, fs: &Fs) -> Result<()> {
        self.save_with(lumina_home, fs, true)
    }

    fn save_with(&self, lumina_home: &Path, fs: &Fs, changes: bool) -> Result<()> {
        let bytes = self.encode().map_err(|message| Error::Record {
            path: path(lumina_home),
            message,
        })?;
        save_encoded(lumina_home, fs, &bytes, changes)
    }
}

/// Write an encoded record ([`Encoder`]) as [`Record::save`] does, or, `after_changes`, as
/// [`Record::save_after_changes`] does.
///
/// # Errors
/// [`Error::Io`]; [`Error::Injected`].
pub fn save_encoded(lumina_home: &Path, fs: &Fs, bytes: &[u8], after_changes: bool) -> Result<()> {
    let dir = state_dir(lumina_home);
    if crate::fs::lstat(&dir)?.is_none() {
        fs.create_dir_all(&dir)?;
    }
    if after_changes {
        fs.sync_touched_dirs_and_write_atomic(&path(lumina_home), bytes, false)
    } else {
        fs.write_atomic(&path(lumina_home), bytes, false)
    }
}

/// Writes a version-2 record one entry at a time, in target order.
#[derive(Debug)]
pub struct Encoder<'a> {
    out: Vec<u8>,
    entries: usize,
    prev_t: &'a [u8],
    prev_x: &'a [u8],
    prev_s: Option<Stamp>,
}

impl<'a> Encoder<'a> {
    /// A record of about `entries` entries.
    pub fn new(entries: usize) -> Self {
        let mut out = Vec::with_capacity(64 + entries * 40);
        out.extend_from_slice(format!("{{\"version\":{RECORD_VERSION},\"links\":[").as_bytes());
        Self {
            out,
            entries: 0,
            prev_t: b"",
            prev_x: b"",
            prev_s: None,
        }
    }

    /// The next entry (targets must come sorted, [`order::cmp`]).
    ///
    /// # Errors
    /// A path that is not UTF-8 (JSON cannot hold it).
    pub fn push(&mut self, target: &'a Path, e: EntryRef<'a>) -> std::result::Result<(), String> {
        let out = &mut self.out;
        let t = target.as_os_str().as_encoded_bytes();
        let x = e.text.as_os_str().as_encoded_bytes();
        let (n, m) = (shared(self.prev_t, t), shared(self.prev_x, x));
        // The shared part is the previous path's, checked then: only the rest is checked.
        let (t_rest, x_rest) = (utf8_rest(target, &t[n..])?, utf8_rest(e.text, &x[m..])?);
        out.extend_from_slice(if self.entries == 0 { b"\n[" } else { b",\n[" });
        self.entries += 1;
        push_json(out, &n);
        out.push(b',');
        push_json(out, t_rest);
        out.push(b',');
        push_json(out, &m);
        out.push(b',');
        push_json(out, x_rest);
        out.push(b',');
        match (e.stamp, self.prev_s) {
            (None, _) => out.extend_from_slice(b"null"),
            (Some(s), Some(p))
                if s.0 == p.0
                    && s.2 == p.2
                    && let Ok(d) = i64::try_from(i128::from(s.1) - i128::from(p.1)) =>
            {
                if s.3 == p.3 {
                    push_json(out, &[d]);
                } else {
                    push_json(out, &(d, s.3));
                }
            }
            (Some(s), _) => push_json(out, &s),
        }
        if let Some(p) = e.pending {
            out.push(b',');
            if p == e.text {
                out.extend_from_slice(b"true");
            } else {
                push_json(out, utf8(p)?);
            }
        }
        out.push(b']');
        (self.prev_t, self.prev_x, self.prev_s) = (t, x, e.stamp);
        Ok(())
    }

    /// The file's contents.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"\n]}\n");
        self.out
    }
}

fn utf8(p: &Path) -> std::result::Result<&str, String> {
    p.to_str().ok_or_else(|| not_utf8(p))
}

fn not_utf8(p: &Path) -> String {
    format!("path contains invalid UTF-8 characters: {}", p.display())
}

/// `rest`, the end of `p` after a prefix already known to be UTF-8, as a `str`.
fn utf8_rest<'a>(p: &Path, rest: &'a [u8]) -> std::result::Result<&'a str, String> {
    std::str::from_utf8(rest).map_err(|_| not_utf8(p))
}

/// The length of the longest common prefix of `a` and `b` that does not end inside a UTF-8
/// character of `b`.
fn shared(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut n = 0;
    while n + 8 <= len && a[n..n + 8] == b[n..n + 8] {
        n += 8;
    }
    while n < len && a[n] == b[n] {
        n += 1;
    }
    // Not before a continuation byte (10xxxxxx).
    while n > 0 && b.get(n).is_some_and(|&c| c & 0xC0 == 0x80) {
        n -= 1;
    }
    n
}

fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing numbers, strings and stamps into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

// ---- reading ------------------------------------------------------------------------------

/// A reader of version 2 exactly as [`Record::encode`] writes it (whitespace between tokens
/// allowed, every JSON string escape understood): five times faster than going through
/// serde's visitors, which matters because every run reads the whole record. `None` for
/// anything else, which is then read (or rejected, with a message) by serde_json.
mod fast {
    use std::path::PathBuf;

    use super::{Entry, Stamp, extend, resolve_stamp};

    const HEAD: &[u8] = b"{\"version\":2,\"links\":[";

    pub(super) fn decode_v2(bytes: &[u8]) -> Option<Vec<(PathBuf, Entry)>> {
        let mut r = Reader {
            b: bytes.strip_prefix(HEAD)?,
            i: 0,
        };
        // One entry per line, as written.
        let mut out = Vec::with_capacity(bytes.iter().filter(|&&c| c == b'\n').count());
        let (mut prev_t, mut prev_x) = (String::new(), String::new());
        let mut prev_s: Option<Stamp> = None;
        if !r.eat(b']') {
            loop {
                r.expect(b'[')?;
                let n = usize::try_from(r.uint()?).ok()?;
                r.expect(b',')?;
                let target = extend(&mut prev_t, n, &r.string()?).ok()?;
                r.expect(b',')?;
                let m = usize::try_from(r.uint()?).ok()?;
                r.expect(b',')?;
                let text = extend(&mut prev_x, m, &r.string()?).ok()?;
                r.expect(b',')?;
                let stamp = if r.eat_word(b"null") {
                    None
                } else {
                    r.expect(b'[')?;
                    let mut raw = [0; 4];
                    let mut len = 0;
                    loop {
                        *raw.get_mut(len)? = r.int()?;
                        len += 1;
                        if r.eat(b']') {
                            break;
                        }
                        r.expect(b',')?;
                    }
                    Some(resolve_stamp(&raw[..len], prev_s).ok()?)
                };
                prev_s = stamp;
                let pending = if !r.eat(b',') {
                    None
                } else if r.eat_word(b"true") {
                    Some(text.clone())
                } else {
                    Some(PathBuf::from(r.string()?.into_owned()))
                };
                r.expect(b']')?;
                out.push((
                    target,
                    Entry {
                        text,
                        pending,
                        stamp,
                    },
                ));
                if r.eat(b']') {
                    break;
                }
                r.expect(b',')?;
            }
        }
        r.expect(b'}')?;
        r.ws();
        (r.i == r.b.len()).then_some(out)
    }

    struct Reader<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Reader<'a> {
        fn ws(&mut self) {
            while matches!(self.b.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                self.i += 1;
            }
        }

        /// Skip whitespace, then `c` if it is next.
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            let hit = self.b.get(self.i) == Some(&c);
            self.i += usize::from(hit);
            hit
        }

        fn expect(&mut self, c: u8) -> Option<()> {
            self.eat(c).then_some(())
        }

        fn eat_word(&mut self, w: &[u8]) -> bool {
            self.ws();
            let hit = self.b[self.i..].starts_with(w);
            if hit {
                self.i += w.len();
            }
            hit
        }

        fn uint(&mut self) -> Option<u64> {
            self.ws();
            let rest = &self.b[self.i..];
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            // JSON: at least one digit, no leading zero, no fraction or exponent.
            if digits == 0
                || (digits > 1 && rest[0] == b'0')
                || matches!(rest.get(digits), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            let mut v: u64 = 0;
            if digits < 20 {
                // At most 19 digits: no overflow.
                for &c in &rest[..digits] {
                    v = v * 10 + u64::from(c - b'0');
                }
            } else {
                for &c in &rest[..digits] {
                    v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                }
            }
            self.i += digits;
            Some(v)
        }

        /// A JSON integer in the range of `u64` or `i64`.
        fn int(&mut self) -> Option<i128> {
            let neg = self.eat(b'-');
            let v = i128::from(self.uint()?);
            Some(if neg { -v } else { v })
        }

        fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
            self.expect(b'"')?;
            let start = self.i;
            let b = self.b;
            while let Some(&c) = b.get(self.i) {
                match c {
                    b'"' => {
                        let s = std::str::from_utf8(&b[start..self.i]).ok()?;
                        self.i += 1;
                        return Some(std::borrow::Cow::Borrowed(s));
                    }
                    b'\\' => return self.escaped(start),
                    0..0x20 => return None,
                    _ => self.i += 1,
                }
            }
            None
        }

        /// The rest of a string that has escapes, from its start.
        fn escaped(&mut self, start: usize) -> Option<std::borrow::Cow<'a, str>> {
            let b = self.b;
            let mut out: Vec<u8> = b[start..self.i].to_vec();
            while let Some(&c) = b.get(self.i) {
                self.i += 1;
                match c {
                    b'"' => return String::from_utf8(out).ok().map(std::borrow::Cow::Owned),
                    b'\\' => {
                        let e = *b.get(self.i)?;
                        self.i += 1;
                        let simple = match e {
                            b'"' => b'"',
                            b'\\' => b'\\',
                            b'/' => b'/',
                            b'b' => 0x08,
                            b'f' => 0x0c,
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'u' => {
                                let ch = self.unicode()?;
                                let mut buf = [0; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                continue;
                            }
                            _ => return None,
                        };
                        out.push(simple);
                    }
                    0..0x20 => return None,
                    _ => out.push(c),
                }
            }
            None
        }

        /// After `\u`: four hex digits, and a second `\uXXXX` for a surrogate pair.
        fn unicode(&mut self) -> Option<char> {
            let hi = self.hex4()?;
            if (0xD800..0xDC00).contains(&hi) {
                if !self.b[self.i..].starts_with(b"\\u") {
                    return None;
                }
                self.i += 2;
                let lo = self.hex4()?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
            }
            char::from_u32(hi)
        }

        fn hex4(&mut self) -> Option<u32> {
            let h = self.b.get(self.i..self.i + 4)?;
            self.i += 4;
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        }
    }
}

#[derive(Deserialize)]
struct File {
    version: u32,
    links: Parsed,
}

#[derive(Clone, Copy)]
enum Shape {
    Map,
    List,
}

struct Parsed {
    shape: Shape,
    entries: Vec<(PathBuf, Entry)>,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ParsedVisitor)
    }
}

struct ParsedVisitor;

impl<'de> Visitor<'de> for ParsedVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of links (version 2) or an object of links by target (version 1)")
    }

    // Version 1: `{TARGET: {"text": .., "pending": .., "stamp": ..}}`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Parsed, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((t, e)) = map.next_entry::<PathBuf, Entry>()? {
            entries.push((t, e));
        }
        Ok(Parsed {
            shape: Shape::Map,
            entries,
        })
    }

    // Version 2: front-coded rows.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Parsed, A::Error> {
        let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let (mut prev_t, mut prev_x) = (String::new(), String::new());
        let mut prev_s = None;
        while let Some(row) = seq.next_element_seed(RowSeed {
            target: &mut prev_t,
            text: &mut prev_x,
            stamp: &mut prev_s,
        })? {
            entries.push(row);
        }
        Ok(Parsed {
            shape: Shape::List,
            entries,
        })
    }
}

/// One version-2 row, decoded against the previous row's target, text and stamp.
struct RowSeed<'s> {
    target: &'s mut String,
    text: &'s mut String,
    stamp: &'s mut Option<Stamp>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = (PathBuf, Entry);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = (PathBuf, Entry);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a link entry [n, rest, m, text_rest, stamp, pending?]")
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let short = || de::Error::custom("a link entry has fewer than 5 elements");
        let n: usize = seq.next_element()?.ok_or_else(short)?;
        let rest: Str<'de> = seq.next_element()?.ok_or_else(short)?;
        let m: usize = seq.next_element()?.ok_or_else(short)?;
        let text_rest: Str<'de> = seq.next_element()?.ok_or_else(short)?;
        let stamp: Option<Vec<i128>> = seq.next_element()?.ok_or_else(short)?;
        let stamp = stamp
            .map(|raw| resolve_stamp(&raw, *self.stamp))
            .transpose()
            .map_err(de::Error::custom)?;
        *self.stamp = stamp;
        let pending: Option<Pending<'de>> = seq.next_element()?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a link entry has more than 6 elements"));
        }
        let target = extend(self.target, n, &rest.0).map_err(de::Error::custom)?;
        let text = extend(self.text, m, &text_rest.0).map_err(de::Error::custom)?;
        let pending = match pending {
            None => None,
            Some(Pending::Text) => Some(text.clone()),
            Some(Pending::Other(p)) => Some(PathBuf::from(p.into_owned())),
        };
        Ok((
            target,
            Entry {
                text,
                pending,
                stamp,
            },
        ))
    }
}

/// A version-2 stamp: `[dev, ino, sec, nsec]`; `[ino - previous ino, nsec]` with the previous
/// entry's `dev` and `sec`; `[ino - previous ino]` with its `dev`, `sec` and `nsec`.
fn resolve_stamp(raw: &[i128], prev: Option<Stamp>) -> std::result::Result<Stamp, String> {
    let out_of_range = || format!("a stamp number is out of range: {raw:?}");
    match (raw, prev) {
        (&[dev, ino, sec, nsec], _) => Ok(Stamp(
            u64::try_from(dev).map_err(|_| out_of_range())?,
            u64::try_from(ino).map_err(|_| out_of_range())?,
            i64::try_from(sec).map_err(|_| out_of_range())?,
            i64::try_from(nsec).map_err(|_| out_of_range())?,
        )),
        (&[d_ino, nsec], Some(p)) => Ok(Stamp(
            p.0,
            u64::try_from(i128::from(p.1) + d_ino).map_err(|_| out_of_range())?,
            p.2,
            i64::try_from(nsec).map_err(|_| out_of_range())?,
        )),
        (&[d_ino], Some(p)) => Ok(Stamp(
            p.0,
            u64::try_from(i128::from(p.1) + d_ino).map_err(|_| out_of_range())?,
            p.2,
            p.3,
        )),
        (&[_] | &[_, _], None) => Err("a relative stamp follows an entry without one".into()),
        _ => Err(format!("a stamp has {} numbers, not 4, 2 or 1", raw.len())),
    }
}

/// `prev[..n] + rest`, which also becomes the new `prev`.
fn extend(prev: &mut String, n: usize, rest: &str) -> std::result::Result<PathBuf, String> {
    if n > prev.len() || !prev.is_char_boundary(n) {
        return Err(format!(
            "a link entry shares {n} bytes with the previous one, which has {}",
            prev.len()
        ));
    }
    prev.truncate(n);
    prev.push_str(rest);
    Ok(PathBuf::from(prev.clone()))
}

/// A version-2 `pending`: `true` (the entry's own text) or a path.
enum Pending<'de> {
    Text,
    Other(Cow<'de, str>),
}

impl<'de> Deserialize<'de> for Pending<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pending<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or a path")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Pending<'de>, E> {
                if v {
                    Ok(Pending::Text)
                } else {
                    Err(E::invalid_value(de::Unexpected::Bool(v), &self))
                }
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Pending<'de>, E> {
                Ok(Pending::Other(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Pending<'de>, E> {
                Ok(Pending::Other(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Pending<'de>, E> {
                Ok(Pending::Other(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str, pending: Option<&str>, stamp: Option<Stamp>) -> Entry {
        Entry {
            text: text.into(),
            pending: pending.map(PathBuf::from),
            stamp,
        }
    }

    fn sample() -> Record {
        let v = vec![
            (
                PathBuf::from("/home/ana/.config/nvim/init.lua"),
                entry(
                    "/home/ana/.lumina/nvim/init.lua",
                    None,
                    Some(Stamp(1, 2, 3, 4)),
                ),
            ),
            (
                PathBuf::from("/home/ana/.config/nvim/lua/plugins.lua"),
                entry("/home/ana/.lumina/nvim/lua/plugins.lua", None, None),
            ),
            (
                PathBuf::from("/home/ana/.config/nvim-é/x"),
                entry(
                    "/home/ana/.lumina/é/\"q\"",
                    Some("/p/é"),
                    Some(Stamp(u64::MAX, 0, -1, 999_999_999)),
                ),
            ),
            (
                PathBuf::from("/home/ana/.zshrc"),
                entry(
                    "/home/ana/.lumina/zsh/zshrc",
                    Some("/home/ana/.lumina/zsh/zshrc"),
                    None,
                ),
            ),
            (PathBuf::from("/home/anb"), entry("/x", None, None)),
            (PathBuf::from("/home/anb/é"), entry("/xé", None, None)),
            (PathBuf::from("/home/anb/ê"), entry("/xê", None, None)),
        ];
        Record {
            version: RECORD_VERSION,
            links: Links::from_vec(v),
        }
    }

    #[test]
    fn version_2_round_trips_and_is_front_coded() {
        let rec = sample();
        let bytes = rec.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\"version\":2,\"links\":[\n[0,\"/home/ana/.config/nvim/init.lua\""),
            "{text}"
        );
        assert!(
            text.contains("\n[23,\"lua/plugins.lua\",23,\"lua/plugins.lua\",null]"),
            "{text}"
        );
        assert_eq!(text.lines().count(), rec.links.len() + 2);
        assert!(
            text.contains("\n[11,\"zshrc\",18,\"zsh/zshrc\",null,true]"),
            "{text}"
        );
        assert!(text.contains(",\"/p/é\"]"), "{text}");
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
    }

    #[test]
    fn version_1_is_still_read() {
        let v1 = r#"{
  "version": 1,
  "links": {
    "/home/ana/.zshrc": { "text": "/r/zshrc", "pending": "/r/zshrc" },
    "/home/ana/.config/x": { "text": "/r/x", "stamp": [1, 2, 3, 4] },
    "/home/ana/.config//y/": { "text": "/r/y" }
  }
}"#;
        let rec = Record::decode(v1.as_bytes()).unwrap();
        assert_eq!(rec.version, 1);
        let keys: Vec<_> = rec.links.keys().map(|k| k.to_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "/home/ana/.config/x",
                "/home/ana/.config/y",
                "/home/ana/.zshrc"
            ]
        );
        assert_eq!(
            rec.links
                .get(Path::new("/home/ana/.config/x"))
                .unwrap()
                .stamp,
            Some(Stamp(1, 2, 3, 4))
        );
        // Written back as version 2, it reads the same.
        let again = Record::decode(&rec.encode().unwrap()).unwrap();
        assert_eq!(again.links, rec.links);
        assert_eq!(again.version, 2);
    }

    /// The fast reader and serde_json agree on what Lumina writes, escapes included.
    #[test]
    fn the_fast_reader_reads_what_serde_reads() {
        let rec = sample();
        let bytes = rec.encode().unwrap();
        let fast = fast::decode_v2(&bytes).expect("the fast reader takes what encode writes");
        let File { links, .. } = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(fast, links.entries);
        // Escapes the encoder never writes but JSON allows.
        let odd = r#"{"version":2,"links":[ [0,"/a\/b\u00e9\ud83d\ude00\n",0,"\t",[1,2,-3,4],"\"p\""] ] }"#;
        let fast = fast::decode_v2(odd.as_bytes()).unwrap();
        let File { links, .. } = serde_json::from_slice(odd.as_bytes()).unwrap();
        assert_eq!(fast, links.entries);
        assert_eq!(fast[0].0, PathBuf::from("/a/bé😀\n"));
        // What it does not take, serde_json reads or rejects.
        for other in [
            r#"{"links":[],"version":2}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[1,2,3,4.5]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[01,2,3,4]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",null]]} x"#,
            r#"{"version":2,"links":[[0,"a\x",0,"b",null]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[18446744073709551616,2,3,4]]]}"#,
        ] {
            assert!(fast::decode_v2(other.as_bytes()).is_none(), "{other}");
        }
        assert!(Record::decode(br#"{"links":[],"version":2}"#).is_ok());
    }

    #[test]
    fn unknown_versions_and_bad_rows_are_errors() {
        for bad in [
            r#"{"version":3,"links":[]}"#,
            r#"{"version":1,"links":[]}"#,
            r#"{"version":2,"links":{}}"#,
            r#"{"version":2,"links":[[1,"a",0,"b",null]]}"#,
            r#"{"version":2,"links":[[0,"é",0,"b",null],[1,"a",0,"b",null]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b"]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[1,2]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[1,2,3]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[1]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",null,false]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[-1,2,3,4]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",[1,0,3,4]],[1,"b",0,"b",[-1,2]]]}"#,
            r#"{"version":2,"links":[[0,"a",0,"b",null,"p",1]]}"#,
            r#"{"version":2}"#,
            "{ not json",
        ] {
            assert!(Record::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// Stamps are written relative to the previous one when they share `dev` and `sec`.
    #[test]
    fn stamps_are_coded_against_the_previous_entry() {
        let st = [
            Some(Stamp(7, 100, 50, 1)),
            Some(Stamp(7, 101, 50, 2)),
            Some(Stamp(7, 90, 50, 3)),
            Some(Stamp(7, 91, 50, 3)),
            Some(Stamp(8, 91, 50, 4)),
            Some(Stamp(8, 92, 51, 5)),
            None,
            Some(Stamp(8, 93, 51, 6)),
            Some(Stamp(8, u64::MAX, 51, 7)),
            Some(Stamp(8, 0, 51, 8)),
            Some(Stamp(8, 1, i64::MIN, -9)),
        ];
        let v = st
            .iter()
            .enumerate()
            .map(|(i, s)| (PathBuf::from(format!("/t/{i:02}")), entry("/x", None, *s)))
            .collect();
        let rec = Record {
            version: RECORD_VERSION,
            links: Links::from_vec(v),
        };
        let bytes = rec.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let stamps: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with('['))
            .map(|l| l.rsplit_once("\",").map_or(l, |x| x.1))
            .collect();
        assert_eq!(
            stamps,
            [
                "[7,100,50,1]],",
                "[1,2]],",
                "[-11,3]],",
                "[1]],",
                "[8,91,50,4]],",
                "[8,92,51,5]],",
                "null],",
                "[8,93,51,6]],",
                "[8,18446744073709551615,51,7]],",
                "[8,0,51,8]],",
                "[8,1,-9223372036854775808,-9]]",
            ],
            "{text}"
        );
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
        let File { links, .. } = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(links.entries, rec.links.as_slice());
    }

    #[test]
    fn an_unsorted_list_is_sorted_and_the_last_duplicate_wins() {
        let v2 = r#"{"version":2,"links":[
[0,"/b",0,"/1",null],
[0,"/a",0,"/2",null],
[0,"/b",0,"/3",null]
]}"#;
        let rec = Record::decode(v2.as_bytes()).unwrap();
        let got: Vec<_> = rec
            .links
            .iter()
            .map(|(t, e)| (t.to_str().unwrap(), e.text.to_str().unwrap()))
            .collect();
        assert_eq!(got, [("/a", "/2"), ("/b", "/3")]);
    }

    /// Paths are written front-coded; an invalid byte after the shared part is still found.
    #[test]
    fn a_path_that_is_not_utf8_cannot_be_written() {
        use std::os::unix::ffi::OsStrExt;
        let bad = |b: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(b));
        let first = (PathBuf::from("/a/a"), entry("/x/y", None, None));
        let mut bad_text = entry("", None, None);
        bad_text.text = bad(b"/x/\xc3");
        for second in [
            (bad(b"/a/\xff"), entry("/x/z", None, None)),
            (PathBuf::from("/a/b"), bad_text),
        ] {
            let rec = Record {
                version: RECORD_VERSION,
                links: Links::from_vec(vec![first.clone(), second]),
            };
            let err = rec.encode().unwrap_err();
            assert!(err.contains("invalid UTF-8"), "{err}");
        }
    }

    #[test]
    fn links_insert_get_remove_keep_the_order() {
        let mut l = Links::new();
        for t in ["/c", "/a", "/b/x", "/b"] {
            assert!(l.insert(t.into(), entry(t, None, None)).is_none());
        }
        assert!(l.insert("/a".into(), entry("/new", None, None)).is_some());
        let keys: Vec<_> = l.keys().map(|k| k.to_str().unwrap()).collect();
        assert_eq!(keys, ["/a", "/b", "/b/x", "/c"]);
        assert_eq!(l.get(Path::new("/a")).unwrap().text, PathBuf::from("/new"));
        assert!(l.remove(Path::new("/b")).is_some());
        assert!(!l.contains_key(Path::new("/b")));
        assert_eq!(l.len(), 3);
    }
}
