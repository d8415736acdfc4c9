//! Integration tests of `lumina_core` against the real filesystem, one binary.
// Tests opt out: fixtures use `std::fs` directly (the seam rule is for product code), and a
// panic is a test failure.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod link;
mod registry;
