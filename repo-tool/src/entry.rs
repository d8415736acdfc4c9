//! One entry of a repository database, and its two text forms: `desc` (the metadata
//! `repo-add` writes for a package) and `files` (its file list, in `.files` databases).
//!
//! # The format
//!
//! libalpm reads both with `sync_db_read` (`be_sync.c`): a section header `%FIELD%` on a line
//! of its own, then one value per line, up to an empty line or the end. Single-valued fields
//! take the first line after the header; lists take every line up to the empty line.
//!
//! [`DbEntry::desc_text`] writes what repo-add 6.0.2's `format_entry` writes: the fields in
//! repo-add's order ([`DESC_FIELDS`]), a field only when it has a value, every section
//! followed by one empty line. For every `desc` repo-add produces, parsing and writing again
//! gives the same bytes, and `parse(write(entry)) == entry` for every valid entry; both are
//! tested on repo-add's own output.
//!
//! # Validation
//!
//! Databases come from upstream mirrors that Lumina does not trust, so parsing is stricter
//! than pacman, and every rejection names the field and the value:
//! - a single-valued field holds exactly one line; no field appears twice; a line outside
//!   any field is an error (pacman skips it silently);
//! - `%FILENAME%` is a plain file name: no `/`, no `..`, no leading `.`, no control
//!   characters, at most 255 bytes (it is joined to a directory when a package is fetched);
//! - `%NAME%` and `%BASE%` use makepkg's package-name characters; `%VERSION%` is
//!   `[epoch:]pkgver-pkgrel`; sizes are decimal and at most [`MAX_PACKAGE_SIZE`] unless the
//!   caller allows more; digests are lowercase hex of the right length; `%PGPSIG%` is base64;
//! - relations (`%DEPENDS%`, `%PROVIDES%`, ...) parse as [`Depend`]s, so every entry converts
//!   into the planner's [`Package`] ([`DbEntry::to_package`]);
//! - no value holds a control character (a tab excepted).
//!
//! Fields this version does not know are kept, in their order, and written after the known
//! ones, so a newer repo-add's entries pass through unchanged in content.
//!
//! File lists ([`FileList`]) are kept as the raw bytes of the `files` member: paths are
//! bytes to pacman (not necessarily UTF-8), and one buffer per entry instead of one string
//! per path keeps a `.files` database of a whole distribution small in memory.

use std::fmt::{self, Write as _};

use crate::depend::Depend;
use crate::model::Package;

/// The largest `%CSIZE%` or `%ISIZE%` accepted by default: 16 GiB. Arch's largest packages
/// are a few GiB installed; a bigger value in a database is an attack or corruption.
pub const MAX_PACKAGE_SIZE: u64 = 16 << 30;

/// The `desc` fields, in the order repo-add 6.0.2 writes them.
pub const DESC_FIELDS: [&str; 23] = [
    "FILENAME",
    "NAME",
    "BASE",
    "VERSION",
    "DESC",
    "GROUPS",
    "CSIZE",
    "ISIZE",
    "MD5SUM",
    "SHA256SUM",
    "PGPSIG",
    "URL",
    "LICENSE",
    "ARCH",
    "BUILDDATE",
    "PACKAGER",
    "REPLACES",
    "CONFLICTS",
    "PROVIDES",
    "DEPENDS",
    "OPTDEPENDS",
    "MAKEDEPENDS",
    "CHECKDEPENDS",
];

/// The fields an entry must have: without them a package can be neither fetched, verified
/// nor installed.
pub const REQUIRED_FIELDS: [&str; 6] =
    ["FILENAME", "NAME", "VERSION", "CSIZE", "SHA256SUM", "ARCH"];

/// The longest base64 `%PGPSIG%` accepted: repo-add refuses signature files over 16 KiB,
/// which is 21,848 base64 characters.
const MAX_PGPSIG_LEN: usize = 22 * 1024;

/// One package of a repository database: every field of its `desc`, and its file list
/// when it comes from (or goes to) a `.files` database.
///
/// Field values are exactly the text of the database (a size as a number); `None` or an
/// empty list means the field is absent, as repo-add leaves out a field without a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbEntry {
    /// `%FILENAME%`: the package file, a plain name in the repository directory.
    pub filename: String,
    /// `%NAME%`.
    pub name: String,
    /// `%BASE%`: the pkgbase; absent for packages made before pkgbase existed.
    pub base: Option<String>,
    /// `%VERSION%`: `[epoch:]pkgver-pkgrel`.
    pub version: String,
    /// `%DESC%`.
    pub desc: Option<String>,
    /// `%GROUPS%`.
    pub groups: Vec<String>,
    /// `%CSIZE%`: the size of the package file in bytes.
    pub csize: u64,
    /// `%ISIZE%`: the installed size in bytes.
    pub isize: Option<u64>,
    /// `%MD5SUM%`: lowercase hex. repo-add 6.0.2 writes it and `pacman -Si` lists it under
    /// "Validated By"; pacman 6 verifies with SHA-256 when both are present.
    pub md5sum: Option<String>,
    /// `%SHA256SUM%`: lowercase hex digest of the package file.
    pub sha256sum: String,
    /// `%PGPSIG%`: the package's detached signature, base64 without line breaks.
    pub pgpsig: Option<String>,
    /// `%URL%`.
    pub url: Option<String>,
    /// `%LICENSE%`.
    pub licenses: Vec<String>,
    /// `%ARCH%`.
    pub arch: String,
    /// `%BUILDDATE%`: seconds since the Unix epoch.
    pub builddate: Option<i64>,
    /// `%PACKAGER%`.
    pub packager: Option<String>,
    /// `%REPLACES%`.
    pub replaces: Vec<Depend>,
    /// `%CONFLICTS%`.
    pub conflicts: Vec<Depend>,
    /// `%PROVIDES%`.
    pub provides: Vec<Depend>,
    /// `%DEPENDS%`.
    pub depends: Vec<Depend>,
    /// `%OPTDEPENDS%`.
    pub optdepends: Vec<OptDepend>,
    /// `%MAKEDEPENDS%`.
    pub makedepends: Vec<Depend>,
    /// `%CHECKDEPENDS%`.
    pub checkdepends: Vec<Depend>,
    /// Fields this version does not know, in their order: name (without `%`) and values.
    pub other: Vec<(String, Vec<String>)>,
    /// `%FILES%` of the `files` member; `None` when the entry has no file list.
    pub files: Option<FileList>,
}

/// An optional dependency: `name[op version][: description]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptDepend {
    /// The relation.
    pub dep: Depend,
    /// The text after `": "`, when there is one (possibly empty).
    pub description: Option<String>,
}

impl fmt::Display for OptDepend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dep)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl OptDepend {
    /// Parses `name`, `name>=1: description`, ... as pacman splits it (at the first `": "`).
    ///
    /// # Errors
    /// The reason, when the relation is invalid or the description holds a control
    /// character.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (dep, description) = match split_description(text) {
            Some((dep, description)) => (dep, Some(description)),
            None => (text, None),
        };
        let dep = parse_relation(dep)?;
        if let Some(d) = description {
            check_text(d)?;
        }
        Ok(Self {
            dep,
            description: description.map(str::to_owned),
        })
    }
}

/// `text.split_once(": ")`, by bytes (`:` and ` ` are ASCII, so the split is at char
/// boundaries).
fn split_description(text: &str) -> Option<(&str, &str)> {
    let at = text.as_bytes().windows(2).position(|w| w == b": ")?;
    Some((text.get(..at)?, text.get(at + 2..)?))
}

