//! `lumina-repo sync` and `lumina-repo verify` on the command line: arguments, the
//! progress display (indicatif, on a terminal only), the summary and `--json`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_repo::clock;
use lumina_repo::config::RepoConfig;
use lumina_repo::lock::RepoLock;
use lumina_repo::publish;
use lumina_repo::sync::{Progress, SyncOptions, SyncReport};
use lumina_repo::upstream::Rejected;
use lumina_repo::verify::{VerifyOptions, VerifyReport};

/// The configuration file read when `--config` is not given.
const DEFAULT_CONFIG: &str = "/etc/lumina-repo/repo.yaml";

/// `sync`: the long help.
pub const SYNC_LONG_ABOUT: &str = "\
Fetch upstream's databases and the package files they list, and verify every file.

For each repository of `repo.yaml`: `$repo.db` (and `$repo.files` when upstream has one) is \
fetched, validated whole (and its `.sig` verified against the upstream keyring when upstream \
signs its databases) and kept as the upstream snapshot (`OUTPUT/.upstream/`); one \
truncated, damaged or hostile database refuses the whole sync and changes nothing. Every \
(package, version) is recorded in the ledger with the time it was first seen: its quarantine \
starts then. Every package file the pool lacks is downloaded with its `.sig` (concurrently, \
retried with backoff, resumed with HTTP Range), checked against its entry's `%CSIZE%` and \
`%SHA256SUM%` and against the upstream keyring, and only then put into the pool. A file that \
fails is rejected, with the field at fault (`%SHA256SUM%`, `%CSIZE%`, `signature`, \
`%PGPSIG%`, `download`); `promote` holds it, and the next sync tries it again.

Databases are fetched conditionally, as pacman and mirror scripts do: \
`OUTPUT/.upstream/state.json` records each snapshot database's SHA-256, size and the server's \
`ETag` and `Last-Modified`, and the next sync sends them as `If-None-Match` and \
`If-Modified-Since`. On `304 Not Modified` the snapshot stays (nothing downloaded; the \
repository is reported `not modified`); a server that ignores them simply sends the database \
again. A snapshot that no longer has its recorded size and SHA-256 (damaged, removed) is \
fetched unconditionally. A `file://` upstream is compared by mtime (to the nanosecond) and \
size, and read only when either changed.

A second sync with nothing new downloads nothing and rewrites nothing; it still fetches package \
files missing from the pool and tries rejected ones again.

Example, from a timer before `lumina-repo promote`:
  lumina-repo sync --config /etc/lumina-repo/repo.yaml";

/// `sync`: exit statuses.
pub const SYNC_AFTER_HELP: &str = "\
Exit status:
  0  synced; every listed file is verified in the pool
  1  an operational error, or an upstream database that could not be fetched or was refused
     (truncated, not an archive, a hostile entry: the message names the entry and the field);
     the previous snapshot stays and nothing was changed
  2  bad input: the command line or `repo.yaml`
  3  synced, but some entries were rejected (each is listed with the field at fault); they
     stay out of the pool, `promote` holds them, and the next sync tries them again";

/// `verify`: the long help.
pub const VERIFY_LONG_ABOUT: &str = "\
Check a published tree: every database's signature, and every entry's file.

DIR is a tree root: `OUTPUT/current`, or any copy of it (an rsync mirror). Without DIR, \
`OUTPUT/current` of `repo.yaml` is checked. For every `$repo/os/$arch/$repo.db`: its `.sig` \
verifies against the Lumina keyring and was made by the Lumina signing key (`signing.key` of \
`repo.yaml`, or `--key`; a subkey of it counts); it parses (an entry whose `%FILENAME%` has \
`/` or `..` is named); every entry's file is present inside the tree (no symlink leading \
out), with the entry's size and SHA-256, and a valid `.sig`: by the Lumina signing key in \
the `lumina` repository, by a key of the upstream keyring in the others (what `sync` admits; \
nothing re-signs upstream packages). A good signature by another key, even one the keyring \
trusts, is a problem naming the signer and the expected key. Without `repo.yaml` and \
`--key`, any key the Lumina keyring trusts is accepted and a warning says the signer is not \
pinned. Each problem names the repository, the package and the field. It only reads.

