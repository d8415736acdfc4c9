//! The diff and availability rules of `prepare`, on in-memory snapshots with a real pool
//! directory; the time parser; ending expedites.

use super::*;
use crate::upstream::{Rejected, RepoState};

const HOUR: u64 = 3600;
const NOW: u64 = 1_750_000_000;

fn entry(name: &str, version: &str, deps: &[&str]) -> DbEntry {
    DbEntry {
        filename: format!("{name}-{version}-x86_64.pkg.tar.zst"),
        name: name.to_owned(),
        base: Some(name.to_owned()),
        version: version.to_owned(),
        csize: 4,
        sha256sum: "0".repeat(64),
        arch: "x86_64".to_owned(),
        depends: deps.iter().map(|d| d.parse().unwrap()).collect(),
        ..DbEntry::default()
    }
}

struct World {
    _dir: tempfile::TempDir,
    config: RepoConfig,
    snapshot: Snapshot,
    ledger: Ledger,
}

fn repo(name: &str, entries: Vec<DbEntry>) -> RepoEntries {
    RepoEntries {
        name: name.to_owned(),
        entries,
    }
}

impl World {
    /// `upstream` and `published` repositories; every upstream file is in the pool with
    /// its signature, and seen `hours` ago per name (default 30).
    fn new(upstream: Vec<RepoEntries>, published: Vec<RepoEntries>, hours: &[(&str, u64)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let text = format!(
            "upstream: file:///srv/mirror\nrepositories: [core, extra]\noutput: {}\n\
             signing:\n  key: 0123456789ABCDEF0123456789ABCDEF01234567\n",
            out.display()
        );
        let config = RepoConfig::parse(&text, Path::new("repo.yaml")).unwrap();
        let fs = Fs::new();
        let mut ledger = Ledger::load(&out.join("ledger.json")).unwrap();
        for r in &upstream {
            for e in &r.entries {
                let pool = publish::pool_path(&out, &e.filename);
                fs.create_dir_all(pool.parent().unwrap()).unwrap();
                fs.write_atomic(&pool, b"pkg!", false).unwrap();
                fs.write_atomic(&crate::sign::sig_path(&pool), b"sig", false)
                    .unwrap();
                let h = hours
                    .iter()
                    .find(|(n, _)| *n == e.name)
                    .map_or(30, |(_, h)| *h);
                ledger.observe(&e.name, &e.version, NOW - h * HOUR);
            }
        }
        let sync = SyncState {
            format: upstream::STATE_FORMAT,
            lastsync: NOW - HOUR,
            repos: upstream
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        RepoState {
                            fetched_at: NOW - HOUR,
                            db_sha256: "0".repeat(64),
                            entries: r.entries.len(),
                        },
                    )
                })
                .collect(),
            rejected: Vec::new(),
        };
        let current = (!published.is_empty()).then_some(1);
        Self {
            _dir: dir,
            snapshot: Snapshot {
                out,
                arch: "x86_64".to_owned(),
                upstream,
                published,
                current,
                sync,
            },
            config,
            ledger,
        }
    }

    fn prepare(&mut self) -> Prepared {
        prepare(self.snapshot.clone(), &mut self.ledger, &self.config, NOW).unwrap()
    }
}

fn promoted(p: &Prepared) -> Vec<String> {
    p.report
        .promoted
        .iter()
        .map(|p| format!("{}/{} {}", p.repo, p.name, p.version))
        .collect()
}

fn held(p: &Prepared) -> Vec<(String, String)> {
    p.report
        .held
        .iter()
        .map(|h| (h.held.name.clone(), h.message.clone()))
        .collect()
}

#[test]
fn candidates_are_new_versions_and_new_names_and_removals_are_names_gone_upstream() {
    let mut w = World::new(
        vec![
            repo("core", vec![entry("a", "2-1", &[]), entry("b", "1-1", &[])]),
            repo("extra", vec![entry("new", "1-1", &["a>=2"])]),
        ],
        vec![
            repo("core", vec![entry("a", "1-1", &[]), entry("b", "1-1", &[])]),
            repo("extra", vec![entry("gone", "1-1", &[])]),
        ],
        &[],
    );
    let p = w.prepare();
    assert_eq!(promoted(&p), ["core/a 2-1", "extra/new 1-1"]);
    // `gone` was first seen missing now: its removal waits for min_age.
    assert_eq!(p.report.removed, []);
    assert_eq!(
        held(&p),
        [(
            "gone".to_owned(),
            "too young: first seen 0m ago, needs 1d 0h".to_owned()
        )]
    );
    assert_eq!(w.ledger.missing_since("gone"), Some(NOW));
    assert!(p.changed);
    assert_eq!(p.report.summary.changes, 3);
    assert_eq!(
        p.report.promoted[0].previous.as_ref().unwrap().version,
        "1-1"
    );
    assert_eq!(p.report.promoted[0].first_seen, NOW - 30 * HOUR);
    // `b` is unchanged: not a candidate.
    assert!(p.candidates.iter().all(|c| c.name != "b"));
}

