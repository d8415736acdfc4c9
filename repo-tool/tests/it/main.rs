//! Integration tests of `lumina_repo`: signatures with a throwaway GnuPG home, the
//! published tree under injected crashes, and real pacman reading what was published.
// Tests opt out: fixtures are set up with `std::fs` and `std::process::Command` directly
// (the seam rules are for product code), and a panic is a test failure.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod cli;
mod gnupg;
mod http;
mod pacman;
mod publish;
mod sign;