/// The file list of one package: the lines of a `%FILES%` section, as bytes.
///
/// repo-add lists every member of the package archive except the metadata files (names
/// starting with `.`), directories with their trailing `/`, sorted bytewise and unique.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileList {
    /// Every path followed by `\n`.
    text: Vec<u8>,
    /// How many paths.
    count: usize,
}

impl fmt::Debug for FileList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileList")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl FileList {
    /// A file list from paths in any order: sorted bytewise and deduplicated, as repo-add's
    /// `LC_ALL=C sort -u` does.
    ///
    /// # Errors
    /// The offending path and the reason, for an empty path or one holding a newline or NUL
    /// (it would break the database's line format).
    pub fn from_paths(mut paths: Vec<Vec<u8>>) -> Result<Self, (Vec<u8>, &'static str)> {
        paths.sort_unstable();
        paths.dedup();
        let mut text = Vec::with_capacity(paths.iter().map(|p| p.len() + 1).sum());
        for p in &paths {
            check_path_line(p).map_err(|reason| (p.clone(), reason))?;
            text.extend_from_slice(p);
            text.push(b'\n');
        }
        Ok(Self {
            text,
            count: paths.len(),
        })
    }

    /// Parses a `files` member (`%FILES%` and its lines, then optionally empty lines).
    ///
    /// # Errors
    /// The problem: a missing `%FILES%` header, another section, or an invalid path line.
    pub fn parse(member: &[u8]) -> Result<Self, EntryProblem> {
        let list = Self::list_range(member)?;
        Self::from_list(member[list].to_vec())
    }

    /// [`FileList::parse`] of a member read into `member`, whose buffer it keeps (a file
    /// list of a whole distribution is not copied).
    ///
    /// # Errors
    /// As [`FileList::parse`].
    pub(crate) fn parse_owned(mut member: Vec<u8>) -> Result<Self, EntryProblem> {
        let list = Self::list_range(&member)?;
        member.truncate(list.end);
        member.drain(..list.start);
        Self::from_list(member)
    }

    /// Where the paths of a `files` member are.
    fn list_range(member: &[u8]) -> Result<std::ops::Range<usize>, EntryProblem> {
        const HEADER: &[u8] = b"%FILES%\n";
        let start = if member.is_empty() {
            return Err(EntryProblem::MissingField("FILES"));
        } else if member.starts_with(HEADER) {
            HEADER.len()
        } else if member == b"%FILES%" {
            member.len()
        } else {
            let first = member.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(EntryProblem::UnexpectedSection {
                member: "files",
                line: String::from_utf8_lossy(first).into_owned(),
            });
        };
        let body = &member[start..];
        // The list ends at the first empty line; only empty lines may follow it.
        let end = find_blank_line(body).unwrap_or(body.len());
        let tail = &body[end..];
        if let Some(line) = tail.split(|&b| b == b'\n').find(|l| !l.is_empty()) {
            return Err(EntryProblem::UnexpectedSection {
                member: "files",
                line: String::from_utf8_lossy(line).into_owned(),
            });
        }
        Ok(start..start + end)
    }

    /// The file list from the lines of a `%FILES%` section (no empty line among them).
    fn from_list(mut text: Vec<u8>) -> Result<Self, EntryProblem> {
        if !text.is_empty() && text.last() != Some(&b'\n') {
            text.push(b'\n');
        }
        // No line is empty: each `\n` ends one path.
        if !text.contains(&0) {
            let count = text.iter().filter(|&&b| b == b'\n').count();
            return Ok(Self { text, count });
        }
        let mut count = 0;
        for line in text.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if line.contains(&0) {
                return Err(EntryProblem::Field {
                    field: "FILES".into(),
                    problem: FieldProblem::Invalid {
                        value: String::from_utf8_lossy(line).into_owned(),
                        reason: "contains a NUL byte".into(),
                    },
                });
            }
            count += 1;
        }
        Ok(Self { text, count })
    }

    /// The paths, in their order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.text
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
    }

    /// How many paths.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the list is empty (a meta package).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `files` member: `%FILES%` and one path per line, as repo-add writes it.
    pub fn write_member(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"%FILES%\n");
        out.extend_from_slice(&self.text);
    }
}

/// The index of the `\n` that starts an empty line in `body` (a `\n` at the start or right
/// after another `\n`), i.e. where a section ends.
///
/// A file list can be large: its `\n`s are found eight bytes at a time.
fn find_blank_line(body: &[u8]) -> Option<usize> {
    if body.first() == Some(&b'\n') {
        return Some(0);
    }
    let mut from = 0;
    while let Some(at) = find_newline(body, from) {
        if body.get(at + 1) == Some(&b'\n') {
            return Some(at + 1);
        }
        from = at + 1;
    }
    None
}

fn check_path_line(p: &[u8]) -> Result<(), &'static str> {
    if p.is_empty() {
        Err("is empty")
    } else if p.contains(&b'\n') {
        Err("contains a newline")
    } else if p.contains(&0) {
        Err("contains a NUL byte")
    } else {
        Ok(())
    }
}

/// What is wrong with one database entry (its `desc` or `files`), or with the entry a
/// package file would give.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryProblem {
    /// A required field is missing (the name without `%`).
    MissingField(&'static str),
    /// A field appears twice.
    DuplicateField(String),
    /// A non-empty line that belongs to no field.
    LineOutsideField {
        /// 1-based line number in the member.
        line: usize,
        /// The line.
        text: String,
    },
    /// A member holds a section it must not (`files` holds `%FILES%` only).
    UnexpectedSection {
        /// The member (`files`).
        member: &'static str,
        /// The offending line.
        line: String,
    },
    /// A field's value is invalid.
    Field {
        /// The field, without `%`.
        field: String,
        /// What is wrong.
        problem: FieldProblem,
    },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingField(field) => write!(f, "the required field `%{field}%` is missing"),
            Self::DuplicateField(field) => write!(f, "the field `%{field}%` appears twice"),
            Self::LineOutsideField { line, text } => {
                write!(f, "line {line} (`{}`) is outside any field", escape(text))
            }
            Self::UnexpectedSection { member, line } => {
                write!(f, "`{member}` holds an unexpected line `{}`", escape(line))
            }
            Self::Field { field, problem } => write!(f, "field `%{field}%`: {problem}"),
        }
    }
}

/// What is wrong with the value of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldProblem {
    /// The header is followed by an empty line.
    NoValue,
    /// A single-valued field holds several lines.
    MultipleValues(usize),
    /// A size or date that is not a decimal number.
    NotANumber(String),
    /// A size larger than the limit.
    TooLarge {
        /// The value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// Any other invalid value.
    Invalid {
        /// The value as found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoValue => f.write_str("it has no value"),
            Self::MultipleValues(n) => write!(f, "it has {n} values; one is expected"),
            Self::NotANumber(v) => write!(f, "`{}` is not a decimal number", escape(v)),
            Self::TooLarge { value, limit } => write!(
                f,
                "{value} bytes is more than the limit of {limit} bytes ({} GiB)",
                limit >> 30
            ),
            Self::Invalid { value, reason } => write!(f, "`{}` {reason}", escape(value)),
        }
    }
}

/// A value for an error message: control characters escaped, long values shortened.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == 120 {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn field_err(field: &str, problem: FieldProblem) -> EntryProblem {
    EntryProblem::Field {
        field: field.to_owned(),
        problem,
    }
}

