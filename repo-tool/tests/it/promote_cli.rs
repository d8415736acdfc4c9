//! `lumina-repo promote` and `status` through the binary, on an upstream snapshot written
//! the way `sync` writes it (`lumina_repo::upstream`'s contract: snapshot databases,
//! `state.json`, verified files in the pool), with a real signing key. The fixed clock is
//! `--now`. Real pacman reading the result is `stable.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use lumina_core::fs::Fs;
use lumina_repo::Error;
use lumina_repo::config::RepoConfig;
use lumina_repo::dbwrite;
use lumina_repo::entry::DbEntry;
use lumina_repo::ledger::{Action, Ledger};
use lumina_repo::lock::RepoLock;
use lumina_repo::publish::{self, Release, RepoFiles, pool_insert, served_repo_dir};
use lumina_repo::release;
use lumina_repo::sign::{Signer, Verifier};
use lumina_repo::signer_thread::SignerThread;
use lumina_repo::syncdb::{self, Limits};
use lumina_repo::upstream::{self, Rejected, RepoState, SyncState};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::gnupg::Key;

pub(crate) const HOUR: u64 = 3600;
/// Day 1 of the fixed clock: 2026-01-01T00:00:00Z.
pub(crate) const DAY1: u64 = 1_767_225_600;

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub(crate) fn lumina_repo(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lumina-repo"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fake package entry: the pool file is `package FILENAME`, with its size and SHA-256.
fn entry(name: &str, version: &str, deps: &[&str]) -> DbEntry {
    let filename = format!("{name}-{version}-x86_64.pkg.tar.zst");
    let bytes = content(&filename);
    DbEntry {
        name: name.to_owned(),
        base: Some(name.to_owned()),
        version: version.to_owned(),
        desc: Some(format!("test package {name}")),
        csize: bytes.len() as u64,
        isize: Some(1024),
        sha256sum: hex(&Sha256::digest(&bytes)),
        arch: "x86_64".to_owned(),
        depends: deps.iter().map(|d| d.parse().unwrap()).collect(),
        filename,
        ..DbEntry::default()
    }
}

fn content(filename: &str) -> Vec<u8> {
    format!("package {filename}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An output directory with `repo.yaml` and a real signing key.
struct Site {
    _dir: tempfile::TempDir,
    key: Rc<Key>,
    config: PathBuf,
    out: PathBuf,
}

impl Site {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = Rc::new(Key::new("Lumina-Stable Test <stable@lumina.invalid>"));
        let out = dir.path().join("out");
        let config = dir.path().join("repo.yaml");
        std::fs::write(
            &config,
            format!(
                "upstream: https://mirror.invalid/$repo/os/$arch\n\
                 repositories: [core, extra]\n\
                 output: {}\n\
                 signing:\n  key: {}\n  gnupg_home: {}\n\
                 keep_generations: 3\n{extra}",
                out.display(),
                key.fpr,
                key.home.path().display()
            ),
        )
        .unwrap();
        Self {
            _dir: dir,
            key,
            config,
            out,
        }
    }

    fn lock(&self) -> RepoLock {
        RepoLock::acquire(&Fs::new(), &self.out, "test").unwrap()
    }

    /// What `sync` leaves: the snapshot databases, every file in the pool (except those
    /// rejected), `state.json`; each (name, version) first seen at its time.
    fn sync(&self, repos: &[(&str, Vec<(DbEntry, u64)>)], rejected: &[(&str, &str, &str)]) {
        let lock = self.lock();
        let fs = Fs::new();
        let mut ledger = Ledger::load(&self.out.join("ledger.json")).unwrap();
        let mut state = SyncState {
            format: upstream::STATE_FORMAT,
            lastsync: 0,
            repos: BTreeMap::new(),
            rejected: Vec::new(),
        };
        fs.create_dir_all(&upstream::snapshot_dir(&self.out))
            .unwrap();
        for (repo, entries) in repos {
            let plain: Vec<DbEntry> = entries.iter().map(|(e, _)| e.clone()).collect();
            let dbs = dbwrite::render_both(&plain).unwrap();
            fs.write_atomic(&upstream::db_path(&self.out, repo), &dbs.db, false)
                .unwrap();
            fs.write_atomic(&upstream::files_path(&self.out, repo), &dbs.files, false)
                .unwrap();
            state.repos.insert(
                (*repo).to_owned(),
                RepoState {
                    fetched_at: DAY1,
                    db_sha256: hex(&Sha256::digest(&dbs.db)),
                    entries: plain.len(),
                },
            );
            for (e, seen) in entries {
                ledger.observe(&e.name, &e.version, *seen);
                if let Some((_, field, problem)) = rejected.iter().find(|(n, _, _)| *n == e.name) {
                    state.rejected.push(Rejected {
                        repo: (*repo).to_owned(),
                        name: e.name.clone(),
                        version: e.version.clone(),
                        filename: e.filename.clone(),
                        field: (*field).to_owned(),
                        problem: (*problem).to_owned(),
                        at: DAY1,
                    });
                    continue;
                }
                pool_insert(&lock, &fs, &e.filename, &content(&e.filename)).unwrap();
                pool_insert(&lock, &fs, &format!("{}.sig", e.filename), b"signature").unwrap();
            }
        }
        state.lastsync = DAY1;
        ledger.save(&fs, &lock).unwrap();
        state.save(&fs, &lock).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        lumina_repo(&all)
    }

    fn promote(&self, now: u64, extra: &[&str]) -> Run {
        let now = now.to_string();
        let mut args = vec!["promote", "--now", &now];
        args.extend(extra);
        self.run(&args)
    }

    fn status_json(&self, now: u64) -> Value {
        let r = self.run(&["status", "--json", "--now", &now.to_string()]);
        assert_eq!(r.code, 0, "{r:?}");
        serde_json::from_str(&r.stdout).unwrap()
    }

    /// `name version` of every entry of the served `repo`, after checking its signature.
    fn served(&self, repo: &str) -> Vec<String> {
        let dir = served_repo_dir(&self.out, repo, "x86_64");
        let db = dir.join(format!("{repo}.db"));
        let mut verifier = Verifier::new(self.key.home.path()).unwrap();
        verifier
            .verify_file_with(&db, &dir.join(format!("{repo}.db.sig")))
            .unwrap();
        syncdb::read(&db, &Limits::default())
            .unwrap()
            .entries
            .iter()
            .map(|e| format!("{} {}", e.name, e.version))
            .collect()
    }

    fn ledger(&self) -> Ledger {
        Ledger::load(&self.out.join("ledger.json")).unwrap()
    }

    /// Every path under OUT with its content (or link target): to check that nothing
    /// changed.
    fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, base: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(base).unwrap().to_path_buf();
                let m = std::fs::symlink_metadata(&p).unwrap();
                if m.is_symlink() {
                    into.insert(
                        rel,
                        std::fs::read_link(&p)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    );
                } else if m.is_dir() {
                    into.insert(rel, Vec::new());
                    walk(&p, base, into);
                } else {
                    into.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut all = BTreeMap::new();
        walk(&self.out, &self.out, &mut all);
        all
    }
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn promote_before_any_sync_says_to_sync_first_and_publishes_nothing() {
    let s = Site::new("");
    let r = s.promote(DAY1, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("nothing was synced into")
            && r.stderr.contains("run `lumina-repo sync` first"),
        "{r:?}"
    );
    assert!(!s.out.join("current").exists());
    // status still answers: nothing published, never synced.
    let st = s.status_json(DAY1);
    assert_eq!(st["current"], Value::Null);
    assert_eq!(st["lastsync"], Value::Null);
    let r = s.run(&["status", "--now", "1767225600"]);
    assert!(
        r.stdout.contains("synced: never: run `lumina-repo sync`"),
        "{r:?}"
    );
}

#[test]
fn day_one_promotes_what_waited_holds_what_is_young_and_signs_the_generation() {
    let s = Site::new("");
    let now = DAY1 + 30 * HOUR;
    s.sync(
        &[
            (
                "core",
                vec![
                    (entry("glibc", "2.40-1", &[]), DAY1),
                    (entry("bash", "5.2-1", &["glibc"]), DAY1),
                ],
            ),
            (
                "extra",
                vec![
                    (entry("vim", "9.1-1", &["glibc"]), DAY1),
                    (entry("young", "1-1", &[]), now - 2 * HOUR),
                ],
            ),
        ],
        &[],
    );

    // A dry run says what would happen and writes nothing, not even the ledger.
    let before = s.tree();
    let r = s.promote(now, &["--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("promote core/glibc 2.40-1 (new)"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("hold    extra/young 1-1: too young: first seen 2h 0m ago, needs 1d 0h"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(
            "dry run: 3 promoted, 0 removed, 1 held, 0 overdue; a new generation would be \
             published"
        ),
        "{r:?}"
    );
    assert_eq!(s.tree(), before, "a dry run changed the output directory");

    let r = s.promote(now, &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.starts_with(&format!(
            "3 promoted, 0 removed, 1 held, 0 overdue; published generation 1 (3 packages) at \
             `{}/current`",
            s.out.display()
        )),
        "{r:?}"
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["generation"], 1);
    assert_eq!(names(&report, "promoted"), ["bash", "glibc", "vim"]);
    assert_eq!(report["held"][0]["name"], "young");
    assert_eq!(report["held"][0]["reason"]["kind"], "too_young");
    assert_eq!(report["held"][0]["promotable_at"], DAY1 + 52 * HOUR);

    // The served tree: signed databases listing exactly what was promoted, the packages
    // and their signatures, lastupdate = the plan's time, lastsync = the sync's.
    assert_eq!(s.served("core"), ["bash 5.2-1", "glibc 2.40-1"]);
    assert_eq!(s.served("extra"), ["vim 9.1-1"]);
    let extra = served_repo_dir(&s.out, "extra", "x86_64");
    assert!(extra.join("vim-9.1-1-x86_64.pkg.tar.zst").is_file());
    assert!(extra.join("vim-9.1-1-x86_64.pkg.tar.zst.sig").is_file());
    assert!(!extra.join("young-1-1-x86_64.pkg.tar.zst").exists());
    let top = |f: &str| std::fs::read_to_string(s.out.join("current").join(f)).unwrap();
    assert_eq!(top("lastupdate"), format!("{now}\n"));
    assert_eq!(top("lastsync"), format!("{DAY1}\n"));
    let file_report: Value = serde_json::from_str(&top("report.json")).unwrap();
    assert_eq!(file_report["promoted"], report["promoted"]);
    assert_eq!(file_report.get("generation"), None);
    // The .files database carries the file lists of what it lists.
    let files = syncdb::read(&extra.join("extra.files"), &Limits::default()).unwrap();
    assert_eq!(files.entries[0].name, "vim");

    // Again, with nothing new: no new generation.
    let r = s.promote(now + HOUR, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stderr,
        "nothing to publish (0 promoted, 0 removed, 1 held, 0 overdue); generation 1 stays \
         served\n"
    );
    assert_eq!(publish::generations(&s.out).unwrap().len(), 1);

    // Once old enough, `young` goes out in generation 2.
    let r = s.promote(DAY1 + 52 * HOUR, &["-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("promote extra/young 1-1 (new)"), "{r:?}");
    assert_eq!(s.served("extra"), ["vim 9.1-1", "young 1-1"]);
    let gens = publish::generations(&s.out).unwrap();
    assert_eq!(gens.iter().map(|g| g.number).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn status_names_every_reason_and_strict_exits_3_when_overdue() {
    let s = Site::new("modules:\n  hyprland: \"<0.50\"\n");
    let day1 = DAY1 + 30 * HOUR;
    s.sync(
        &[
            (
                "core",
                vec![
                    (entry("libx", "1-1", &[]), DAY1),
                    (entry("app", "1-1", &["libx"]), DAY1),
                    (entry("hyprland", "0.49-1", &[]), DAY1),
                    (entry("linux", "6.9-1", &[]), DAY1),
                ],
            ),
            ("extra", vec![]),
        ],
        &[],
    );
    assert_eq!(s.promote(day1, &[]).code, 0);

    let day2 = DAY1 + 80 * HOUR;
    s.sync(
        &[
            (
                "core",
                vec![
                    (entry("libx", "2-1", &[]), day2 - 2 * HOUR),
                    (entry("app", "2-1", &["libx>=2"]), day2 - 30 * HOUR),
                    (entry("hyprland", "0.51-1", &[]), day2 - 30 * HOUR),
                    (entry("linux", "6.10-1", &[]), DAY1 + 20 * HOUR),
                    (entry("bad", "1-1", &[]), day2 - 30 * HOUR),
                ],
            ),
            ("extra", vec![]),
        ],
        &[(
            "bad",
            "%SHA256SUM%",
            "the file's SHA-256 differs from its entry's",
        )],
    );
    let r = s.run(&["hold", "linux", "--reason", "waiting for nvidia"]);
    assert_eq!(r.code, 0, "{r:?}");

    let st = s.status_json(day2);
    let reasons: BTreeMap<String, String> = st["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from(
            [
                ("app", "unsatisfied dependency `libx>=2`"),
                (
                    "bad",
                    "not verified: sync rejected `bad-1-1-x86_64.pkg.tar.zst` (%SHA256SUM%): \
                     the file's SHA-256 differs from its entry's"
                ),
                ("hyprland", "module constraint `hyprland<0.50`"),
                ("libx", "too young: first seen 2h 0m ago, needs 1d 0h"),
                ("linux", "manual hold: waiting for nvidia"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        )
    );
    assert_eq!(st["overdue"], serde_json::json!(["linux"]));
    assert_eq!(st["current"], 1);
    assert_eq!(st["lag"], day2 - day1);
    let core = &st["repos"][0];
    assert_eq!(core["name"], "core");
    assert_eq!(
        (
            &core["published"],
            &core["candidates"],
            &core["held"],
            &core["overdue"]
        ),
        (
            &Value::from(4),
            &Value::from(5),
            &Value::from(5),
            &Value::from(1)
        )
    );
    let libx = st["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libx")
        .unwrap();
    assert_eq!(libx["promotable_in"], 22 * HOUR);
    assert_eq!(libx["published_version"], "1-1");

    let human = s.run(&["status", "--now", &day2.to_string()]);
    assert_eq!(human.code, 0, "{human:?}");
    for line in [
        "  core/libx 1-1 -> 2-1: seen 2h 0m ago, old enough in 22h 0m",
        "  core/linux 6.10-1: manual hold: waiting for nvidia [overdue]",
        "overdue: linux",
        "generations: 1 (served)",
    ] {
        assert!(human.stdout.contains(line), "{line}\n{human:?}");
    }

    // --strict: nothing promotable, but `linux` is overdue: exit 3, said why.
    let r = s.promote(day2, &["--strict"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("warning: held past max_age (2d): linux")
            && r.stderr
                .contains("error: --strict: 1 change is held past max_age: linux"),
        "{r:?}"
    );
    // Without --strict the same is a success.
    assert_eq!(s.promote(day2, &[]).code, 0);
}

#[test]
fn expedite_skips_the_wait_once_and_is_ended_in_the_audit_log() {
    let s = Site::new("");
    let t = DAY1 + 30 * HOUR;
    s.sync(
        &[
            ("core", vec![(entry("openssl", "3.0-1", &[]), DAY1)]),
            ("extra", vec![]),
        ],
        &[],
    );
    assert_eq!(s.promote(t, &[]).code, 0);
    s.sync(
        &[
            ("core", vec![(entry("openssl", "3.1-1", &[]), t - HOUR)]),
            ("extra", vec![]),
        ],
        &[],
    );
    assert_eq!(
        s.run(&["expedite", "openssl", "--reason", "CVE-2099-1"])
            .code,
        0
    );
    let r = s.promote(t, &["-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("promote core/openssl 3.0-1 -> 3.1-1"),
        "{r:?}"
    );
    assert_eq!(s.served("core"), ["openssl 3.1-1"]);
    let ledger = s.ledger();
    assert!(ledger.expedited().is_empty());
    let last = ledger.audit().last().unwrap();
    assert_eq!(
        (last.action, last.package.as_str(), last.reason.as_str()),
        (Action::Unexpedite, "openssl", "published `openssl` 3.1-1")
    );
}

#[test]
fn the_lumina_repository_is_carried_over_and_removals_wait_their_turn() {
    let s = Site::new("");
    // Generation 1 was made with Lumina's own repository in it.
    {
        let lock = s.lock();
        let fs = Fs::new();
        let own = entry("lumina", "1.0-1", &["glibc"]);
        pool_insert(&lock, &fs, &own.filename, &content(&own.filename)).unwrap();
        pool_insert(&lock, &fs, &format!("{}.sig", own.filename), b"sig").unwrap();
        let mut signer = Signer::new(Some(s.key.home.path()), &s.key.fpr).unwrap();
        let empty = dbwrite::render_both(&[]).unwrap();
        let lumina = dbwrite::render_both(std::slice::from_ref(&own)).unwrap();
        let repos = [
            RepoFiles {
                name: "core".into(),
                db: empty.db.clone(),
                files: empty.files.clone(),
                packages: vec![],
            },
            RepoFiles {
                name: "lumina".into(),
                db: lumina.db,
                files: lumina.files,
                packages: vec![own.filename.clone()],
            },
        ];
        publish::publish(
            &lock,
            &fs,
            &mut signer,
            &Release {
                arch: "x86_64",
                repos: &repos,
                lastsync: DAY1,
                lastupdate: DAY1,
                report: b"{}\n",
            },
            3,
        )
        .unwrap();
    }
    let t = DAY1 + 30 * HOUR;
    s.sync(
        &[
            (
                "core",
                vec![
                    (entry("glibc", "2.40-1", &[]), DAY1),
                    (entry("oldtool", "1-1", &[]), DAY1),
                ],
            ),
            ("extra", vec![(entry("lumina", "0.1-1", &[]), DAY1)]),
        ],
        &[],
    );
    let r = s.promote(t, &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["shadowed"][0]["name"], "lumina");
    assert_eq!(report["shadowed"][0]["by"], "lumina");
    assert_eq!(s.served("core"), ["glibc 2.40-1", "oldtool 1-1"]);
    assert_eq!(s.served("extra"), Vec::<String>::new());
    assert_eq!(s.served("lumina"), ["lumina 1.0-1"]);

    // Upstream drops `oldtool`: it is a removal, which waits min_age like any change.
    s.sync(
        &[
            ("core", vec![(entry("glibc", "2.40-1", &[]), DAY1)]),
            ("extra", vec![]),
        ],
        &[],
    );
    let r = s.promote(t + HOUR, &["-v"]);
    assert!(
        r.stderr
            .contains("hold    core/oldtool (removal): too young: first seen 0m ago"),
        "{r:?}"
    );
    let r = s.promote(t + 26 * HOUR, &["-v"]);
    assert!(r.stderr.contains("remove  core/oldtool 1-1"), "{r:?}");
    assert_eq!(s.served("core"), ["glibc 2.40-1"]);
    assert_eq!(s.served("lumina"), ["lumina 1.0-1"]);
}

#[test]
fn bootstrap_seeds_an_empty_tree_once() {
    let s = Site::new("");
    // Upstream's glibc was updated an hour ago: from an empty tree the planner would hold
    // it and everything that needs it.
    s.sync(
        &[
            (
                "core",
                vec![
                    (entry("glibc", "2.41-1", &[]), DAY1 - HOUR),
                    (entry("bash", "5.2-1", &["glibc"]), DAY1 - 90 * HOUR),
                ],
            ),
            ("extra", vec![]),
        ],
        &[],
    );
    let r = s.promote(DAY1, &["--dry-run"]);
    assert!(
        r.stderr.contains("dry run: 0 promoted, 0 removed, 2 held"),
        "{r:?}"
    );
    let r = s.promote(DAY1, &["--bootstrap", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["bootstrap"], true);
    assert_eq!(s.served("core"), ["bash 5.2-1", "glibc 2.41-1"]);
    let r = s.promote(DAY1, &["--bootstrap"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("refusing to bootstrap"), "{r:?}");
}

/// The promote sequence of the command line (`pipeline::promote`), through the library,
/// with every filesystem step on `fs`.
fn promote_with(
    config: &RepoConfig,
    fs: &Fs,
    signer: &mut SignerThread,
    now: u64,
) -> Result<(), Error> {
    let limits = Limits::default();
    let lock = RepoLock::acquire(fs, &config.output, "test")?;
    let mut ledger = Ledger::load(&config.ledger_path())?;
    let prepared = release::prepare(release::load(config, &limits)?, &mut ledger, config, now)?;
    ledger.save(fs, &lock)?;
    let plan = prepared.plan.clone();
    prepared.publish(&lock, fs, signer, config.keep_generations, &limits)?;
    release::end_expedites(&mut ledger, &plan, now);
    ledger.save(fs, &lock)?;
    Ok(())
}

#[test]
fn a_crash_after_any_step_of_promote_leaves_a_signed_generation_served_and_the_next_run_converges()
{
    let s = Site::new("");
    let day1 = DAY1 + 30 * HOUR;
    s.sync(
        &[
            ("core", vec![(entry("glibc", "2.40-1", &[]), DAY1)]),
            ("extra", vec![(entry("vim", "9.1-1", &["glibc"]), DAY1)]),
        ],
        &[],
    );
    assert_eq!(s.promote(day1, &[]).code, 0);
    let day2 = day1 + 30 * HOUR;
    s.sync(
        &[
            ("core", vec![(entry("glibc", "2.41-1", &[]), day1)]),
            (
                "extra",
                vec![
                    (entry("vim", "9.2-1", &["glibc>=2.41"]), day1),
                    (entry("new", "1-1", &[]), day2 - HOUR),
                ],
            ),
        ],
        &[],
    );
    assert_eq!(
        s.run(&["expedite", "new", "--reason", "CVE-2099-3"]).code,
        0
    );
    let text = std::fs::read_to_string(&s.config).unwrap();
    let mut signer =
        SignerThread::spawn(Some(s.key.home.path().to_path_buf()), s.key.fpr.clone(), 2);
    let mut crashes = 0;
    for n in 1.. {
        let copy = tempfile::tempdir().unwrap();
        let out = copy.path().join("out");
        assert!(
            Command::new("cp")
                .arg("-a")
                .arg(&s.out)
                .arg(&out)
                .status()
                .unwrap()
                .success()
        );
        let yaml = copy.path().join("repo.yaml");
        std::fs::write(
            &yaml,
            text.replace(
                &format!("output: {}", s.out.display()),
                &format!("output: {}", out.display()),
            ),
        )
        .unwrap();
        let config = RepoConfig::load(&yaml).unwrap();
        let copy_site = Site {
            _dir: copy,
            key: Rc::clone(&s.key),
            config: yaml,
            out,
        };
        match promote_with(&config, &Fs::failing_after(n), &mut signer, day2) {
            Ok(()) => {
                assert!(crashes > 20, "only {crashes} steps");
                break;
            }
            Err(Error::Fs(lumina_core::Error::Injected { .. })) => crashes += 1,
            Err(e) => panic!("step {n}: {e}"),
        }
        // Whatever step it stopped after, a client sees one whole generation whose
        // databases verify against their signatures.
        let mut verifier = Verifier::new(s.key.home.path()).unwrap();
        for repo in ["core", "extra"] {
            let dir = served_repo_dir(&copy_site.out, repo, "x86_64");
            for kind in ["db", "files"] {
                verifier
                    .verify_file_with(
                        &dir.join(format!("{repo}.{kind}")),
                        &dir.join(format!("{repo}.{kind}.sig")),
                    )
                    .unwrap_or_else(|e| panic!("step {n}: {e}"));
            }
        }
        let served = copy_site.served("extra");
        assert!(
            served == ["vim 9.1-1"] || served == ["new 1-1", "vim 9.2-1"],
            "step {n}: {served:?}"
        );
        // The next run converges: generation 2 with day 2's packages.
        let r = copy_site.promote(day2, &[]);
        assert_eq!(r.code, 0, "step {n}: {r:?}");
        assert_eq!(copy_site.served("core"), ["glibc 2.41-1"], "step {n}");
        assert_eq!(
            copy_site.served("extra"),
            ["new 1-1", "vim 9.2-1"],
            "step {n}"
        );
        assert_eq!(
            publish::generations(&copy_site.out)
                .unwrap()
                .iter()
                .map(|g| g.number)
                .collect::<Vec<_>>(),
            [1, 2],
            "step {n}"
        );
    }
}

#[test]
fn a_bad_time_or_configuration_is_bad_input() {
    let s = Site::new("");
    let r = s.run(&["promote", "--now", "tomorrow"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`tomorrow` is not a time"), "{r:?}");
    let s = Site::new("min_age: 24\n");
    for cmd in ["promote", "status"] {
        let r = s.run(&[cmd]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(
            r.stderr
                .contains("`min_age` is the number `24` without a unit")
        );
    }
}
