//! OpenPGP signatures through gpgme, the library pacman itself verifies with.
//!
//! - [`Signer`] makes binary detached signatures (`FILE.sig`, what pacman downloads next to
//!   a database or package) with the configured key from a GnuPG home. It works with
//!   whatever that home's agent offers: a key without a passphrase, a cached passphrase,
//!   a smartcard.
//! - [`Verifier`] checks a detached signature against a keyring, a GnuPG home such as
//!   pacman's `/etc/pacman.d/gnupg`, with pacman's rule (`SigLevel = Required`, the
//!   default `TrustedOnly`, and `pacman-key --verify`): the signature is good *and* the key
//!   is fully trusted in that keyring, that is, signed by one of the keyring's own keys
//!   (`pacman-key --lsign-key`, `--populate`). A good signature by a key the keyring merely
//!   contains is refused, as pacman refuses it.
//!
//! Every failure names the file, the signature and the key, and says what is wrong
//! ([`SignatureProblem`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use gpgme::{Context, Protocol, Validity};
use lumina_core::fs::Fs;

use crate::error::{Error, SignatureProblem};

/// Something that makes binary detached signatures: [`Signer`], or a test double.
pub trait DetachedSigner {
    /// A binary detached signature of `data`.
    ///
    /// # Errors
    /// [`Error::Sign`] when signing fails.
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, Error>;

    /// A signature of each of `data`, in order (at once, where the signer can).
    ///
    /// # Errors
    /// [`Error::Sign`] when signing fails.
    fn sign_all(&mut self, data: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        data.iter().map(|d| self.sign(d)).collect()
    }

    /// Starts [`DetachedSigner::sign_all`] and returns before it is done, where the signer
    /// can (signers on threads of their own); [`Pending::wait`] gives the signatures.
    fn sign_later(&mut self, data: &[&[u8]]) -> Pending {
        Pending::done(self.sign_all(data))
    }
}

/// Signatures being made ([`DetachedSigner::sign_later`]).
pub struct Pending(Box<dyn FnOnce() -> Result<Vec<Vec<u8>>, Error> + Send>);

impl Pending {
    /// Signatures that will be `wait`ed for by calling `f`.
    pub fn new(f: impl FnOnce() -> Result<Vec<Vec<u8>>, Error> + Send + 'static) -> Self {
        Self(Box::new(f))
    }

    /// Signatures (or the failure) known already.
    #[must_use]
    pub fn done(result: Result<Vec<Vec<u8>>, Error>) -> Self {
        Self(Box::new(move || result))
    }

