//! `verify` on a real published tree (packages built as makepkg builds them, signed by a
//! throwaway upstream packager key or the Lumina key; databases written by `dbwrite` and
//! signed by the Lumina key; `publish`), and on copies of it with one thing broken each.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_repo::dbwrite::render_both;
use lumina_repo::lock::RepoLock;
use lumina_repo::pkgfile::{ReadOptions, read};
use lumina_repo::publish::{Release, RepoFiles, pool_insert_file, publish};
use lumina_repo::sign::{DetachedSigner, Signer};
use lumina_repo::verify::{VerifyOptions, VerifyReport, verify};

use crate::gnupg::Key;
use crate::mirror::{ARCH, Upstream, name_of, sig_of};

/// A published tree: `core` (foo, bar: signed by the upstream packager) and `lumina`
/// (lumina-tools: signed by the Lumina key), databases signed by the Lumina key.
struct Published {
    dir: tempfile::TempDir,
    out: PathBuf,
    config: PathBuf,
    up: Upstream,
    lumina: Key,
}

impl Published {
    fn new() -> Self {
        let up = Upstream::new();
        let lumina = Key::new("Lumina Stable <stable@lumina.invalid>");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let fs = Fs::new();
        let lock = RepoLock::acquire(&fs, &out, "test").unwrap();
        let repo = |name: &str, pkgs: &[(&str, &Key)]| {
            let mut entries = Vec::new();
            let mut files = Vec::new();
            for (pkg, key) in pkgs {
                let built = up.build(pkg, "1-1");
                let sig = Upstream::sign_with(key, &built);
                let file = name_of(&built);
                pool_insert_file(&lock, &fs, &file, &built).unwrap();
                pool_insert_file(&lock, &fs, &format!("{file}.sig"), &sig).unwrap();
                entries.push(read(&built, &ReadOptions::default()).unwrap());
                files.push(file);
            }
            let dbs = render_both(&entries).unwrap();
            RepoFiles {
                name: name.into(),
                db: dbs.db,
                files: dbs.files,
                packages: files,
            }
        };
        let repos = [
            repo("core", &[("foo", &up.packager), ("bar", &up.packager)]),
            repo("lumina", &[("lumina-tools", &lumina)]),
        ];
        let mut signer = Signer::new(Some(lumina.home.path()), &lumina.fpr).unwrap();
        publish(
            &lock,
            &fs,
            &mut signer,
            &Release {
                arch: ARCH,
                repos: &repos,
                lastsync: 1_700_000_000,
                lastupdate: 1_700_000_100,
                report: b"{}\n",
            },
            3,
        )
        .unwrap();
        let config = dir.path().join("repo.yaml");
        std::fs::write(
            &config,
            format!(
                "upstream: file://{}\n\
                 repositories: [core]\n\
                 output: {}\n\
                 signing:\n  key: {}\n  gnupg_home: {}\n\
                 upstream_keyring: {}\n",
                up.root.display(),
                out.display(),
                lumina.fpr,
                lumina.home.path().display(),
                up.keyring.path().display()
            ),
        )
        .unwrap();
        Self {
            dir,
            out,
            config,
            up,
            lumina,
        }
    }

    fn opts(&self) -> VerifyOptions {
        VerifyOptions {
            lumina_keyring: self.lumina.home.path().to_path_buf(),
            upstream_keyring: Some(self.up.keyring.path().to_path_buf()),
            jobs: 2,
            ..VerifyOptions::default()
        }
    }

    /// A mirror's copy of the served tree (`cp -a current/. COPY`).
    fn copy(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        std::fs::create_dir(&dest).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", self.out.join("current").display()))
            .arg(&dest)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        dest
    }

    fn check(&self, root: &Path) -> VerifyReport {
        verify(root, &self.opts()).unwrap()
    }
}

fn repo_dir(root: &Path, repo: &str) -> PathBuf {
    root.join(repo).join("os").join(ARCH)
}

/// `(repo, package, field)` of every problem.
fn named(r: &VerifyReport) -> Vec<(String, Option<String>, String)> {
    r.problems
        .iter()
        .map(|p| (p.repo.clone(), p.package.clone(), p.field.clone()))
        .collect()
}

