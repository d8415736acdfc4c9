//! `sync` against a real upstream mirror served over HTTP on 127.0.0.1 (and `file://`):
//! real packages, real signatures from a throwaway packager key checked against a
//! pacman-shaped keyring, databases made by the real `repo-add`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lumina_core::fs::Fs;
use lumina_repo::config::RepoConfig;
use lumina_repo::ledger::Ledger;
use lumina_repo::lock::RepoLock;
use lumina_repo::publish::pool_path;
use lumina_repo::sync::{RetryPolicy, SyncError, SyncOptions, SyncReport};
use lumina_repo::upstream::{self, FetchState, SyncState};
use sha2::Digest;

use crate::conditional::{CondServer, Mode};
use crate::gnupg::Key;
use crate::mirror::{ARCH, Server, Signed, Tls, Upstream, name_of, sig_of};

const T1: u64 = 1_700_000_000;
const T2: u64 = T1 + 3600;

/// A Lumina site syncing from `up` at `url`.
struct Site {
    _dir: tempfile::TempDir,
    out: PathBuf,
    config: PathBuf,
    cfg: RepoConfig,
}

impl Site {
    fn new(up: &Upstream, url: &str, repos: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let config = dir.path().join("repo.yaml");
        let text = format!(
            "upstream: {url}\n\
             repositories: [{}]\n\
             output: {}\n\
             signing:\n  key: 0123456789ABCDEF0123456789ABCDEF01234567\n\
             upstream_keyring: {}\n",
            repos.join(", "),
            out.display(),
            up.keyring.path().display()
        );
        std::fs::write(&config, &text).unwrap();
        let cfg = RepoConfig::parse(&text, &config).unwrap();
        Self {
            _dir: dir,
            out,
            config,
            cfg,
        }
    }

    fn opts() -> SyncOptions {
        SyncOptions {
            jobs: 3,
            retry: RetryPolicy {
                attempts: 4,
                base: Duration::from_millis(10),
                max: Duration::from_millis(40),
            },
            ..SyncOptions::default()
        }
    }

    fn sync_with(&self, fs: &Fs, now: u64) -> Result<SyncReport, SyncError> {
        let lock = RepoLock::acquire(&Fs::new(), &self.out, "test").unwrap();
        lumina_repo::sync::sync(&lock, fs, &self.cfg, now, &Self::opts())
    }

    fn sync(&self, now: u64) -> Result<SyncReport, SyncError> {
        self.sync_with(&Fs::new(), now)
    }

    fn pool(&self) -> Vec<String> {
        listing(&self.out.join(".pool"))
    }

    fn incoming(&self) -> Vec<String> {
        listing(&self.out.join(".incoming"))
    }

    fn ledger(&self) -> Ledger {
        Ledger::load(&self.out.join("ledger.json")).unwrap()
    }

    fn state(&self) -> SyncState {
        SyncState::load(&self.out).unwrap().unwrap()
    }

    /// Every regular file under OUT but the lock file: its size, mtime and content hash.
    fn files(&self) -> BTreeMap<String, (u64, i64, i64, Vec<u8>)> {
        let mut map = BTreeMap::new();
        walk(&self.out, &self.out, &mut map);
        map.remove(".lock");
        map
    }

