//! The published tree: layout, generations, rollback, gc, hostile input, and a crash
//! injected after every filesystem step of a publish and of a rollback.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_repo::Error;
use lumina_repo::lock::RepoLock;
use lumina_repo::publish::{
    self, Release, RepoFiles, SwitchKind, gc, pool_insert, publish, rollback, served_repo_dir,
};
use lumina_repo::sign::{DetachedSigner, Signer, Verifier, sig_path};

use crate::gnupg::Key;

const ARCH: &str = "x86_64";

/// One signing key for a whole test, with its signer and a verifier trusting it.
///
/// Signatures and verifications are memoized by content: the same bytes always get the
/// same (real) signature, and a (data, signature) pair GnuPG accepted once is not checked
/// again. The crash tests publish the same releases hundreds of times; what they test is
/// the filesystem steps, and every pair they have not seen goes to GnuPG.
pub(crate) struct Gpg {
    _key: Key,
    signer: Signer,
    verifier: Verifier,
    sigs: HashMap<Vec<u8>, Vec<u8>>,
    verified: HashSet<(Vec<u8>, Vec<u8>)>,
}

impl Gpg {
    pub(crate) fn new() -> Self {
        let key = Key::new("Lumina Test <test@lumina.invalid>");
        Self {
            signer: Signer::new(Some(key.home.path()), &key.fpr).unwrap(),
            // The signer's own home trusts its key ultimately.
            verifier: Verifier::new(key.home.path()).unwrap(),
            _key: key,
            sigs: HashMap::new(),
            verified: HashSet::new(),
        }
    }

    pub(crate) fn verify(&mut self, data: Vec<u8>, sig: Vec<u8>, what: &str) {
        let pair = (data, sig);
        if self.verified.contains(&pair) {
            return;
        }
        self.verifier
            .verify_bytes(&pair.0, &pair.1)
            .unwrap_or_else(|p| panic!("{what}: {p}"));
        self.verified.insert(pair);
    }
}

impl DetachedSigner for Gpg {
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(s) = self.sigs.get(data) {
            return Ok(s.clone());
        }
        let s = self.signer.sign(data)?;
        self.sigs.insert(data.to_vec(), s.clone());
        Ok(s)
    }
}

/// A scratch output directory.
pub(crate) struct Tree {
    _dir: tempfile::TempDir,
    pub(crate) out: PathBuf,
}