fn invalid(value: &str, reason: impl Into<String>) -> FieldProblem {
    FieldProblem::Invalid {
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Rejects control characters (a tab excepted): they have no place in a package's
/// metadata and would corrupt a terminal or the line format.
///
/// Words of printable ASCII are skipped, the rest is checked byte by byte; from the first
/// non-ASCII byte on, [`check_text_chars`] decides, so the character named is always the
/// first offending one.
fn check_text(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let start = printable_words(bytes);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if !b.is_ascii() {
            // Everything before `i` is ASCII: `i` is a char boundary.
            return check_text_chars(value.get(i..).unwrap_or_default());
        }
        if (b < b' ' && b != b'\t') || b == 0x7f {
            return Err(control_character(char::from(b)));
        }
    }
    Ok(())
}

/// How many leading bytes of `bytes` are printable ASCII (`' '` to `'~'`), counted eight at
/// a time: a multiple of 8, up to the first word that holds any other byte.
fn printable_words(bytes: &[u8]) -> usize {
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const LOW_SEVEN: u64 = u64::from_le_bytes([0x7f; 8]);
    // Added to a byte's low seven bits, sets its high bit exactly when they are >= ' '.
    const TO_SPACE: u64 = u64::from_le_bytes([0x80 - b' '; 8]);
    const DELETES: u64 = u64::from_le_bytes([0x7f; 8]);
    let (words, _) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        // No sum carries into the next byte (at most 0x7f + 0x7f).
        let non_ascii = word & HIGHS;
        let below_space = !(word & LOW_SEVEN).wrapping_add(TO_SPACE) & HIGHS;
        let x = word ^ DELETES;
        let delete = !((x & LOW_SEVEN).wrapping_add(LOW_SEVEN) | x | LOW_SEVEN);
        if non_ascii | below_space | delete != 0 {
            return i * 8;
        }
    }
    words.len() * 8
}

/// [`check_text`] on any text, one char at a time.
fn check_text_chars(value: &str) -> Result<(), String> {
    match value.chars().find(|&c| c.is_control() && c != '\t') {
        Some(c) => Err(control_character(c)),
        None => Ok(()),
    }
}

fn control_character(c: char) -> String {
    format!("contains the control character {c:?}")
}

/// `%FILENAME%`: a plain file name that cannot leave the repository directory.
///
/// # Errors
/// The reason, in words.
pub fn check_filename(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    // One pass over the bytes; the checks below keep their order.
    let bytes = value.as_bytes();
    let mut slash = false;
    let mut dot_dot = false;
    // A control character, a tab or a non-ASCII byte: left to `check_text`.
    let mut special = false;
    let mut previous = 0u8;
    for &b in bytes {
        match b {
            b'/' => slash = true,
            b'.' if previous == b'.' => dot_dot = true,
            b if !(b' '..0x7f).contains(&b) => special = true,
            _ => {}
        }
        previous = b;
    }
    if slash {
        return Err("contains `/`: a file name must not name a directory".into());
    }
    if dot_dot {
        return Err("contains `..`: a file name must not leave the repository".into());
    }
    if bytes.first() == Some(&b'.') {
        return Err("starts with `.`".into());
    }
    if value.len() > 255 {
        return Err(format!(
            "is {} bytes long; at most 255 are allowed",
            value.len()
        ));
    }
    if special {
        check_text(value)?;
        if bytes.contains(&b'\t') {
            return Err("contains a tab".into());
        }
    }
    Ok(())
}

/// `%NAME%` and `%BASE%`: makepkg's package-name rule (alphanumerics and `@._+-`, not
/// starting with `-` or `.`), at most 255 bytes.
///
/// # Errors
/// The reason, in words.
pub fn check_pkgname(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.len() > 255 {
        return Err(format!(
            "is {} bytes long; at most 255 are allowed",
            value.len()
        ));
    }
    if value.starts_with(['-', '.']) {
        return Err("starts with `-` or `.`".into());
    }
    // Any non-ASCII character is refused: the first offending byte starts the first
    // offending char (every byte before it is ASCII).
    let bad = value.bytes().position(|b| {
        !(b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'+' | b'-'))
    });
    if let Some(c) = bad
        .and_then(|i| value.get(i..))
        .and_then(|rest| rest.chars().next())
    {
        return Err(format!(
            "contains {c:?}; package names use letters, digits and `@._+-`"
        ));
    }
    Ok(())
}

/// `%VERSION%`: `[epoch:]pkgver-pkgrel` with a numeric epoch, a pkgver without `:`, `/`,
/// `-` or whitespace, and a pkgrel of digits and dots.
///
/// # Errors
/// The reason, in words.
pub fn check_version(value: &str) -> Result<(), String> {
    let Some((rest, pkgrel)) = value.rsplit_once('-') else {
        return Err("has no pkgrel (`pkgver-pkgrel`)".into());
    };
    let pkgver = match rest.split_once(':') {
        Some((epoch, pkgver)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err("has an epoch that is not a number".into());
            }
            pkgver
        }
        None => rest,
    };
    if pkgver.is_empty() {
        return Err("has an empty pkgver".into());
    }
    if let Some(c) = pkgver_forbidden(pkgver) {
        return Err(format!("has {c:?} in its pkgver"));
    }
    if pkgrel.is_empty()
        || !pkgrel.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || pkgrel.starts_with('.')
        || pkgrel.ends_with('.')
    {
        return Err("has a pkgrel that is not `N` or `N.M`".into());
    }
    Ok(())
}

/// The first character of `pkgver` that has no place there: ASCII byte by byte, then (from
/// the first non-ASCII byte, a char boundary) char by char.
fn pkgver_forbidden(pkgver: &str) -> Option<char> {
    for (i, &b) in pkgver.as_bytes().iter().enumerate() {
        if !b.is_ascii() {
            return pkgver_forbidden_chars(pkgver.get(i..).unwrap_or_default());
        }
        // Every ASCII whitespace and control character is at most `' '`, or DEL.
        if matches!(b, b':' | b'/' | b'-') || b <= b' ' || b == 0x7f {
            return Some(char::from(b));
        }
    }
    None
}

/// [`pkgver_forbidden`] on any text, one char at a time.
fn pkgver_forbidden_chars(pkgver: &str) -> Option<char> {
    pkgver
        .chars()
        .find(|&c| matches!(c, ':' | '/' | '-') || c.is_whitespace() || c.is_control())
}

fn check_hex(value: &str, len: usize) -> Result<(), String> {
    if value.len() != len
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("is not {len} lowercase hexadecimal digits"));
    }
    Ok(())
}

fn check_base64(value: &str) -> Result<(), String> {
    if value.len() > MAX_PGPSIG_LEN {
        return Err(format!(
            "is {} characters long; at most {MAX_PGPSIG_LEN} are allowed",
            value.len()
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err("is not base64".into());
    }
    Ok(())
}

/// Parses a relation; the reason in words when it is invalid.
pub(crate) fn parse_relation(value: &str) -> Result<Depend, String> {
    value.parse::<Depend>().map_err(|e| match e {
        crate::Error::InvalidRelation { problem, .. } => {
            format!("is not a valid package relation: {problem}")
        }
        other => other.to_string(),
    })
}

fn parse_number(field: &str, value: &str) -> Result<u64, EntryProblem> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field_err(field, FieldProblem::NotANumber(value.to_owned())));
    }
    value
        .parse::<u64>()
        .map_err(|_| field_err(field, FieldProblem::NotANumber(value.to_owned())))
}

fn parse_size(field: &str, value: &str, limit: u64) -> Result<u64, EntryProblem> {
    let n = parse_number(field, value)?;
    if n > limit {
        return Err(field_err(field, FieldProblem::TooLarge { value: n, limit }));
    }
    Ok(n)
}

