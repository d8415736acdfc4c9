//! Fetching one upstream file into a partial file in `OUT/.incoming/`: over HTTP(S) with
//! `reqwest` (rustls, ring), or read from a `file://` mirror.
//!
//! - **Bounded**: a fetch stops reading as soon as the file would exceed its limit (a
//!   package's `%CSIZE%`, 16 KiB for a signature), and refuses a `Content-Length` over it
//!   before reading anything. A hostile mirror cannot fill the disk.
//! - **Resumable**: with `resume`, a fetch continues the partial file with an HTTP `Range`
//!   request. A `206` whose `Content-Range` does not start where the file ends, or a `200`
//!   (a server that ignores `Range`), starts the file again from its first byte.
//! - **Retried**: [`Transport::fetch`] retries transient failures (connection errors,
//!   timeouts, a body cut short, HTTP 408, 429 and 5xx) with exponential backoff
//!   ([`RetryPolicy`]), resuming where the cut left off; a permanent one (404, 410, another
//!   4xx, a file over its limit) is returned at once.
//! - **Conditional**: with [`Request::held`], the caller holds a version of the file: its
//!   `ETag` is sent as `If-None-Match` and its `Last-Modified` as `If-Modified-Since`, and a
//!   `304 Not Modified` is [`Fetched::not_modified`], nothing written. A `304` to a request
//!   that sent neither is an error. A `file://` source is not modified when its mtime
//!   (nanoseconds) and size are the ones held; it is not read then. Every success returns
//!   the [`Validators`] of what was fetched.
//!
//! The partial file is written with plain `std::fs` calls, not through `lumina_core::fs`:
//! it is scratch space that only `sync` reads, it is verified whole before anything is
//! made of it, and it is written by several downloads at once (`Fs` is one thread's
//! handle). Everything that matters (the pool, the snapshot) is written through `Fs`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{
    ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};

use crate::config::Scheme;

/// How a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many attempts in all (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waiting 1 s, 2 s, 4 s and 8 s between them.
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` failures (1-based):
    /// `base * 2^(attempt-1)`, at most `max`.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchProblem {
    /// The server has no such file (HTTP 404 or 410; a missing file on a `file://` mirror).
    NotFound,
    /// The file is larger than it may be.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Another HTTP status.
    Status(u16),
    /// The connection failed, timed out, or the body was cut short.
    Network(String),
    /// The TLS handshake failed: the server's certificate is not trusted or not for its
    /// name, or no protocol in common. Not retried.
    Tls(String),
    /// A `file://` mirror's file could not be read.
    Source(String),
    /// The URL is not one this tool fetches.
    BadUrl(String),
}

impl FetchProblem {
    /// Whether trying again may succeed: network failures and HTTP 408, 429 and 5xx.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Status(s) => *s == 408 || *s == 429 || (500..600).contains(s),
            Self::NotFound
            | Self::TooLarge { .. }
            | Self::Tls(_)
            | Self::Source(_)
            | Self::BadUrl(_) => false,
        }
    }
}

impl fmt::Display for FetchProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found (HTTP 404)"),
            Self::TooLarge { limit } => write!(
                f,
                "the server sends more than {limit} bytes, the most it may; reading stopped there"
            ),
            Self::Status(s) => write!(f, "HTTP status {s}"),
            Self::Network(m) => write!(f, "network error: {m}"),
            Self::Tls(m) => write!(f, "TLS: {m}"),
            Self::Source(m) => write!(f, "cannot read it: {m}"),
            Self::BadUrl(m) => write!(f, "bad URL: {m}"),
        }
    }
}