impl Tree {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        Self { _dir: dir, out }
    }

    /// A copy of `template`'s output directory (hard links inside it kept, as `cp -a`
    /// does).
    fn copy_of(template: &Tree) -> Self {
        let t = Self::new();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&template.out)
            .arg(&t.out)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        t
    }

    pub(crate) fn lock(&self) -> RepoLock {
        RepoLock::acquire(&Fs::new(), &self.out, "test").unwrap()
    }

    /// Release `v`: `core` has `foo-V`, `extra` has `bar-V` (and `baz-1` from 2 on), each
    /// put in the pool with a real signature.
    fn release(&self, gpg: &mut Gpg, v: u32) -> Vec<RepoFiles> {
        let lock = self.lock();
        let mut pkg = |name: &str| {
            let file = format!("{name}-1-x86_64.pkg.tar.zst");
            let bytes = format!("package {file}").into_bytes();
            pool_insert(&lock, &Fs::new(), &file, &bytes).unwrap();
            let sig = gpg.sign(&bytes).unwrap();
            pool_insert(&lock, &Fs::new(), &format!("{file}.sig"), &sig).unwrap();
            file
        };
        let core = vec![pkg(&format!("foo{v}"))];
        let mut extra = vec![pkg(&format!("bar{v}"))];
        if v >= 2 {
            extra.push(pkg("baz"));
        }
        vec![
            RepoFiles {
                name: "core".into(),
                db: format!("core db v{v}").into_bytes(),
                files: format!("core files v{v}").into_bytes(),
                packages: core,
            },
            RepoFiles {
                name: "extra".into(),
                db: format!("extra db v{v}").into_bytes(),
                files: format!("extra files v{v}").into_bytes(),
                packages: extra,
            },
        ]
    }

    pub(crate) fn publish_with(
        &self,
        gpg: &mut Gpg,
        v: u32,
        fs: &Fs,
        keep: u32,
    ) -> Result<u64, Error> {
        let repos = self.release(gpg, v);
        let report = format!("{{\"release\": {v}}}\n");
        let lock = self.lock();
        publish(
            &lock,
            fs,
            gpg,
            &Release {
                arch: ARCH,
                repos: &repos,
                lastsync: 1000 + u64::from(v),
                lastupdate: 2000 + u64::from(v),
                report: report.as_bytes(),
            },
            keep,
        )
    }

    pub(crate) fn publish(&self, gpg: &mut Gpg, v: u32) -> u64 {
        self.publish_with(gpg, v, &Fs::new(), 3).unwrap()
    }

    /// What a client sees through `current`: every database verifies against its served
    /// signature, and every served package against its `.sig`. Returns the release number
    /// the served `core.db` belongs to.
    fn served(&self, gpg: &mut Gpg) -> u32 {
        let mut releases = Vec::new();
        for repo in ["core", "extra"] {
            let dir = served_repo_dir(&self.out, repo, ARCH);
            for kind in ["db", "files"] {
                let data = std::fs::read(dir.join(format!("{repo}.{kind}"))).unwrap();
                let sig = std::fs::read(dir.join(format!("{repo}.{kind}.sig"))).unwrap();
                let text = String::from_utf8(data.clone()).unwrap();
                gpg.verify(data, sig, &format!("served {repo}.{kind}"));
                releases.push(text.rsplit('v').next().unwrap().parse::<u32>().unwrap());
            }
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.contains(".pkg.tar") && !name.ends_with(".sig") {
                    let sig = std::fs::read(sig_path(&path)).unwrap();
                    gpg.verify(std::fs::read(&path).unwrap(), sig, &name);
                }
            }
        }
        let top = |f: &str| std::fs::read_to_string(self.out.join("current").join(f)).unwrap();
        let r = releases[0];
        assert!(
            releases.iter().all(|x| *x == r),
            "mixed generations: {releases:?}"
        );
        assert_eq!(top("lastupdate"), format!("{}\n", 2000 + r));
        assert_eq!(top("lastsync"), format!("{}\n", 1000 + r));
        assert_eq!(top("report.json"), format!("{{\"release\": {r}}}\n"));
        r
    }

    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in [self.out.clone(), self.out.join(".generations")] {
            for e in std::fs::read_dir(dir).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") || name.starts_with(".current.new") {
                    found.push(name);
                }
            }
        }
        found
    }

    fn numbers(&self) -> Vec<u64> {
        publish::generations(&self.out)
            .unwrap()
            .iter()
            .map(|g| g.number)
            .collect()
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            let text = std::fs::read_link(e.path()).unwrap();
            out.push(format!("{name} -> {}", text.display()));
        } else if ft.is_dir() {
            out.push(format!("{name}/"));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

#[test]
fn a_publish_serves_a_complete_signed_mirror_layout_through_current() {
    let mut gpg = Gpg::new();
    let t = Tree::new();
    assert_eq!(publish::current(&t.out).unwrap(), None);
    assert_eq!(t.publish(&mut gpg, 1), 1);
    assert_eq!(
        std::fs::read_link(t.out.join("current")).unwrap(),
        PathBuf::from(".generations/1")
    );
    assert_eq!(t.served(&mut gpg), 1);
    assert_eq!(
        listing(&t.out.join("current")),
        [
            ".lumina-packages",
            "core/",
            "extra/",
            "lastsync",
            "lastupdate",
            "report.json"
        ]
    );
    assert_eq!(
        listing(&served_repo_dir(&t.out, "core", ARCH)),
        [
            "core.db -> core.db.tar.zst",
            "core.db.sig -> core.db.tar.zst.sig",
            "core.db.tar.zst",
            "core.db.tar.zst.sig",
            "core.files -> core.files.tar.zst",
            "core.files.sig -> core.files.tar.zst.sig",
            "core.files.tar.zst",
            "core.files.tar.zst.sig",
            "foo1-1-x86_64.pkg.tar.zst",
            "foo1-1-x86_64.pkg.tar.zst.sig",
        ]
    );
    // The manifest a later publish recycles the generation with.
    assert_eq!(
        std::fs::read_to_string(t.out.join("current/.lumina-packages")).unwrap(),
        "core/foo1-1-x86_64.pkg.tar.zst\nextra/bar1-1-x86_64.pkg.tar.zst\n"
    );
    // Package files are hard links into the pool, not copies.
    use std::os::unix::fs::MetadataExt;
    let served =
        std::fs::metadata(served_repo_dir(&t.out, "core", ARCH).join("foo1-1-x86_64.pkg.tar.zst"))
            .unwrap();
    let pooled =
        std::fs::metadata(publish::pool_path(&t.out, "foo1-1-x86_64.pkg.tar.zst")).unwrap();
    assert_eq!(served.ino(), pooled.ino());
    let history = publish::history(&t.out).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].generation, history[0].at, history[0].kind),
        (1, 2001, SwitchKind::Publish)
    );
}

