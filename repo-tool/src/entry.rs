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
        let (dep, description) = match text.split_once(": ") {
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
        let body = if member.is_empty() {
            return Err(EntryProblem::MissingField("FILES"));
        } else if let Some(rest) = member.strip_prefix(b"%FILES%\n") {
            rest
        } else if member == b"%FILES%" {
            &[][..]
        } else {
            let first = member.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(EntryProblem::UnexpectedSection {
                member: "files",
                line: String::from_utf8_lossy(first).into_owned(),
            });
        };
        // The list ends at the first empty line; only empty lines may follow it.
        let end = find_blank_line(body).unwrap_or(body.len());
        let (list, tail) = body.split_at(end);
        if let Some(line) = tail.split(|&b| b == b'\n').find(|l| !l.is_empty()) {
            return Err(EntryProblem::UnexpectedSection {
                member: "files",
                line: String::from_utf8_lossy(line).into_owned(),
            });
        }
        let mut text = list.to_vec();
        if !text.is_empty() && text.last() != Some(&b'\n') {
            text.push(b'\n');
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
fn find_blank_line(body: &[u8]) -> Option<usize> {
    if body.first() == Some(&b'\n') {
        return Some(0);
    }
    body.windows(2).position(|w| w == b"\n\n").map(|i| i + 1)
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
fn check_text(value: &str) -> Result<(), String> {
    match value.chars().find(|&c| c.is_control() && c != '\t') {
        Some(c) => Err(format!("contains the control character {c:?}")),
        None => Ok(()),
    }
}

/// `%FILENAME%`: a plain file name that cannot leave the repository directory.
///
/// # Errors
/// The reason, in words.
pub fn check_filename(value: &str) -> Result<(), String> {
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
    check_text(value)?;
    if value.contains('\t') {
        return Err("contains a tab".into());
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
type Section<'a> = (&'a str, Vec<&'a str>);

/// Splits `desc` text into sections the way libalpm reads them, but strictly: a line that
/// belongs to no section is an error.
fn sections(text: &str) -> Result<Vec<Section<'_>>, EntryProblem> {
    let mut out: Vec<Section<'_>> = Vec::with_capacity(24);
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

/// `NAME` of a `%NAME%` header line: upper-case letters, digits and `_`.
fn header_name(line: &str) -> Option<&str> {
    let name = line.strip_prefix('%')?.strip_suffix('%')?;
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    .then_some(name)
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
        for (name, values) in sections(text)? {
            let Some(index) = DESC_FIELDS.iter().position(|f| *f == name) else {
                if entry.other.iter().any(|(n, _)| n == name) {
                    return Err(EntryProblem::DuplicateField(name.to_owned()));
                }
                for v in &values {
                    check_text(v).map_err(|reason| field_err(name, invalid(v, reason)))?;
                }
                entry.other.push((
                    name.to_owned(),
                    values.iter().map(|v| (*v).to_owned()).collect(),
                ));
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(EntryProblem::DuplicateField(name.to_owned()));
            }
            entry.set_field(name, &values, max_size)?;
        }
        for field in REQUIRED_FIELDS {
            let index = DESC_FIELDS.iter().position(|f| *f == field).unwrap_or(0);
            if !seen[index] {
                return Err(EntryProblem::MissingField(field));
            }
        }
        Ok(entry)
    }

    fn set_field(
        &mut self,
        name: &str,
        values: &[&str],
        max_size: u64,
    ) -> Result<(), EntryProblem> {
        let one = || -> Result<&str, EntryProblem> {
            match values {
                [] => Err(field_err(name, FieldProblem::NoValue)),
                [v] => Ok(*v),
                _ => Err(field_err(name, FieldProblem::MultipleValues(values.len()))),
            }
        };
        let checked = |check: fn(&str) -> Result<(), String>| -> Result<String, EntryProblem> {
            let v = one()?;
            check(v).map_err(|reason| field_err(name, invalid(v, reason)))?;
            Ok(v.to_owned())
        };
        let texts = || -> Result<Vec<String>, EntryProblem> {
            values
                .iter()
                .map(|v| {
                    check_text(v)
                        .map(|()| (*v).to_owned())
                        .map_err(|reason| field_err(name, invalid(v, reason)))
                })
                .collect()
        };
        let relations = || -> Result<Vec<Depend>, EntryProblem> {
            values
                .iter()
                .map(|v| parse_relation(v).map_err(|reason| field_err(name, invalid(v, reason))))
                .collect()
        };
        match name {
            "FILENAME" => self.filename = checked(check_filename)?,
            "NAME" => self.name = checked(check_pkgname)?,
            "BASE" => self.base = Some(checked(check_pkgname)?),
            "VERSION" => self.version = checked(check_version)?,
            "DESC" => self.desc = Some(checked(check_text)?),
            "GROUPS" => self.groups = texts()?,
            "CSIZE" => self.csize = parse_size(name, one()?, max_size)?,
            "ISIZE" => self.isize = Some(parse_size(name, one()?, max_size)?),
            "MD5SUM" => self.md5sum = Some(checked(|v| check_hex(v, 32))?),
            "SHA256SUM" => self.sha256sum = checked(|v| check_hex(v, 64))?,
            "PGPSIG" => self.pgpsig = Some(checked(check_base64)?),
            "URL" => self.url = Some(checked(check_text)?),
            "LICENSE" => self.licenses = texts()?,
            "ARCH" => self.arch = checked(check_pkgname)?,
            "BUILDDATE" => self.builddate = Some(parse_date(name, one()?)?),
            "PACKAGER" => self.packager = Some(checked(check_text)?),
            "REPLACES" => self.replaces = relations()?,
            "CONFLICTS" => self.conflicts = relations()?,
            "PROVIDES" => self.provides = relations()?,
            "DEPENDS" => self.depends = relations()?,
            "OPTDEPENDS" => {
                self.optdepends = values
                    .iter()
                    .map(|v| {
                        OptDepend::parse(v).map_err(|reason| field_err(name, invalid(v, reason)))
                    })
                    .collect::<Result<_, _>>()?;
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
}