Example, on a downstream mirror, during a key rotation (either key accepted):
  lumina-repo verify /srv/mirror/lumina-stable --keyring /etc/lumina-repo/gnupg \\
      --upstream-keyring /etc/pacman.d/gnupg --key OLD_FINGERPRINT --key NEW_FINGERPRINT";

/// `verify`: exit statuses.
pub const VERIFY_AFTER_HELP: &str = "\
Exit status:
  0  the tree is clean
  1  problems were found (each is listed; a signature by a key other than the pinned one is
     one), or the check could not run (a keyring, none of the pinned keys in the Lumina
     keyring, I/O)
  2  bad input: the command line (a `--key` that is not a full fingerprint) or `repo.yaml`";

/// `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "LUMINA_REPO_CONFIG",
        default_value = DEFAULT_CONFIG
    )]
    config: PathBuf,

    /// The time of the sync, recorded as first-seen time and `lastsync`: seconds since the
    /// Unix epoch or RFC 3339 (`2025-01-31T12:00:00Z`). Default: now.
    #[arg(long, value_name = "SECS_OR_RFC3339", value_parser = parse_time)]
    now: Option<u64>,

    /// How many package files to download at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// Print a JSON summary on standard output: repositories (entries, `changed`,
    /// `not_modified`), files downloaded, files already in the pool, the rejected entries.
    #[arg(long)]
    json: bool,

    /// No progress display and no summary line (rejected entries are still listed).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The tree to check (default: `OUTPUT/current` of `repo.yaml`).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,

    /// The configuration file: the output directory, the keyrings and the signing key, when
    /// not given as options (default: /etc/lumina-repo/repo.yaml, when it exists).
    #[arg(long, short = 'c', value_name = "FILE", env = "LUMINA_REPO_CONFIG")]
    config: Option<PathBuf>,

    /// The GnuPG home that trusts the Lumina key (default: the signing key's home from
    /// `repo.yaml`, else GnuPG's default home).
    #[arg(long, value_name = "GNUPGHOME")]
    keyring: Option<PathBuf>,

    /// The GnuPG home trusted for upstream packagers' signatures (default: `upstream_keyring`
    /// from `repo.yaml`; without either, the packages of upstream repositories cannot be
    /// checked and each is a problem).
    #[arg(long, value_name = "GNUPGHOME")]
    upstream_keyring: Option<PathBuf>,

    /// The Lumina signing key, by full fingerprint: the databases and the `lumina`
    /// repository's packages must be signed by it or one of its subkeys, not merely by a
    /// key the keyring trusts. Repeat it during a key rotation (any listed key is accepted):
    /// `--key OLD_FPR --key NEW_FPR`. Default: `signing.key` of `repo.yaml`; without either,
    /// the signer is not pinned (a warning says so).
    #[arg(long = "key", value_name = "FINGERPRINT", value_parser = parse_fingerprint)]
    keys: Vec<String>,

    /// How many packages to check at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: Option<u16>,

    /// Print the report as JSON on standard output: the repositories, the problems (a
    /// signature by the wrong key with `signer` and `expected`), `pinned` and `warnings`.
    #[arg(long)]
    json: bool,
}

/// A command that finished with a non-zero status of its own (not an error).
#[derive(Debug)]
pub struct Finished {
    /// The status.
    pub status: ExitStatus,
    /// What to say.
    pub message: String,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Finished {}

/// A full key fingerprint (40 hexadecimal digits, 64 for a v5 key; spaces and `0x`
/// allowed), in upper case.
fn parse_fingerprint(text: &str) -> Result<String, String> {
    let fpr: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let fpr = fpr.strip_prefix("0X").unwrap_or(&fpr);
    if (fpr.len() == 40 || fpr.len() == 64) && fpr.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(fpr.to_owned())
    } else {
        Err(
            "not a full key fingerprint: 40 hexadecimal digits (64 for a v5 key); print it \
             with `gpg --list-keys --with-colons` (the `fpr` line)"
                .into(),
        )
    }
}

