//! Tests of the pacman.conf edits on realistic files (insta snapshots of the results), of the
//! freshness warning, and of the refusals of `enable`/`disable` that happen before any
//! program runs (the rest runs against real pacman, gpg and HTTP in `tests/e2e/stable.rs`).
// Fixtures are set up with `std::fs` (the seam rule is for product code).
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Duration;

use super::conf::{self, Kind};
use super::ops::{self, DisableOptions, EnableOptions};
use super::*;
use crate::fs::Fs;

const FIXTURES: &[(&str, &str)] = &[
    ("arch-default", include_str!("testdata/arch-default.conf")),
    ("includes", include_str!("testdata/includes.conf")),
    ("options-only", include_str!("testdata/options-only.conf")),
    ("custom-first", include_str!("testdata/custom-first.conf")),
];

/// What `enable` serves for a pacman.conf: core and extra, and multilib when it is on.
fn served(text: &str) -> Vec<String> {
    let mut s = vec!["core".to_owned(), "extra".to_owned()];
    if conf::parse(text)
        .iter()
        .any(|l| l.kind == Kind::Header("multilib".into()))
    {
        s.push("multilib".into());
    }
    s
}

#[test]
fn enable_on_realistic_files() {
    for (name, text) in FIXTURES {
        let e = conf::enable(text, &served(text), SNIPPET).unwrap();
        assert!(e.block_changed, "{name}");
        insta::assert_snapshot!(format!("enable_{name}"), e.text);
    }
}

#[test]
fn enable_is_idempotent_and_disable_restores_byte_for_byte() {
    for (name, text) in FIXTURES {
        let on = conf::enable(text, &served(text), SNIPPET).unwrap();
        let again = conf::enable(&on.text, &served(text), SNIPPET).unwrap();
        assert_eq!(
            again.text, on.text,
            "{name}: second enable changed the file"
        );
        assert!(!again.block_changed && again.sections.is_empty(), "{name}");
        let off = conf::disable(&on.text).unwrap();
        assert_eq!(
            off.text, *text,
            "{name}: enable + disable is not the identity"
        );
        assert_eq!(
            off.sections.iter().map(|s| &s.1).collect::<Vec<_>>(),
            on.sections.iter().map(|s| &s.1).collect::<Vec<_>>(),
            "{name}"
        );
        // And once more, from the restored file.
        assert_eq!(
            conf::enable(&off.text, &served(text), SNIPPET)
                .unwrap()
                .text,
            on.text
        );
    }
}

#[test]
fn enabled_files_define_each_served_repository_only_through_the_snippet() {
    for (name, text) in FIXTURES {
        let on = conf::enable(text, &served(text), SNIPPET).unwrap().text;
        let active: Vec<String> = conf::sections(&conf::parse(&on))
            .into_iter()
            .map(|(_, n, _)| n)
            .collect();
        for repo in served(text) {
            assert!(!active.contains(&repo), "{name}: [{repo}] still active");
        }
        assert!(conf::includes_path(&on, SNIPPET), "{name}");
        // Custom repositories stay, in their order.
        let before: Vec<String> = conf::sections(&conf::parse(text))
            .into_iter()
            .map(|(_, n, _)| n)
            .filter(|n| !served(text).contains(n))
            .collect();
        assert_eq!(active, before, "{name}");
    }
}

#[test]
fn the_block_goes_after_repositories_listed_before_core() {
    let text = include_str!("testdata/custom-first.conf");
    let on = conf::enable(text, &served(text), SNIPPET).unwrap().text;
    let local = on.find("[ana-local]").unwrap();
    let block = on.find(conf::BEGIN).unwrap();
    let core = on.find("#lumina-stable-off# [core]").unwrap();
    assert!(local < block && block < core, "{on}");
}

#[test]
fn diff_of_arch_default() {
    let text = include_str!("testdata/arch-default.conf");
    let on = conf::enable(text, &served(text), SNIPPET).unwrap().text;
    insta::assert_snapshot!(
        "diff_arch_default",
        diff::unified(text, &on, "a/etc/pacman.conf", "b/etc/pacman.conf")
    );
}

