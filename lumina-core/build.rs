//! Re-run the build (and so recompile the fixture-driven tests, whose `#[files]` lists are
//! read at compile time) when a test fixture is added or removed.

fn main() {
    println!("cargo::rerun-if-changed=tests/fixtures");
    println!("cargo::rerun-if-changed=build.rs");
}