/// A failed fetch: the mirror's fault, or ours (the partial file cannot be written).
#[derive(Debug)]
pub enum FetchError {
    /// The mirror or the network; `attempts` requests were made.
    Remote {
        /// What went wrong last.
        problem: FetchProblem,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The partial file could not be written or read.
    Local {
        /// The partial file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The sync is being abandoned (another download failed for good).
    Cancelled,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Remote { problem, attempts } if *attempts > 1 => {
                write!(f, "{problem} (after {attempts} attempts)")
            }
            Self::Remote { problem, .. } => write!(f, "{problem}"),
            Self::Local { path, error } => write!(f, "`{}`: {error}", path.display()),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// A successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The size of the complete file (the held size when not modified).
    pub size: u64,
    /// Where the last successful request started (non-zero: it resumed a partial file).
    pub resumed_from: u64,
    /// How many requests were made.
    pub attempts: u32,
    /// The server answered `304 Not Modified` (a `file://` source has the held mtime and
    /// size): the file is the one held, and the partial file was not written.
    pub not_modified: bool,
    /// How the server identified what it sent (empty when not modified).
    pub validators: Validators,
}

/// How a server identifies a version of a file: HTTP's validators, or a `file://`
/// source's mtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` response header, verbatim.
    pub etag: Option<String>,
    /// The `Last-Modified` response header, verbatim.
    pub last_modified: Option<String>,
    /// A `file://` source's mtime, nanoseconds since the Unix epoch.
    pub mtime_ns: Option<u64>,
}

/// The version of a file the caller holds: fetch it only if upstream's differs.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// How the server identified it when it was fetched.
    pub validators: &'a Validators,
    /// Its size.
    pub size: u64,
}

/// What to fetch, and how.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The URL (`https://`, `http://` or `file://`).
    pub url: &'a str,
    /// The partial file to write.
    pub dest: &'a Path,
    /// Continue what `dest` holds (HTTP `Range`), and after a failed attempt what that
    /// attempt wrote, instead of starting again each time.
    pub resume: bool,
    /// The most bytes the complete file may have.
    pub limit: u64,
    /// The version the caller holds, if any: a conditional request.
    pub held: Option<Held<'a>>,
}

/// Connections to one upstream mirror, shared by every download of a sync.
#[derive(Debug, Clone)]
pub struct Transport {
    client: Option<reqwest::blocking::Client>,
    retry: RetryPolicy,
}

/// The timeouts of [`Transport::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait for a connection.
    pub connect: Duration,
    /// The longest wait for the response, and then for each read of its body (an idle
    /// timeout: a large file takes as long as it needs while data flows).
    pub read: Duration,
}

impl Default for Timeouts {
    /// 30 s to connect, 60 s without data.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            read: Duration::from_secs(60),
        }
    }
}

impl Transport {
    /// A transport for a mirror reached with `scheme`: an HTTP client (rustls with the
    /// `ring` provider, the system's CA certificates) for `https://` and `http://`.
    ///
    /// # Errors
    /// The message when the HTTP client cannot be built (no CA certificates, ...).
    pub fn new(scheme: Scheme, timeouts: Timeouts, retry: RetryPolicy) -> Result<Self, String> {
        let client = match scheme {
            Scheme::File => None,
            Scheme::Http | Scheme::Https => {
                // reqwest is built without a provider (`rustls-no-provider`): install ring
                // as the process's default, once. An error means one is installed already.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::blocking::Client::builder()
                    .user_agent(concat!("lumina-repo/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(timeouts.connect)
                    .timeout(timeouts.read)
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))?;
                Some(client)
            }
        };
        Ok(Self { client, retry })
    }