    /// Waits for the signatures, in the order asked.
    ///
    /// # Errors
    /// [`Error::Sign`] when signing failed.
    pub fn wait(self) -> Result<Vec<Vec<u8>>, Error> {
        (self.0)()
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

/// `FILE.sig`: where pacman looks for a file's detached signature.
#[must_use]
pub fn sig_path(file: &Path) -> PathBuf {
    lumina_core::fs::sibling(file, ".sig")
}

fn context(home: Option<&Path>) -> Result<Context, gpgme::Error> {
    let _ = gpgme::init();
    let mut ctx = Context::from_protocol(Protocol::OpenPgp)?;
    if let Some(home) = home {
        ctx.set_engine_home_dir(home.as_os_str().as_encoded_bytes())?;
    }
    ctx.set_armor(false);
    ctx.set_offline(true);
    Ok(ctx)
}

fn home_text(home: Option<&Path>) -> String {
    home.map_or_else(
        || "the default GnuPG home".to_owned(),
        |h| format!("the GnuPG home `{}`", h.display()),
    )
}

/// Signs with one key from one GnuPG home.
pub struct Signer {
    ctx: Context,
    fingerprint: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for the secret key `fingerprint` in `home` (`None`: GnuPG's default home).
    ///
    /// # Errors
    /// [`Error::Sign`] when GnuPG cannot be started, the home has no secret key with that
    /// fingerprint, or the key cannot sign (revoked, expired, disabled, no signing
    /// capability).
    pub fn new(home: Option<&Path>, fingerprint: &str) -> Result<Self, Error> {
        let fpr = fingerprint.to_ascii_uppercase();
        let fail = |message: String| Error::Sign {
            what: format!("cannot sign with key `{fpr}`"),
            message,
        };
        let mut ctx =
            context(home).map_err(|e| fail(format!("cannot use {}: {e}", home_text(home))))?;
        let key = ctx.get_secret_key(fpr.as_str()).map_err(|e| {
            fail(if e.code() == gpgme::Error::EOF.code() {
                format!(
                    "{} has no secret key with this fingerprint",
                    home_text(home)
                )
            } else {
                format!("looking it up in {}: {e}", home_text(home))
            })
        })?;
        let problem = if key.is_revoked() {
            Some("the key is revoked")
        } else if key.is_expired() {
            Some("the key has expired")
        } else if key.is_disabled() {
            Some("the key is disabled")
        } else if key.is_invalid() || !key.can_sign() {
            Some("the key cannot sign")
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(fail(p.to_owned()));
        }
        ctx.add_signer(&key)
            .map_err(|e| fail(format!("cannot use it to sign: {e}")))?;
        let fingerprint = key.fingerprint().map_or(fpr.clone(), str::to_owned);
        Ok(Self { ctx, fingerprint })
    }

    /// The primary key's fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn sign_data<'a>(
        &mut self,
        data: impl gpgme::IntoData<'a>,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        let mut sig = Vec::new();
        let fail = |message: String| Error::Sign {
            what: what.to_owned(),
            message,
        };
        let result = self
            .ctx
            .sign_detached(data, &mut sig)
            .map_err(|e| fail(format!("GnuPG: {e}")))?;
        if let Some(bad) = result.invalid_signers().next() {
            return Err(fail(format!(
                "GnuPG refused key `{}`: {}",
                bad.fingerprint().unwrap_or("?"),
                bad.reason()
                    .map_or_else(|| "no reason given".into(), |r| r.to_string())
            )));
        }
        if result.new_signatures().next().is_none() || sig.is_empty() {
            return Err(fail("GnuPG made no signature".into()));
        }
        Ok(sig)
    }

    /// Sign the file `file` (read as a stream: packages can be large) and write the binary
    /// signature to `FILE.sig`, atomically. Returns the signature's path.
    ///
    /// # Errors
    /// [`Error::Sign`] when signing fails; [`Error::Fs`] when the file cannot be read or
    /// the signature written.
    pub fn sign_file(&mut self, fs: &Fs, file: &Path) -> Result<PathBuf, Error> {
        let f = File::open(file)
            .map_err(|e| lumina_core::Error::io(file, "opening it to sign it", e))?;
        let sig = self.sign_data(&f, &format!("cannot sign `{}`", file.display()))?;
        let path = sig_path(file);
        fs.write_atomic(&path, &sig, false)?;
        Ok(path)
    }
}

impl DetachedSigner for Signer {
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let what = format!("cannot sign with key `{}`", self.fingerprint);
        self.sign_data(data, &what)
    }
}

/// A good signature by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The fingerprint of the key that made it.
    pub fingerprint: String,
    /// When it was made, in seconds since the Unix epoch, if the signature says.
    pub created: Option<u64>,
    /// The fingerprint of the key that made each signature, in order (a file can carry
    /// more than one; every one is good and trusted). For a subkey's signature this is the
    /// subkey's fingerprint: [`Verifier::primary_fingerprint`] names its primary key.
    pub signers: Vec<String>,
}