#[test]
fn an_entry_the_ledger_never_saw_is_observed_now_and_too_young() {
    let mut w = World::new(
        vec![repo("core", vec![entry("a", "1-1", &[])])],
        vec![],
        &[],
    );
    w.ledger = Ledger::load(&w.snapshot.out.join("none.json")).unwrap();
    let p = w.prepare();
    assert_eq!(w.ledger.first_seen("a", "1-1"), Some(NOW));
    assert!(p.report.promoted.is_empty());
    assert_eq!(p.report.held[0].promotable_at, Some(NOW + 24 * HOUR));
    assert_eq!(p.candidates[0].promotable_in, 24 * HOUR);
    // Nothing published and nothing promotable: no generation to make.
    assert!(!p.changed);
}

#[test]
fn unavailable_candidates_are_held_with_syncs_problem_and_their_dependents_wait() {
    let mut w = World::new(
        vec![repo(
            "core",
            vec![
                entry("bad", "2-1", &[]),
                entry("app", "2-1", &["bad>=2"]),
                entry("nosig", "1-1", &[]),
                entry("short", "1-1", &[]),
                entry("unfetched", "1-1", &[]),
            ],
        )],
        vec![repo(
            "core",
            vec![entry("bad", "1-1", &[]), entry("app", "1-1", &["bad"])],
        )],
        &[],
    );
    w.snapshot.sync.rejected.push(Rejected {
        repo: "core".into(),
        name: "bad".into(),
        version: "2-1".into(),
        filename: "bad-2-1-x86_64.pkg.tar.zst".into(),
        field: "%SHA256SUM%".into(),
        problem: "the file's SHA-256 is 1111, the entry says 0000".into(),
        at: NOW - HOUR,
    });
    let out = w.snapshot.out.clone();
    let fs = Fs::new();
    fs.unlink(&publish::pool_path(
        &out,
        "nosig-1-1-x86_64.pkg.tar.zst.sig",
    ))
    .unwrap();
    fs.write_atomic(
        &publish::pool_path(&out, "short-1-1-x86_64.pkg.tar.zst"),
        b"pk",
        false,
    )
    .unwrap();
    fs.unlink(&publish::pool_path(
        &out,
        "unfetched-1-1-x86_64.pkg.tar.zst",
    ))
    .unwrap();
    let p = w.prepare();
    assert!(p.report.promoted.is_empty());
    assert_eq!(
        held(&p),
        [
            (
                "app".to_owned(),
                "unsatisfied dependency `bad>=2`".to_owned()
            ),
            (
                "bad".to_owned(),
                "not verified: sync rejected `bad-2-1-x86_64.pkg.tar.zst` (%SHA256SUM%): the \
                 file's SHA-256 is 1111, the entry says 0000"
                    .to_owned()
            ),
            (
                "nosig".to_owned(),
                "not verified: the signature `nosig-1-1-x86_64.pkg.tar.zst.sig` has not been \
                 fetched and verified yet (not in the pool)"
                    .to_owned()
            ),
            (
                "short".to_owned(),
                "not verified: the pool file `short-1-1-x86_64.pkg.tar.zst` is 2 bytes but \
                 `core`'s entry says %CSIZE% 4"
                    .to_owned()
            ),
            (
                "unfetched".to_owned(),
                "not verified: `unfetched-1-1-x86_64.pkg.tar.zst` has not been fetched and \
                 verified yet (not in the pool)"
                    .to_owned()
            ),
        ]
    );
    let json = serde_json::to_value(&p.report.held[1]).unwrap();
    assert_eq!(json["reason"]["kind"], "not_verified");
    assert_eq!(json["name"], "bad");
}

#[test]
fn the_lumina_repository_is_carried_over_and_shadows_upstream() {
    let mut w = World::new(
        vec![
            repo(
                "core",
                vec![entry("glibc", "2-1", &[]), entry("hyprland", "0.51-1", &[])],
            ),
            repo("extra", vec![entry("glibc", "3-1", &[])]),
        ],
        vec![
            repo("core", vec![entry("glibc", "1-1", &[])]),
            repo(
                "lumina",
                vec![
                    entry("lumina", "1-1", &["glibc"]),
                    entry("hyprland", "0.49-1", &[]),
                ],
            ),
        ],
        &[],
    );
    let p = w.prepare();
    assert_eq!(promoted(&p), ["core/glibc 2-1"]);
    assert_eq!(
        p.report
            .shadowed
            .iter()
            .map(|s| format!("{}/{} by {}", s.repo, s.name, s.by))
            .collect::<Vec<_>>(),
        ["core/hyprland by lumina", "extra/glibc by core"]
    );
    // The lumina repository is in the new generation; its packages are not removals.
    assert_eq!(p.repos, ["core", "extra", "lumina"]);
    assert!(p.report.removed.is_empty() && p.report.held.is_empty());
}