#[test]
fn stale_message_names_age_date_and_file() {
    let at = SyncedAt {
        time: 1_795_168_800, // 2026-11-20 10:00 UTC
        signed: true,
    };
    let snippet = Path::new(SNIPPET);
    let day = 86_400;
    assert_eq!(
        stale_message(at, at.time + 3 * day, DEFAULT_MAX_AGE, snippet),
        None
    );
    assert_eq!(
        stale_message(at, at.time + 5 * day + 7, DEFAULT_MAX_AGE, snippet).as_deref(),
        Some(
            "Lumina-Stable's databases are 5 days old (signed 2026-11-20 10:00 UTC); after \
             `pacman -Sy` that means your mirror is stale: check `Server` in \
             /etc/pacman.d/lumina-stable.conf"
        )
    );
    let mtime = SyncedAt {
        signed: false,
        ..at
    };
    let m = stale_message(
        mtime,
        at.time + 30 * 3600,
        Duration::from_secs(24 * 3600),
        snippet,
    )
    .unwrap();
    assert!(
        m.contains("are 30 hours old (published 2026-11-20 10:00 UTC)"),
        "{m}"
    );
    // A clock behind the server's: no warning.
    assert_eq!(
        stale_message(at, at.time - 10, Duration::ZERO, snippet),
        None
    );
}

#[test]
fn status_applies_the_configured_threshold_and_shows_it() {
    let at = SyncedAt {
        time: 1_795_168_800,
        signed: true,
    };
    let snippet = Path::new(SNIPPET);
    let now = at.time + 30 * 3600;
    let default = crate::config::Config::default().stable;
    let f = Freshness::of(Some(at), now, &default, snippet);
    assert_eq!(
        (
            f.max_age.as_str(),
            f.max_age_secs,
            f.warn,
            f.age_secs,
            f.stale
        ),
        ("72h", 72 * 3600, true, Some(30 * 3600), false)
    );
    assert_eq!(f.message, None);
    // `stable: { max_age: 1d, warn: false }`: stale at 30 hours; the verdict stands even
    // though the hook stays silent.
    let policy = crate::config::Stable {
        max_age: Duration::from_secs(86_400),
        warn: false,
    };
    let f = Freshness::of(Some(at), now, &policy, snippet);
    assert_eq!((f.max_age.as_str(), f.warn, f.stale), ("24h", false, true));
    assert_eq!(
        f.message,
        stale_message(at, now, policy.max_age, snippet),
        "the hook's text"
    );
    // Nothing synced: no age, not stale.
    let f = Freshness::of(None, now, &policy, snippet);
    assert_eq!((f.age_secs, f.stale, f.message), (None, false, None));
}

/// A root with an enabled pacman.conf, snippet and record, and synced databases.
fn enabled_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = Root::new(dir.path());
    let text = include_str!("testdata/arch-default.conf");
    let on = conf::enable(text, &served(text), SNIPPET).unwrap().text;
    std::fs::create_dir_all(r.join("/etc/pacman.d")).unwrap();
    std::fs::write(r.join(PACMAN_CONF), on).unwrap();
    let s = snippet::render(
        EMBEDDED_TEMPLATE,
        "t",
        Some("https://m.lumina.test/$repo/os/$arch"),
        false,
    )
    .unwrap();
    std::fs::write(r.join(SNIPPET), s.text).unwrap();
    std::fs::create_dir_all(r.join("/var/lib/pacman/sync")).unwrap();
    dir
}

fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn freshness_reads_what_pacman_synced() {
    let dir = enabled_root();
    let r = Root::new(dir.path());
    let sync = r.join("/var/lib/pacman/sync");
    let now = 1_796_040_000 + 10 * 86_400;
    // Nothing synced yet: nothing to say.
    assert_eq!(freshness(&r, now, DEFAULT_MAX_AGE), None);
    // Database files only: their mtimes (the servers' Last-Modified) count; the newest wins.
    std::fs::write(sync.join("core.db"), b"db").unwrap();
    std::fs::write(sync.join("extra.db"), b"db").unwrap();
    set_mtime(&sync.join("core.db"), now - 9 * 86_400);
    set_mtime(&sync.join("extra.db"), now - 4 * 86_400);
    let m = freshness(&r, now, DEFAULT_MAX_AGE).unwrap();
    assert!(
        m.starts_with("Lumina-Stable's databases are 4 days old (published "),
        "{m}"
    );
    assert_eq!(freshness(&r, now, Duration::from_secs(5 * 86_400)), None);
    // A signature beside a database: its creation time wins over the mtime, even when the
    // mtime looks fresh (a mirror cannot fake the signed time).
    set_mtime(&sync.join("core.db"), now - 20 * 86_400);
    set_mtime(&sync.join("extra.db"), now);
    std::fs::write(
        sync.join("extra.db.sig"),
        include_bytes!("testdata/gpg-20261130T120000Z.sig"),
    )
    .unwrap();
    let m = freshness(&r, now, DEFAULT_MAX_AGE).unwrap();
    assert!(
        m.starts_with("Lumina-Stable's databases are 10 days old (signed 2026-11-30 12:00 UTC)"),
        "{m}"
    );
    // A repository pacman.conf does not get from Lumina-Stable does not count.
    std::fs::write(sync.join("multilib.db"), b"db").unwrap();
    assert!(freshness(&r, now, DEFAULT_MAX_AGE).is_some());
}