/// Seconds since the epoch, or RFC 3339 (`YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM`).
fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    rfc3339(text).ok_or_else(|| {
        "not seconds since the Unix epoch nor an RFC 3339 time such as `2025-01-31T12:00:00Z`"
            .into()
    })
}

fn rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' {
                return None;
            }
            let sign = match ob[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    if d > days_in[usize::try_from(mo - 1).ok()?] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset;
    u64::try_from(secs).ok()
}

/// The progress display: one bar of bytes, with the files done, on standard error.
struct Bars {
    bar: ProgressBar,
    files: Mutex<(usize, usize)>,
}

impl Bars {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("fetching the databases");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self {
            bar,
            files: Mutex::new((0, 0)),
        }
    }

    fn message(&self) {
        if let Ok(f) = self.files.lock() {
            self.bar.set_message(format!("{}/{} files", f.0, f.1));
        }
    }
}

impl Progress for Bars {
    fn database(&self, repo: &str, entries: usize) {
        self.bar.println(format!("{repo}: {entries} entries"));
    }

    fn downloads(&self, files: usize, bytes: u64) {
        if let Ok(mut f) = self.files.lock() {
            *f = (0, files);
        }
        self.bar.set_length(bytes);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.message();
    }

    fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    fn done(&self, _file: &str, rejected: Option<&Rejected>) {
        if let Ok(mut f) = self.files.lock() {
            f.0 += 1;
        }
        if let Some(r) = rejected {
            self.bar.println(rejected_line(r));
        }
        self.message();
    }
}

fn rejected_line(r: &Rejected) -> String {
    format!(
        "rejected {} `{}` {} (`{}`): {}: {}",
        r.repo, r.name, r.version, r.filename, r.field, r.problem
    )
}

fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1 << 20 {
        format!("{:.1} KiB", b / 1024.0)
    } else if bytes < 1 << 30 {
        format!("{:.1} MiB", b / f64::from(1u32 << 20))
    } else {
        format!("{:.2} GiB", b / f64::from(1u32 << 30))
    }
}