    /// Fetch `req.url` into `req.dest`, retrying transient failures with backoff (each
    /// retry resumes what the failed attempt wrote when `req.resume`). `progress` is told
    /// every chunk of bytes written; `cancel` abandons the fetch between chunks and waits.
    ///
    /// # Errors
    /// [`FetchError`]: the last problem after the attempts, a permanent problem at once,
    /// a local I/O error, or cancellation.
    pub fn fetch(
        &self,
        req: &Request<'_>,
        progress: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<Fetched, FetchError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if cancel.load(Ordering::Relaxed) {
                return Err(FetchError::Cancelled);
            }
            match self.fetch_once(req, progress, cancel) {
                Ok(mut fetched) => {
                    fetched.attempts = attempt;
                    return Ok(fetched);
                }
                Err(Attempt::Remote(problem)) => {
                    if !problem.is_transient() || attempt >= attempts {
                        return Err(FetchError::Remote {
                            problem,
                            attempts: attempt,
                        });
                    }
                }
                Err(Attempt::Local(path, error)) => return Err(FetchError::Local { path, error }),
                Err(Attempt::Cancelled) => return Err(FetchError::Cancelled),
            }
            // With `resume`, the next attempt continues what this one wrote; without,
            // it starts again (a database is fetched whole, from one version of it).
            sleep(self.retry.delay(attempt), cancel);
        }
    }

    fn fetch_once(
        &self,
        req: &Request<'_>,
        progress: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<Fetched, Attempt> {
        let local = |e: io::Error| Attempt::Local(req.dest.to_path_buf(), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(req.dest)
            .map_err(local)?;
        let mut start = if req.resume {
            file.metadata().map_err(local)?.len()
        } else {
            0
        };
        if start > req.limit {
            // A partial file longer than the file may be: start again.
            start = 0;
        }
        let Some(client) = &self.client else {
            return copy_local(req, &mut file, progress, cancel);
        };
        let mut builder = client.get(req.url);
        if start > 0 {
            builder = builder.header(reqwest::header::RANGE, format!("bytes={start}-"));
        }
        let conditions = req
            .held
            .map(|h| conditional_headers(h.validators))
            .unwrap_or_default();
        let conditional = !conditions.is_empty();
        for (name, value) in conditions {
            builder = builder.header(name, value);
        }
        let mut resp = builder.send().map_err(|e| Attempt::Remote(classify(&e)))?;
        let status = resp.status().as_u16();
        match status {
            304 if conditional => {
                return Ok(Fetched {
                    size: req.held.map_or(0, |h| h.size),
                    resumed_from: 0,
                    attempts: 1,
                    not_modified: true,
                    validators: Validators::default(),
                });
            }
            200 => start = 0,
            206 if start > 0 => {
                let range = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if range != Some(start) {
                    // Not the part asked for: start the file again on the next attempt.
                    file.set_len(0).map_err(local)?;
                    return Err(Attempt::Remote(FetchProblem::Network(format!(
                        "the server answered a request for bytes {start}- with another range"
                    ))));
                }
            }
            416 if start > 0 => {
                // The partial file is as long as the file (or longer): what it holds is
                // checked by the caller, and fetched again from the start if it is wrong.
                return Ok(Fetched {
                    size: start,
                    resumed_from: start,
                    attempts: 1,
                    not_modified: false,
                    validators: Validators::default(),
                });
            }
            404 | 410 => return Err(Attempt::Remote(FetchProblem::NotFound)),
            s => return Err(Attempt::Remote(FetchProblem::Status(s))),
        }
        if let Some(len) = resp.content_length()
            && start.saturating_add(len) > req.limit
        {
            return Err(Attempt::Remote(FetchProblem::TooLarge { limit: req.limit }));
        }
        let validators = response_validators(resp.headers());
        file.set_len(start).map_err(local)?;
        file.seek(SeekFrom::Start(start)).map_err(local)?;
        if start > 0 {
            progress(start);
        }
        let total = copy_bounded(&mut resp, &mut file, start, req, progress, cancel, |e| {
            Attempt::Remote(FetchProblem::Network(chain(&e)))
        })?;
        file.flush().map_err(local)?;
        Ok(Fetched {
            size: total,
            resumed_from: start,
            attempts: 1,
            not_modified: false,
            validators,
        })
    }
}

/// One attempt's failure.
enum Attempt {
    Remote(FetchProblem),
    Local(PathBuf, io::Error),
    Cancelled,
}

/// Sleep `d`, waking early when the sync is cancelled.
fn sleep(d: Duration, cancel: &AtomicBool) {
    let end = Instant::now() + d;
    while !cancel.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Copy `input` to `file` (at `start`), refusing more than `req.limit` bytes in all;
/// returns the total size.
fn copy_bounded<R: Read>(
    input: &mut R,
    file: &mut File,
    start: u64,
    req: &Request<'_>,
    progress: &dyn Fn(u64),
    cancel: &AtomicBool,
    read_error: impl Fn(io::Error) -> Attempt,
) -> Result<u64, Attempt> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = start;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Attempt::Cancelled);
        }
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if total + n as u64 > req.limit {
            return Err(Attempt::Remote(FetchProblem::TooLarge { limit: req.limit }));
        }
        file.write_all(&buf[..n])
            .map_err(|e| Attempt::Local(req.dest.to_path_buf(), e))?;
        total += n as u64;
        progress(n as u64);
    }
}