#[test]
fn a_new_configured_repository_is_a_change_even_with_nothing_promoted() {
    let mut w = World::new(
        vec![
            repo("core", vec![entry("a", "1-1", &[])]),
            repo("extra", vec![entry("b", "1-1", &[])]),
        ],
        vec![repo("core", vec![entry("a", "1-1", &[])])],
        &[("b", 1)],
    );
    let p = w.prepare();
    assert!(p.report.promoted.is_empty());
    assert!(p.changed, "extra must appear (empty) in the served tree");
}

#[test]
fn expedites_end_when_their_version_is_published() {
    let mut w = World::new(
        vec![repo(
            "core",
            vec![entry("openssl", "3.1-1", &[]), entry("curl", "8-1", &[])],
        )],
        vec![repo("core", vec![entry("openssl", "3.0-1", &[])])],
        &[("openssl", 1), ("curl", 1)],
    );
    w.ledger.expedite("openssl", "CVE-2099-1", NOW - HOUR);
    w.ledger.expedite("zlib", "CVE-2099-2", NOW - HOUR);
    let p = w.prepare();
    assert_eq!(promoted(&p), ["core/openssl 3.1-1"]);
    assert_eq!(end_expedites(&mut w.ledger, &p.plan, NOW), ["openssl"]);
    assert_eq!(
        w.ledger.expedited().keys().collect::<Vec<_>>(),
        ["zlib"],
        "an expedite whose package was not published stays"
    );
    let last = w.ledger.audit().last().unwrap();
    assert_eq!(last.reason, "published `openssl` 3.1-1");
}

#[test]
fn bootstrap_publishes_what_is_verified_as_it_is_and_only_into_an_empty_tree() {
    let mut w = World::new(
        vec![repo(
            "core",
            vec![
                entry("glibc", "2-1", &[]),
                entry("young", "1-1", &["glibc"]),
                entry("orphan", "1-1", &["missing>=2"]),
                DbEntry {
                    base: Some("split".into()),
                    ..entry("split-a", "1-1", &[])
                },
                DbEntry {
                    base: Some("split".into()),
                    ..entry("split-b", "1-1", &[])
                },
            ],
        )],
        vec![],
        &[("young", 1)],
    );
    let out = w.snapshot.out.clone();
    Fs::new()
        .unlink(&publish::pool_path(&out, "split-b-1-1-x86_64.pkg.tar.zst"))
        .unwrap();
    let p = prepare_bootstrap(w.snapshot.clone(), &mut w.ledger, &w.config, NOW).unwrap();
    assert!(p.report.bootstrap && p.changed);
    // No quarantine, no closure check: `young` and `orphan` go out; `orphan`'s dependency
    // is reported broken. Nothing unverified: `split-b` is held, and `split-a` with it.
    assert_eq!(
        promoted(&p),
        ["core/glibc 2-1", "core/orphan 1-1", "core/young 1-1"]
    );
    assert_eq!(
        held(&p),
        [
            (
                "split-a".to_owned(),
                "split sibling `split-b` is held".to_owned()
            ),
            (
                "split-b".to_owned(),
                "not verified: `split-b-1-1-x86_64.pkg.tar.zst` has not been fetched and \
                 verified yet (not in the pool)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(p.report.broken.len(), 1);
    assert_eq!(p.report.broken[0].dep, "missing>=2");

    // Once anything is published, bootstrapping is refused.
    w.snapshot.current = Some(1);
    let err = prepare_bootstrap(w.snapshot.clone(), &mut w.ledger, &w.config, NOW).unwrap_err();
    assert!(err.to_string().contains("refusing to bootstrap"), "{err}");
}

#[test]
fn times_parse_as_epoch_seconds_or_utc() {
    assert_eq!(parse_time("1767225600"), Ok(1_767_225_600));
    assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
    assert_eq!(parse_time("2026-01-01 00:00:01Z"), Ok(1_767_225_601));
    assert_eq!(parse_time("2026-01-01"), Ok(1_767_225_600));
    assert_eq!(parse_time("2000-02-29T12:30:00Z"), Ok(951_827_400));
    for t in 0..3_000 {
        let secs = 1_700_000_000 + t * 86_413;
        assert_eq!(parse_time(&crate::clock::rfc3339(secs)), Ok(secs));
    }
    for bad in [
        "",
        "yesterday",
        "2026-01-01T00:00:00",
        "2026-02-30",
        "2025-02-29",
        "2026-13-01",
        "2026-01-01T24:00:00Z",
        "1969-12-31",
        "-5",
        "2026-1-1",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

#[test]
fn durations_for_people() {
    assert_eq!(human(0), "0m");
    assert_eq!(human(90 * 60), "1h 30m");
    assert_eq!(human(2 * 86_400 + 3 * HOUR + 59), "2d 3h");
}
