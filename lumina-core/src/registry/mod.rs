//! `lumina.yaml`, the registry: the declared state of a machine.
//!
//! [`load`] reads and validates a registry file; [`parse`] does the same from text (pure).
//! Every error is a [`Diagnostic`] with the file, line and column, what was expected and a
//! hint. The schema is documented in `docs/registry.md` and printed by `lumina schema`
//! ([`schema::json_schema`]); both are built from the key lists in this module, so the
//! parser, the JSON Schema and the docs cannot disagree on which keys exist.

pub mod check;
pub(crate) use convert::parse_min_free;
mod convert;
pub mod schema;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use yaml::Pos;

use crate::error::{Error, Result};
use crate::paths::Context;

/// The registry schema version this Lumina reads and writes.
pub const VERSION: u32 = 1;
/// The registry's file name inside the virtual root.
pub const FILE_NAME: &str = "lumina.yaml";
/// The largest registry Lumina reads.
pub const MAX_SIZE: u64 = 4 << 20;

/// Keys of the top-level mapping.
pub const TOP_KEYS: &[&str] = &["version", "packages", "links", "themes", "snapshots"];
/// Keys of a package written as a mapping.
pub const PACKAGE_KEYS: &[&str] = &["name", "reason"];
/// Keys of a link written as a mapping.
pub const LINK_KEYS: &[&str] = &["source", "mode"];
/// Values of a link's `mode`.
pub const LINK_MODES: &[&str] = &["file", "tree"];
/// Keys of `themes`.
pub const THEME_KEYS: &[&str] = &["gtk", "icons", "cursor", "cursor_size", "font"];
/// Keys of `snapshots`.
pub const SNAPSHOT_KEYS: &[&str] = &["keep", "important", "min_free"];

/// A validated registry.
#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    /// Schema version (always [`VERSION`]).
    pub version: u32,
    /// Declared packages, in file order.
    pub packages: Vec<Package>,
    /// Declared links, in file order.
    pub links: Vec<LinkDecl>,
    /// Declared themes (applied by a later version; validated now).
    pub themes: Themes,
    /// The user's snapshot policy (used by the hooks).
    pub snapshots: Snapshots,
}

/// One declared package.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    /// The package name, valid by ALPM's rules.
    pub name: String,
    /// Why it is installed, if the user said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where it is declared.
    #[serde(skip)]
    pub pos: Pos,
}

/// How a link's source is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// The target is one symlink to the source (a file or a whole directory).
    File,
    /// Every file under the source directory gets its own symlink under the target;
    /// directories are created as real directories.
    Tree,
}

/// One declared link: `target: source`.
#[derive(Debug, Clone, Serialize)]
pub struct LinkDecl {
    /// The target, `~` expanded, absolute and normalized.
    pub target: PathBuf,
    /// The target as written in the registry.
    pub written: String,
    /// The source, relative to the virtual root, without `.` or `..`.
    pub source: PathBuf,
    /// `file` or `tree`.
    pub mode: LinkMode,
    /// Where it is declared.
    #[serde(skip)]
    pub pos: Pos,
}

/// Desktop themes (validated now, applied by `lumina apply` later).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Themes {
    /// GTK theme name, e.g. `Adwaita-dark`.
    pub gtk: Option<String>,
    /// Icon theme name, e.g. `Papirus`.
    pub icons: Option<String>,
    /// Cursor theme name, e.g. `Bibata-Modern-Ice`.
    pub cursor: Option<String>,
    /// Cursor size in pixels.
    pub cursor_size: Option<u32>,
    /// Font as `FAMILY SIZE`, e.g. `Inter 11`.
    pub font: Option<String>,
}

/// A free-space floor for snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MinFree {
    /// Keep at least this percentage of the filesystem free.
    Percent(u8),
    /// Keep at least this many bytes free.
    Bytes(u64),
}

/// The user's snapshot policy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshots {
    /// Keep the last N snapshot pairs.
    pub keep: Option<u32>,
    /// Package patterns (`linux*`, `systemd`) whose snapshots are kept longer.
    pub important: Vec<String>,
    /// Free-space floor: prune old snapshots below it.
    pub min_free: Option<MinFree>,
}

/// A registry error: where, what, what was expected, and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as it should be shown.
    pub file: PathBuf,
    /// Where, when known.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub message: String,
    /// What was expected there.
    pub expected: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// The offending source line, for the snippet.
    pub line_text: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.column,
                self.message
            )?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if let (Some(p), Some(text)) = (self.pos, &self.line_text) {
            let num = p.line.to_string();
            let pad = " ".repeat(num.len());
            let shown: String = text
                .chars()
                .map(|c| if c == '\t' { '→' } else { c })
                .collect();
            let caret = " ".repeat(p.column.saturating_sub(1) as usize);
            write!(f, "\n{pad} |\n{num} | {shown}\n{pad} | {caret}^")?;
        }
        if let Some(e) = &self.expected {
            write!(f, "\n  expected: {e}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n\nhint: {h}")?;
        }
        Ok(())
    }
}

/// Parse and validate registry text. `file` is only used in messages.
///
/// # Errors
/// [`Diagnostic`] for the first problem found, in file order.
pub fn parse(text: &str, file: &Path, ctx: &Context) -> Result<Registry, Box<Diagnostic>> {
    convert::convert(text, file, ctx)
}

/// Read and validate the registry at `path`.
///
/// # Errors
/// [`Error::Registry`] when it is missing, unreadable, too large, not UTF-8 or invalid.
pub fn load(path: &Path, ctx: &Context) -> Result<Registry> {
    let plain = |message: String, hint: &str| {
        Error::Registry(Box::new(Diagnostic {
            file: path.to_path_buf(),
            pos: None,
            message,
            expected: None,
            hint: Some(hint.to_owned()),
            line_text: None,
        }))
    };
    let bytes = match crate::fs::stat(path)? {
        None => {
            return Err(plain(
                "no registry here".into(),
                "create `lumina.yaml` in the virtual root (see `docs/registry.md`), or point \
                 `--home` / `LUMINA_HOME` at the directory that has one",
            ));
        }
        Some(m) if !m.is_file() => {
            return Err(plain(
                "the registry is not a regular file".into(),
                "replace it with a file",
            ));
        }
        Some(m) if m.len() > MAX_SIZE => {
            return Err(plain(
                format!("the registry is {} bytes; the limit is {MAX_SIZE}", m.len()),
                "a registry this large is almost certainly not one",
            ));
        }
        Some(_) => crate::fs::read(path)?,
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        plain(
            format!(
                "the registry is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the file as UTF-8",
        )
    })?;
    parse(&text, path, ctx).map_err(Error::Registry)
}