#[test]
fn freshness_is_silent_when_lumina_stable_is_not_enabled() {
    let dir = enabled_root();
    let r = Root::new(dir.path());
    let sync = r.join("/var/lib/pacman/sync");
    std::fs::write(sync.join("core.db"), b"db").unwrap();
    set_mtime(&sync.join("core.db"), 1);
    assert!(freshness(&r, 1_000_000_000, DEFAULT_MAX_AGE).is_some());
    let text = std::fs::read_to_string(r.join(PACMAN_CONF)).unwrap();
    let off = conf::disable(&text).unwrap().text;
    std::fs::write(r.join(PACMAN_CONF), off).unwrap();
    assert_eq!(freshness(&r, 1_000_000_000, DEFAULT_MAX_AGE), None);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        freshness(&Root::new(empty.path()), 1_000_000_000, DEFAULT_MAX_AGE),
        None
    );
}

#[test]
fn freshness_follows_dbpath() {
    let dir = enabled_root();
    let r = Root::new(dir.path());
    let text = std::fs::read_to_string(r.join(PACMAN_CONF)).unwrap();
    let moved = text.replace("#DBPath      = /var/lib/pacman/", "DBPath = /srv/pacman/");
    std::fs::write(r.join(PACMAN_CONF), moved).unwrap();
    std::fs::create_dir_all(r.join("/srv/pacman/sync")).unwrap();
    std::fs::write(r.join("/srv/pacman/sync/core.db"), b"db").unwrap();
    set_mtime(&r.join("/srv/pacman/sync/core.db"), 1);
    assert!(freshness(&r, 1_000_000_000, DEFAULT_MAX_AGE).is_some());
}

/// A root with pacman.conf `text`; returns it and the file's bytes.
fn root_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = Root::new(dir.path());
    std::fs::create_dir_all(r.join("/etc/pacman.d/gnupg")).unwrap();
    std::fs::write(r.join(PACMAN_CONF), text).unwrap();
    dir
}