/// A `file://` URL: copy the file (from its start: a local read needs no resuming), unless
/// it is the one held (same mtime and size).
fn copy_local(
    req: &Request<'_>,
    file: &mut File,
    progress: &dyn Fn(u64),
    cancel: &AtomicBool,
) -> Result<Fetched, Attempt> {
    let path = file_url_path(req.url).map_err(|m| Attempt::Remote(FetchProblem::BadUrl(m)))?;
    let mut src = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Attempt::Remote(FetchProblem::NotFound));
        }
        Err(e) => return Err(Attempt::Remote(FetchProblem::Source(e.to_string()))),
    };
    let mtime_ns = match src.metadata() {
        Ok(m) if m.is_dir() => return Err(Attempt::Remote(FetchProblem::NotFound)),
        Ok(m) => {
            let mtime_ns = mtime_ns(&m);
            if let Some(held) = req.held
                && source_unchanged(held, mtime_ns, m.len())
            {
                return Ok(Fetched {
                    size: held.size,
                    resumed_from: 0,
                    attempts: 1,
                    not_modified: true,
                    validators: Validators::default(),
                });
            }
            if m.len() > req.limit {
                return Err(Attempt::Remote(FetchProblem::TooLarge { limit: req.limit }));
            }
            mtime_ns
        }
        Err(e) => return Err(Attempt::Remote(FetchProblem::Source(e.to_string()))),
    };
    let local = |e| Attempt::Local(req.dest.to_path_buf(), e);
    file.set_len(0).map_err(local)?;
    file.seek(SeekFrom::Start(0)).map_err(local)?;
    let total = copy_bounded(&mut src, file, 0, req, progress, cancel, |e| {
        Attempt::Remote(FetchProblem::Source(e.to_string()))
    })?;
    file.flush().map_err(local)?;
    Ok(Fetched {
        size: total,
        resumed_from: 0,
        attempts: 1,
        not_modified: false,
        // The mtime before the copy: a file changed while it was read looks changed to
        // the next sync too.
        validators: Validators {
            mtime_ns,
            ..Validators::default()
        },
    })
}

/// A file's mtime in nanoseconds since the Unix epoch (`None` before 1970 or after 2554).
fn mtime_ns(meta: &std::fs::Metadata) -> Option<u64> {
    let d = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(d.as_nanos()).ok()
}

/// Whether a `file://` source of `mtime_ns` and `size` is the file `held`: the same size
/// and mtime, to the nanosecond (as rsync's quick check, with finer time).
#[must_use]
pub fn source_unchanged(held: Held<'_>, mtime_ns: Option<u64>, size: u64) -> bool {
    held.validators.mtime_ns.is_some() && held.validators.mtime_ns == mtime_ns && held.size == size
}

/// The headers of a conditional request for a file held with `v`: `If-None-Match` with
/// its `ETag`, `If-Modified-Since` with its `Last-Modified` (as curl and pacman send them).
/// A value that cannot be a header value (edited into `state.json` by hand) is left out:
/// a request without conditions fetches the file whole, which is always correct.
#[must_use]
pub fn conditional_headers(v: &Validators) -> Vec<(HeaderName, HeaderValue)> {
    [
        (IF_NONE_MATCH, &v.etag),
        (IF_MODIFIED_SINCE, &v.last_modified),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = value.as_deref()?.trim();
        if value.is_empty() {
            return None;
        }
        HeaderValue::from_str(value).ok().map(|v| (name, v))
    })
    .collect()
}

/// The `ETag` and `Last-Modified` of a response (each when present and plain text).
#[must_use]
pub fn response_validators(headers: &HeaderMap) -> Validators {
    let get = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Validators {
        etag: get(ETAG),
        last_modified: get(LAST_MODIFIED),
        mtime_ns: None,
    }
}

/// The path of a `file:///abs/path` URL, percent-decoded.
///
/// # Errors
/// When it is not an absolute `file://` URL or decodes to invalid text.
pub fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let rest = url
        .strip_prefix("file://")
        .ok_or_else(|| format!("`{url}` is not a `file://` URL"))?;
    if !rest.starts_with('/') {
        return Err(format!("`{url}` is not an absolute `file://` URL"));
    }
    let decoded = percent_decode(rest).ok_or_else(|| format!("`{url}` has a bad `%` escape"))?;
    Ok(PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(decoded),
    ))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `name` as one URL path segment: every byte but the unreserved ones and the
