//! The crate's one error type.
//!
//! Every variant names the input it rejects (the relation text, the package name, the two
//! conflicting versions), so a maintainer can find the offending database entry without a
//! debugger. Messages follow the project's style: lowercase, values in backticks, no period.

use std::fmt;

/// An error of the `lumina_repo` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
