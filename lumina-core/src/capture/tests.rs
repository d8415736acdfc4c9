//! The lossless edit on the registry styles people write: the result is snapshotted whole,
//! so a comment or a blank line that moved would show.

use std::path::Path;

use super::*;

fn ctx() -> Context {
    Context {
        user_home: "/home/ana".into(),
        lumina_home: "/home/ana/.lumina".into(),
    }
}

fn add(text: &str, names: &[&str]) -> Result<String, String> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    add_packages(text, Path::new("lumina.yaml"), &ctx(), &names).map_err(|d| d.to_string())
}

const STYLES: &[(&str, &str)] = &[
    (
        "block-with-comments",
        "# my machine\nversion: 1\n\npackages:          # what I use\n  - git\n  # editors\n  - neovim   # the one\n  - name: fwupd\n    reason: firmware updates\n\n# dotfiles\nlinks:\n  ~/.bashrc: shell/bashrc\n",
    ),
    (
        "block-indentless",
        "version: 1\npackages:\n- git\n- name: fwupd\n  reason: >-\n    firmware\n    updates\nthemes: { gtk: Adwaita }\n",
    ),
    (
        "block-four-spaces-at-end-without-newline",
        "version: 1\npackages:\n    - git\n    - neovim",
    ),
    (
        "flow-one-line",
        "version: 1\npackages: [git, neovim]   # all of them\nlinks: {}\n",
    ),
    ("flow-empty", "version: 1\npackages: []\n"),
    (
        "flow-multi-line-with-comment",
        "version: 1\npackages: [\n  git,\n  neovim  # editor\n]\nthemes:\n  gtk: Adwaita\n",
    ),
    (
        "flow-trailing-comma",
        "version: 1\npackages: [git, neovim,]\n",
    ),
    (
        "empty-key",
        "version: 1\npackages:   # none yet\nlinks:\n  ~/.x: x\n",
    ),
    ("absent", "version: 1\nlinks:\n  ~/.x: x\n"),
    ("absent-no-newline", "version: 1"),
];

#[test]
fn capture_keeps_every_style_intact() {
    for (name, text) in STYLES {
        let out = add(text, &["htop", "@scope-pkg"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::with_settings!({ description => *text, omit_expression => true }, {
            insta::assert_snapshot!(*name, out);
        });
    }
}

#[test]
fn adding_nothing_changes_nothing() {
    for (_, text) in STYLES {
        assert_eq!(add(text, &[]).unwrap(), *text);
    }
}

#[test]
fn what_the_edit_cannot_do_is_refused_with_a_position() {
    let e = add("{version: 1, packages: [git]}\n", &["htop"]).unwrap_err();
    assert!(
        e.starts_with(
            "lumina.yaml:1:2: cannot add to `packages` here: the top level is not a block mapping"
        ),
        "{e}"
    );
    let e = add("version: 1\nx: &p [git]\npackages: *p\n", &["htop"]).unwrap_err();
    // The registry rejects the unknown key `x` before any edit.
    assert!(e.contains("unknown key `x`"), "{e}");
    let e = add("version: 1\npackages: ~\n", &["htop"]).unwrap_err();
    assert!(
        e.contains("cannot add to `packages` here: it is `~`"),
        "{e}"
    );
    let e = add("version: 1\npackages: [git]\n", &["git"]).unwrap_err();
    assert!(e.contains("package `git` is declared twice"), "{e}");
}

#[test]
fn scalars_are_quoted_only_when_yaml_would_misread_them() {
    assert_eq!(scalar("git"), "git");
    assert_eq!(scalar("python-3.12"), "python-3.12");
    assert_eq!(scalar("@scope"), "\"@scope\"");
    assert_eq!(scalar("true"), "\"true\"");
    assert_eq!(scalar("1.10"), "\"1.10\"");
    assert_eq!(scalar("null"), "\"null\"");
    assert_eq!(scalar("a \"b\""), "\"a \\\"b\\\"\"");
}

#[test]
fn a_config_user_list_is_extended_the_same_way() {
    let text = include_str!("../../../pkg/config.yaml");
    let out = append_to_list(
        text,
        Path::new("config.yaml"),
        "the configuration",
        "users",
        &["ana".into()],
    )
    .unwrap();
    let c = crate::config::Config::parse(&out, Path::new("config.yaml")).unwrap();
    assert_eq!(c.users, ["ana"]);
    // Only the `users:` line changed.
    let changed: Vec<(&str, &str)> = text
        .lines()
        .zip(out.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed, [("users: []", "users: [ana]")]);
}
