//! The `desc` format: byte round trips on repo-add's output, and hostile entries.

use std::path::PathBuf;

use lumina_repo::entry::{DbEntry, MAX_PACKAGE_SIZE};
use rstest::rstest;

use crate::file_name;

/// repo-add's text parses, writes back byte for byte, and parses back to the same entry.
#[rstest]
fn repo_add_desc_round_trips(#[files("tests/fixtures/desc/repo-add/*.desc")] path: PathBuf) {
    let text = std::fs::read_to_string(&path).unwrap();
    let entry =
        DbEntry::parse_desc(&text).unwrap_or_else(|e| panic!("`{}`: {e}", file_name(&path)));
    assert_eq!(entry.desc_text(), text, "write(parse(text)) == text");
    assert_eq!(DbEntry::parse_desc(&entry.desc_text()).unwrap(), entry);
    entry.validate(MAX_PACKAGE_SIZE).unwrap();
    let package = entry.to_package();
    assert_eq!(package.name, entry.name);
    assert_eq!(package.depends, entry.depends);
}

/// Every hostile `desc` is rejected with a message naming the field; the message is
/// snapshotted with the input as the snapshot's description.
#[rstest]
fn hostile_desc_is_rejected(#[files("tests/fixtures/desc/bad/*.desc")] path: PathBuf) {
    let text = std::fs::read_to_string(&path).unwrap();
    let name = file_name(&path);
    let message = match DbEntry::parse_desc(&text) {
        Ok(e) => panic!("`{name}` should be rejected, but parsed as {e:#?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains('%') || message.contains("outside any field"),
        "`{name}`: the message names no field: {message}"
    );
    assert!(
        !message.ends_with('.') && !message.starts_with(char::is_uppercase),
        "`{name}`: message style: {message}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(name.as_str());
    // The input, readable; escaped only when it holds control characters besides newlines.
    let description = if text.chars().any(|c| c.is_control() && c != '\n') {
        text.escape_debug().to_string()
    } else {
        text.clone()
    };
    settings.set_description(description);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(message));
}

/// Values built in code must survive a re-parse, or `validate` refuses them.
#[test]
fn validate_refuses_what_would_not_read_back() {
    let text = std::fs::read_to_string(crate::fixture("desc/repo-add/fixture-full-1:2.0.1-3.desc"))
        .unwrap();
    let good = DbEntry::parse_desc(&text).unwrap();
    let mut e = good.clone();
    e.desc = Some("two\nlines".into());
    assert!(e.validate(MAX_PACKAGE_SIZE).is_err());
    let mut e = good.clone();
    e.filename = "../x.pkg.tar.zst".into();
    assert!(e.validate(MAX_PACKAGE_SIZE).is_err());
    let mut e = good.clone();
    e.depends[0].name = "a b".into();
    assert!(e.validate(MAX_PACKAGE_SIZE).is_err());
    let mut e = good;
    e.isize = Some(MAX_PACKAGE_SIZE + 1);
    assert!(e.validate(MAX_PACKAGE_SIZE).is_err());
}
