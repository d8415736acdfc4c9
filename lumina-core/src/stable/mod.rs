//! Lumina-Stable on the client: `lumina stable enable | disable | status`, and the freshness
//! check the pre-transaction hook runs.
//!
//! # What pacman does with a repository name defined twice (checked with pacman 6.0.2)
//!
//! Lumina-Stable serves the same repository names as Arch (`core`, `extra`, `multilib`), so
//! that installed packages keep their repository and switching back is one edit. When
//! `pacman.conf` defines `[core]` twice, `pacman-conf` lists both sections, but pacman
//! registers only the first: every run prints `error: could not register 'core' database
//! (database already registered)` and ignores the second section entirely: its servers are
//! *not* added as fallbacks (with the first section's server unreachable, `pacman -Sy` fails
//! even though the second one's works; exit status 0 otherwise). Front ends that register
//! the databases themselves from `pacman-conf` through `alpm-utils` (paru) stop at that
//! error instead (read in `alpm-utils`' `configure_alpm`, not run here).
//!
//! So listing Lumina-Stable's sections first would be *safe* (Arch's mirrors never bypass
//! the lag) but noisy on every run, and it breaks front ends. `enable` therefore turns off
//! Arch's sections of the names Lumina-Stable serves, reversibly: each of their directive
//! and header lines gets the prefix [`conf::OFF`] (`#lumina-stable-off# [core]`), which
//! pacman reads as a comment. Nothing else the user wrote changes, and `disable` removes
//! exactly those prefixes and the block (enable then disable is the identity, byte for byte;
//! tested on realistic files).
//!
//! # Where the sections go
//!
//! `Include = FILE` at the top level works for whole sections: pacman reads the included
//! file in place, and its `[core]` header starts a section like one in `pacman.conf` would.
//! After the include, pacman stays in the included file's last section, so the block is
//! always inserted right before a section header: before the first of the user's sections
//! that Lumina-Stable serves (after `[options]`; repositories the user listed before `[core]`
//! keep their precedence), or at the end of the file when there is none.
//!
//! # Freshness
//!
//! pacman downloads neither `lastupdate` nor anything else that dates a mirror, and a hook
//! must not go to the network. What it keeps of each sync is `sync/REPO.db`, whose mtime it
//! sets from the server's `Last-Modified` (a server without that header leaves the time of
//! the download), and `sync/REPO.db.sig` when the database is signed. Lumina-Stable re-signs
//! every database at each publish, so the signature's creation time is when the mirror's
//! copy was published; it is covered by the signature pacman verified, so a mirror that
//! replays old files with fresh dates cannot hide its age. [`freshness`] takes, for each
//! repository of the snippet, the signature's creation time (the database's mtime when it
//! has no readable signature) and looks at the newest. The threshold (default
//! [`DEFAULT_MAX_AGE`]) and whether the hook warns at all are `stable: { max_age, warn }` in
//! `/etc/lumina/config.yaml` ([`crate::config::Stable`]); `lumina stable status` applies the
//! same threshold and shows it ([`Freshness`]).

pub mod conf;
pub mod diff;
pub mod ops;
pub mod sig;
pub mod snippet;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::root::Root;

/// Where `enable` writes Lumina-Stable's repository sections (a system path).
pub const SNIPPET: &str = "/etc/pacman.d/lumina-stable.conf";
/// The template the package installs (the repository's `pkg/lumina-stable.conf`).
pub const TEMPLATE: &str = "/usr/share/lumina/lumina-stable.conf";
/// The Lumina-Stable public key the package installs.
pub const KEY: &str = "/usr/share/lumina/lumina-stable.asc";
/// What `enable` did, for `disable` and the hook.
pub const RECORD: &str = "/var/lib/lumina/stable.json";
/// pacman's configuration.
pub const PACMAN_CONF: &str = "/etc/pacman.conf";
/// pacman's keyring.
pub const GPGDIR: &str = "/etc/pacman.d/gnupg";
/// The template built into `lumina`, used when [`TEMPLATE`] is not installed.
pub const EMBEDDED_TEMPLATE: &str = include_str!("../../../pkg/lumina-stable.conf");
/// The default age from which [`freshness`] warns: 72 hours (`stable.max_age` in
/// `/etc/lumina/config.yaml` changes it).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(72 * 3600);

