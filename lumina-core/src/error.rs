//! The library's one error type. Every variant carries the path or place it is about.

use std::path::PathBuf;

use crate::registry::Diagnostic;

/// Everything that can go wrong in `lumina_core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error at `path` while doing `context` (which completes "... while ...").
    #[error("I/O error at `{path}` while {context}: {source}")]
    Io {
        /// The path the operation was about.
        path: PathBuf,
        /// What Lumina was doing, e.g. "creating the link".
        context: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The registry could not be read or is invalid; carries file, line and column.
    #[error("{0}")]
    Registry(Box<Diagnostic>),
    /// The link record in `.state/` is unreadable.
    #[error("the link record `{path}` is corrupt: {message}")]
    Record {
        /// Path of the record file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A path or file that must be private is writable by others, or owned by someone else.
    #[error("refusing `{path}`: {reason}")]
    Unsafe {
        /// The offending path.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// Looking up or switching to a user failed.
    #[error("{0}")]
    User(String),
    /// An external command failed to start or exited non-zero.
    #[error("`{argv}` failed: {message}")]
    Command {
        /// The command line, for the message.
        argv: String,
        /// Exit status and the last line of its standard error.
        message: String,
    },
    /// A snapshot operation failed.
    #[error("{0}")]
    Snapshot(String),
    /// A failure injected by a test after a given filesystem step (crash simulation).
    #[error("injected failure after step {step} ({what})")]
    Injected {
        /// The 1-based number of the step after which the failure was injected.
        step: usize,
        /// The step's description.
        what: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, context: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            context,
            source,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
