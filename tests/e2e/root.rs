//! As root: `--user NAME` acts as that user, and root never follows a path the user
//! controls. These tests create a real unprivileged user; they fail under `CI=true` when not
//! run as root.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use lumina_e2e::{Home, TestUser, bin, require_root};

/// A home owned by a fresh user, and a copy of `lumina` that user may execute.
fn user_home() -> (Home, TestUser, PathBuf) {
    let h = Home::new();
    h.source("shell/bashrc", "export A=1\n");
    let exe = h.scratch().join("lumina");
    std::fs::copy(bin("lumina"), &exe).unwrap();
    lumina_e2e::set_mode(&exe, 0o755);
    let u = TestUser::create(&h.home);
    (h, u, exe)
}

fn unique(prefix: &str) -> PathBuf {
    PathBuf::from(format!("/etc/{prefix}-{}", std::process::id()))
}

#[test]
fn user_links_are_made_as_the_user() {
    if !require_root("user_links_are_made_as_the_user") {
        return;
    }
    let (h, u, exe) = user_home();
    h.registry("version: 1\nlinks:\n  ~/.bashrc: shell/bashrc\n");
    u.chown_tree(&h.home);
    let r = h.run(&exe, ["--user", &u.name, "link"]);
    assert_eq!(r.code, 0, "{r:?}");
    let m = std::fs::symlink_metadata(h.at(".bashrc")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(
        (m.uid(), m.gid()),
        (u.uid, u.gid),
        "the link must belong to the user"
    );
    let rec = std::fs::metadata(h.root.join(".state/links.json")).unwrap();
    assert_eq!(rec.uid(), u.uid, "the record must belong to the user");
}

#[test]
fn a_target_the_user_cannot_write_fails_clearly_and_creates_nothing() {
    if !require_root("a_target_the_user_cannot_write_fails_clearly_and_creates_nothing") {
        return;
    }
    let (h, u, exe) = user_home();
    let evil = unique("lumina-x");
    h.registry(&format!(
        "version: 1\nlinks:\n  ~/.bashrc: shell/bashrc\n  {}: shell/bashrc\n",
        evil.display()
    ));
    u.chown_tree(&h.home);
    let before = h.snapshot();
    let r = h.run(&exe, ["--user", &u.name, "link"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "conflict {}: you cannot write `/etc` (permission denied)",
            evil.display()
        )),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(&evil).is_err(),
        "{} was created",
        evil.display()
    );
    assert_eq!(
        before,
        h.snapshot(),
        "the home changed although the run was refused"
    );
}

#[test]
fn a_symlink_the_user_planted_in_a_parent_path_is_not_followed_as_root() {
    if !require_root("a_symlink_the_user_planted_in_a_parent_path_is_not_followed_as_root") {
        return;
    }
    let (h, u, exe) = user_home();
    // The user points ~/.config at /etc and declares ~/.config/<name>: as root, following it
    // would create /etc/<name>.
    let name = format!("lumina-planted-{}", std::process::id());
    std::os::unix::fs::symlink("/etc", h.at(".config")).unwrap();
    h.registry(&format!(
        "version: 1\nlinks:\n  ~/.config/{name}: shell/bashrc\n"
    ));
    u.chown_tree(&h.home);
    let r = h.run(&exe, ["--user", &u.name, "link"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("you cannot write `"), "{}", r.stdout);
    assert!(std::fs::symlink_metadata(PathBuf::from("/etc").join(&name)).is_err());
    // Without --user, root refuses to act on a profile that belongs to someone else.
    let r = h.run(&exe, ["link"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&format!("it belongs to uid {}", u.uid)),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--user NAME"), "{}", r.stderr);
    assert!(std::fs::symlink_metadata(PathBuf::from("/etc").join(&name)).is_err());
}

struct Group(String);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel").arg(&self.0).status();
    }
}

#[test]
fn the_dropped_child_has_the_users_supplementary_groups_and_none_of_roots() {
    if !require_root("the_dropped_child_has_the_users_supplementary_groups_and_none_of_roots") {
        return;
    }
    let (h, u, exe) = user_home();
    let group = Group(format!("lue2eg{}", u.uid));
    let ok = |c: &mut std::process::Command| c.status().unwrap().success();
    assert!(ok(std::process::Command::new("groupadd").arg(&group.0)));
    assert!(ok(
        std::process::Command::new("usermod").args(["-aG", &group.0, &u.name])
    ));
    // Writable only through root's group: refused. Through the user's supplementary group:
    // allowed.
    let rootgroup = h.scratch().join("rootgroup");
    let shared = h.scratch().join("shared");
    for d in [&rootgroup, &shared] {
        std::fs::create_dir(d).unwrap();
        lumina_e2e::set_mode(d, 0o775);
    }
    assert!(ok(std::process::Command::new("chgrp")
        .arg(&group.0)
        .arg(&shared)));
    h.registry(&format!(
        "version: 1\nlinks:\n  {}/x: shell/bashrc\n",
        rootgroup.display()
    ));
    u.chown_tree(&h.home);
    let r = h.run(&exe, ["--user", &u.name, "link"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(std::fs::read_dir(&rootgroup).unwrap().next().is_none());
    h.registry(&format!(
        "version: 1\nlinks:\n  {}/x: shell/bashrc\n",
        shared.display()
    ));
    let r = h.run(&exe, ["--user", &u.name, "link"]);
    assert_eq!(r.code, 0, "{r:?}");
    let m = std::fs::symlink_metadata(shared.join("x")).unwrap();
    assert_eq!(m.uid(), u.uid);
}