/// Why a `lumina stable` command stopped. Nothing was changed unless the variant says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input (exit 2): a file, option or template that cannot be used as it is.
    #[error("`{path}`: {message}")]
    BadInput {
        /// The file or option at fault.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file Lumina would overwrite or remove is not Lumina's (exit 3).
    #[error("`{path}` is in the way: {message}")]
    Conflict {
        /// The file.
        path: PathBuf,
        /// Why it is not Lumina's.
        message: String,
    },
    /// An I/O error, a command that failed, ... (exit 1, or 2 for an unsafe file).
    #[error(transparent)]
    Core(#[from] crate::Error),
}

impl Error {
    pub(crate) fn bad(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadInput {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// One key `enable` handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordKey {
    /// Its fingerprint.
    pub fingerprint: String,
    /// `enable` added it to pacman's keyring (it was not there): `disable` deletes it.
    pub imported: bool,
}

/// `/var/lib/lumina/stable.json`: what `enable` did (system paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format version (1).
    pub version: u32,
    /// The pacman.conf that was edited.
    pub pacman_conf: PathBuf,
    /// The snippet written.
    pub snippet: PathBuf,
    /// pacman's keyring.
    pub gpgdir: PathBuf,
    /// The keys of the key file.
    pub keys: Vec<RecordKey>,
    /// The first backup of pacman.conf `enable` made.
    pub backup: Option<PathBuf>,
    /// When `enable` last changed something (seconds since the epoch).
    pub enabled_at: u64,
}

impl Record {
    /// Read the record under `root`; `None` when absent or unreadable.
    pub fn load(root: &Root) -> Option<Self> {
        let bytes = crate::fs::read(&root.join(RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The newest publish time of Lumina-Stable's databases that pacman synced, with where it
/// came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncedAt {
    /// Seconds since the epoch.
    pub time: u64,
    /// `true`: the creation time of a database signature; `false`: a database file's mtime.
    pub signed: bool,
}

/// Where Lumina-Stable is configured under `root`, if it is enabled: the pacman.conf, the
/// snippet (system paths) and the repositories it defines.
pub fn enabled(root: &Root) -> Option<(PathBuf, PathBuf, Vec<String>)> {
    let record = Record::load(root);
    let conf_path = record
        .as_ref()
        .map_or_else(|| PathBuf::from(PACMAN_CONF), |r| r.pacman_conf.clone());
    let snippet_path = record
        .as_ref()
        .map_or_else(|| PathBuf::from(SNIPPET), |r| r.snippet.clone());
    let text = read_text(&root.join(&conf_path))?;
    if !conf::includes_path(&text, &snippet_path.to_string_lossy()) {
        return None;
    }
    let repos = snippet::repos(&read_text(&root.join(&snippet_path))?);
    Some((conf_path, snippet_path, repos))
}

fn read_text(path: &Path) -> Option<String> {
    String::from_utf8(crate::fs::read(path).ok()?).ok()
}

/// The newest publish time of the synced databases of `repos` in pacman's `DBPath` under
/// `root` (read from `pacman_conf`'s `[options]`, default `/var/lib/pacman`).
pub fn synced_at(root: &Root, pacman_conf: &Path, repos: &[String]) -> Option<SyncedAt> {
    let dbpath = read_text(&root.join(pacman_conf))
        .and_then(|t| conf::option(&t, "DBPath"))
        .unwrap_or_else(|| crate::root::PACMAN_DB.to_owned());
    let sync = root.join(&dbpath).join("sync");
    let mut newest: Option<SyncedAt> = None;
    for repo in repos {
        let at = crate::fs::read(&sync.join(format!("{repo}.db.sig")))
            .ok()
            .and_then(|b| sig::creation_time(&b))
            .map(|time| SyncedAt { time, signed: true })
            .or_else(|| {
                let m = crate::fs::stat(&sync.join(format!("{repo}.db"))).ok()??;
                let t = m
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?;
                Some(SyncedAt {
                    time: t.as_secs(),
                    signed: false,
                })
            });
        if let Some(at) = at
            && newest.is_none_or(|n| at.time > n.time)
        {
            newest = Some(at);
        }
    }
    newest
}

/// `2026-11-20 10:00 UTC`.
pub fn utc_minute(secs: u64) -> String {
    let s = crate::link::utc_stamp(std::time::UNIX_EPOCH + Duration::from_secs(secs));
    format!(
        "{}-{}-{} {}:{} UTC",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13]
    )
}

/// `5 days` or `30 hours`.
fn age_text(secs: u64) -> String {
    let hours = secs / 3600;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else if hours == 1 {
        "1 hour".to_owned()
    } else {
        format!("{hours} hours")
    }
}

/// The warning for databases published at `at`, seen at `now`, if older than `max_age`.
/// Pure.
pub fn stale_message(at: SyncedAt, now: u64, max_age: Duration, snippet: &Path) -> Option<String> {
    let age = now.checked_sub(at.time)?;
    if age <= max_age.as_secs() {
        return None;
    }
    Some(format!(
        "Lumina-Stable's databases are {} old ({} {}); after `pacman -Sy` that means your \
         mirror is stale: check `Server` in {}",
        age_text(age),
        if at.signed { "signed" } else { "published" },
        utc_minute(at.time),
        snippet.display()
    ))
}

/// The freshness check as `lumina stable status` reports it: the threshold and the switch
/// of `stable:` in `/etc/lumina/config.yaml`, and how the synced databases compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// Stale after this (`stable.max_age`), as the configuration writes it: `72h`.
    pub max_age: String,
    /// The same, in seconds.
    pub max_age_secs: u64,
    /// The pre hook prints its warning (`stable.warn`).
    pub warn: bool,
    /// Seconds since the newest synced database was published; `None` when nothing was
    /// synced (or Lumina-Stable is not enabled).
    pub age_secs: Option<u64>,
    /// Older than `max_age`.
    pub stale: bool,
    /// The warning, when stale (whether or not the hook prints it).
    pub message: Option<String>,
}

impl Freshness {
    /// Compare `synced` (from [`synced_at`]) at `now` with `policy`. Pure.
    pub fn of(
        synced: Option<SyncedAt>,
        now: u64,
        policy: &crate::config::Stable,
        snippet: &Path,
    ) -> Self {
        let message = synced.and_then(|at| stale_message(at, now, policy.max_age, snippet));
        Self {
            max_age: crate::config::format_duration(policy.max_age),
            max_age_secs: policy.max_age.as_secs(),
            warn: policy.warn,
            age_secs: synced.map(|at| now.saturating_sub(at.time)),
            stale: message.is_some(),
            message,
        }
    }
}

/// The one-line warning the pre-transaction hook prints when Lumina-Stable is enabled under
/// `root` and the newest of its databases that pacman synced was published more than
/// `max_age` before `now` (seconds since the epoch). `None` when it is not enabled, nothing
/// was synced yet, or the databases are fresh. Never fails: a hook must not stop a
/// transaction over this.
///
/// For example: ``Lumina-Stable's databases are 5 days old (signed 2026-11-20 10:00 UTC);
/// after `pacman -Sy` that means your mirror is stale: check `Server` in
/// /etc/pacman.d/lumina-stable.conf``.
pub fn freshness(root: &Root, now: u64, max_age: Duration) -> Option<String> {
    let (conf_path, snippet_path, repos) = enabled(root)?;
    let at = synced_at(root, &conf_path, &repos)?;
    stale_message(at, now, max_age, &snippet_path)
}

#[cfg(test)]
mod tests;