fn parse_date(field: &str, value: &str) -> Result<i64, EntryProblem> {
    let n = parse_number(field, value)?;
    i64::try_from(n).map_err(|_| field_err(field, FieldProblem::NotANumber(value.to_owned())))
}

/// One `%FIELD%` section as found: its name and its value lines.
#[derive(Debug, Clone, Copy)]
struct Section<'a> {
    /// The name, without `%`.
    name: &'a str,
    /// The value lines (none of them empty) with the `\n`s between them, without the last
    /// line's; empty when the section has no value.
    body: &'a str,
    /// How many value lines.
    count: usize,
}

impl<'a> Section<'a> {
    /// The value lines.
    fn values(self) -> Lines<'a> {
        Lines {
            rest: (self.count > 0).then_some(self.body),
        }
    }

    /// The only value line: [`FieldProblem::NoValue`] or [`FieldProblem::MultipleValues`]
    /// when there is not exactly one.
    fn one(self) -> Result<&'a str, EntryProblem> {
        match self.count {
            0 => Err(field_err(self.name, FieldProblem::NoValue)),
            1 => Ok(self.body),
            n => Err(field_err(self.name, FieldProblem::MultipleValues(n))),
        }
    }
}

/// The lines of a section's body.
struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match find_newline(rest.as_bytes(), 0) {
            Some(i) => {
                // `\n` is ASCII: both sides are char boundaries.
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The index of the first `\n` in `bytes` at or after `from`, eight bytes at a time.
fn find_newline(bytes: &[u8], from: usize) -> Option<usize> {
    let haystack = bytes.get(from..)?;
    let (words, rest) = haystack.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let found = newline_mask(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(from + i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    rest.iter()
        .position(|&b| b == b'\n')
        .map(|i| from + words.len() * 8 + i)
}

/// The value lines that start at `from`, a non-empty line: where they end (at the `\n` that
/// an empty line or the end of the text follows, or at the end of the text) and how many
/// there are. Eight bytes at a time, visiting each `\n` once.
fn values_end(bytes: &[u8], from: usize) -> (usize, usize) {
    let mut count = 1;
    // Whether the `\n` at `at` ends the last value line.
    let ends = |at: usize| bytes.get(at + 1).is_none_or(|&b| b == b'\n');
    let haystack = bytes.get(from..).unwrap_or_default();
    let (words, rest) = haystack.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let mut found = newline_mask(u64::from_le_bytes(*word));
        while found != 0 {
            let at = from + i * 8 + (found.trailing_zeros() / 8) as usize;
            if ends(at) {
                return (at, count);
            }
            count += 1;
            found &= found - 1;
        }
    }
    let base = from + words.len() * 8;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'\n' {
            if ends(base + i) {
                return (base + i, count);
            }
            count += 1;
        }
    }
    (bytes.len(), count)
}

/// `0x80` in every byte of `word` that is `\n`, `0` in the others. Exact: with `x` zero
/// where `word` has a `\n`, `(x & 0x7f) + 0x7f` carries into no other byte and sets a
/// byte's high bit exactly when its low seven bits are not all zero.
fn newline_mask(word: u64) -> u64 {
    const LOW_SEVEN: u64 = u64::from_le_bytes([0x7f; 8]);
    const NEWLINES: u64 = u64::from_le_bytes([b'\n'; 8]);
    let x = word ^ NEWLINES;
    !((x & LOW_SEVEN).wrapping_add(LOW_SEVEN) | x | LOW_SEVEN)
}

/// The sections of `desc` text, split the way libalpm reads them (lines split at `\n`; a
/// header, then every non-empty line up to an empty line or the end), but strictly: a line
/// that belongs to no section is an error, after which the iteration ends. One pass over the
/// text, nothing allocated.
struct Sections<'a> {
    text: &'a str,
    /// Where the next line starts; past the end when there is none.
    pos: usize,
    /// How many lines were consumed: the next line's number is one more.
    line: usize,
}

impl<'a> Sections<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            line: 0,
        }
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, EntryProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        let bytes = text.as_bytes();
        let len = bytes.len();
        // Every slice below starts or ends at a `\n` or at an end of the text: all are char
        // boundaries.
        while self.pos <= len {
            let start = self.pos;
            let end = find_newline(bytes, start).unwrap_or(len);
            self.pos = end + 1;
            self.line += 1;
            if end == start {
                continue;
            }
            let line = &text[start..end];
            let Some(name) = header_name(line) else {
                self.pos = len + 1;
                return Some(Err(EntryProblem::LineOutsideField {
                    line: self.line,
                    text: line.to_owned(),
                }));
            };
            let body_start = self.pos;
            if body_start >= len || bytes[body_start] == b'\n' {
                return Some(Ok(Section {
                    name,
                    body: "",
                    count: 0,
                }));
            }
            let (body_end, count) = values_end(bytes, body_start);
            self.pos = body_end + 1;
            self.line += count;
            let body = &text[body_start..body_end];
            return Some(Ok(Section { name, body, count }));
        }
        None
    }
}

/// `NAME` of a `%NAME%` header line: upper-case letters, digits and `_`.
fn header_name(line: &str) -> Option<&str> {
    let name = line.strip_prefix('%')?.strip_suffix('%')?;
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    .then_some(name)
}

/// The index of a known field in [`DESC_FIELDS`] (one `match`, not a search).
fn field_index(name: &str) -> Option<usize> {
    Some(match name {
        "FILENAME" => 0,
        "NAME" => 1,
        "BASE" => 2,
        "VERSION" => 3,
        "DESC" => 4,
        "GROUPS" => 5,
        "CSIZE" => 6,
        "ISIZE" => 7,
        "MD5SUM" => 8,
        "SHA256SUM" => 9,
        "PGPSIG" => 10,
        "URL" => 11,
        "LICENSE" => 12,
        "ARCH" => 13,
        "BUILDDATE" => 14,
        "PACKAGER" => 15,
        "REPLACES" => 16,
        "CONFLICTS" => 17,
        "PROVIDES" => 18,
        "DEPENDS" => 19,
        "OPTDEPENDS" => 20,
        "MAKEDEPENDS" => 21,
        "CHECKDEPENDS" => 22,
        _ => return None,
    })
}

impl DbEntry {
    /// Parses the text of a `desc` member (and, for old databases, of a `depends` member
    /// appended to it), with the default size limit [`MAX_PACKAGE_SIZE`].
    ///
    /// # Errors
    /// The first problem found, naming the field.
    pub fn parse_desc(text: &str) -> Result<Self, EntryProblem> {
        Self::parse_desc_with_limit(text, MAX_PACKAGE_SIZE)
    }

    /// [`DbEntry::parse_desc`] with a size limit for `%CSIZE%` and `%ISIZE%`.
    ///
    /// # Errors
    /// The first problem found, naming the field.
    pub fn parse_desc_with_limit(text: &str, max_size: u64) -> Result<Self, EntryProblem> {
        let mut entry = Self::default();
        let mut seen = [false; DESC_FIELDS.len()];
        let mut sections = Sections::new(text);
        if let Err(problem) = entry.read_sections(&mut sections, &mut seen, max_size) {
            // A line outside any field comes first wherever it is, as if the whole text
            // were split before any field is read (after one, the iteration is over).
            if let Some(Err(outside)) = sections.find(Result::is_err) {
                return Err(outside);
            }
            return Err(problem);
        }
        for field in REQUIRED_FIELDS {
            let index = field_index(field).unwrap_or(0);
            if !seen[index] {
                return Err(EntryProblem::MissingField(field));
            }
        }
        Ok(entry)
    }