/// sub-delimiters `!$&'()*+,;=:@` percent-encoded (`#`, `?`, `%`, space, non-ASCII).
#[must_use]
pub fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `DIR_URL/NAME`, with `name` encoded as one path segment.
#[must_use]
pub fn join_url(dir_url: &str, name: &str) -> String {
    format!("{}/{}", dir_url.trim_end_matches('/'), encode_segment(name))
}

/// The first byte of `Content-Range: bytes FIRST-LAST/TOTAL`.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (first, _) = rest.split_once('-')?;
    first.trim().parse().ok()
}

/// A reqwest error as a problem: anything on the way (connecting, sending, the body) is
/// a network error, and so transient; a bad URL or a redirect loop is not.
fn classify(e: &reqwest::Error) -> FetchProblem {
    if e.is_builder() {
        FetchProblem::BadUrl(chain(e))
    } else if e.is_redirect() {
        FetchProblem::Source(chain(e))
    } else if let Some(status) = e.status() {
        FetchProblem::Status(status.as_u16())
    } else if is_tls(e) {
        FetchProblem::Tls(chain(e))
    } else {
        FetchProblem::Network(chain(e))
    }
}

/// Whether rustls refused the connection, anywhere in the error's sources (an
/// `io::Error`'s own error is looked into too: its `source()` skips it).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(io) = e.downcast_ref::<io::Error>()
        && let Some(inner) = io.get_ref()
        && is_tls(inner)
    {
        return true;
    }
    e.source().is_some_and(is_tls)
}