#[test]
fn a_publish_recycles_the_generation_it_would_delete_and_serves_exactly_its_release() {
    use std::os::unix::fs::MetadataExt;
    let mut gpg = Gpg::new();
    let t = Tree::new();
    for v in 1..=3 {
        t.publish(&mut gpg, v);
    }
    // Generation 1 is the one a keep-3 publish deletes. Plant in it what the next
    // release must not serve: a `baz` that is not the pool's file (the release lists
    // `baz`), a repository and an architecture the release does not have.
    let old = t.out.join(".generations/1");
    let planted = old
        .join("extra/os")
        .join(ARCH)
        .join("baz-1-x86_64.pkg.tar.zst");
    std::fs::write(&planted, b"not the pool's baz").unwrap();
    std::fs::create_dir_all(old.join("testing/os").join(ARCH)).unwrap();
    std::fs::create_dir_all(old.join("extra/os/i686")).unwrap();
    let old_ino = std::fs::metadata(&old).unwrap().ino();

    assert_eq!(t.publish(&mut gpg, 4), 4);
    assert_eq!(t.numbers(), [2, 3, 4]);
    let new = t.out.join(".generations/4");
    assert_eq!(
        std::fs::metadata(&new).unwrap().ino(),
        old_ino,
        "generation 1's directory became generation 4"
    );
    assert_eq!(t.served(&mut gpg), 4);
    assert_eq!(
        listing(&new),
        [
            ".lumina-packages",
            "core/",
            "extra/",
            "lastsync",
            "lastupdate",
            "report.json"
        ]
    );
    assert_eq!(listing(&new.join("extra/os")), [format!("{ARCH}/")]);
    assert_eq!(
        listing(&served_repo_dir(&t.out, "extra", ARCH)),
        [
            "bar4-1-x86_64.pkg.tar.zst",
            "bar4-1-x86_64.pkg.tar.zst.sig",
            "baz-1-x86_64.pkg.tar.zst",
            "baz-1-x86_64.pkg.tar.zst.sig",
            "extra.db -> extra.db.tar.zst",
            "extra.db.sig -> extra.db.tar.zst.sig",
            "extra.db.tar.zst",
            "extra.db.tar.zst.sig",
            "extra.files -> extra.files.tar.zst",
            "extra.files.sig -> extra.files.tar.zst.sig",
            "extra.files.tar.zst",
            "extra.files.tar.zst.sig",
        ]
    );
    for name in ["baz-1-x86_64.pkg.tar.zst", "bar4-1-x86_64.pkg.tar.zst"] {
        let served = std::fs::metadata(served_repo_dir(&t.out, "extra", ARCH).join(name)).unwrap();
        let pooled = std::fs::metadata(publish::pool_path(&t.out, name)).unwrap();
        assert_eq!(served.ino(), pooled.ino(), "{name} is the pool's file");
    }
    assert_eq!(
        listing(&served_repo_dir(&t.out, "core", ARCH))
            .iter()
            .filter(|n| n.contains(".pkg.tar"))
            .collect::<Vec<_>>(),
        ["foo4-1-x86_64.pkg.tar.zst", "foo4-1-x86_64.pkg.tar.zst.sig"]
    );
    // The generations kept are untouched.
    for n in [2, 3] {
        let dir = t.out.join(format!(".generations/{n}/core/os")).join(ARCH);
        assert!(dir.join(format!("foo{n}-1-x86_64.pkg.tar.zst")).is_file());
    }
}