    /// Reads sections into the entry up to the first problem.
    fn read_sections(
        &mut self,
        sections: &mut Sections<'_>,
        seen: &mut [bool; DESC_FIELDS.len()],
        max_size: u64,
    ) -> Result<(), EntryProblem> {
        for section in sections {
            let section = section?;
            let name = section.name;
            let Some(index) = field_index(name) else {
                if self.other.iter().any(|(n, _)| n == name) {
                    return Err(EntryProblem::DuplicateField(name.to_owned()));
                }
                let mut values = Vec::with_capacity(section.count);
                for v in section.values() {
                    check_text(v).map_err(|reason| field_err(name, invalid(v, reason)))?;
                    values.push(v.to_owned());
                }
                self.other.push((name.to_owned(), values));
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(EntryProblem::DuplicateField(name.to_owned()));
            }
            self.set_field(section, max_size)?;
        }
        Ok(())
    }

    fn set_field(&mut self, section: Section<'_>, max_size: u64) -> Result<(), EntryProblem> {
        let name = section.name;
        let checked = |check: fn(&str) -> Result<(), String>| -> Result<String, EntryProblem> {
            let v = section.one()?;
            check(v).map_err(|reason| field_err(name, invalid(v, reason)))?;
            Ok(v.to_owned())
        };
        let texts = || -> Result<Vec<String>, EntryProblem> {
            let mut out = Vec::with_capacity(section.count);
            for v in section.values() {
                check_text(v).map_err(|reason| field_err(name, invalid(v, reason)))?;
                out.push(v.to_owned());
            }
            Ok(out)
        };
        let relations = || -> Result<Vec<Depend>, EntryProblem> {
            let mut out = Vec::with_capacity(section.count);
            for v in section.values() {
                out.push(parse_relation(v).map_err(|reason| field_err(name, invalid(v, reason)))?);
            }
            Ok(out)
        };
        match name {
            "FILENAME" => self.filename = checked(check_filename)?,
            "NAME" => self.name = checked(check_pkgname)?,
            "BASE" => self.base = Some(checked(check_pkgname)?),
            "VERSION" => self.version = checked(check_version)?,
            "DESC" => self.desc = Some(checked(check_text)?),
            "GROUPS" => self.groups = texts()?,
            "CSIZE" => self.csize = parse_size(name, section.one()?, max_size)?,
            "ISIZE" => self.isize = Some(parse_size(name, section.one()?, max_size)?),
            "MD5SUM" => self.md5sum = Some(checked(|v| check_hex(v, 32))?),
            "SHA256SUM" => self.sha256sum = checked(|v| check_hex(v, 64))?,
            "PGPSIG" => self.pgpsig = Some(checked(check_base64)?),
            "URL" => self.url = Some(checked(check_text)?),
            "LICENSE" => self.licenses = texts()?,
            "ARCH" => self.arch = checked(check_pkgname)?,
            "BUILDDATE" => self.builddate = Some(parse_date(name, section.one()?)?),
            "PACKAGER" => self.packager = Some(checked(check_text)?),
            "REPLACES" => self.replaces = relations()?,
            "CONFLICTS" => self.conflicts = relations()?,
            "PROVIDES" => self.provides = relations()?,
            "DEPENDS" => self.depends = relations()?,
            "OPTDEPENDS" => {
                let mut out = Vec::with_capacity(section.count);
                for v in section.values() {
                    out.push(
                        OptDepend::parse(v)
                            .map_err(|reason| field_err(name, invalid(v, reason)))?,
                    );
                }
                self.optdepends = out;
            }
            "MAKEDEPENDS" => self.makedepends = relations()?,
            "CHECKDEPENDS" => self.checkdepends = relations()?,
            _ => {}
        }
        Ok(())
    }