/// Every file under `dir`, with its content, for "nothing changed" checks.
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn enable_err(dir: &Path, opts: &EnableOptions) -> String {
    let before = tree(dir);
    let e = ops::enable(
        &Root::new(dir),
        &Fs::new(),
        opts,
        std::time::SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(tree(dir), before, "something changed after: {e}");
    e.to_string()
        .replace(&dir.to_string_lossy().into_owned(), "R")
}

fn mirror() -> EnableOptions {
    EnableOptions {
        mirror: Some("https://m.lumina.test".into()),
        ..EnableOptions::default()
    }
}

#[test]
fn enable_refuses_bad_input_and_changes_nothing() {
    let dir = root_with("# not a pacman.conf\n[core]\nServer = x\n");
    assert_eq!(
        enable_err(dir.path(), &mirror()),
        "`R/etc/pacman.conf`: it has no `[options]` section; is it a pacman.conf?"
    );

    let dir = root_with(include_str!("testdata/arch-default.conf"));
    assert_eq!(
        enable_err(dir.path(), &EnableOptions::default()),
        "`the template built into lumina (/usr/share/lumina/lumina-stable.conf is not \
         installed)`: the template names the placeholder mirror \
         `https://stable.lumina.example/$repo/os/$arch`; choose yours with `--mirror URL`"
    );
    let bad = EnableOptions {
        mirror: Some("ftp://mirror/".into()),
        ..EnableOptions::default()
    };
    assert_eq!(
        enable_err(dir.path(), &bad),
        "`--mirror`: `ftp://mirror/` is not a mirror URL: only `http://`, `https://` and \
         `file://` mirrors are supported"
    );
    assert_eq!(
        enable_err(dir.path(), &mirror()),
        "`R/usr/share/lumina/lumina-stable.asc`: no such key file; give the Lumina-Stable \
         public key with `--key FILE`"
    );
    let no_keyring = EnableOptions {
        gpgdir: "/etc/pacman.d/none".into(),
        ..mirror()
    };
    assert_eq!(
        enable_err(dir.path(), &no_keyring),
        "`R/etc/pacman.d/none`: pacman's keyring does not exist; create it with \
         `pacman-key --init`"
    );
    let missing = EnableOptions {
        pacman_conf: "/etc/other.conf".into(),
        ..mirror()
    };
    assert_eq!(
        enable_err(dir.path(), &missing),
        "`R/etc/other.conf`: no such file; point `--pacman-conf` at pacman's configuration"
    );
}

#[test]
fn enable_refuses_an_included_file_that_defines_core() {
    let dir =
        root_with("[options]\nInclude = /etc/pacman.d/repos.conf\n[custom]\nServer = file:///c\n");
    let r = Root::new(dir.path());
    std::fs::write(
        r.join("/etc/pacman.d/repos.conf"),
        "# my repositories\n[core]\nInclude = /etc/pacman.d/mirrorlist\n",
    )
    .unwrap();
    assert_eq!(
        enable_err(dir.path(), &mirror()),
        "`R/etc/pacman.d/repos.conf`: line 2: it defines `[core]`, which Lumina-Stable \
         replaces (it is included by line 2 of R/etc/pacman.conf); comment that section out, \
         then run `lumina stable enable` again"
    );
}

#[test]
fn enable_refuses_a_snippet_included_by_hand() {
    let dir = root_with("[options]\nInclude = /etc/pacman.d/lumina-stable.conf\n");
    assert_eq!(
        enable_err(dir.path(), &mirror()),
        "`R/etc/pacman.conf`: line 2 already includes /etc/pacman.d/lumina-stable.conf outside \
         Lumina's block (set up by hand?); remove that line and switch your [core] and [extra] \
         back on, or keep the manual setup"
    );
}

#[test]
fn enable_refuses_a_foreign_snippet_and_unsafe_files() {
    let dir = root_with(include_str!("testdata/arch-default.conf"));
    let r = Root::new(dir.path());
    std::fs::write(r.join(SNIPPET), "[core]\nServer = https://mine/$repo\n").unwrap();
    let e = ops::enable(&r, &Fs::new(), &mirror(), std::time::SystemTime::now()).unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    std::fs::remove_file(r.join(SNIPPET)).unwrap();

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(r.join(PACMAN_CONF), std::fs::Permissions::from_mode(0o664)).unwrap();
    assert_eq!(
        enable_err(dir.path(), &mirror()),
        "refusing `R/etc/pacman.conf`: its group can write it (mode 664); fix with `chmod \
         go-w R/etc/pacman.conf`"
    );
    let e = ops::disable(&r, &Fs::new(), &DisableOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Core(crate::Error::Unsafe { .. })), "{e}");
    std::fs::set_permissions(r.join(PACMAN_CONF), std::fs::Permissions::from_mode(0o644)).unwrap();
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(
            &r.join(PACMAN_CONF),
            Some(nix::unistd::Uid::from_raw(65_534)),
            None,
        )
        .unwrap();
        assert!(
            enable_err(dir.path(), &mirror())
                .starts_with("refusing `R/etc/pacman.conf`: it belongs to uid 65534, not root"),
        );
    }
}

#[test]
fn disable_without_lumina_stable_changes_nothing() {
    for (name, text) in FIXTURES {
        let dir = root_with(text);
        let before = tree(dir.path());
        let rep = ops::disable(
            &Root::new(dir.path()),
            &Fs::new(),
            &DisableOptions::default(),
        )
        .unwrap();
        assert!(!rep.changed, "{name}");
        assert_eq!(rep.diff, "");
        assert_eq!(tree(dir.path()), before, "{name}");
    }
}

#[test]
fn disable_removes_block_snippet_and_record_but_not_a_foreign_snippet() {
    let text = include_str!("testdata/includes.conf");
    let dir = root_with(&conf::enable(text, &served(text), SNIPPET).unwrap().text);
    let r = Root::new(dir.path());
    let s = snippet::render(EMBEDDED_TEMPLATE, "t", Some("https://m.test/$repo"), true).unwrap();
    std::fs::write(r.join(SNIPPET), &s.text).unwrap();
    let dry = ops::disable(
        &r,
        &Fs::new(),
        &DisableOptions {
            dry_run: true,
            ..DisableOptions::default()
        },
    )
    .unwrap();
    assert!(dry.changed && dry.diff.contains("-# BEGIN lumina-stable"));
    assert!(r.join(SNIPPET).exists());
    let rep = ops::disable(&r, &Fs::new(), &DisableOptions::default()).unwrap();
    assert_eq!(rep.snippet_action, "remove");
    assert_eq!(rep.repos, ["core", "extra", "multilib"]);
    assert_eq!(std::fs::read_to_string(r.join(PACMAN_CONF)).unwrap(), text);
    assert!(!r.join(SNIPPET).exists());

    // A snippet someone else wrote stays.
    std::fs::write(r.join(SNIPPET), "[core]\nServer = https://mine/$repo\n").unwrap();
    let rep = ops::disable(&r, &Fs::new(), &DisableOptions::default()).unwrap();
    assert_eq!(rep.snippet_action, "foreign");
    assert!(r.join(SNIPPET).exists());
}
