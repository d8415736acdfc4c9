//! The crate's one error type.
//!
//! Every variant names the input it rejects (the relation text, the package name, the two
//! conflicting versions), so a maintainer can find the offending database entry without a
//! debugger. Messages follow the project's style: lowercase, values in backticks, no period.

use std::fmt;
use std::path::PathBuf;

/// An error of the `lumina_repo` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A repository database cannot be read, is not a database, or holds an invalid entry.
    #[error("invalid database `{}`: {problem}", path.display())]
    InvalidDatabase {
        /// The database file.
        path: PathBuf,
        /// What is wrong, naming the entry and the field.
        problem: DbProblem,
    },
    /// A file given as a package is not a valid package.
    #[error("invalid package file `{}`: {problem}", path.display())]
    InvalidPackage {
        /// The package file.
        path: PathBuf,
        /// What is wrong.
        problem: PackageProblem,
    },
    /// A database could not be built (the compressor failed).
    #[error("cannot build the database: {0}")]
    BuildDatabase(String),
    /// `lumina-repo add` refuses its input; nothing was changed.
    #[error("cannot add to `{}`: {message}", dir.display())]
    AddRefused {
        /// The repository directory.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// A package relation (`depends`, `provides`, `conflicts`, `replaces`) is malformed.
    #[error("invalid package relation `{input}`: {problem}")]
    InvalidRelation {
        /// The text as found.
        input: String,
        /// What is wrong with it.
        problem: RelationProblem,
    },
    /// A version requirement such as a module constraint (`<0.50`) is malformed.
    #[error("invalid version requirement `{input}`: {problem}")]
    InvalidRequirement {
        /// The text as found.
        input: String,
        /// What is wrong with it.
        problem: RelationProblem,
    },
    /// The published set holds two packages of one name.
    #[error("package `{name}` is published twice, in `{first}` and `{second}`")]
    DuplicatePublished {
        /// The package name.
        name: String,
        /// The repository of one copy.
        first: String,
        /// The repository of the other.
        second: String,
    },
    /// Two candidates share one package name.
    #[error("package `{name}` has two candidates, `{first}` and `{second}`")]
    DuplicateCandidate {
        /// The package name.
        name: String,
        /// The version of one candidate.
        first: String,
        /// The version of the other.
        second: String,
    },
    /// A package is listed for removal twice.
    #[error("package `{name}` is listed for removal twice")]
    DuplicateRemoval {
        /// The package name.
        name: String,
    },
    /// A package is both a candidate and listed for removal.
    #[error("package `{name}` is both a candidate (`{version}`) and listed for removal")]
    CandidateRemoved {
        /// The package name.
        name: String,
        /// The candidate's version.
        version: String,
    },
    /// A removal names a package that is not published.
    #[error("package `{name}` is listed for removal but is not published")]
    RemovalNotPublished {
        /// The package name.
        name: String,
    },
    /// `repo.yaml` is missing, unreadable or invalid: file, line, column, expected, hint.
    #[error("{0}")]
    Config(Box<lumina_core::registry::Diagnostic>),
    /// A filesystem step failed (the error names the path and what was being done), or a
    /// test injected a failure after a step.
    #[error(transparent)]
    Fs(#[from] lumina_core::Error),
    /// The ledger of first-seen times and the audit log cannot be read. It is left as it
    /// is: resetting it would restart every package's quarantine.
    #[error("the ledger `{path}` is corrupt: {message}")]
    CorruptLedger {
        /// The ledger file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// GnuPG could not be set up, the key or keyring was not found, or signing failed.
    #[error("{what}: {message}")]
    Sign {
        /// What could not be done: "cannot sign with key `FPR`", "cannot use the keyring
        /// `DIR`", "cannot sign `FILE`".
        what: String,
        /// What GnuPG said, or what is wrong with the key.
        message: String,
    },
    /// A detached signature is missing, malformed, bad, or made by a key the keyring does
    /// not trust.
    #[error("signature `{sig}` of `{file}`: {problem}")]
    Signature {
        /// The signed file.
        file: PathBuf,
        /// The signature file.
        sig: PathBuf,
        /// What is wrong.
        problem: SignatureProblem,
    },
    /// Another `lumina-repo` holds the repository lock.
    #[error("the repository `{out}` is locked by {holder}")]
    Locked {
        /// The output directory.
        out: PathBuf,
        /// Who holds the lock, as recorded in the lock file.
        holder: String,
    },
    /// The published tree is not in a shape this tool made, or a publish input is invalid.
    #[error("published tree `{out}`: {message}")]
    Publish {
        /// The output directory.
        out: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// What is wrong with a detached signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// There is no signature file.
    Missing,
    /// The signature is ASCII-armored; pacman reads binary signatures only.
    Armored,
    /// GnuPG found no signature in it (truncated, empty, or another kind of file).
    Malformed(String),
    /// The signature does not match the file: the file or the signature was changed.
    Bad {
        /// The fingerprint (or key ID) of the key that made it.
        key: String,
    },
    /// The key that made it is not in the keyring.
    UnknownKey {
        /// The fingerprint (or key ID) of the key that made it.
        key: String,
    },
    /// The key is in the keyring, but the keyring does not trust it fully (pacman's
    /// `TrustedOnly`: it must be locally signed by the keyring's master key, as
    /// `pacman-key --lsign-key` does).
    Untrusted {
        /// The key's fingerprint.
        key: String,
        /// GnuPG's validity of the key (`unknown`, `marginal`, `never`, ...).
        validity: String,
    },
    /// The key or the signature has expired, or the key was revoked.
    Expired {
        /// The key's fingerprint.
        key: String,
        /// GnuPG's reason.
        reason: String,
    },
    /// GnuPG could not check it at all.
    Gpg(String),
}

impl fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("the signature file is missing"),
            Self::Armored => {
                f.write_str("the signature is ASCII-armored; pacman reads binary signatures only")
            }
            Self::Malformed(m) => write!(f, "not a valid OpenPGP signature ({m})"),
            Self::Bad { key } => write!(
                f,
                "BAD signature by key `{key}`: the file or its signature was modified"
            ),
            Self::UnknownKey { key } => {
                write!(f, "made by key `{key}`, which is not in the keyring")
            }
            Self::Untrusted { key, validity } => write!(
                f,
                "made by key `{key}`, which the keyring does not trust (validity: {validity}); \
                 pacman requires a key signed by the keyring's master key (`pacman-key --lsign-key`)"
            ),
            Self::Expired { key, reason } => write!(f, "key `{key}`: {reason}"),
            Self::Gpg(m) => write!(f, "GnuPG could not check it: {m}"),
        }
    }
}