    /// Checks an entry built in code (from a package's `.PKGINFO`) against the rules
    /// [`DbEntry::parse_desc`] applies, so that what is written parses again.
    ///
    /// # Errors
    /// The first problem found, naming the field.
    pub fn validate(&self, max_size: u64) -> Result<(), EntryProblem> {
        let check = |field: &str, value: &str, f: fn(&str) -> Result<(), String>| {
            f(value).map_err(|reason| field_err(field, invalid(value, reason)))
        };
        let required = |field: &'static str, value: &str| {
            if value.is_empty() {
                Err(EntryProblem::MissingField(field))
            } else {
                Ok(())
            }
        };
        required("FILENAME", &self.filename)?;
        check("FILENAME", &self.filename, check_filename)?;
        required("NAME", &self.name)?;
        check("NAME", &self.name, check_pkgname)?;
        if let Some(base) = &self.base {
            check("BASE", base, check_pkgname)?;
        }
        required("VERSION", &self.version)?;
        check("VERSION", &self.version, check_version)?;
        required("SHA256SUM", &self.sha256sum)?;
        check("SHA256SUM", &self.sha256sum, |v| check_hex(v, 64))?;
        if let Some(md5) = &self.md5sum {
            check("MD5SUM", md5, |v| check_hex(v, 32))?;
        }
        if let Some(sig) = &self.pgpsig {
            check("PGPSIG", sig, check_base64)?;
        }
        required("ARCH", &self.arch)?;
        check("ARCH", &self.arch, check_pkgname)?;
        for (field, size) in [("CSIZE", Some(self.csize)), ("ISIZE", self.isize)] {
            if let Some(value) = size
                && value > max_size
            {
                return Err(field_err(
                    field,
                    FieldProblem::TooLarge {
                        value,
                        limit: max_size,
                    },
                ));
            }
        }
        if let Some(date) = self.builddate
            && date < 0
        {
            return Err(field_err(
                "BUILDDATE",
                FieldProblem::NotANumber(date.to_string()),
            ));
        }
        let single = [
            ("DESC", &self.desc),
            ("URL", &self.url),
            ("PACKAGER", &self.packager),
        ];
        for (field, value) in single {
            if let Some(v) = value {
                check(field, v, check_text)?;
                if v.is_empty() {
                    return Err(field_err(field, FieldProblem::NoValue));
                }
            }
        }
        for (field, values) in [("GROUPS", &self.groups), ("LICENSE", &self.licenses)] {
            for v in values {
                check(field, v, check_text)?;
                if v.is_empty() {
                    return Err(field_err(field, FieldProblem::NoValue));
                }
            }
        }
        for (field, values) in self.relation_fields() {
            for dep in values {
                // A `Depend` built in code may hold anything; it must survive a re-parse.
                let text = dep.to_string();
                let parsed =
                    parse_relation(&text).map_err(|r| field_err(field, invalid(&text, r)))?;
                if &parsed != dep {
                    return Err(field_err(
                        field,
                        invalid(&text, "does not read back the same"),
                    ));
                }
            }
        }
        for opt in &self.optdepends {
            let text = opt.to_string();
            let parsed =
                OptDepend::parse(&text).map_err(|r| field_err("OPTDEPENDS", invalid(&text, r)))?;
            if &parsed != opt {
                return Err(field_err(
                    "OPTDEPENDS",
                    invalid(&text, "does not read back the same"),
                ));
            }
        }
        Ok(())
    }

    fn relation_fields(&self) -> [(&'static str, &Vec<Depend>); 6] {
        [
            ("REPLACES", &self.replaces),
            ("CONFLICTS", &self.conflicts),
            ("PROVIDES", &self.provides),
            ("DEPENDS", &self.depends),
            ("MAKEDEPENDS", &self.makedepends),
            ("CHECKDEPENDS", &self.checkdepends),
        ]
    }

    /// The entry's directory in the database archive: `NAME-VERSION`.
    #[must_use]
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Appends the `desc` member, exactly as repo-add 6.0.2 writes it.
    pub fn write_desc(&self, out: &mut String) {
        fn single(out: &mut String, field: &str, value: Option<&str>) {
            if let Some(v) = value {
                out.push('%');
                out.push_str(field);
                out.push_str("%\n");
                out.push_str(v);
                out.push_str("\n\n");
            }
        }
        fn list<T: fmt::Display>(out: &mut String, field: &str, values: &[T]) {
            if values.is_empty() {
                return;
            }
            out.push('%');
            out.push_str(field);
            out.push_str("%\n");
            for v in values {
                // Writing to a String cannot fail.
                let _ = writeln!(out, "{v}");
            }
            out.push('\n');
        }
        fn number(out: &mut String, field: &str, value: Option<u64>) {
            if let Some(v) = value {
                let _ = write!(out, "%{field}%\n{v}\n\n");
            }
        }
        single(out, "FILENAME", Some(&self.filename));
        single(out, "NAME", Some(&self.name));
        single(out, "BASE", self.base.as_deref());
        single(out, "VERSION", Some(&self.version));
        single(out, "DESC", self.desc.as_deref());
        list(out, "GROUPS", &self.groups);
        number(out, "CSIZE", Some(self.csize));
        number(out, "ISIZE", self.isize);
        single(out, "MD5SUM", self.md5sum.as_deref());
        single(out, "SHA256SUM", Some(&self.sha256sum));
        single(out, "PGPSIG", self.pgpsig.as_deref());
        single(out, "URL", self.url.as_deref());
        list(out, "LICENSE", &self.licenses);
        single(out, "ARCH", Some(&self.arch));
        if let Some(date) = self.builddate {
            let _ = write!(out, "%BUILDDATE%\n{date}\n\n");
        }
        single(out, "PACKAGER", self.packager.as_deref());
        list(out, "REPLACES", &self.replaces);
        list(out, "CONFLICTS", &self.conflicts);
        list(out, "PROVIDES", &self.provides);
        list(out, "DEPENDS", &self.depends);
        list(out, "OPTDEPENDS", &self.optdepends);
        list(out, "MAKEDEPENDS", &self.makedepends);
        list(out, "CHECKDEPENDS", &self.checkdepends);
        for (field, values) in &self.other {
            list(out, field, values);
        }
    }

    /// The `desc` member as a string.
    #[must_use]
    pub fn desc_text(&self) -> String {
        let mut out = String::with_capacity(1024);
        self.write_desc(&mut out);
        out
    }

    /// The planner's view of this entry. An entry without `%BASE%` is its own base, as in
    /// pacman.
    #[must_use]
    pub fn to_package(&self) -> Package {
        Package {
            name: self.name.clone(),
            base: self.base.clone().unwrap_or_else(|| self.name.clone()),
            version: self.version.clone(),
            filename: self.filename.clone(),
            arch: self.arch.clone(),
            csize: self.csize,
            isize: self.isize.unwrap_or(0),
            sha256: self.sha256sum.clone(),
            builddate: self.builddate.unwrap_or(0),
            depends: self.depends.clone(),
            provides: self.provides.clone(),
            conflicts: self.conflicts.clone(),
            replaces: self.replaces.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    /// A desc repo-add 6.0.2 wrote (gen-dataset's `binutils`, sizes and sums as written).
    const BINUTILS: &str = "%FILENAME%\nbinutils-2.40-2-x86_64.pkg.tar.zst\n\n%NAME%\nbinutils\n\n\
        %BASE%\nbinutils\n\n%VERSION%\n2.40-2\n\n%DESC%\nGNU assembler, linker and binary \
        utilities\n\n%CSIZE%\n954\n\n%ISIZE%\n111616\n\n%MD5SUM%\nc3db40258428f9f1c173f5db5bc52598\
        \n\n%SHA256SUM%\n26c31c1f55cdff64a2e04f011911db3d4cd830e91501d3a6c1a0adb962e1a67f\n\n\
        %URL%\nhttps://www.gnu.org/software/binutils/\n\n%LICENSE%\ncustom:debian-bench\n\n\
        %ARCH%\nx86_64\n\n%BUILDDATE%\n1704859967\n\n%PACKAGER%\nMatthias Klose \
        <doko@debian.org>\n\n%CONFLICTS%\nbinutils-multiarch<2.27-8\nmodutils<2.4.19-1\n\n\
        %PROVIDES%\nbinutils-gold\nelf-binutils\n\n%DEPENDS%\nbinutils-common=2.40-2\n\
        libbinutils=2.40-2\n\n%OPTDEPENDS%\nbinutils-doc: documentation\n\n";

    #[test]
    fn parses_and_writes_back_the_same_bytes() {
        let e = DbEntry::parse_desc(BINUTILS).unwrap();
        assert_eq!(e.name, "binutils");
        assert_eq!(e.csize, 954);
        assert_eq!(e.isize, Some(111_616));
        assert_eq!(e.builddate, Some(1_704_859_967));
        assert_eq!(e.conflicts.len(), 2);
        assert_eq!(
            e.optdepends[0].description.as_deref(),
            Some("documentation")
        );
        assert_eq!(e.desc_text(), BINUTILS);
        assert_eq!(DbEntry::parse_desc(&e.desc_text()).unwrap(), e);
        e.validate(MAX_PACKAGE_SIZE).unwrap();
    }

    #[test]
    fn unknown_fields_are_kept_and_written_last() {
        let text = format!("%XDATA%\npkgtype=pkg\n\n{BINUTILS}");
        let e = DbEntry::parse_desc(&text).unwrap();
        assert_eq!(e.other, vec![("XDATA".into(), vec!["pkgtype=pkg".into()])]);
        assert_eq!(e.desc_text(), format!("{BINUTILS}%XDATA%\npkgtype=pkg\n\n"));
    }

    #[test]
    fn to_package_defaults_the_base_to_the_name() {
        let mut e = DbEntry::parse_desc(BINUTILS).unwrap();
        e.base = None;
        let p = e.to_package();
        assert_eq!((p.name.as_str(), p.base.as_str()), ("binutils", "binutils"));
        assert_eq!(p.depends.len(), 2);
        assert_eq!(p.sha256, e.sha256sum);
    }

    fn replace_line(field: &str, value: &str) -> String {
        let header = format!("%{field}%\n");
        let start = BINUTILS.find(&header).unwrap() + header.len();
        let end = start + BINUTILS[start..].find("\n\n").unwrap();
        format!("{}{value}{}", &BINUTILS[..start], &BINUTILS[end..])
    }

    #[rstest]
    #[case::slash(
        "FILENAME",
        "../../etc/passwd",
        "field `%FILENAME%`: `../../etc/passwd` contains `/`"
    )]
    #[case::dotdot("FILENAME", "foo..pkg.tar.zst", "contains `..`")]
    #[case::dot_file("FILENAME", ".hidden", "starts with `.`")]
    #[case::absurd_csize("CSIZE", "17179869185", "17179869185 bytes is more than the limit")]
    #[case::non_numeric_isize("ISIZE", "12k", "field `%ISIZE%`: `12k` is not a decimal number")]
    #[case::negative_date("BUILDDATE", "-1", "`-1` is not a decimal number")]
    #[case::huge_number("CSIZE", "99999999999999999999999", "is not a decimal number")]
    #[case::bad_sha("SHA256SUM", "XYZ", "is not 64 lowercase hexadecimal digits")]
    #[case::bad_name("NAME", "bin utils", "contains ' '")]
    #[case::bad_version("VERSION", "2.40", "has no pkgrel")]
    #[case::bad_relation(
        "DEPENDS",
        "foo>=",
        "is not a valid package relation: the version is empty"
    )]
    #[case::two_values("NAME", "a\nb", "it has 2 values; one is expected")]
    #[case::control("DESC", "bell\u{7}", "contains the control character '\\u{7}'")]
    #[case::pgpsig("PGPSIG", "not base64!", "is not base64")]
    fn hostile_values_are_named(#[case] field: &str, #[case] value: &str, #[case] expected: &str) {
        let text = if BINUTILS.contains(&format!("%{field}%")) {
            replace_line(field, value)
        } else {
            format!("{BINUTILS}%{field}%\n{value}\n\n")
        };
        let e = DbEntry::parse_desc(&text).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
        assert!(e.contains(&format!("%{field}%")), "{e}");
    }

    #[test]
    fn structure_problems() {
        let dup = format!("{BINUTILS}%NAME%\nother\n\n");
        assert_eq!(
            DbEntry::parse_desc(&dup).unwrap_err().to_string(),
            "the field `%NAME%` appears twice"
        );
        let missing = BINUTILS.replace("%SHA256SUM%\n", "%X%\n");
        assert_eq!(
            DbEntry::parse_desc(&missing).unwrap_err().to_string(),
            "the required field `%SHA256SUM%` is missing"
        );
        let stray = format!("stray\n{BINUTILS}");
        assert_eq!(
            DbEntry::parse_desc(&stray).unwrap_err().to_string(),
            "line 1 (`stray`) is outside any field"
        );
        let empty = BINUTILS.replace("%DESC%\nGNU", "%DESC%\n\nGNU");
        assert!(DbEntry::parse_desc(&empty).is_err());
        assert_eq!(
            DbEntry::parse_desc("").unwrap_err(),
            EntryProblem::MissingField("FILENAME")
        );
    }

    #[test]
    fn the_size_limit_is_the_callers() {
        let text = replace_line("ISIZE", "20000000000");
        assert!(DbEntry::parse_desc(&text).is_err());
        assert_eq!(
            DbEntry::parse_desc_with_limit(&text, u64::MAX)
                .unwrap()
                .isize,
            Some(20_000_000_000)
        );
    }

    #[rstest]
    #[case::plain("2.40-2", true)]
    #[case::epoch("4:12.2.0-3", true)]
    #[case::dotted_pkgrel("1.47.0-2.2", true)]
    #[case::plus("20230311+deb12u1-1", true)]
    #[case::no_pkgrel("1.0", false)]
    #[case::empty_pkgver("-1", false)]
    #[case::empty_epoch(":1-1", false)]
    #[case::alpha_epoch("a:1-1", false)]
    #[case::alpha_pkgrel("1-a", false)]
    #[case::slash("1/2-1", false)]
    #[case::space("1 2-1", false)]
    fn versions(#[case] version: &str, #[case] ok: bool) {
        assert_eq!(check_version(version).is_ok(), ok, "{version}");
    }

    /// Lines of a real entry, shuffled, repeated, dropped or replaced by junk.
    fn desc_like() -> impl Strategy<Value = String> {
        let lines: Vec<&'static str> = BINUTILS.split('\n').collect();
        let line = prop_oneof![
            6 => (0..lines.len()).prop_map(move |i| lines[i].to_owned()),
            1 => "[ -~]{0,12}",
            1 => "%[A-Z0-9]{1,10}%",
            1 => "[0-9]{1,25}",
        ];
        proptest::collection::vec(line, 0..80).prop_map(|l| l.join("\n"))
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_what_parses_round_trips(text in desc_like()) {
            if let Ok(e) = DbEntry::parse_desc(&text) {
                prop_assert!(e.validate(MAX_PACKAGE_SIZE).is_ok());
                prop_assert_eq!(DbEntry::parse_desc(&e.desc_text()).unwrap(), e);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = DbEntry::parse_desc(&text);
            let _ = FileList::parse(text.as_bytes());
        }
    }

    #[test]
    fn file_lists_round_trip_and_reject_broken_members() {
        let member = b"%FILES%\nusr/\nusr/bin/\nusr/bin/foo\n";
        let list = FileList::parse(member).unwrap();
        assert_eq!(list.len(), 3);
        let mut out = Vec::new();
        list.write_member(&mut out);
        assert_eq!(out, member);
        assert_eq!(FileList::parse(b"%FILES%\n").unwrap().len(), 0);
        // pacman's local database style: a trailing empty line.
        assert_eq!(FileList::parse(b"%FILES%\na\n\n").unwrap().len(), 1);
        assert!(FileList::parse(b"%FILES%\na\n\n%BACKUP%\nx\n").is_err());
        assert!(FileList::parse(b"junk\n").is_err());
        assert!(FileList::parse(b"").is_err());
        let sorted =
            FileList::from_paths(vec![b"b".to_vec(), b"a/".to_vec(), b"b".to_vec()]).unwrap();
        assert_eq!(sorted.iter().collect::<Vec<_>>(), vec![&b"a/"[..], b"b"]);
        assert!(FileList::from_paths(vec![b"a\nb".to_vec()]).is_err());
    }

    proptest! {
        #[test]
        fn blank_lines_are_found_as_before(body in "[a\n]{0,40}") {
            let body = body.as_bytes();
            let reference = if body.first() == Some(&b'\n') {
                Some(0)
            } else {
                body.windows(2).position(|w| w == b"\n\n").map(|i| i + 1)
            };
            prop_assert_eq!(find_blank_line(body), reference);
        }
    }

    #[test]
    fn owned_file_lists_parse_as_borrowed_ones() {
        let members: [&[u8]; 10] = [
            b"%FILES%\nusr/\nusr/bin/foo\n",
            b"%FILES%\nusr/bin/foo",
            b"%FILES%\na\n\n\n",
            b"%FILES%\n",
            b"%FILES%",
            b"%FILES%\n\n",
            b"%FILES%\na\0b\nc\n",
            b"%FILES%\na\n\nb\n",
            b"junk\n",
            b"",
        ];
        for member in members {
            let owned = FileList::parse_owned(member.to_vec());
            assert_eq!(owned, FileList::parse(member), "{member:?}");
            if let Ok(list) = owned {
                assert_eq!(list.iter().count(), list.len(), "{member:?}");
            }
        }
    }

    /// `sections` as it was: a list of sections, each with a list of lines.
    fn reference_sections(text: &str) -> Result<Vec<(&str, Vec<&str>)>, EntryProblem> {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut in_section = false;
        for (i, line) in text.split('\n').enumerate() {
            if line.is_empty() {
                in_section = false;
                continue;
            }
            if in_section {
                if let Some((_, values)) = out.last_mut() {
                    values.push(line);
                }
                continue;
            }
            match header_name(line) {
                Some(name) => {
                    out.push((name, Vec::new()));
                    in_section = true;
                }
                None => {
                    return Err(EntryProblem::LineOutsideField {
                        line: i + 1,
                        text: line.to_owned(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn split_sections(text: &str) -> Result<Vec<(&str, Vec<&str>)>, EntryProblem> {
        Sections::new(text)
            .map(|section| {
                let section = section?;
                let values: Vec<&str> = section.values().collect();
                assert_eq!(values.len(), section.count);
                Ok((section.name, values))
            })
            .collect()
    }

    #[rstest]
    #[case::empty("")]
    #[case::blank_lines("\n\n\n")]
    #[case::header_at_the_end("%A%")]
    #[case::header_then_newline("%A%\n")]
    #[case::no_final_newline("%A%\nx\ny")]
    #[case::header_as_value("%A%\n%B%\n\n%C%\n")]
    #[case::stray_after_values("%A%\nx\n\nstray\n%B%\n")]
    #[case::carriage_return("%A%\r\nx\n")]
    #[case::long_lines(
        "%LONG%\nabcdefghijklmnopqrstuvwxyz0123456789\nabcdefgh\n\n\n%B%\nabcdefg\n"
    )]
    fn sections_split_as_before(#[case] text: &str) {
        assert_eq!(split_sections(text), reference_sections(text));
    }

    #[test]
    fn a_line_outside_any_field_is_reported_before_an_earlier_bad_value() {
        let text = replace_line("CSIZE", "12k") + "stray\n";
        let line = text.split('\n').count() - 1;
        assert_eq!(
            DbEntry::parse_desc(&text).unwrap_err(),
            EntryProblem::LineOutsideField {
                line,
                text: "stray".into()
            }
        );
        let duplicate = format!("%NAME%\nx\n\n{BINUTILS}stray\n");
        assert!(matches!(
            DbEntry::parse_desc(&duplicate).unwrap_err(),
            EntryProblem::LineOutsideField { .. }
        ));
    }

    #[test]
    fn field_indexes_follow_desc_fields() {
        for (i, field) in DESC_FIELDS.iter().enumerate() {
            assert_eq!(field_index(field), Some(i), "{field}");
        }
        for other in ["", "XDATA", "FILES", "filename", "NAME ", "%NAME%"] {
            assert_eq!(field_index(other), None, "{other}");
        }
    }

    #[test]
    fn printable_words_stop_at_the_first_other_byte() {
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut bytes = [b'a'; 20];
                bytes[at] = b;
                let expected = if (b' '..=b'~').contains(&b) {
                    16
                } else {
                    at / 8 * 8
                };
                assert_eq!(printable_words(&bytes), expected, "{b:#x} at {at}");
            }
        }
        assert_eq!(printable_words(b"1234567"), 0);
    }

    #[test]
    fn newline_masks_are_exact() {
        for other in (0..=255u8).filter(|&b| b != b'\n') {
            for at in 0..8 {
                let mut word = [other; 8];
                word[at] = b'\n';
                word[(at + 3) % 8] = b'\n' ^ 1;
                let expected = 0x80u64 << (8 * at);
                assert_eq!(
                    newline_mask(u64::from_le_bytes(word)),
                    expected,
                    "{other} {at}"
                );
            }
            assert_eq!(newline_mask(u64::from_le_bytes([other; 8])), 0);
        }
        assert_eq!(
            newline_mask(u64::from_le_bytes([b'\n'; 8])),
            0x8080_8080_8080_8080
        );
    }

    #[test]
    fn newlines_are_found_at_every_offset() {
        let text = b"0123456789abcdef\n0123456\n\n01234567890123456789";
        for from in 0..=text.len() + 1 {
            let expected = text
                .get(from..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                .map(|i| from + i);
            assert_eq!(find_newline(text, from), expected, "from {from}");
        }
    }

    /// The checks as they were, one char at a time.
    fn reference_pkgname(value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("is empty".into());
        }
        if value.len() > 255 {
            return Err(format!(
                "is {} bytes long; at most 255 are allowed",
                value.len()
            ));
        }
        if value.starts_with(['-', '.']) {
            return Err("starts with `-` or `.`".into());
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '+' | '-')))
        {
            return Err(format!(
                "contains {c:?}; package names use letters, digits and `@._+-`"
            ));
        }
        Ok(())
    }

    fn reference_filename(value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("is empty".into());
        }
        if value.contains('/') {
            return Err("contains `/`: a file name must not name a directory".into());
        }
        if value.contains("..") {
            return Err("contains `..`: a file name must not leave the repository".into());
        }
        if value.starts_with('.') {
            return Err("starts with `.`".into());
        }
        if value.len() > 255 {
            return Err(format!(
                "is {} bytes long; at most 255 are allowed",
                value.len()
            ));
        }
        check_text_chars(value)?;
        if value.contains('\t') {
            return Err("contains a tab".into());
        }
        Ok(())
    }

    fn reference_version(value: &str) -> Result<(), String> {
        let Some((rest, pkgrel)) = value.rsplit_once('-') else {
            return Err("has no pkgrel (`pkgver-pkgrel`)".into());
        };
        let pkgver = match rest.split_once(':') {
            Some((epoch, pkgver)) => {
                if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("has an epoch that is not a number".into());
                }
                pkgver
            }
            None => rest,
        };
        if pkgver.is_empty() {
            return Err("has an empty pkgver".into());
        }
        if let Some(c) = pkgver
            .chars()
            .find(|&c| matches!(c, ':' | '/' | '-') || c.is_whitespace() || c.is_control())
        {
            return Err(format!("has {c:?} in its pkgver"));
        }
        if pkgrel.is_empty()
            || !pkgrel.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            || pkgrel.starts_with('.')
            || pkgrel.ends_with('.')
        {
            return Err("has a pkgrel that is not `N` or `N.M`".into());
        }
        Ok(())
    }

    /// Text that exercises the ASCII fast paths and their fallbacks: ASCII, tabs, control
    /// characters (C0, DEL, C1) and non-ASCII whitespace, letters and symbols.
    const TRICKY: [char; 16] = [
        'a', 'Z', '0', '.', '-', '/', ':', '\t', '\n', ' ', '\u{7f}', '\u{80}', '\u{85}', '\u{a0}',
        'é', '\u{2003}',
    ];

    #[test]
    fn the_ascii_fast_paths_agree_with_the_char_paths_on_every_character() {
        let samples = (0..=0x3000u32)
            .chain([0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0xfeff, 0x10_ffff])
            .filter_map(char::from_u32);
        for c in samples {
            for text in [
                c.to_string(),
                format!("ab{c}"),
                format!("{c}.x"),
                format!("é{c}"),
                format!("a{c}-1"),
                format!("1:2{c}3-1"),
            ] {
                assert_eq!(check_text(&text), check_text_chars(&text), "{text:?}");
                assert_eq!(check_pkgname(&text), reference_pkgname(&text), "{text:?}");
                assert_eq!(check_filename(&text), reference_filename(&text), "{text:?}");
                assert_eq!(check_version(&text), reference_version(&text), "{text:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn the_ascii_fast_paths_agree_with_the_char_paths(
            chars in proptest::collection::vec(proptest::sample::select(&TRICKY[..]), 0..12)
        ) {
            let text: String = chars.into_iter().collect();
            prop_assert_eq!(check_text(&text), check_text_chars(&text));
            prop_assert_eq!(check_pkgname(&text), reference_pkgname(&text));
            prop_assert_eq!(check_filename(&text), reference_filename(&text));
            prop_assert_eq!(check_version(&text), reference_version(&text));
            prop_assert_eq!(split_description(&text), text.split_once(": "));
        }

        #[test]
        fn sections_split_as_before_on_any_text(text in desc_like()) {
            prop_assert_eq!(split_sections(&text), reference_sections(&text));
        }

        #[test]
        fn sections_split_as_before_on_line_soup(text in "(%[A-Z]{1,3}%|[a-c%]{0,3}|[a-c]{8,20}|\n){0,40}") {
            prop_assert_eq!(split_sections(&text), reference_sections(&text));
        }
    }
}
