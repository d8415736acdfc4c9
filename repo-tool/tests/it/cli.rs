//! The `lumina-repo` binary: a bad `repo.yaml` exits 2 with file, line, column, expected
//! and hint; holds and expedites are audit-logged under the lock; a locked repository
//! names its holder.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_repo::ledger::{Action, Ledger};
use lumina_repo::lock::RepoLock;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lumina_repo(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lumina-repo"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Site {
    _dir: tempfile::TempDir,
    config: PathBuf,
    out: PathBuf,
}

fn site(extra: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = dir.path().join("repo.yaml");
    std::fs::write(
        &config,
        format!(
            "upstream: https://geo.mirror.pkgbuild.com/$repo/os/$arch\n\
             repositories: [core, extra]\n\
             output: {}\n\
             signing:\n  key: 0123456789ABCDEF0123456789ABCDEF01234567\n{extra}",
            out.display()
        ),
    )
    .unwrap();
    Site {
        _dir: dir,
        config,
        out,
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_bad_configuration_exits_2_with_file_line_column_expected_and_hint() {
    let s = site("min_age: 24\n");
    let r = lumina_repo(&["check", "--config", arg(&s.config)]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "error: {}:6:10: `min_age` is the number `24` without a unit\n  |\n6 | min_age: 24\n  \
             |          ^\n  expected: a number and a unit, e.g. `24h`, `90m`, `2d` or `1d12h` \
             (units `s`, `m`, `h`, `d`, `w`)\n\nhint: write `24h` for hours or `24d` for days\n",
            s.config.display()
        )
    );
    // Every command that reads the configuration says the same, with the same status.
    for cmd in [
        vec!["hold", "--reason", "r", "linux"],
        vec!["rollback"],
        vec!["gc"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--config", arg(&s.config)]);
        let r = lumina_repo(&args);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(":6:10: `min_age` is the number"),
            "{}",
            r.stderr
        );
    }
    assert!(!s.out.exists(), "nothing was created");
}

#[test]
fn check_prints_what_a_good_configuration_configures() {
    let s = site("min_age: 90m\n");
    let r = lumina_repo(&["check", "--config", arg(&s.config)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "`{}`: core, extra (x86_64) from https://geo.mirror.pkgbuild.com/$repo/os/$arch, \
             quarantine 1h30m..2d, signed by 0123456789ABCDEF0123456789ABCDEF01234567, serving \
             `{}/current`\n",
            s.config.display(),
            s.out.display()
        )
    );
}

#[test]
fn hold_unhold_and_expedite_are_audit_logged_and_refused_while_locked() {
    let s = site("");
    let c = arg(&s.config);
    let r = lumina_repo(&["hold", "linux", "--reason", "nvidia breaks", "--config", c]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, "held `linux`: nvidia breaks\n")
    );
    let r = lumina_repo(&["hold", "linux", "--reason", "nvidia breaks", "--config", c]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, "`linux` was already held for this reason\n")
    );
    let r = lumina_repo(&[
        "expedite",
        "openssl",
        "--reason",
        "CVE-2099-1",
        "--config",
        c,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = lumina_repo(&["unhold", "linux", "--config", c]);
    assert_eq!((r.code, r.stderr.as_str()), (0, "released `linux`\n"));
    let r = lumina_repo(&["hold", "../x", "--reason", "r", "--config", c]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "error: invalid value '../x' for '<PKG>': not a package name (letters, digits and \
             `@._+-`, not starting with `.` or `-`)\n"
        ),
        "{}",
        r.stderr
    );

    let ledger = Ledger::load(&s.out.join("ledger.json")).unwrap();
    let log: Vec<(Action, &str, &str)> = ledger
        .audit()
        .iter()
        .map(|e| (e.action, e.package.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            (Action::Hold, "linux", "nvidia breaks"),
            (Action::Expedite, "openssl", "CVE-2099-1"),
            (Action::Unhold, "linux", "released"),
        ]
    );

    // While another process holds the repository, a change is refused and names it.
    let lock = RepoLock::acquire(&Fs::new(), &s.out, "lumina-repo promote").unwrap();
    let r = lumina_repo(&["hold", "mesa", "--reason", "r", "--config", c]);
    assert_eq!(r.code, 1);
    let prefix = format!(
        "error: the repository `{}` is locked by `lumina-repo promote` (pid {} on ",
        s.out.display(),
        std::process::id()
    );
    assert!(r.stderr.starts_with(&prefix), "{}", r.stderr);
    drop(lock);
    let r = lumina_repo(&["rollback", "--config", c]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "error: published tree `{}`: nothing is published yet\n",
            s.out.display()
        )
    );
    let r = lumina_repo(&["gc", "--config", c]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, "deleted 0 pool files no kept generation links to\n")
    );
}
