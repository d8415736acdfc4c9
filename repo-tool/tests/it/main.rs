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

mod add_sign;
mod cli;
mod conditional;
mod gnupg;
mod http;
mod mirror;
mod pacman;
mod promote_cli;
mod publish;
mod sign;
mod stable;
mod sync;
mod verify;