fn p(repo: &str, package: Option<&str>, field: &str) -> (String, Option<String>, String) {
    (repo.into(), package.map(str::to_owned), field.into())
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x55;
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn lumina_repo(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lumina-repo"))
        .args(args)
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

#[test]
fn a_published_tree_and_a_copy_of_it_verify_clean() {
    let t = Published::new();
    let r = t.check(&t.out.join("current"));
    assert!(r.is_clean(), "{:?}", r.problems);
    let repos: Vec<_> = r
        .repos
        .iter()
        .map(|x| (x.repo.as_str(), x.arch.as_str(), x.entries))
        .collect();
    assert_eq!(repos, [("core", ARCH, 2), ("lumina", ARCH, 1)]);
    assert_eq!(r.packages, 3);
    let copy = t.copy("mirror");
    assert!(t.check(&copy).is_clean());

    // From the command line: the configuration's tree and keyrings; a copy with keyrings
    // given as options.
    let (code, _, stderr) =
        lumina_repo(&["verify".as_ref(), "--config".as_ref(), t.config.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(3 package files): clean"), "{stderr}");
    let (code, stdout, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--keyring".as_ref(),
        t.lumina.home.path().as_os_str(),
        "--upstream-keyring".as_ref(),
        t.up.keyring.path().as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["packages"], 3);
    assert_eq!(json["problems"].as_array().unwrap().len(), 0);

    // Without the upstream keyring, the packager's signatures are not trusted; the Lumina
    // key's are.
    let r = verify(
        &copy,
        &VerifyOptions {
            upstream_keyring: None,
            ..t.opts()
        },
    )
    .unwrap();
    assert_eq!(
        named(&r),
        [
            p("core", Some("bar"), "signature"),
            p("core", Some("foo"), "signature")
        ]
    );
    assert!(
        r.problems[0].problem.contains("not in the keyring"),
        "{}",
        r.problems[0]
    );
}

#[test]
fn a_tampered_package_database_or_signature_and_an_escaping_entry_are_each_named() {
    let t = Published::new();
    let core = |root: &Path| repo_dir(root, "core");
    let foo = format!("foo-1-1-{ARCH}.pkg.tar.zst");
    let bar = format!("bar-1-1-{ARCH}.pkg.tar.zst");

    // One byte of a package.
    let copy = t.copy("package");
    let size = std::fs::metadata(core(&copy).join(&foo)).unwrap().len();
    flip_byte(&core(&copy).join(&foo), usize::try_from(size / 2).unwrap());
    let r = t.check(&copy);
    assert_eq!(
        named(&r),
        [
            p("core", Some("foo"), "%SHA256SUM%"),
            p("core", Some("foo"), "signature")
        ]
    );
    assert!(
        r.problems[1].problem.contains("BAD signature"),
        "{}",
        r.problems[1]
    );
    assert_eq!(r.problems[0].file.as_deref(), Some(foo.as_str()));
    let text = r.problems[0].to_string();
    assert!(
        text.starts_with(&format!(
            "core/os/{ARCH}: package `foo` (`{foo}`): %SHA256SUM%: "
        )),
        "{text}"
    );
    // ... and from the command line: exit 1, the problem in the JSON report.
    let (code, stdout, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("2 problems found"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["problems"][0]["field"], "%SHA256SUM%");
    assert_eq!(json["problems"][0]["package"], "foo");
    assert_eq!(json["problems"][0]["repo"], "core");

    // One byte of a database.
    let copy = t.copy("database");
    let db = core(&copy).join("core.db.tar.zst");
    let size = std::fs::metadata(&db).unwrap().len();
    flip_byte(&db, usize::try_from(size / 2).unwrap());
    let r = t.check(&copy);
    let sig = r
        .problems
        .iter()
        .find(|x| x.field == "signature")
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert_eq!((sig.repo.as_str(), sig.package.as_deref()), ("core", None));
    assert_eq!(sig.file.as_deref(), Some("core.db.sig"));
    assert!(sig.problem.contains("BAD signature"), "{sig}");

    // A deleted package signature.
    let copy = t.copy("sig");
    std::fs::remove_file(sig_of(&core(&copy).join(&bar))).unwrap();
    let r = t.check(&copy);
    assert_eq!(named(&r), [p("core", Some("bar"), "signature")]);
    assert!(
        r.problems[0].problem.contains("is missing"),
        "{}",
        r.problems[0]
    );

    // A package that is a symlink out of the tree, to a file with the right bytes.
    let copy = t.copy("symlink");
    let outside = t.dir.path().join("outside.pkg.tar.zst");
    std::fs::copy(core(&copy).join(&foo), &outside).unwrap();
    std::fs::remove_file(core(&copy).join(&foo)).unwrap();
    std::os::unix::fs::symlink(&outside, core(&copy).join(&foo)).unwrap();
    let r = t.check(&copy);
    assert_eq!(named(&r), [p("core", Some("foo"), "%FILENAME%")]);
    assert!(
        r.problems[0].problem.contains("outside the tree"),
        "{}",
        r.problems[0]
    );

    // A database, signed by the Lumina key, whose entry points out of the directory.
    let copy = t.copy("entry");
    let mut entry = read(&core(&copy).join(&foo), &ReadOptions::default()).unwrap();
    entry.name = "evil".into();
    entry.filename = "../../../etc/evil.pkg.tar.zst".into();
    let db = t.up.craft_db(&[("evil-1-1", entry.desc_text())]);
    let mut signer = Signer::new(Some(t.lumina.home.path()), &t.lumina.fpr).unwrap();
    let sig = signer.sign(&db).unwrap();
    for (file, bytes) in [("core.db.tar.zst", &db), ("core.db.tar.zst.sig", &sig)] {
        std::fs::remove_file(core(&copy).join(file)).unwrap();
        std::fs::write(core(&copy).join(file), bytes).unwrap();
    }
    let r = t.check(&copy);
    let evil = r
        .problems
        .iter()
        .find(|x| x.package.as_deref() == Some("evil-1-1"))
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert_eq!(evil.field, "%FILENAME%");
    assert!(evil.problem.contains("contains `/`"), "{evil}");
    // The signature is good: only the entry is named.
    assert_eq!(named(&r), [p("core", Some("evil-1-1"), "%FILENAME%")]);
}
