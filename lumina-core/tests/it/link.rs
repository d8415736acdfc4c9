//! The linker against a real temporary filesystem.