#[test]
fn a_generation_without_a_valid_manifest_is_deleted_not_recycled() {
    use std::os::unix::fs::MetadataExt;
    let mut gpg = Gpg::new();
    for damage in ["remove", "garble"] {
        let t = Tree::new();
        for v in 1..=3 {
            t.publish(&mut gpg, v);
        }
        let old = t.out.join(".generations/1");
        let manifest = old.join(".lumina-packages");
        if damage == "remove" {
            std::fs::remove_file(&manifest).unwrap();
        } else {
            std::fs::write(&manifest, "core/../../etc/passwd.pkg.tar.zst\n").unwrap();
        }
        let old_ino = std::fs::metadata(&old).unwrap().ino();
        assert_eq!(t.publish(&mut gpg, 4), 4);
        assert_eq!(t.numbers(), [2, 3, 4], "{damage}");
        assert_ne!(
            std::fs::metadata(t.out.join(".generations/4"))
                .unwrap()
                .ino(),
            old_ino,
            "{damage}: made anew"
        );
        assert_eq!(t.served(&mut gpg), 4);
    }
}

#[test]
fn generations_are_kept_rolled_back_and_garbage_collected() {
    let mut gpg = Gpg::new();
    let t = Tree::new();
    for v in 1..=5 {
        assert_eq!(t.publish(&mut gpg, v), u64::from(v));
    }
    assert_eq!(t.numbers(), [3, 4, 5], "keep 3");
    assert_eq!(t.served(&mut gpg), 5);

    // Roll back to the previous generation, then to a given one, then forward again.
    let lock = t.lock();
    let r = rollback(&lock, &Fs::new(), None, 3000).unwrap();
    assert_eq!((r.from, r.to), (5, 4));
    drop(lock);
    assert_eq!(t.served(&mut gpg), 4);
    let lock = t.lock();
    assert_eq!(rollback(&lock, &Fs::new(), Some(3), 3001).unwrap().to, 3);
    assert_eq!(
        rollback(&lock, &Fs::new(), None, 3002)
            .unwrap_err()
            .to_string(),
        format!(
            "published tree `{}`: there is no generation older than 3; the generations \
             are: 3, 4, 5",
            t.out.display()
        )
    );
    assert_eq!(
        rollback(&lock, &Fs::new(), Some(1), 3003)
            .unwrap_err()
            .to_string(),
        format!(
            "published tree `{}`: there is no generation 1; the generations are: 3, 4, 5",
            t.out.display()
        )
    );
    assert_eq!(
        rollback(&lock, &Fs::new(), Some(3), 3004).unwrap().to,
        3,
        "a no-op"
    );
    assert_eq!(rollback(&lock, &Fs::new(), Some(5), 3005).unwrap().to, 5);
    rollback(&lock, &Fs::new(), Some(3), 3006).unwrap();
    drop(lock);
    assert_eq!(t.served(&mut gpg), 3);
    let gens = publish::generations(&t.out).unwrap();
    assert_eq!(
        gens.iter()
            .map(|g| (g.number, g.current, g.lastupdate, g.served_at))
            .collect::<Vec<_>>(),
        [
            (3, true, Some(2003), Some(3006)),
            (4, false, Some(2004), Some(3000)),
            (5, false, Some(2005), Some(3005)),
        ]
    );

    // A publish after a rollback gets a new number; the served generation is kept even
    // though it is not among the newest three.
    assert_eq!(t.publish(&mut gpg, 6), 6);
    assert_eq!(t.numbers(), [4, 5, 6]);
    let lock = t.lock();
    rollback(&lock, &Fs::new(), Some(4), 3007).unwrap();
    drop(lock);
    assert_eq!(t.publish(&mut gpg, 7), 7);
    assert_eq!(t.numbers(), [5, 6, 7]);

    // gc: pool files of deleted generations go, unless the caller still wants them.
    let lock = t.lock();
    std::fs::write(
        publish::pool_path(&t.out, "x.pkg.tar.zst.lumina-tmp"),
        b"torn",
    )
    .unwrap();
    let mut removed = gc(
        &lock,
        &Fs::new(),
        &|name: &str| name == "foo1-1-x86_64.pkg.tar.zst",
        3008,
    )
    .unwrap();
    removed.sort();
    assert_eq!(
        removed,
        [
            "bar1-1-x86_64.pkg.tar.zst",
            "bar1-1-x86_64.pkg.tar.zst.sig",
            "bar2-1-x86_64.pkg.tar.zst",
            "bar2-1-x86_64.pkg.tar.zst.sig",
            "bar3-1-x86_64.pkg.tar.zst",
            "bar3-1-x86_64.pkg.tar.zst.sig",
            "bar4-1-x86_64.pkg.tar.zst",
            "bar4-1-x86_64.pkg.tar.zst.sig",
            "foo2-1-x86_64.pkg.tar.zst",
            "foo2-1-x86_64.pkg.tar.zst.sig",
            "foo3-1-x86_64.pkg.tar.zst",
            "foo3-1-x86_64.pkg.tar.zst.sig",
            "foo4-1-x86_64.pkg.tar.zst",
            "foo4-1-x86_64.pkg.tar.zst.sig",
            "x.pkg.tar.zst.lumina-tmp",
        ]
    );
    assert!(
        gc(&lock, &Fs::new(), &|_: &str| false, 3009)
            .unwrap()
            .iter()
            .all(|n| n.starts_with("foo1-"))
    );
    drop(lock);
    assert_eq!(t.served(&mut gpg), 7, "everything served is still there");
}

