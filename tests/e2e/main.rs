//! End-to-end tests: the built binaries, run the way a user runs them.
// Tests opt out: fixtures use `std::fs` directly (the seam rule is for product code), and a
// panic is a test failure.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod backends;
mod cli;
mod harness;
mod hooks;
mod init;
mod link;
mod package;
mod repo_db;
mod root;
mod stable;
