//! Integration tests of `lumina_core` against the real filesystem, one binary.

mod link;
mod registry;
