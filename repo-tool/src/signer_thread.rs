//! A [`Signer`] on a thread of its own, used through a channel.
//!
//! A gpgme context may not move between threads, and `promote` wants two things of one: to
//! be made (a GnuPG key lookup: ~0.1 s) while the databases are read and planned, and to
//! sign on the thread that renders the databases while the package files are linked on
//! another. [`SignerThread::spawn`] makes the [`Signer`] on a new thread at once;
//! [`SignerThread::ready`] waits for it and reports a key that cannot sign; signing sends
//! the bytes over and waits for the signature.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::Error;
use crate::sign::{DetachedSigner, Signer};

type Reply = mpsc::Sender<Result<Vec<u8>, Error>>;

/// A [`Signer`] owned by a thread of its own; `Send`, unlike the signer.
#[derive(Debug)]
pub struct SignerThread {
    requests: mpsc::Sender<(Vec<u8>, Reply)>,
    /// The outcome of making the signer, until [`SignerThread::ready`] took it.
    made: Option<mpsc::Receiver<Result<String, Error>>>,
    /// Set once the signer could not be made: every signing fails with it.
    failed: Option<String>,
    fingerprint: Option<String>,
    _thread: JoinHandle<()>,
}

impl SignerThread {
    /// Starts making a signer for the secret key `fingerprint` in `home` (`None`: GnuPG's
    /// default home) on a new thread, and returns at once.
    #[must_use]
    pub fn spawn(home: Option<PathBuf>, fingerprint: String) -> Self {
        let (requests, incoming) = mpsc::channel::<(Vec<u8>, Reply)>();
        let (made_tx, made) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut signer = match Signer::new(home.as_deref(), &fingerprint) {
                Ok(s) => {
                    let _ = made_tx.send(Ok(s.fingerprint().to_owned()));
                    s
                }
                Err(e) => {
                    let _ = made_tx.send(Err(e));
                    return;
                }
            };
            // Until every sender is gone: the handle was dropped.
            for (data, reply) in incoming {
                let _ = reply.send(signer.sign(&data));
            }
        });
        Self {
            requests,
            made: Some(made),
            failed: None,
            fingerprint: None,
            _thread: thread,
        }
    }

    /// Waits until the signer is made.
    ///
    /// # Errors
    /// [`Error::Sign`] as [`Signer::new`]: GnuPG cannot be started, no such secret key, the
    /// key cannot sign.
    pub fn ready(&mut self) -> Result<&str, Error> {
        if let Some(made) = self.made.take() {
            match made.recv() {
                Ok(Ok(fpr)) => self.fingerprint = Some(fpr),
                Ok(Err(e)) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
                Err(_) => self.failed = Some("the signing thread ended".into()),
            }
        }
        match (&self.fingerprint, &self.failed) {
            (Some(fpr), _) => Ok(fpr),
            (None, failed) => Err(Error::Sign {
                what: "cannot sign".into(),
                message: failed.clone().unwrap_or_default(),
            }),
        }
    }
}

impl DetachedSigner for SignerThread {
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.ready()?;
        let (reply, answer) = mpsc::channel();
        let gone = || Error::Sign {
            what: "cannot sign".into(),
            message: "the signing thread ended".into(),
        };
        self.requests
            .send((data.to_vec(), reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}