#[test]
fn hostile_or_broken_input_is_refused_and_nothing_changes() {
    let mut gpg = Gpg::new();
    let t = Tree::new();
    t.publish(&mut gpg, 1);
    let before = t.numbers();
    let lock = t.lock();
    let out = t.out.display().to_string();
    for (packages, message) in [
        (
            vec!["../../etc/passwd.pkg.tar.zst".to_owned()],
            "`../../etc/passwd.pkg.tar.zst` is not a package file name (one path component, \
             not starting with `.`, containing `.pkg.tar`)",
        ),
        (
            vec![".hidden.pkg.tar.zst".to_owned()],
            "`.hidden.pkg.tar.zst` is not a package file name (one path component, not \
             starting with `.`, containing `.pkg.tar`)",
        ),
        (
            vec!["core.db".to_owned()],
            "`core.db` is not a package file name (one path component, not starting with `.`, \
             containing `.pkg.tar`)",
        ),
        (
            vec!["foo1-1-x86_64.pkg.tar.zst".to_owned(); 2],
            "`foo1-1-x86_64.pkg.tar.zst` is listed twice in repository `core`",
        ),
    ] {
        let repos = [RepoFiles {
            name: "core".into(),
            db: b"db".to_vec(),
            files: b"files".to_vec(),
            packages,
        }];
        let e = publish(
            &lock,
            &Fs::new(),
            &mut gpg,
            &Release {
                arch: ARCH,
                repos: &repos,
                lastsync: 0,
                lastupdate: 0,
                report: b"{}",
            },
            3,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), format!("published tree `{out}`: {message}"));
    }
    let repos = [RepoFiles {
        name: "core".into(),
        db: b"db".to_vec(),
        files: b"files".to_vec(),
        packages: vec!["missing-1-1-any.pkg.tar.zst".into()],
    }];
    let e = publish(
        &lock,
        &Fs::new(),
        &mut gpg,
        &Release {
            arch: "../x86_64",
            repos: &repos,
            lastsync: 0,
            lastupdate: 0,
            report: b"{}",
        },
        3,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("published tree `{out}`: `../x86_64` is not an architecture name")
    );
    let e = publish(
        &lock,
        &Fs::new(),
        &mut gpg,
        &Release {
            arch: ARCH,
            repos: &repos,
            lastsync: 0,
            lastupdate: 0,
            report: b"{}",
        },
        3,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "published tree `{out}`: `{out}/.pool/missing-1-1-any.pkg.tar.zst` (listed in \
             repository `core`) is not in the pool"
        )
    );
    // The pool refuses a second, different file under a name it has.
    assert_eq!(
        pool_insert(&lock, &Fs::new(), "foo1-1-x86_64.pkg.tar.zst", b"other")
            .unwrap_err()
            .to_string(),
        format!(
            "published tree `{out}`: the pool already holds a different \
             `foo1-1-x86_64.pkg.tar.zst`; a package file name must always stand for the same \
             bytes"
        )
    );
    drop(lock);
    assert_eq!(t.numbers(), before);
    assert!(t.leftovers().is_empty());
    assert_eq!(t.served(&mut gpg), 1);
}