    /// `lumina-repo ARGS --config CONFIG`.
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_lumina-repo"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn walk(base: &Path, dir: &Path, map: &mut BTreeMap<String, (u64, i64, i64, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            walk(base, &p, map);
        } else if m.is_file() {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let hash = sha2::Sha256::digest(std::fs::read(&p).unwrap()).to_vec();
            map.insert(rel, (m.len(), m.mtime(), m.mtime_nsec(), hash));
        }
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn with_sigs(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .flat_map(|n| [(*n).to_owned(), format!("{n}.sig")])
        .collect();
    v.sort();
    v
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_first_sync_pools_every_verified_file_and_a_second_one_changes_nothing() {
    let up = Upstream::new();
    let alpha = up.add("core", "alpha", "1.0-1", Signed::Both);
    let beta = up.add("core", "beta", "2.0-1", Signed::FileOnly);
    let gamma = up.add("extra", "gamma", "1-1", Signed::EmbeddedOnly);
    let server = Server::start(&up.root);
    let site = Site::new(&up, &server.url(), &["core", "extra"]);

    let r = site.sync(T1).unwrap();
    let (a, b, g) = (name_of(&alpha), name_of(&beta), name_of(&gamma));
    assert_eq!(r.downloaded, [a.clone(), b.clone(), g.clone()]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!((r.in_pool, r.new_versions, r.lastsync), (0, 3, T1));
    let repos: Vec<_> = r
        .repos
        .iter()
        .map(|p| (p.name.as_str(), p.entries, p.changed, p.files))
        .collect();
    assert_eq!(repos, [("core", 2, true, true), ("extra", 1, true, true)]);

    // The pool holds exactly the verified files, byte for byte; gamma's signature came
    // from its entry's %PGPSIG%.
    assert_eq!(site.pool(), with_sigs(&[&a, &b, &g]));
    for f in [&alpha, &beta, &gamma] {
        assert_eq!(
            std::fs::read(pool_path(&site.out, &name_of(f))).unwrap(),
            std::fs::read(f).unwrap()
        );
    }
    assert_eq!(
        std::fs::read(pool_path(&site.out, &format!("{a}.sig"))).unwrap(),
        std::fs::read(sig_of(&alpha)).unwrap()
    );
    let gamma_sig = std::fs::read(pool_path(&site.out, &format!("{g}.sig"))).unwrap();
    assert!(
        up.desc("extra", "gamma-1-1")
            .contains(&lumina_repo::pkgfile::base64(&gamma_sig))
    );
    assert!(
        up.keyring.pacman_key_verify(
            &pool_path(&site.out, &format!("{g}.sig")),
            &pool_path(&site.out, &g)
        ),
        "pacman-key accepts the pooled signature"
    );

    // The snapshot is upstream's bytes; the ledger and state.json record the sync.
    for repo in ["core", "extra"] {
        assert_eq!(
            std::fs::read(upstream::db_path(&site.out, repo)).unwrap(),
            up.db_bytes(repo)
        );
        assert_eq!(
            std::fs::read(upstream::files_path(&site.out, repo)).unwrap(),
            std::fs::read(up.file(repo, &format!("{repo}.files"))).unwrap()
        );
    }
    let ledger = site.ledger();
    for (n, v) in [("alpha", "1.0-1"), ("beta", "2.0-1"), ("gamma", "1-1")] {
        assert_eq!(ledger.first_seen(n, v), Some(T1), "{n}");
    }
    let state = site.state();
    assert_eq!(state.lastsync, T1);
    assert!(state.rejected.is_empty());
    assert_eq!(state.repos["core"].entries, 2);
    assert_eq!(state.repos["core"].fetched_at, T1);
    assert_eq!(
        state.repos["core"].db_sha256,
        sha256_hex(&up.db_bytes("core"))
    );
    assert!(site.incoming().is_empty(), "{:?}", site.incoming());
    assert_eq!(server.requests_for(&a).len(), 1);
    assert_eq!(server.requests_for(&format!("{g}.sig")).len(), 1);

    // Nothing new: nothing downloaded, no file rewritten.
    let before = site.files();
    server.clear_log();
    let r = site.sync(T1).unwrap();
    assert!(r.downloaded.is_empty());
    assert_eq!((r.in_pool, r.new_versions), (3, 0));
    assert!(r.repos.iter().all(|p| !p.changed));
    assert_eq!(
        site.files(),
        before,
        "a sync with nothing new changed a file"
    );
    let fetched: Vec<String> = server.log().into_iter().map(|l| l.path).collect();
    assert!(
        fetched.iter().all(|p| !p.contains(".pkg.tar")),
        "{fetched:?}"
    );

    // A new version upstream, an hour later: only it is fetched; first-seen times stay.
    let alpha2 = up.add("core", "alpha", "1.1-1", Signed::Both);
    let r = site.sync(T2).unwrap();
    assert_eq!(r.downloaded, [name_of(&alpha2)]);
    assert_eq!((r.in_pool, r.new_versions), (2, 1));
    let changed: Vec<_> = r
        .repos
        .iter()
        .map(|p| (p.name.as_str(), p.changed))
        .collect();
    assert_eq!(changed, [("core", true), ("extra", false)]);
    let ledger = site.ledger();
    assert_eq!(ledger.first_seen("alpha", "1.0-1"), Some(T1));
    assert_eq!(ledger.first_seen("alpha", "1.1-1"), Some(T2));
    assert_eq!(ledger.first_seen("gamma", "1-1"), Some(T1));
    assert_eq!(site.state().lastsync, T2);
}

#[test]
fn files_that_fail_verification_are_rejected_with_the_field_named_and_kept_out_of_the_pool() {
    let up = Upstream::new();
    let good = up.add("core", "good", "1-1", Signed::Both);
    // A different file of the same size where the entry's is expected.
    let badsum = up.add("core", "badsum", "1-1", Signed::FileOnly);
    let mut bytes = std::fs::read(&badsum).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&badsum, &bytes).unwrap();
    // Signed by a key the keyring does not know.
    let mallory = Key::new("Mallory <mallory@evil.invalid>");
    let unknown = up.add("core", "unknownkey", "1-1", Signed::Unsigned);
    Upstream::sign_with(&mallory, &unknown);
    // A signature by the trusted packager, but of other bytes.
    let badsig = up.add("core", "badsig", "1-1", Signed::Unsigned);
    std::fs::copy(sig_of(&good), sig_of(&badsig)).unwrap();
    // Unsigned.
    up.add("core", "unsigned", "1-1", Signed::Unsigned);
    // Larger than its %CSIZE%.
    let big = up.add("core", "big", "1-1", Signed::FileOnly);
    let mut f = std::fs::OpenOptions::new().append(true).open(&big).unwrap();
    std::io::Write::write_all(&mut f, &[0u8; 4096]).unwrap();
    drop(f);
    // Gone from the mirror.
    let missing = up.add("core", "missing", "1-1", Signed::FileOnly);
    std::fs::remove_file(&missing).unwrap();

    let server = Server::start(&up.root);
    let site = Site::new(&up, &server.url(), &["core"]);
    let r = site.sync(T1).unwrap();
    assert_eq!(r.downloaded, [name_of(&good)]);
    let fields: Vec<(&str, &str)> = r
        .rejected
        .iter()
        .map(|x| (x.name.as_str(), x.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("badsig", "signature"),
            ("badsum", "%SHA256SUM%"),
            ("big", "%CSIZE%"),
            ("missing", "download"),
            ("unknownkey", "signature"),
            ("unsigned", "signature"),
        ]
    );
    let problem = |n: &str| {
        r.rejected
            .iter()
            .find(|x| x.name == n)
            .map(|x| x.problem.clone())
            .unwrap()
    };
    assert!(
        problem("badsig").contains("BAD signature"),
        "{}",
        problem("badsig")
    );
    assert!(
        problem("badsum").contains("`%SHA256SUM%` says"),
        "{}",
        problem("badsum")
    );
    assert!(
        problem("big").contains("reading stopped"),
        "{}",
        problem("big")
    );
    assert!(problem("missing").contains("404"), "{}", problem("missing"));
    assert!(
        problem("unknownkey").contains(&mallory.fpr),
        "{}",
        problem("unknownkey")
    );
    assert!(
        problem("unsigned").contains("unsigned"),
        "{}",
        problem("unsigned")
    );
    assert!(r.rejected.iter().all(|x| x.repo == "core" && x.at == T1));

    // Only the verified file is in the pool; nothing is left half-done.
    assert_eq!(site.pool(), with_sigs(&[&name_of(&good)]));
    assert!(site.incoming().is_empty(), "{:?}", site.incoming());
    assert_eq!(site.state().rejected, r.rejected);
    // A 404 is not retried.
    assert_eq!(server.requests_for(&name_of(&missing)).len(), 1);

    // The command line: exit 3, every rejection listed with its field; the next sync tries
    // them again and keeps the time each was first rejected.
    server.clear_log();
    let (code, stdout, stderr) = site.cli(&["sync", "--now", "2023-11-14T23:13:20Z", "--json"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("rejected core `badsum` 1-1"), "{stderr}");
    assert!(stderr.contains("%SHA256SUM%"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["lastsync"], T2);
    assert_eq!(json["in_pool"], 1);
    assert_eq!(json["rejected"].as_array().unwrap().len(), 6);
    assert_eq!(json["rejected"][1]["field"], "%SHA256SUM%");
    let state = site.state();
    assert_eq!(state.lastsync, T2);
    assert!(state.rejected.iter().all(|x| x.at == T1));
    assert_eq!(server.requests_for(&name_of(&badsum)).len(), 1);
    assert_eq!(site.pool(), with_sigs(&[&name_of(&good)]));
}

#[test]
fn a_hostile_or_broken_database_is_refused_and_nothing_changes() {
    let up = Upstream::new();
    up.add("core", "foo", "1-1", Signed::Both);
    let server = Server::start(&up.root);
    let site = Site::new(&up, &server.url(), &["core"]);
    site.sync(T1).unwrap();
    let good_db = up.db_bytes("core");
    let before = site.files();

    // A new package whose %FILENAME% leaves the repository directory.
    let bar = up.add("core", "bar", "1-1", Signed::Both);
    let desc = up
        .desc("core", "bar-1-1")
        .replace(&name_of(&bar), "../../../etc/x.pkg.tar.zst");
    let foo_desc = up.desc("core", "foo-1-1");
    let hostile = up.craft_db(&[("bar-1-1", desc), ("foo-1-1", foo_desc.clone())]);
    let truncated = good_db[..good_db.len() / 2].to_vec();
    let duplicate = up.craft_db(&[
        ("foo-1-1", foo_desc.clone()),
        ("foo-2-1", foo_desc.replace("\n1-1\n", "\n2-1\n")),
    ]);
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        (
            "filename",
            hostile,
            &["entry `bar-1-1`", "`%FILENAME%`", "contains `/`"],
        ),
        ("truncated", truncated, &["truncated"]),
        (
            "not an archive",
            b"<html>gateway timeout</html>".to_vec(),
            &["not a tar archive"],
        ),
        ("duplicate", duplicate, &["package `foo` appears twice"]),
    ];
    for (what, bytes, expected) in cases {
        up.set_db("core", &bytes);
        let e = site.sync(T2).unwrap_err();
        assert!(
            matches!(e, SyncError::InvalidDatabase { .. }),
            "{what}: {e}"
        );
        let text = e.to_string();
        assert!(text.contains("repository `core`"), "{what}: {text}");
        for x in expected {
            assert!(text.contains(x), "{what}: {text}");
        }
        assert_eq!(site.files(), before, "{what}: a file changed");
        assert_eq!(
            std::fs::read(upstream::db_path(&site.out, "core")).unwrap(),
            good_db
        );
        assert_eq!(site.ledger().first_seen("bar", "1-1"), None);
        assert!(site.incoming().is_empty(), "{what}: {:?}", site.incoming());
    }

    // The command line: exit 1, the entry and the field named.
    let hostile = up.craft_db(&[(
        "bar-1-1",
        foo_desc.replace("foo", "bar").replace(
            &format!("%FILENAME%\nbar-1-1-{ARCH}"),
            "%FILENAME%\n..bar-1-1-x86_64",
        ),
    )]);
    up.set_db("core", &hostile);
    let (code, _, stderr) = site.cli(&["sync", "--now", "1700003600"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("entry `bar-1-1`"), "{stderr}");
    assert!(stderr.contains("`%FILENAME%`"), "{stderr}");
    assert!(stderr.contains("the previous snapshot stays"), "{stderr}");
    assert_eq!(site.files(), before);
}

#[test]
fn transient_failures_are_retried_with_backoff_and_a_cut_download_resumes_with_range() {
    let up = Upstream::new();
    let one = up.add("core", "one", "1-1", Signed::Both);
    let two = up.add("core", "two", "1-1", Signed::Both);
    let three = up.add("core", "three", "1-1", Signed::Both);
    let server = Server::start(&up.root);
    let dir = format!("/core/os/{ARCH}/");
    server.fail(&format!("{dir}core.db"), 2, 503);
    server.fail(&format!("{dir}{}", name_of(&one)), 2, 502);
    server.cut(&format!("{dir}{}", name_of(&two)), 1);
    // A server that ignores Range: the file is fetched again whole.
    server.cut(&format!("{dir}{}", name_of(&three)), 1);
    server.no_ranges(&format!("{dir}{}", name_of(&three)));
    let site = Site::new(&up, &server.url(), &["core"]);

    let r = site.sync(T1).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.downloaded.len(), 3);
    for f in [&one, &two, &three] {
        assert_eq!(
            std::fs::read(pool_path(&site.out, &name_of(f))).unwrap(),
            std::fs::read(f).unwrap()
        );
    }
    let actions = |name: &str| -> Vec<(Option<String>, Option<String>)> {
        server
            .requests_for(name)
            .into_iter()
            .map(|l| (l.action, l.range))
            .collect()
    };
    assert_eq!(
        actions("core.db"),
        [
            (Some("fail".into()), None),
            (Some("fail".into()), None),
            (None, None)
        ]
    );
    assert_eq!(
        actions(&name_of(&one)),
        [
            (Some("fail".into()), None),
            (Some("fail".into()), None),
            (None, None)
        ]
    );
    let half = std::fs::metadata(&two).unwrap().len() / 2;
    assert_eq!(
        actions(&name_of(&two)),
        [
            (Some("cut".into()), None),
            (None, Some(format!("bytes={half}-")))
        ]
    );
    let half3 = std::fs::metadata(&three).unwrap().len() / 2;
    assert_eq!(
        actions(&name_of(&three)),
        [
            (Some("cut".into()), None),
            (None, Some(format!("bytes={half3}-")))
        ]
    );
}

#[test]
fn a_server_that_stays_down_is_recorded_and_the_next_sync_fetches_the_file() {
    let up = Upstream::new();
    let one = up.add("core", "one", "1-1", Signed::Both);
    let two = up.add("core", "two", "1-1", Signed::Both);
    let server = Server::start(&up.root);
    let path = format!("/core/os/{ARCH}/{}", name_of(&one));
    server.fail(&path, 100, 503);
    let site = Site::new(&up, &server.url(), &["core"]);

    let r = site.sync(T1).unwrap();
    assert_eq!(r.downloaded, [name_of(&two)]);
    assert_eq!(r.rejected.len(), 1);
    let rej = &r.rejected[0];
    assert_eq!((rej.name.as_str(), rej.field.as_str()), ("one", "download"));
    assert!(
        rej.problem.contains("HTTP status 503 (after 4 attempts)"),
        "{}",
        rej.problem
    );
    assert_eq!(server.requests_for(&name_of(&one)).len(), 4);
    assert!(!site.pool().contains(&name_of(&one)));

    server.clear_faults();
    let r = site.sync(T2).unwrap();
    assert_eq!(r.downloaded, [name_of(&one)]);
    assert!(r.rejected.is_empty());
    assert!(site.state().rejected.is_empty());
    assert_eq!(site.ledger().first_seen("one", "1-1"), Some(T1));
    assert!(site.incoming().is_empty());

    // A database the server does not give: retried, then the sync fails, changing nothing.
    let before = site.files();
    server.fail(&format!("/core/os/{ARCH}/core.db"), 100, 500);
    let e = site.sync(T2 + 60).unwrap_err();
    assert!(matches!(e, SyncError::Fetch { attempts: 4, .. }), "{e}");
    assert!(
        e.to_string().ends_with(
            "core.db` (repository `core`): HTTP status 500 (after 4 attempts); the previous \
             snapshot stays"
        ),
        "{e}"
    );
    assert_eq!(site.files(), before);
}

#[test]
fn a_partial_download_left_by_an_interrupted_sync_is_resumed_or_fetched_again() {
    let up = Upstream::new();
    let one = up.add("core", "one", "1-1", Signed::Both);
    let two = up.add("core", "two", "1-1", Signed::Both);
    let server = Server::start(&up.root);
    let site = Site::new(&up, &server.url(), &["core"]);
    let incoming = site.out.join(".incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    // What an interrupted sync left: the first half of `one`, and garbage for `two`.
    let bytes = std::fs::read(&one).unwrap();
    let half = bytes.len() / 2;
    std::fs::write(
        incoming.join(format!("{}.part", name_of(&one))),
        &bytes[..half],
    )
    .unwrap();
    std::fs::write(incoming.join(format!("{}.part", name_of(&two))), [7u8; 100]).unwrap();

    let r = site.sync(T1).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.downloaded.len(), 2);
    let ranges = |f: &Path| -> Vec<Option<String>> {
        server
            .requests_for(&name_of(f))
            .into_iter()
            .map(|l| l.range)
            .collect()
    };
    assert_eq!(ranges(&one), [Some(format!("bytes={half}-"))]);
    // The resumed `two` did not hash right: it was fetched again whole, once.
    assert_eq!(ranges(&two), [Some("bytes=100-".to_owned()), None]);
    for f in [&one, &two] {
        assert_eq!(
            std::fs::read(pool_path(&site.out, &name_of(f))).unwrap(),
            std::fs::read(f).unwrap()
        );
    }
    assert!(site.incoming().is_empty());
}

#[test]
fn gc_keeps_the_files_the_snapshot_lists_and_removes_old_partial_downloads() {
    let up = Upstream::new();
    let one = up.add("core", "one", "1-1", Signed::Both);
    let site = Site::new(&up, &format!("file://{}", up.root.display()), &["core"]);
    let r = site.sync(T1).unwrap();
    assert_eq!(r.downloaded, [name_of(&one)]);
    // A pool file nothing names, and two partial downloads: one two days old, one fresh.
    std::fs::write(pool_path(&site.out, "stray-1-1-x86_64.pkg.tar.zst"), b"x").unwrap();
    let incoming = site.out.join(".incoming");
    let old = incoming.join("old-1-1-x86_64.pkg.tar.zst.part");
    let fresh = incoming.join("fresh-1-1-x86_64.pkg.tar.zst.part");
    std::fs::write(&old, b"old").unwrap();
    std::fs::write(&fresh, b"fresh").unwrap();
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();

    let (code, _, stderr) = site.cli(&["gc"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("deleted 1 pool files"), "{stderr}");
    assert!(stderr.contains("1 partial downloads"), "{stderr}");
    assert_eq!(site.pool(), with_sigs(&[&name_of(&one)]));
    assert_eq!(
        site.incoming(),
        ["fresh-1-1-x86_64.pkg.tar.zst.part".to_owned()]
    );

    // Once upstream drops the package and it was never published, gc deletes it.
    Command::new("repo-remove")
        .arg("--quiet")
        .arg(up.file("core", "core.db.tar.gz"))
        .arg("one")
        .env("LANG", "C")
        .output()
        .unwrap();
    site.sync(T2).unwrap();
    let lock = RepoLock::acquire(&Fs::new(), &site.out, "test").unwrap();
    let (pool, _) = lumina_repo::sync::gc(&lock, &Fs::new(), &["core".into()], T2, 86_400).unwrap();
    assert_eq!(pool.len(), 2, "{pool:?}");
    assert!(site.pool().is_empty());
}

#[test]
fn a_crash_after_any_step_of_a_sync_leaves_a_consistent_state_and_the_next_sync_converges() {
    let up = Upstream::new();
    let files = [
        up.add("core", "one", "1-1", Signed::Both),
        up.add("core", "two", "1-1", Signed::EmbeddedOnly),
        up.add("extra", "three", "1-1", Signed::FileOnly),
    ];
    let url = format!("file://{}", up.root.display());
    let reference = Site::new(&up, &url, &["core", "extra"]);
    reference.sync(T1).unwrap();
    let expected_pool = reference.pool();
    let expected_state = reference.state();
    let up_bytes: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|f| (name_of(f), std::fs::read(f).unwrap()))
        .collect();

    let mut n = 1;
    loop {
        let site = Site::new(&up, &url, &["core", "extra"]);
        let fs = Fs::failing_after(n);
        match site.sync_with(&fs, T1) {
            Ok(_) => break,
            Err(SyncError::Repo(lumina_repo::Error::Fs(lumina_core::Error::Injected {
                ..
            }))) => {}
            Err(e) => panic!("step {n}: {e}"),
        }
        // Whatever is there is whole: a snapshot is upstream's database; a pool package
        // is upstream's file; state.json, when written, is the complete one.
        for repo in ["core", "extra"] {
            if let Ok(bytes) = std::fs::read(upstream::db_path(&site.out, repo)) {
                assert_eq!(bytes, up.db_bytes(repo), "step {n}");
            }
        }
        for name in site.pool() {
            if let Some(bytes) = up_bytes.get(&name) {
                assert_eq!(&std::fs::read(pool_path(&site.out, &name)).unwrap(), bytes);
            } else {
                assert!(
                    name.ends_with(".sig") || name.ends_with(".lumina-tmp"),
                    "step {n}: {name}"
                );
            }
        }
        if let Ok(Some(state)) = SyncState::load(&site.out) {
            assert_eq!(state, expected_state, "step {n}");
        }
        // The next sync converges to what an uninterrupted one makes.
        site.sync(T1).unwrap();
        assert_eq!(site.pool(), expected_pool, "step {n}");
        assert_eq!(site.state(), expected_state, "step {n}");
        assert_eq!(site.ledger().first_seen("three", "1-1"), Some(T1));
        assert!(
            site.incoming().is_empty(),
            "step {n}: {:?}",
            site.incoming()
        );
        n += 1;
        assert!(n < 200, "sync never completed");
    }
    assert!(n > 10, "only {n} steps");
}

#[test]
fn https_verifies_the_server_certificate_with_rustls() {
    let up = Upstream::new();
    let one = up.add("core", "one", "1-1", Signed::Both);
    let tls = Tls::new();
    let server = Server::start_tls(&up.root, &tls);
    let site = Site::new(&up, &server.url(), &["core"]);
    // A certificate no trusted authority issued: refused, nothing fetched.
    let started = std::time::Instant::now();
    let (code, _, stderr) = site.cli(&["sync", "--now", "1700000000"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "retried: {stderr}"
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot fetch `https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("TLS: "), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // Not retried: a certificate does not become trusted by waiting.
    assert!(!stderr.contains("attempts"), "{stderr}");
    assert!(server.requests_for(".db").is_empty());
    assert!(!site.out.join(".upstream/core.db").exists());
    // Trusting the authority (`SSL_CERT_FILE`, as OpenSSL and rustls read it), it syncs.
    let out = Command::new(env!("CARGO_BIN_EXE_lumina-repo"))
        .args(["sync", "--now", "1700000000", "--json", "--config"])
        .arg(&site.config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SSL_CERT_FILE", &tls.ca)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["downloaded"][0], name_of(&one));
    assert_eq!(site.pool(), with_sigs(&[&name_of(&one)]));
}

/// The four database paths of `core` and `extra`.
const DBS: [&str; 4] = ["core.db", "core.files", "extra.db", "extra.files"];

/// `(status, If-None-Match, If-Modified-Since)` of each request for `name`.
fn answers(server: &CondServer, name: &str) -> Vec<(u16, Option<String>, Option<String>)> {
    server
        .requests_for(&format!("/{name}"))
        .into_iter()
        .map(|a| (a.status, a.if_none_match, a.if_modified_since))
        .collect()
}

/// The `ETag` the test server gives `bytes`.
fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", &sha256_hex(bytes)[..32])
}

impl Site {
    fn fetch_state(&self) -> FetchState {
        SyncState::load_with_fetch(&self.out).unwrap().unwrap().1
    }
}

/// The upstream file `REPO.KIND` as served.
fn served(up: &Upstream, name: &str) -> Vec<u8> {
    let repo = name.split('.').next().unwrap();
    std::fs::read(up.file(repo, name)).unwrap()
}

#[test]
fn an_unchanged_upstream_answers_304_and_the_sync_changes_nothing_but_still_fills_the_pool() {
    let up = Upstream::new();
    let alpha = up.add("core", "alpha", "1.0-1", Signed::Both);
    let beta = up.add("core", "beta", "1-1", Signed::Both);
    up.add("extra", "gamma", "1-1", Signed::FileOnly);
    // beta's file is not on the mirror yet: rejected, and tried again by every sync.
    let beta_bytes = std::fs::read(&beta).unwrap();
    std::fs::remove_file(&beta).unwrap();
    let server = CondServer::start(&up.root, Mode::ETag);
    let site = Site::new(&up, &server.url(), &["core", "extra"]);

    let r = site.sync(T1).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].name, "beta");
    assert!(r.repos.iter().all(|p| p.changed && !p.not_modified));
    // No snapshot yet: every database is asked for unconditionally; what the server said
    // of each is recorded with the SHA-256 and size of the bytes kept.
    let fetch = site.fetch_state();
    for name in DBS {
        assert_eq!(answers(&server, name), [(200, None, None)], "{name}");
        let bytes = served(&up, name);
        let (repo, kind) = name.split_once('.').unwrap();
        let rec = match kind {
            "db" => fetch[repo].db.clone(),
            _ => fetch[repo].files.clone(),
        }
        .unwrap();
        assert_eq!(rec.etag, Some(etag_of(&bytes)), "{name}");
        assert_eq!(rec.sha256, sha256_hex(&bytes), "{name}");
        assert_eq!(rec.size, bytes.len() as u64, "{name}");
        assert!(rec.last_modified.unwrap().ends_with(" GMT"), "{name}");
        assert_eq!(rec.mtime_ns, None);
    }

    // The same upstream, at the same time: 304 for every database, asked with its ETag
    // and Last-Modified; no `.sig` fetched; not a byte or an mtime changed under OUT.
    let before = site.files();
    server.clear_log();
    let r = site.sync(T1).unwrap();
    let repos: Vec<_> = r
        .repos
        .iter()
        .map(|p| (p.name.as_str(), p.entries, p.changed, p.not_modified))
        .collect();
    assert_eq!(repos, [("core", 2, false, true), ("extra", 1, false, true)]);
    assert_eq!((r.new_versions, r.in_pool, r.rejected.len()), (0, 2, 1));
    for name in DBS {
        let rec = answers(&server, name);
        assert_eq!(rec.len(), 1, "{name}: {rec:?}");
        let (status, inm, ims) = &rec[0];
        assert_eq!(*status, 304, "{name}");
        assert_eq!(inm.as_deref(), Some(etag_of(&served(&up, name)).as_str()));
        assert!(
            ims.as_deref().is_some_and(|d| d.ends_with(" GMT")),
            "{name}"
        );
    }
    let sigs: Vec<String> = server
        .requests_for(".sig")
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert!(sigs.is_empty(), "{sigs:?}");
    assert_eq!(server.requests_for(&name_of(&beta)).len(), 1, "retried");
    assert_eq!(site.files(), before, "an unchanged upstream changed a file");

    // The mirror gets beta's file, and the pool loses alpha's: the databases are still
    // unchanged (304), and the sync still downloads what the pool lacks.
    std::fs::write(&beta, &beta_bytes).unwrap();
    std::fs::remove_file(pool_path(&site.out, &name_of(&alpha))).unwrap();
    server.clear_log();
    let r = site.sync(T2).unwrap();
    assert!(r.repos.iter().all(|p| p.not_modified && !p.changed));
    assert_eq!(r.downloaded, [name_of(&alpha), name_of(&beta)]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.new_versions, 0);
    for name in DBS {
        assert_eq!(answers(&server, name)[0].0, 304, "{name}");
    }
    // First-seen times are the first sync's; the ledger was not rewritten.
    assert_eq!(site.ledger().first_seen("beta", "1-1"), Some(T1));
    assert_eq!(site.files()["ledger.json"], before["ledger.json"]);
    for repo in ["core", "extra"] {
        assert_eq!(
            std::fs::read(upstream::db_path(&site.out, repo)).unwrap(),
            up.db_bytes(repo)
        );
    }
    let state = site.state();
    assert_eq!(state.lastsync, T2);
    assert!(state.rejected.is_empty());
    assert_eq!(site.fetch_state(), fetch, "the records of a 304 stay");

    // The command line says so, in words and in JSON.
    let (code, _, stderr) = site.cli(&["sync", "--now", "1700007200"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("synced core (2 entries, not modified), extra (1 entry, not modified)"),
        "{stderr}"
    );
    let (code, stdout, stderr) = site.cli(&["sync", "--now", "1700007200", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["repos"][0]["not_modified"], true);
    assert_eq!(json["repos"][0]["changed"], false);
}

#[test]
fn a_changed_upstream_database_is_downloaded_whole_and_its_new_versions_recorded() {
    // With ETags, and with Python's stock server (Last-Modified alone).
    for mode in [Mode::ETag, Mode::Stock] {
        let up = Upstream::new();
        up.add("core", "alpha", "1.0-1", Signed::Both);
        up.add("extra", "gamma", "1-1", Signed::Both);
        let server = CondServer::start(&up.root, mode);
        let site = Site::new(&up, &server.url(), &["core", "extra"]);
        site.sync(T1).unwrap();
        let old = site.fetch_state();
        let old_core = old["core"].db.clone().unwrap();
        assert_eq!(old_core.etag.is_some(), mode == Mode::ETag, "{mode:?}");

        // A new version in core; Last-Modified has one-second steps: the new files are
        // dated later, as they would be on a mirror.
        let alpha2 = up.add("core", "alpha", "1.1-1", Signed::Both);
        let later = std::time::SystemTime::now() + Duration::from_secs(10);
        for f in ["core.db.tar.gz", "core.files.tar.gz"] {
            std::fs::File::options()
                .write(true)
                .open(up.file("core", f))
                .unwrap()
                .set_modified(later)
                .unwrap();
        }
        server.clear_log();
        let r = site.sync(T2).unwrap();
        let repos: Vec<_> = r
            .repos
            .iter()
            .map(|p| (p.name.as_str(), p.entries, p.changed, p.not_modified))
            .collect();
        assert_eq!(
            repos,
            [("core", 1, true, false), ("extra", 1, false, true)],
            "{mode:?}"
        );
        assert_eq!(r.new_versions, 1);
        assert_eq!(r.downloaded, [name_of(&alpha2)]);
        // Asked conditionally (the ETag when there is one, else the date): core's are
        // sent whole, extra's are not.
        for name in DBS {
            let a = answers(&server, name);
            assert_eq!(a.len(), 1, "{mode:?} {name}: {a:?}");
            let (status, inm, ims) = &a[0];
            let expected = if name.starts_with("core") { 200 } else { 304 };
            assert_eq!(*status, expected, "{mode:?} {name}");
            assert_eq!(inm.is_some(), mode == Mode::ETag, "{mode:?} {name}");
            assert!(ims.is_some(), "{mode:?} {name}");
        }
        let ledger = site.ledger();
        assert_eq!(ledger.first_seen("alpha", "1.0-1"), Some(T1));
        assert_eq!(ledger.first_seen("alpha", "1.1-1"), Some(T2));
        assert_eq!(
            std::fs::read(upstream::db_path(&site.out, "core")).unwrap(),
            up.db_bytes("core")
        );
        let new = site.fetch_state();
        let core = new["core"].db.clone().unwrap();
        assert_eq!(core.sha256, sha256_hex(&up.db_bytes("core")), "{mode:?}");
        assert_ne!(core.last_modified, old_core.last_modified, "{mode:?}");
        assert_eq!(new["extra"], old["extra"], "{mode:?}");
        assert_eq!(site.state().repos["core"].db_sha256, core.sha256);
    }
}

#[test]
fn a_damaged_or_missing_snapshot_is_fetched_again_unconditionally() {
    let up = Upstream::new();
    up.add("core", "alpha", "1-1", Signed::Both);
    up.add("extra", "gamma", "1-1", Signed::Both);
    let server = CondServer::start(&up.root, Mode::ETag);
    let site = Site::new(&up, &server.url(), &["core", "extra"]);
    site.sync(T1).unwrap();
    let fetch = site.fetch_state();
    let contents_before = contents(&site);

    // core.db damaged in place (same size), extra.files gone.
    let core_db = upstream::db_path(&site.out, "core");
    let mut bytes = std::fs::read(&core_db).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&core_db, &bytes).unwrap();
    std::fs::remove_file(upstream::files_path(&site.out, "extra")).unwrap();
    server.clear_log();
    let r = site.sync(T1).unwrap();
    assert_eq!(answers(&server, "core.db"), [(200, None, None)]);
    assert_eq!(answers(&server, "extra.files"), [(200, None, None)]);
    // The others are intact: asked conditionally, not modified; core's `.files` kept is
    // checked against the `.db` fetched again.
    for name in ["core.files", "extra.db"] {
        assert_eq!(answers(&server, name)[0].0, 304, "{name}");
    }
    let flags: Vec<_> = r
        .repos
        .iter()
        .map(|p| (p.name.as_str(), p.changed, p.not_modified))
        .collect();
    assert_eq!(flags, [("core", true, false), ("extra", false, false)]);
    assert_eq!(r.new_versions, 0);
    assert_eq!(
        contents(&site),
        contents_before,
        "the snapshot is upstream's again"
    );
    assert_eq!(site.fetch_state(), fetch);

    // A state.json written before records were kept: every database is fetched whole once,
    // then recorded; nothing else changes.
    let path = upstream::state_path(&site.out);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("fetch").unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    assert!(site.fetch_state().is_empty());
    server.clear_log();
    let r = site.sync(T1).unwrap();
    for name in DBS {
        assert_eq!(answers(&server, name), [(200, None, None)], "{name}");
    }
    assert!(r.repos.iter().all(|p| !p.changed && !p.not_modified));
    assert_eq!(site.fetch_state(), fetch);
    assert_eq!(contents(&site), contents_before, "state.json as it was");
}

/// The SHA-256 of every file under OUT but the lock file.
fn contents(site: &Site) -> BTreeMap<String, Vec<u8>> {
    site.files().into_iter().map(|(k, v)| (k, v.3)).collect()
}

#[test]
fn a_server_that_ignores_validators_still_syncs_and_changes_nothing() {
    let up = Upstream::new();
    up.add("core", "alpha", "1-1", Signed::Both);
    let server = CondServer::start(&up.root, Mode::Ignore);
    let site = Site::new(&up, &server.url(), &["core"]);
    site.sync(T1).unwrap();
    let before = site.files();
    server.clear_log();
    let r = site.sync(T1).unwrap();
    // Asked conditionally, answered 200: compared with the snapshot, not rewritten.
    for name in ["core.db", "core.files"] {
        let a = server.requests_for(&format!("/{name}"));
        assert_eq!(a.len(), 1, "{name}: {a:?}");
        assert_eq!(a[0].status, 200, "{name}");
        assert!(a[0].conditional(), "{name}");
    }
    assert!(!r.repos[0].changed && !r.repos[0].not_modified);
    assert_eq!((r.new_versions, r.in_pool), (0, 1));
    assert_eq!(site.files(), before);

    let beta = up.add("core", "beta", "1-1", Signed::Both);
    let r = site.sync(T2).unwrap();
    assert_eq!(r.downloaded, [name_of(&beta)]);
    assert_eq!(r.new_versions, 1);
    assert!(r.repos[0].changed);
    assert_eq!(site.ledger().first_seen("beta", "1-1"), Some(T2));
    assert_eq!(
        site.fetch_state()["core"].db.clone().unwrap().etag,
        Some(etag_of(&up.db_bytes("core")))
    );
}

#[test]
fn a_file_mirror_is_read_again_only_when_a_database_changes_mtime_or_size() {
    let up = Upstream::new();
    up.add("core", "alpha", "1-1", Signed::Both);
    let site = Site::new(&up, &format!("file://{}", up.root.display()), &["core"]);
    let mtime_ns = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        u64::try_from(m.mtime()).unwrap() * 1_000_000_000 + u64::try_from(m.mtime_nsec()).unwrap()
    };
    site.sync(T1).unwrap();
    let rec = site.fetch_state()["core"].db.clone().unwrap();
    assert_eq!(rec.mtime_ns, Some(mtime_ns(&up.file("core", "core.db"))));
    assert_eq!((rec.etag, rec.last_modified), (None, None));

    let before = site.files();
    let r = site.sync(T1).unwrap();
    assert!(r.repos[0].not_modified && !r.repos[0].changed);
    assert_eq!(site.files(), before);

    // Touched, same bytes: read again and compared, not rewritten; the new mtime recorded.
    let later = std::time::SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(up.file("core", "core.db.tar.gz"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let r = site.sync(T1).unwrap();
    assert!(!r.repos[0].not_modified && !r.repos[0].changed);
    let after = site.fetch_state()["core"].db.clone().unwrap();
    assert_eq!(after.mtime_ns, Some(mtime_ns(&up.file("core", "core.db"))));
    assert_ne!(after.mtime_ns, rec.mtime_ns);
    assert_eq!(after.sha256, rec.sha256);
    assert_eq!(
        site.files()[".upstream/core.db"],
        before[".upstream/core.db"],
        "the snapshot was not rewritten"
    );
}
