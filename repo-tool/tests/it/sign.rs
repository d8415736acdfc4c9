//! Signatures made by `sign::Signer` pass pacman's checks; every kind of bad signature is
//! refused with a message naming the file, the signature and the key.

use std::path::Path;

use lumina_core::fs::Fs;
use lumina_repo::Error;
use lumina_repo::error::SignatureProblem;
use lumina_repo::sign::{DetachedSigner, Signer, Verifier, sig_path};

use crate::gnupg::{Key, Keyring, gpg};

fn file(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn problem(e: Error) -> SignatureProblem {
    match e {
        Error::Signature { problem, .. } => problem,
        other => panic!("not a signature error: {other}"),
    }
}

#[test]
fn a_signature_made_by_signer_passes_gpg_pacman_key_and_verifier() {
    let key = Key::new("Lumina Test <test@lumina.invalid>");
    let keyring = Keyring::new();
    keyring.add(&key);
    keyring.lsign(&key);
    let dir = tempfile::tempdir().unwrap();
    let pkg = file(dir.path(), "foo-1-1-x86_64.pkg.tar.zst", b"package bytes");

    let mut signer = Signer::new(Some(key.home.path()), &key.fpr.to_lowercase()).unwrap();
    assert_eq!(signer.fingerprint(), key.fpr);
    let sig = signer.sign_file(&Fs::new(), &pkg).unwrap();
    assert_eq!(sig, sig_path(&pkg));
    let bytes = std::fs::read(&sig).unwrap();
    assert_ne!(bytes.first(), Some(&b'-'), "binary, not armored");

    // GnuPG itself, in the signer's home.
    let out = gpg(
        key.home.path(),
        &["--verify", &sig.to_string_lossy(), &pkg.to_string_lossy()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pacman's own check: good signature by a key the keyring trusts fully.
    assert!(keyring.pacman_key_verify(&sig, &pkg));
    // And ours, against the same keyring.
    let v = Verifier::new(keyring.path())
        .unwrap()
        .verify_file(&pkg)
        .unwrap();
    assert_eq!(v.fingerprint, key.fpr);
    assert!(v.created.is_some());

    // In memory too (what publish uses for databases).
    let db_sig = signer.sign(b"database").unwrap();
    let mut verifier = Verifier::new(keyring.path()).unwrap();
    assert_eq!(
        verifier
            .verify_bytes(b"database", &db_sig)
            .unwrap()
            .fingerprint,
        key.fpr
    );
    assert_eq!(
        verifier.verify_bytes(b"databasE", &db_sig).unwrap_err(),
        SignatureProblem::Bad {
            key: key.fpr.clone()
        }
    );
}

#[test]
fn a_key_the_keyring_has_but_does_not_trust_is_refused_like_pacman_refuses_it() {
    let key = Key::new("Lumina Test <test@lumina.invalid>");
    let keyring = Keyring::new();
    keyring.add(&key);
    let dir = tempfile::tempdir().unwrap();
    let pkg = file(dir.path(), "foo-1-1-x86_64.pkg.tar.zst", b"package bytes");
    let sig = Signer::new(Some(key.home.path()), &key.fpr)
        .unwrap()
        .sign_file(&Fs::new(), &pkg)
        .unwrap();
    assert!(
        !keyring.pacman_key_verify(&sig, &pkg),
        "pacman-key refuses it"
    );
    let e = Verifier::new(keyring.path())
        .unwrap()
        .verify_file(&pkg)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "signature `{}` of `{}`: made by key `{}`, which the keyring does not trust \
             (validity: unknown); pacman requires a key signed by the keyring's master key \
             (`pacman-key --lsign-key`)",
            sig.display(),
            pkg.display(),
            key.fpr
        )
    );
    // Trusting it (pacman-key --lsign-key) makes both accept it.
    keyring.lsign(&key);
    assert!(keyring.pacman_key_verify(&sig, &pkg));
    Verifier::new(keyring.path())
        .unwrap()
        .verify_file(&pkg)
        .unwrap();
}

#[test]
fn unknown_key_tampered_file_missing_armored_and_garbage_signatures_are_refused() {
    let key = Key::new("Lumina Test <test@lumina.invalid>");
    let stranger = Key::new("Someone Else <else@lumina.invalid>");
    let keyring = Keyring::new();
    keyring.add(&key);
    keyring.lsign(&key);
    let dir = tempfile::tempdir().unwrap();
    let mut verifier = Verifier::new(keyring.path()).unwrap();

    // Signed by a key the keyring does not have.
    let pkg = file(dir.path(), "a-1-1-any.pkg.tar.zst", b"a");
    Signer::new(Some(stranger.home.path()), &stranger.fpr)
        .unwrap()
        .sign_file(&Fs::new(), &pkg)
        .unwrap();
    assert_eq!(
        problem(verifier.verify_file(&pkg).unwrap_err()),
        SignatureProblem::UnknownKey {
            key: stranger.fpr.clone()
        }
    );

    // The file changed after it was signed.
    let pkg = file(dir.path(), "b-1-1-any.pkg.tar.zst", b"b");
    let sig = Signer::new(Some(key.home.path()), &key.fpr)
        .unwrap()
        .sign_file(&Fs::new(), &pkg)
        .unwrap();
    std::fs::write(&pkg, b"B").unwrap();
    assert!(!keyring.pacman_key_verify(&sig, &pkg));
    let e = verifier.verify_file(&pkg).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "signature `{}` of `{}`: BAD signature by key `{}`: the file or its signature was \
             modified",
            sig.display(),
            pkg.display(),
            key.fpr
        )
    );

    // No signature at all.
    let pkg = file(dir.path(), "c-1-1-any.pkg.tar.zst", b"c");
    assert_eq!(
        verifier.verify_file(&pkg).unwrap_err().to_string(),
        format!(
            "signature `{}.sig` of `{}`: the signature file is missing",
            pkg.display(),
            pkg.display()
        )
    );

    // An armored signature (pacman reads binary ones only).
    let armored = gpg(
        key.home.path(),
        &[
            "--armor",
            "--detach-sign",
            "-o",
            "-",
            &pkg.to_string_lossy(),
        ],
    )
    .stdout;
    std::fs::write(sig_path(&pkg), armored).unwrap();
    assert_eq!(
        problem(verifier.verify_file(&pkg).unwrap_err()),
        SignatureProblem::Armored
    );

    // Not a signature: empty, and random bytes.
    std::fs::write(sig_path(&pkg), b"").unwrap();
    assert_eq!(
        problem(verifier.verify_file(&pkg).unwrap_err()),
        SignatureProblem::Malformed("the file is empty".into())
    );
    std::fs::write(sig_path(&pkg), b"\x89PNG not a signature at all").unwrap();
    assert!(matches!(
        problem(verifier.verify_file(&pkg).unwrap_err()),
        SignatureProblem::Malformed(_)
    ));
}

#[test]
fn a_missing_key_or_keyring_is_a_clear_error() {
    let key = Key::new("Lumina Test <test@lumina.invalid>");
    let wrong = "0000000000000000000000000000000000000000";
    let e = Signer::new(Some(key.home.path()), wrong).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot sign with key `{wrong}`: the GnuPG home `{}` has no secret key with this \
             fingerprint",
            key.home.path().display()
        )
    );
    let e = Verifier::new(Path::new("/nonexistent/keyring")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot use the keyring `/nonexistent/keyring`: it does not exist"
    );
}