/// An error and its sources, `a: b: c` (reqwest's own message is often just "error
/// sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = RetryPolicy {
            attempts: 10,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let delays: Vec<u128> = (1..=6).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(200), Duration::from_secs(1));
    }

    #[test]
    fn only_network_errors_timeouts_and_server_errors_are_transient() {
        assert!(FetchProblem::Network("reset".into()).is_transient());
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(FetchProblem::Status(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 416] {
            assert!(!FetchProblem::Status(s).is_transient(), "{s}");
        }
        assert!(!FetchProblem::NotFound.is_transient());
        assert!(!FetchProblem::TooLarge { limit: 1 }.is_transient());
    }

    #[test]
    fn urls_encode_one_segment_and_decode_file_paths() {
        assert_eq!(
            join_url(
                "https://m/core/os/x86_64/",
                "a+b-1:2.0-1-x86_64.pkg.tar.zst"
            ),
            "https://m/core/os/x86_64/a+b-1:2.0-1-x86_64.pkg.tar.zst"
        );
        assert_eq!(encode_segment("a b#c?d%e/é"), "a%20b%23c%3Fd%25e%2F%C3%A9");
        assert_eq!(
            file_url_path("file:///srv/m/a%20b").unwrap(),
            PathBuf::from("/srv/m/a b")
        );
        assert!(file_url_path("file://relative").is_err());
        assert!(file_url_path("file:///bad%zz").is_err());
        assert!(file_url_path("https://x/y").is_err());
    }

    #[test]
    fn content_range_gives_the_first_byte() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn a_file_url_is_copied_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::File::create(&src)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let t = Transport::new(Scheme::File, Timeouts::default(), RetryPolicy::default()).unwrap();
        let url = format!("file://{}", src.display());
        let dest = dir.path().join("dest");
        let cancel = AtomicBool::new(false);
        let req = Request {
            url: &url,
            dest: &dest,
            resume: true,
            limit: 10,
            held: None,
        };
        let got = t.fetch(&req, &|_| {}, &cancel).unwrap();
        assert_eq!(got.size, 10);
        assert!(!got.not_modified);
        assert!(got.validators.mtime_ns.is_some());
        assert_eq!(std::fs::read(&dest).unwrap(), b"0123456789");
        let small = Request { limit: 9, ..req };
        assert!(matches!(
            t.fetch(&small, &|_| {}, &cancel),
            Err(FetchError::Remote {
                problem: FetchProblem::TooLarge { limit: 9 },
                attempts: 1
            })
        ));
        let missing = format!("file://{}/nothing", dir.path().display());
        let gone = Request {
            url: &missing,
            ..req
        };
        assert!(matches!(
            t.fetch(&gone, &|_| {}, &cancel),
            Err(FetchError::Remote {
                problem: FetchProblem::NotFound,
                ..
            })
        ));
    }

    #[test]
    fn a_conditional_request_sends_the_held_validators_verbatim() {
        let lm = "Tue, 14 Nov 2023 22:13:20 GMT";
        let v = |etag: Option<&str>, last_modified: Option<&str>| Validators {
            etag: etag.map(str::to_owned),
            last_modified: last_modified.map(str::to_owned),
            mtime_ns: Some(5),
        };
        let sent = |v: &Validators| -> Vec<(String, String)> {
            conditional_headers(v)
                .into_iter()
                .map(|(n, h)| (n.as_str().to_owned(), h.to_str().unwrap().to_owned()))
                .collect()
        };
        let pair = |n: &str, h: &str| (n.to_owned(), h.to_owned());
        assert_eq!(
            sent(&v(Some("W/\"5f-1a\""), Some(lm))),
            [
                pair("if-none-match", "W/\"5f-1a\""),
                pair("if-modified-since", lm)
            ]
        );
        assert_eq!(
            sent(&v(Some("\"x\""), None)),
            [pair("if-none-match", "\"x\"")]
        );
        assert_eq!(sent(&v(None, Some(lm))), [pair("if-modified-since", lm)]);
        // A file:// mtime is no HTTP validator; nothing usable: an unconditional request.
        assert!(sent(&v(None, None)).is_empty());
        assert!(sent(&v(Some("a\nb"), Some("  "))).is_empty());
    }

    #[test]
    fn a_response_gives_its_etag_and_last_modified() {
        let mut h = HeaderMap::new();
        assert_eq!(response_validators(&h), Validators::default());
        h.insert(ETAG, HeaderValue::from_static("\"abc\""));
        h.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
        );
        let v = response_validators(&h);
        assert_eq!(v.etag.as_deref(), Some("\"abc\""));
        assert_eq!(
            v.last_modified.as_deref(),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert_eq!(v.mtime_ns, None);
    }

    #[test]
    fn a_file_source_is_unchanged_only_with_the_held_mtime_and_size() {
        let v = Validators {
            mtime_ns: Some(1_700_000_000_123_456_789),
            ..Validators::default()
        };
        let held = Held {
            validators: &v,
            size: 10,
        };
        assert!(source_unchanged(held, Some(1_700_000_000_123_456_789), 10));
        assert!(!source_unchanged(held, Some(1_700_000_000_123_456_788), 10));
        assert!(!source_unchanged(held, Some(1_700_000_000_123_456_789), 11));
        assert!(!source_unchanged(held, None, 10));
        let http = Validators::default();
        let held = Held {
            validators: &http,
            size: 10,
        };
        assert!(!source_unchanged(held, None, 10), "no mtime held: read it");
    }

    #[test]
    fn a_held_file_url_is_not_read_again_until_its_mtime_or_size_changes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::File::create(&src)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let t = Transport::new(Scheme::File, Timeouts::default(), RetryPolicy::default()).unwrap();
        let url = format!("file://{}", src.display());
        let dest = dir.path().join("dest");
        let cancel = AtomicBool::new(false);
        let req = Request {
            url: &url,
            dest: &dest,
            resume: false,
            limit: 10,
            held: None,
        };
        let first = t.fetch(&req, &|_| {}, &cancel).unwrap();
        std::fs::File::create(&dest).unwrap();
        let held = Request {
            held: Some(Held {
                validators: &first.validators,
                size: first.size,
            }),
            ..req
        };
        let again = t.fetch(&held, &|_| {}, &cancel).unwrap();
        assert!(again.not_modified);
        assert_eq!(again.size, 10);
        assert_eq!(std::fs::read(&dest).unwrap(), b"", "not read again");
        // Rewritten in place with the same size: another mtime, read again.
        let f = std::fs::File::options().write(true).open(&src).unwrap();
        (&f).write_all(b"abcdefghij").unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        drop(f);
        let changed = t.fetch(&held, &|_| {}, &cancel).unwrap();
        assert!(!changed.not_modified);
        assert_eq!(std::fs::read(&dest).unwrap(), b"abcdefghij");
        assert_ne!(changed.validators, first.validators);
    }
}