#[test]
fn a_generation_completed_but_never_served_is_removed_by_the_next_run() {
    let mut gpg = Gpg::new();
    let t = Tree::new();
    t.publish(&mut gpg, 1);
    // What a crash between "rename the staging directory" and "switch" leaves.
    let orphan = t.out.join(".generations/2");
    std::fs::create_dir_all(orphan.join("core/os/x86_64")).unwrap();
    std::fs::create_dir_all(t.out.join(".generations/.tmp-3/core")).unwrap();
    std::os::unix::fs::symlink(".generations/2", t.out.join(".current.new")).unwrap();
    assert_eq!(
        t.publish(&mut gpg, 2),
        2,
        "the number of a never-served generation is reused"
    );
    assert_eq!(t.served(&mut gpg), 2);
    assert!(t.leftovers().is_empty());
    assert_eq!(t.numbers(), [1, 2]);
}

#[test]
fn a_crash_after_any_step_of_a_publish_leaves_a_consistent_generation_served() {
    let mut gpg = Gpg::new();
    // Generations 1 and 2 published; the crashed publish makes 3 and deletes 1 (keep 2).
    let template = Tree::new();
    template.publish_with(&mut gpg, 1, &Fs::new(), 2).unwrap();
    template.publish_with(&mut gpg, 2, &Fs::new(), 2).unwrap();
    let mut n = 1;
    let mut saw_new_served_after_crash = false;
    let mut recycled_before_switch = false;
    loop {
        let t = Tree::copy_of(&template);
        match t.publish_with(&mut gpg, 3, &Fs::failing_after(n), 2) {
            Ok(_) => break,
            Err(Error::Fs(lumina_core::Error::Injected { .. })) => {}
            Err(e) => panic!("step {n}: a real error: {e}"),
        }
        // A client reading now gets one whole generation, signatures matching.
        let served = t.served(&mut gpg);
        assert!(served == 2 || served == 3, "step {n}: serves {served}");
        saw_new_served_after_crash |= served == 3;
        // Rollback works from the state the crash left, unless the crash fell after the
        // publish recycled generation 1 (the one keep-2 deletes) and before the switch:
        // then 2 is the only generation, and it is served.
        let lock = t.lock();
        match rollback(&lock, &Fs::new(), None, 5000) {
            Ok(r) => assert!(r.to < r.from, "step {n}"),
            Err(e) => {
                assert_eq!(t.numbers(), [2], "step {n}: {e}");
                assert_eq!(served, 2, "step {n}");
                recycled_before_switch = true;
            }
        }
        drop(lock);
        t.served(&mut gpg);
        // The next publish converges: served, no leftovers, keep-2 holds.
        let g = t.publish_with(&mut gpg, 4, &Fs::new(), 2).unwrap();
        assert_eq!(t.served(&mut gpg), 4, "step {n}");
        assert!(t.leftovers().is_empty(), "step {n}: {:?}", t.leftovers());
        let numbers = t.numbers();
        assert_eq!(numbers.len(), 2, "step {n}: {numbers:?}");
        assert_eq!(numbers.last(), Some(&g));
        n += 1;
    }
    assert!(saw_new_served_after_crash, "no crash fell after the switch");
    assert!(recycled_before_switch, "generation 1 was not recycled");
    assert!(
        n > 40,
        "the publish has too few steps to mean anything ({n})"
    );
    eprintln!(
        "publish: a crash was injected after each of {} steps",
        n - 1
    );
}

#[test]
fn a_crash_after_any_step_of_a_rollback_leaves_a_consistent_generation_served() {
    let mut gpg = Gpg::new();
    let template = Tree::new();
    template.publish(&mut gpg, 1);
    template.publish(&mut gpg, 2);
    let mut n = 1;
    loop {
        let t = Tree::copy_of(&template);
        let lock = t.lock();
        match rollback(&lock, &Fs::failing_after(n), Some(1), 5000) {
            Ok(_) => break,
            Err(Error::Fs(lumina_core::Error::Injected { .. })) => {}
            Err(e) => panic!("step {n}: a real error: {e}"),
        }
        drop(lock);
        let served = t.served(&mut gpg);
        assert!(served == 1 || served == 2, "step {n}: serves {served}");
        let lock = t.lock();
        assert_eq!(rollback(&lock, &Fs::new(), Some(1), 5001).unwrap().to, 1);
        drop(lock);
        assert_eq!(t.served(&mut gpg), 1);
        assert!(t.leftovers().is_empty());
        assert_eq!(t.publish(&mut gpg, 3), 3);
        assert_eq!(t.served(&mut gpg), 3);
        n += 1;
    }
    assert!(n > 2, "too few steps ({n})");
}