/// Checks detached signatures against one keyring (a GnuPG home).
pub struct Verifier {
    ctx: Context,
    keyring: PathBuf,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier using the keyring of the GnuPG home `keyring` (e.g. pacman's
    /// `/etc/pacman.d/gnupg`, or a home made for Lumina's upstream keys).
    ///
    /// # Errors
    /// [`Error::Sign`] when the directory does not exist or GnuPG cannot be started.
    pub fn new(keyring: &Path) -> Result<Self, Error> {
        let fail = |message: String| Error::Sign {
            what: format!("cannot use the keyring `{}`", keyring.display()),
            message,
        };
        match lumina_core::fs::stat(keyring)? {
            Some(m) if m.is_dir() => {}
            Some(_) => return Err(fail("it is not a directory (a GnuPG home)".into())),
            None => return Err(fail("it does not exist".into())),
        }
        let ctx = context(Some(keyring)).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            ctx,
            keyring: keyring.to_path_buf(),
        })
    }

    /// The keyring's GnuPG home.
    #[must_use]
    pub fn keyring(&self) -> &Path {
        &self.keyring
    }

    fn check<'a>(
        &mut self,
        data: impl gpgme::IntoData<'a>,
        sig: &[u8],
    ) -> Result<Verified, SignatureProblem> {
        if sig.is_empty() {
            return Err(SignatureProblem::Malformed("the file is empty".into()));
        }
        if sig.starts_with(b"-----BEGIN PGP") {
            return Err(SignatureProblem::Armored);
        }
        let result = self.ctx.verify_detached(sig, data).map_err(|e| {
            if [gpgme::Error::NO_DATA.code(), gpgme::Error::BAD_DATA.code()].contains(&e.code()) {
                SignatureProblem::Malformed(e.to_string())
            } else {
                SignatureProblem::Gpg(e.to_string())
            }
        })?;
        let mut good = None;
        for s in result.signatures() {
            let key = s
                .fingerprint()
                .map_or_else(|_| "unknown".to_owned(), str::to_owned);
            // A bad signature names only the key ID; name the key by its fingerprint when
            // the keyring has it.
            let key = if key.len() < 40 {
                self.ctx
                    .get_key(key.as_str())
                    .ok()
                    .and_then(|k| k.fingerprint().ok().map(str::to_owned))
                    .unwrap_or(key)
            } else {
                key
            };
            if let Err(e) = s.status() {
                let code = e.code();
                return Err(if code == gpgme::Error::BAD_SIGNATURE.code() {
                    SignatureProblem::Bad { key }
                } else if code == gpgme::Error::NO_PUBKEY.code() {
                    SignatureProblem::UnknownKey { key }
                } else if [
                    gpgme::Error::KEY_EXPIRED.code(),
                    gpgme::Error::SIG_EXPIRED.code(),
                    gpgme::Error::CERT_REVOKED.code(),
                ]
                .contains(&code)
                {
                    SignatureProblem::Expired {
                        key,
                        reason: e.to_string(),
                    }
                } else {
                    SignatureProblem::Gpg(format!("key `{key}`: {e}"))
                });
            }
            let validity = s.validity();
            if !matches!(validity, Validity::Full | Validity::Ultimate) {
                return Err(SignatureProblem::Untrusted {
                    key,
                    validity: validity_name(validity).to_owned(),
                });
            }
            good.get_or_insert_with(|| Verified {
                fingerprint: key.clone(),
                created: s.creation_time().and_then(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_secs())
                }),
                signers: Vec::new(),
            })
            .signers
            .push(key);
        }
        good.ok_or_else(|| SignatureProblem::Malformed("it holds no signature".into()))
    }

    /// The fingerprint of the primary key of `key` (a primary key's or a subkey's
    /// fingerprint, as [`Verified::signers`] gives it) in this keyring; `None` when the
    /// keyring does not have it.
    pub fn primary_fingerprint(&mut self, key: &str) -> Option<String> {
        let found = self.ctx.get_key(key).ok()?;
        let primary = found.fingerprint().ok()?.to_owned();
        // A fingerprint names one key: make sure the key found is that key or has it as a
        // subkey (not a key that merely matched the text some other way).
        found
            .subkeys()
            .any(|k| k.fingerprint().is_ok_and(|f| f.eq_ignore_ascii_case(key)))
            .then_some(primary)
    }

    /// Verify `sig`, a binary detached signature, over `data`.
    ///
    /// # Errors
    /// The [`SignatureProblem`]: armored, malformed, bad, unknown key, untrusted key,
    /// expired or revoked.
    pub fn verify_bytes(&mut self, data: &[u8], sig: &[u8]) -> Result<Verified, SignatureProblem> {
        self.check(data, sig)
    }

    /// Verify the file `file` against its signature `FILE.sig`.
    ///
    /// # Errors
    /// See [`Verifier::verify_file_with`].
    pub fn verify_file(&mut self, file: &Path) -> Result<Verified, Error> {
        self.verify_file_with(file, &sig_path(file))
    }

    /// Verify the file `file` (read as a stream) against the detached signature `sig`.
    ///
    /// # Errors
    /// - [`Error::Signature`] naming both files and the [`SignatureProblem`], including a
    ///   missing signature file.
    /// - [`Error::Fs`] when either file exists but cannot be read.
    pub fn verify_file_with(&mut self, file: &Path, sig: &Path) -> Result<Verified, Error> {
        let err = |problem| Error::Signature {
            file: file.to_path_buf(),
            sig: sig.to_path_buf(),
            problem,
        };
        if lumina_core::fs::stat(sig)?.is_none() {
            return Err(err(SignatureProblem::Missing));
        }
        let sig_bytes = lumina_core::fs::read(sig)?;
        let f = File::open(file)
            .map_err(|e| lumina_core::Error::io(file, "opening it to verify it", e))?;
        self.check(&f, &sig_bytes).map_err(err)
    }
}

fn validity_name(v: Validity) -> &'static str {
    match v {
        Validity::Undefined => "undefined",
        Validity::Never => "never",
        Validity::Marginal => "marginal",
        Validity::Full => "full",
        Validity::Ultimate => "ultimate",
        _ => "unknown",
    }
}
