//! [`Signer`]s on threads of their own, used through a channel.
//!
//! A gpgme context may not move between threads, and `promote` wants three things of its
//! signer: to be made (a GnuPG key lookup: ~0.1 s) while the databases are read and
//! planned, to sign on the thread that renders the databases while the package files are
//! linked on another, and to make a repository's two signatures at once (each is a GnuPG
//! process of its own: mostly waiting). [`SignerThread::spawn`] makes the signers on new
//! threads at once; [`SignerThread::ready`] waits for them and reports a key that cannot
//! sign; signing sends the bytes over and waits for the signature.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use crate::error::Error;
use crate::sign::{DetachedSigner, Pending, Signer};

type Reply = mpsc::Sender<(usize, Result<Vec<u8>, Error>)>;
type Request = (usize, Arc<Vec<u8>>, Reply);

/// [`Signer`]s for one key, each owned by a thread of its own; `Send`, unlike a signer.
#[derive(Debug)]
pub struct SignerThread {
    requests: mpsc::Sender<Request>,
    /// The outcome of making each signer, until [`SignerThread::ready`] took them.
    made: Option<mpsc::Receiver<Result<String, Error>>>,
    workers: usize,
    /// Set once a signer could not be made: every signing fails with it.
    failed: Option<String>,
    fingerprint: Option<String>,
}

impl SignerThread {
    /// Starts making `workers` (at least 1) signers for the secret key `fingerprint` in
    /// `home` (`None`: GnuPG's default home), each on a new thread, and returns at once.
    #[must_use]
    pub fn spawn(home: Option<PathBuf>, fingerprint: String, workers: usize) -> Self {
        let workers = workers.max(1);
        let (requests, incoming) = mpsc::channel::<Request>();
        let incoming = Arc::new(Mutex::new(incoming));
        let (made_tx, made) = mpsc::channel();
        for _ in 0..workers {
            let (home, fingerprint) = (home.clone(), fingerprint.clone());
            let (incoming, made_tx) = (Arc::clone(&incoming), made_tx.clone());
            std::thread::spawn(move || {
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
                drop(made_tx);
                loop {
                    // Until every sender is gone: the handle was dropped.
                    let next = match incoming.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, data, reply)) = next else { return };
                    let _ = reply.send((i, signer.sign(&data)));
                }
            });
        }
        Self {
            requests,
            made: Some(made),
            workers,
            failed: None,
            fingerprint: None,
        }
    }

    /// Waits until the signers are made; returns the key's fingerprint.
    ///
    /// # Errors
    /// [`Error::Sign`] as [`Signer::new`]: GnuPG cannot be started, no such secret key, the
    /// key cannot sign.
    pub fn ready(&mut self) -> Result<&str, Error> {
        if let Some(made) = self.made.take() {
            for _ in 0..self.workers {
                match made.recv() {
                    Ok(Ok(fpr)) => self.fingerprint = Some(fpr),
                    Ok(Err(e)) => {
                        self.failed = Some(e.to_string());
                        return Err(e);
                    }
                    Err(_) => {
                        self.failed = Some("a signing thread ended".into());
                        break;
                    }
                }
            }
        }
        match (&self.failed, &self.fingerprint) {
            (None, Some(fpr)) => Ok(fpr),
            (failed, _) => Err(Error::Sign {
                what: "cannot sign".into(),
                message: failed.clone().unwrap_or_default(),
            }),
        }
    }
}

impl DetachedSigner for SignerThread {
    fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut all = self.sign_all(&[data])?;
        Ok(all.remove(0))
    }

    /// Every piece at once, one per signing thread.
    fn sign_all(&mut self, data: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        self.sign_later(data).wait()
    }

    fn sign_later(&mut self, data: &[&[u8]]) -> Pending {
        let gone = || Error::Sign {
            what: "cannot sign".into(),
            message: "the signing thread ended".into(),
        };
        if let Err(e) = self.ready() {
            return Pending::done(Err(e));
        }
        let (reply, answers) = mpsc::channel();
        for (i, piece) in data.iter().enumerate() {
            if self
                .requests
                .send((i, Arc::new(piece.to_vec()), reply.clone()))
                .is_err()
            {
                return Pending::done(Err(gone()));
            }
        }
        drop(reply);
        let n = data.len();
        Pending::new(move || {
            let mut out: Vec<Option<Vec<u8>>> = vec![None; n];
            for _ in 0..n {
                let (i, sig) = answers.recv().map_err(|_| gone())?;
                out[i] = Some(sig?);
            }
            out.into_iter().map(|s| s.ok_or_else(gone)).collect()
        })
    }
}
