//! `verify` on a real published tree (packages built as makepkg builds them, signed by a
//! throwaway upstream packager key or the Lumina key; databases written by `dbwrite` and
//! signed by the Lumina key; `publish`), and on copies of it with one thing broken each:
//! bytes changed, or a signature made by a key other than the one that should have.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_core::fs::Fs;
use lumina_repo::dbwrite::render_both;
use lumina_repo::lock::RepoLock;
use lumina_repo::pkgfile::{ReadOptions, read};
use lumina_repo::publish::{Release, RepoFiles, pool_insert_file, publish};
use lumina_repo::sign::{DetachedSigner, Signer, Verifier};
use lumina_repo::verify::{VerifyOptions, VerifyReport, verify};

use crate::gnupg::{Key, gpg};
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

    /// The keyrings, the signer not pinned.
    fn opts(&self) -> VerifyOptions {
        VerifyOptions {
            lumina_keyring: self.lumina.home.path().to_path_buf(),
            upstream_keyring: Some(self.up.keyring.path().to_path_buf()),
            jobs: 2,
            ..VerifyOptions::default()
        }
    }

    /// The keyrings, and the signer pinned to `keys`.
    fn pinned(&self, keys: &[&str]) -> VerifyOptions {
        VerifyOptions {
            lumina_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..self.opts()
        }
    }

    /// A second key, generated in the Lumina key's home: ultimately trusted there, as the
    /// Lumina key is.
    fn second_key(&self, uid: &str) -> String {
        let home = self.lumina.home.path();
        let out = gpg(
            home,
            &[
                "--passphrase",
                "",
                "--pinentry-mode",
                "loopback",
                "--quick-gen-key",
                uid,
                "ed25519",
                "sign",
                "never",
            ],
        );
        assert!(out.status.success(), "{out:?}");
        fingerprints(home, uid)[0].clone()
    }

    /// `gpg --local-user KEY --detach-sign FILE` in the Lumina key's home,
    /// replacing `FILE.sig` (GnuPG signs with the key's newest signing subkey, if it has
    /// one).
    fn sign_in_lumina_home(&self, key: &str, file: &Path) {
        let sig = sig_of(file);
        let _ = std::fs::remove_file(&sig);
        let out = gpg(
            self.lumina.home.path(),
            &[
                "--local-user",
                key,
                "--detach-sign",
                "--output",
                &sig.to_string_lossy(),
                &file.to_string_lossy(),
            ],
        );
        assert!(out.status.success(), "{out:?}");
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

/// The `fpr` lines of `gpg --list-keys PATTERN`: the primary key's, then its subkeys'.
fn fingerprints(home: &Path, pattern: &str) -> Vec<String> {
    let out = gpg(home, &["--with-colons", "--list-keys", pattern]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_owned())
        .collect()
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
    let r = verify(&t.out.join("current"), &t.pinned(&[&t.lumina.fpr])).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(
        (r.pinned.as_slice(), r.warnings.len()),
        (&[t.lumina.fpr.clone()][..], 0)
    );
    let repos: Vec<_> = r
        .repos
        .iter()
        .map(|x| (x.repo.as_str(), x.arch.as_str(), x.entries))
        .collect();
    assert_eq!(repos, [("core", ARCH, 2), ("lumina", ARCH, 1)]);
    assert_eq!(r.packages, 3);
    let copy = t.copy("mirror");
    assert!(t.check(&copy).is_clean());

    // From the command line: the configuration's tree, keyrings and signing key (pinned:
    // no warning); a copy with keyrings given as options and no key (not pinned: a
    // warning, in the JSON report too).
    let (code, _, stderr) =
        lumina_repo(&["verify".as_ref(), "--config".as_ref(), t.config.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(3 package files): clean"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
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
    assert_eq!(json["pinned"], serde_json::json!([]));
    let warning = json["warnings"][0].as_str().unwrap();
    assert!(warning.starts_with("the signer is not pinned"), "{warning}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(&format!("warning: {warning}")), "{stderr}");

    // Without the upstream keyring, the packages of upstream repositories cannot be
    // checked (the Lumina keyring is not theirs); the `lumina` repository's can.
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
        r.problems[0].problem.contains("no upstream keyring"),
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

#[test]
fn a_database_signed_by_another_key_the_keyring_trusts_is_refused_naming_both_keys() {
    let t = Published::new();
    let other = t.second_key("Someone Else <else@lumina.invalid>");
    let copy = t.copy("other");
    t.sign_in_lumina_home(&other, &repo_dir(&copy, "core").join("core.db.tar.zst"));

    // The keyring trusts both keys ultimately: not pinned, the signature passes (pacman's
    // rule), and the report says the signer was not pinned.
    let r = t.check(&copy);
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);

    // Pinned to the Lumina key: refused, naming the signer and the key expected.
    let r = verify(&copy, &t.pinned(&[&t.lumina.fpr])).unwrap();
    assert_eq!(named(&r), [p("core", None, "signature")]);
    let bad = &r.problems[0];
    assert_eq!(bad.file.as_deref(), Some("core.db.sig"));
    assert_eq!(bad.signer.as_deref(), Some(other.as_str()));
    assert_eq!(bad.expected, std::slice::from_ref(&t.lumina.fpr));
    assert!(
        bad.problem.contains(&format!("signed by key `{other}`"))
            && bad
                .problem
                .contains(&format!("not by the pinned Lumina key `{}`", t.lumina.fpr)),
        "{bad}"
    );

    // From the command line, pinned by `signing.key` of `repo.yaml`: exit 1, both keys
    // named, on standard error and in the JSON report.
    let (code, stdout, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["pinned"], serde_json::json!([t.lumina.fpr]));
    assert_eq!(json["warnings"], serde_json::json!([]));
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{stdout}");
    assert_eq!(problems[0]["field"], "signature");
    assert_eq!(problems[0]["repo"], "core");
    assert_eq!(problems[0]["file"], "core.db.sig");
    assert_eq!(problems[0]["signer"], other.as_str());
    assert_eq!(problems[0]["expected"], serde_json::json!([t.lumina.fpr]));
    let (code, _, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "core/os/{ARCH} (`core.db.sig`): signature: `core.db` is signed by key `{other}`, \
             a key the keyring trusts, but not by the pinned Lumina key `{}`",
            t.lumina.fpr
        )),
        "{stderr}"
    );
}

#[test]
fn a_signature_by_a_subkey_of_the_pinned_key_passes() {
    let t = Published::new();
    let home = t.lumina.home.path();
    let out = gpg(
        home,
        &[
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
            "--quick-add-key",
            &t.lumina.fpr,
            "ed25519",
            "sign",
            "never",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let fprs = fingerprints(home, &t.lumina.fpr);
    assert_eq!(fprs.len(), 2, "{fprs:?}");
    let sub = fprs[1].clone();

    // Every signature of the copy made again: GnuPG signs with the newest signing subkey.
    let copy = t.copy("subkey");
    let core = repo_dir(&copy, "core");
    let lumina = repo_dir(&copy, "lumina");
    let tools = lumina.join(format!("lumina-tools-1-1-{ARCH}.pkg.tar.zst"));
    for file in [
        core.join("core.db.tar.zst"),
        core.join("core.files.tar.zst"),
        lumina.join("lumina.db.tar.zst"),
        lumina.join("lumina.files.tar.zst"),
        tools.clone(),
    ] {
        t.sign_in_lumina_home(&t.lumina.fpr, &file);
    }
    // The signatures really are the subkey's, and the keyring names its primary key.
    let mut v = Verifier::new(home).unwrap();
    let got = v.verify_file(&tools).unwrap();
    assert_eq!(got.fingerprint, sub);
    assert_eq!(got.signers, std::slice::from_ref(&sub));
    assert_eq!(v.primary_fingerprint(&sub), Some(t.lumina.fpr.clone()));
    assert_eq!(
        v.primary_fingerprint(&t.lumina.fpr),
        Some(t.lumina.fpr.clone())
    );

    let r = verify(&copy, &t.pinned(&[&t.lumina.fpr])).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    let (code, _, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(3 package files): clean"), "{stderr}");

    // Pinning the subkey itself accepts its signatures, and only those: the `%PGPSIG%`
    // embedded at publish, made by the primary key, is named.
    let r = verify(&copy, &t.pinned(&[&sub.to_ascii_lowercase()])).unwrap();
    assert_eq!(named(&r), [p("lumina", Some("lumina-tools"), "%PGPSIG%")]);
    assert_eq!(r.problems[0].signer.as_deref(), Some(t.lumina.fpr.as_str()));
}

#[test]
fn during_a_key_rotation_two_pinned_keys_accept_either_and_only_those() {
    let t = Published::new();
    let old = t.lumina.fpr.clone();
    let new = t.second_key("Lumina Stable 2027 <stable@lumina.invalid>");
    // Halfway through: `core` is signed by the new key, `lumina` still by the old one.
    let copy = t.copy("rotation");
    let core = repo_dir(&copy, "core");
    for db in ["core.db.tar.zst", "core.files.tar.zst"] {
        t.sign_in_lumina_home(&new, &core.join(db));
    }

    let r = verify(&copy, &t.pinned(&[&old, &new])).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.pinned, [old.clone(), new.clone()]);
    // One key only: what the other signed is named.
    let r = verify(&copy, &t.pinned(&[&old])).unwrap();
    let files: Vec<_> = r.problems.iter().map(|x| x.file.as_deref()).collect();
    assert_eq!(files, [Some("core.db.sig"), Some("core.files.sig")]);
    assert!(
        r.problems
            .iter()
            .all(|x| x.signer.as_deref() == Some(&*new))
    );
    let r = verify(&copy, &t.pinned(&[&new])).unwrap();
    assert_eq!(
        named(&r),
        [
            p("lumina", None, "signature"),
            p("lumina", None, "signature"),
            p("lumina", Some("lumina-tools"), "signature"),
        ]
    );
    assert!(
        r.problems
            .iter()
            .all(|x| x.signer.as_deref() == Some(&*old))
    );

    // From the command line: `--key` twice (spaces and lower case allowed, as gpg prints
    // fingerprints) is the pin, over `signing.key` of `repo.yaml`, which alone refuses.
    let spaced: String = new
        .to_ascii_lowercase()
        .chars()
        .enumerate()
        .flat_map(|(i, c)| (i > 0 && i % 4 == 0).then_some(' ').into_iter().chain([c]))
        .collect();
    let (code, stdout, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
        "--key".as_ref(),
        old.as_ref(),
        "--key".as_ref(),
        spaced.as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["pinned"], serde_json::json!([old, new]));
    let (code, _, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("2 problems found"), "{stderr}");

    // A `--key` that is not a fingerprint is bad input (2); a pinned key the keyring does
    // not have means nothing could pass: the check does not run (1), and says why.
    let (code, _, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
        "--key".as_ref(),
        "DEADBEEF".as_ref(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a full key fingerprint"), "{stderr}");
    let (code, _, stderr) = lumina_repo(&[
        "verify".as_ref(),
        copy.as_os_str(),
        "--config".as_ref(),
        t.config.as_os_str(),
        "--key".as_ref(),
        t.up.packager.fpr.as_ref(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("has no pinned key") && stderr.contains(&t.up.packager.fpr),
        "{stderr}"
    );
}

#[test]
fn a_lumina_package_signed_by_an_upstream_key_and_an_upstream_package_signed_by_the_lumina_key_are_refused()
 {
    let t = Published::new();
    let copy = t.copy("swapped");
    let tools = repo_dir(&copy, "lumina").join(format!("lumina-tools-1-1-{ARCH}.pkg.tar.zst"));
    let foo = repo_dir(&copy, "core").join(format!("foo-1-1-{ARCH}.pkg.tar.zst"));
    Upstream::sign_with(&t.up.packager, &tools);
    Upstream::sign_with(&t.lumina, &foo);

    // The upstream keyring trusts the packager, and the Lumina keyring the Lumina key; but
    // `lumina` packages are checked against the Lumina keyring only, and upstream ones
    // against the upstream keyring only.
    for opts in [t.opts(), t.pinned(&[&t.lumina.fpr])] {
        let r = verify(&copy, &opts).unwrap();
        assert_eq!(
            named(&r),
            [
                p("core", Some("foo"), "signature"),
                p("lumina", Some("lumina-tools"), "signature"),
            ]
        );
        let (foo, tools) = (&r.problems[0], &r.problems[1]);
        assert!(
            foo.problem.contains("(upstream keyring)")
                && foo.problem.contains(&t.lumina.fpr)
                && foo.problem.contains("packager's signature"),
            "{foo}"
        );
        assert!(
            tools
                .problem
                .contains("not in the keyring (Lumina keyring)"),
            "{tools}"
        );
    }

    // The packager's key imported into the Lumina keyring and certified there by the Lumina
    // key: trusted, so without a pin the package passes (pacman would take it); pinned, it
    // is refused, naming the packager's key and the Lumina key.
    let home = t.lumina.home.path();
    let key_file = t.dir.path().join("packager.gpg");
    std::fs::write(&key_file, t.up.packager.export()).unwrap();
    for args in [
        vec!["--import", key_file.to_str().unwrap()],
        vec![
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
            "--yes",
            "--quick-lsign-key",
            &t.up.packager.fpr,
        ],
        vec!["--check-trustdb"],
    ] {
        let out = gpg(home, &args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    Upstream::sign_with(&t.up.packager, &foo);
    let r = t.check(&copy);
    assert!(r.is_clean(), "{:?}", r.problems);
    let r = verify(&copy, &t.pinned(&[&t.lumina.fpr])).unwrap();
    assert_eq!(named(&r), [p("lumina", Some("lumina-tools"), "signature")]);
    let tools = &r.problems[0];
    assert_eq!(tools.signer.as_deref(), Some(t.up.packager.fpr.as_str()));
    assert_eq!(tools.expected, std::slice::from_ref(&t.lumina.fpr));
    assert!(
        tools.problem.contains(&format!(
            "`lumina-tools-1-1-{ARCH}.pkg.tar.zst.sig` is signed by key `{}`",
            t.up.packager.fpr
        )),
        "{tools}"
    );
}