fn summary(r: &SyncReport) -> String {
    let repos: Vec<String> = r
        .repos
        .iter()
        .map(|p| {
            format!(
                "{} ({} entr{}{})",
                p.name,
                p.entries,
                if p.entries == 1 { "y" } else { "ies" },
                if p.changed {
                    ", updated"
                } else if p.not_modified {
                    ", not modified"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "synced {} at {}: {} downloaded ({}), {} already in the pool, {} new version{}, {} \
         rejected",
        repos.join(", "),
        clock::rfc3339(r.lastsync),
        r.downloaded.len(),
        size(r.downloaded_bytes),
        r.in_pool,
        r.new_versions,
        if r.new_versions == 1 { "" } else { "s" },
        r.rejected.len()
    )
}

/// `lumina-repo sync`.
pub fn sync(args: &SyncArgs) -> anyhow::Result<()> {
    let cfg = RepoConfig::load(&args.config)?;
    let now = args.now.unwrap_or_else(clock::now);
    let fs = Fs::new();
    let lock = RepoLock::acquire(&fs, &cfg.output, "lumina-repo sync")?;
    let opts = SyncOptions {
        jobs: usize::from(args.jobs),
        ..SyncOptions::default()
    };
    let show_bars = !args.json && !args.quiet && std::io::stderr().is_terminal();
    let report = if show_bars {
        let bars = Bars::new();
        let r = lumina_repo::sync::sync_with_progress(&lock, &fs, &cfg, now, &opts, &bars);
        bars.bar.finish_and_clear();
        r?
    } else {
        let r = lumina_repo::sync::sync(&lock, &fs, &cfg, now, &opts)?;
        for rej in &r.rejected {
            eprintln!("{}", rejected_line(rej));
        }
        r
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !args.quiet {
        eprintln!("{}", summary(&report));
    }
    if report.rejected.is_empty() {
        Ok(())
    } else {
        let n = report.rejected.len();
        Err(Finished {
            status: ExitStatus::Conflict,
            message: format!(
                "{n} entr{} rejected (listed above); they stay out of the pool and `promote` \
                 holds them",
                if n == 1 { "y was" } else { "ies were" }
            ),
        }
        .into())
    }
}

/// `$GNUPGHOME`, else `~/.gnupg`.
fn default_gnupg_home() -> PathBuf {
    std::env::var_os("GNUPGHOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".gnupg")))
        .unwrap_or_else(|| PathBuf::from("/root/.gnupg"))
}

/// `lumina-repo verify`.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let needs_config = args.dir.is_none()
        || args.keyring.is_none()
        || args.upstream_keyring.is_none()
        || args.keys.is_empty();
    let cfg = match &args.config {
        Some(path) => Some(RepoConfig::load(path)?),
        None if needs_config && Path::new(DEFAULT_CONFIG).exists() => {
            Some(RepoConfig::load(Path::new(DEFAULT_CONFIG))?)
        }
        None => None,
    };
    let root = match (&args.dir, &cfg) {
        (Some(dir), _) => dir.clone(),
        (None, Some(c)) => c.output.join(publish::CURRENT),
        (None, None) => {
            return Err(
                lumina_repo::Error::Config(Box::new(lumina_core::registry::Diagnostic {
                    file: PathBuf::from(DEFAULT_CONFIG),
                    pos: None,
                    message: "no tree to check: give DIR, or a `repo.yaml` with `--config`".into(),
                    expected: None,
                    hint: Some("e.g. `lumina-repo verify /srv/lumina-stable/current`".into()),
                    line_text: None,
                }))
                .into(),
            );
        }
    };
    let opts = VerifyOptions {
        lumina_keyring: args
            .keyring
            .clone()
            .or_else(|| cfg.as_ref().and_then(|c| c.signing.gnupg_home.clone()))
            .unwrap_or_else(default_gnupg_home),
        upstream_keyring: args
            .upstream_keyring
            .clone()
            .or_else(|| cfg.as_ref().map(|c| c.upstream_keyring.clone())),
        lumina_keys: if args.keys.is_empty() {
            cfg.iter().map(|c| c.signing.key.clone()).collect()
        } else {
            args.keys.clone()
        },
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            usize::from,
        ),
        limits: lumina_repo::syncdb::Limits::default(),
    };
    let report = lumina_repo::verify::verify(&root, &opts)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            eprintln!("{p}");
        }
        eprintln!("{}", verify_summary(&report));
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Finished {
            status: ExitStatus::Failure,
            message: format!(
                "`{}`: {} problem{} found",
                report.root.display(),
                report.problems.len(),
                if report.problems.len() == 1 { "" } else { "s" }
            ),
        }
        .into())
    }
}

fn verify_summary(r: &VerifyReport) -> String {
    let repos: Vec<String> = r
        .repos
        .iter()
        .map(|p| format!("{}/os/{}", p.repo, p.arch))
        .collect();
    format!(
        "checked `{}`: {} ({} package files): {}",
        r.root.display(),
        repos.join(", "),
        r.packages,
        if r.is_clean() {
            "clean".to_owned()
        } else {
            format!("{} problems", r.problems.len())
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T21:13:20.5-01:00"), Ok(1_700_000_000));
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-11-14 22:13:20",
            "2023-13-01T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20+2:00",
            "yesterday",
            "-5",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        for secs in [0, 951_782_400, 1_700_000_000, 4_107_542_399] {
            assert_eq!(parse_time(&clock::rfc3339(secs)), Ok(secs));
        }
    }
}