/// What is wrong with a relation or version requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelationProblem {
    /// Nothing before the comparison operator.
    EmptyName,
    /// Nothing after the comparison operator.
    EmptyVersion,
    /// A version requirement does not start with `<`, `<=`, `=`, `>=` or `>`.
    MissingComparison,
    /// A character that cannot appear there (whitespace, a control character, or a second
    /// comparison operator).
    ForbiddenCharacter(char),
}

impl fmt::Display for RelationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => f.write_str("the name is empty"),
            Self::EmptyVersion => f.write_str("the version is empty"),
            Self::MissingComparison => {
                f.write_str("it must start with `<`, `<=`, `=`, `>=` or `>`")
            }
            Self::ForbiddenCharacter(c) => write!(f, "it contains the character {c:?}"),
        }
    }
}

/// What is wrong with a repository database (`$repo.db`, `$repo.files`).
#[derive(Debug)]
#[non_exhaustive]
pub enum DbProblem {
    /// The file is compressed with a method this tool does not read.
    UnsupportedCompression(&'static str),
    /// The (decompressed) content is not a tar archive.
    NotAnArchive(String),
    /// The archive ends early: a cut download or a partial write.
    Truncated(String),
    /// The compressed stream or the archive is damaged.
    Corrupt(String),
    /// The decompressed database is larger than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// More entries than the limit.
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A member that has no place in a database (outside an entry directory, a link, a
    /// device, an unknown file).
    UnexpectedMember {
        /// The member's path.
        member: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The same member twice.
    DuplicateMember {
        /// The member's path.
        member: String,
    },
    /// A member larger than its limit.
    MemberTooLarge {
        /// The member's path.
        member: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A `desc` member that is not UTF-8.
    NotUtf8 {
        /// The member's path.
        member: String,
    },
    /// An entry directory without a `desc`.
    MissingDesc {
        /// The entry directory.
        entry: String,
    },
    /// An entry's `desc` or `files` is invalid.
    Entry {
        /// The entry directory (`NAME-VERSION`).
        entry: String,
        /// What is wrong, naming the field.
        problem: crate::entry::EntryProblem,
    },
    /// An entry directory whose name is not the `%NAME%-%VERSION%` of its `desc`.
    DirectoryMismatch {
        /// The entry directory.
        entry: String,
        /// `%NAME%-%VERSION%`.
        described: String,
    },
    /// Two entries for one package name.
    DuplicatePackage {
        /// The package name.
        name: String,
        /// One entry directory.
        first: String,
        /// The other.
        second: String,
    },
}

impl fmt::Display for DbProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedCompression(c) => {
                write!(
                    f,
                    "it is compressed with {c}, which this tool does not read"
                )
            }
            Self::NotAnArchive(detail) => write!(f, "it is not a tar archive ({detail})"),
            Self::Truncated(detail) => write!(f, "it is truncated ({detail})"),
            Self::Corrupt(detail) => write!(f, "it is corrupt ({detail})"),
            Self::TooLarge { limit } if *limit >= 1 << 20 => write!(
                f,
                "it decompresses to more than {limit} bytes ({} MiB), the limit",
                limit >> 20
            ),
            Self::TooLarge { limit } => {
                write!(f, "it decompresses to more than {limit} bytes, the limit")
            }
            Self::TooManyEntries { limit } => write!(f, "it has more than {limit} entries"),
            Self::UnexpectedMember { member, reason } => {
                write!(f, "unexpected member `{member}`: {reason}")
            }
            Self::DuplicateMember { member } => write!(f, "the member `{member}` appears twice"),
            Self::MemberTooLarge {
                member,
                size,
                limit,
            } => write!(
                f,
                "the member `{member}` is {size} bytes; at most {limit} are allowed"
            ),
            Self::NotUtf8 { member } => write!(f, "the member `{member}` is not UTF-8"),
            Self::MissingDesc { entry } => write!(f, "entry `{entry}` has no `desc`"),
            Self::Entry { entry, problem } => write!(f, "entry `{entry}`: {problem}"),
            Self::DirectoryMismatch { entry, described } => write!(
                f,
                "entry `{entry}` describes `{described}`; the directory must be `%NAME%-%VERSION%`"
            ),
            Self::DuplicatePackage {
                name,
                first,
                second,
            } => write!(
                f,
                "package `{name}` appears twice, as `{first}` and as `{second}`"
            ),
        }
    }
}

/// What is wrong with a package file.
#[derive(Debug)]
#[non_exhaustive]
pub enum PackageProblem {
    /// The file is compressed with a method this tool does not read.
    UnsupportedCompression(&'static str),
    /// It is not a (compressed) tar archive, or the archive is damaged.
    NotAnArchive(String),
    /// The archive has no `.PKGINFO`.
    NoPkginfo,
    /// `.PKGINFO` is not UTF-8 or is larger than 1 MiB.
    BadPkginfo(&'static str),
    /// A required `.PKGINFO` key is missing or empty.
    MissingKey(&'static str),
    /// The entry `.PKGINFO` gives is invalid.
    Entry(crate::entry::EntryProblem),
    /// A member path cannot be listed in a `.files` database.
    BadPath {
        /// The path (lossy UTF-8).
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The detached signature `FILE.sig` next to it cannot be embedded.
    Signature(String),
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedCompression(c) => {
                write!(
                    f,
                    "it is compressed with {c}, which this tool does not read"
                )
            }
            Self::NotAnArchive(detail) => write!(f, "it is not a package archive ({detail})"),
            Self::NoPkginfo => f.write_str("it has no `.PKGINFO`, so it is not a pacman package"),
            Self::BadPkginfo(why) => write!(f, "its `.PKGINFO` {why}"),
            Self::MissingKey(key) => write!(f, "its `.PKGINFO` has no `{key}`"),
            Self::Entry(problem) => write!(f, "its `.PKGINFO` gives an invalid entry: {problem}"),
            Self::BadPath { path, reason } => write!(f, "it holds a file `{path}` that {reason}"),
            Self::Signature(why) => write!(f, "{why}"),
        }
    }
}
