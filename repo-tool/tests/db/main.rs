//! Integration tests of the database layer: the `desc` format against repo-add's own output
//! (byte round trips), hostile `desc` files and databases (each rejection's message is
//! snapshotted), package files read as repo-add reads them, and `add` on a real directory.
//!
//! Fixtures are in `tests/fixtures/`: `desc/repo-add/` (entries repo-add 6.0.2 wrote),
//! `desc/bad/` (one hostile `desc` per file: adding a case means adding a file), `pkg/`
//! (packages and the databases repo-add made for them; `pkg/make.sh` rebuilds them).
//! Review snapshots with `INSTA_UPDATE=always cargo test -p lumina-repo --test db`, then read
//! every changed `.snap`.
// Tests opt out: fixtures are set up with `std::fs` directly (the seam rule is for product
// code), and a panic is a test failure.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod add;
mod database;
mod desc;
mod package;

use std::path::{Path, PathBuf};

/// `tests/fixtures/REL`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A file's name, for snapshot suffixes and messages.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The fixture packages with an entry repo-add made, and that entry's directory name.
pub const PACKAGES: [(&str, &str); 5] = [
    ("full-1:2.0.1-3-x86_64.pkg.tar.zst", "full-1:2.0.1-3"),
    ("meta-1.0-1-any.pkg.tar.zst", "meta-1.0-1"),
    ("gzipped-0.1-1-x86_64.pkg.tar.gz", "gzipped-0.1-1"),
    ("xzipped-3.2-1.1-x86_64.pkg.tar.xz", "xzipped-3.2-1.1"),
    ("signed-1.0-1-x86_64.pkg.tar.zst", "signed-1.0-1"),
];
