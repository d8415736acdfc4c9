//! `lumina-repo status`: how far Lumina-Stable lags, what waits and why. Read-only: it
//! takes no lock and writes nothing (the plan is a dry run on a copy of the ledger).
//!
//! Per repository: packages published, entries upstream, when it was synced, candidates,
//! how many of them are ready and how many held; then every candidate with its age and the
//! time until it is old enough, every held change with its reason (too young, unsatisfied
//! dependency, soname group incomplete, split sibling held, module constraint, manual hold,
//! not verified, would break dependents), the overdue ones, and the generations kept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::config::RepoConfig;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::promote::Broken;
use crate::publish::{self, Generation};
use crate::release::{self, CandidateAge, HeldChange, human};
use crate::syncdb::Limits;
use crate::upstream::SyncState;

/// One repository's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoStatus {
    /// The repository.
    pub name: String,
    /// Packages in the served generation.
    pub published: usize,
    /// Entries in the upstream snapshot (`None`: not synced, or not an upstream repository).
    pub upstream: Option<usize>,
    /// When it was last synced.
    pub synced_at: Option<u64>,
    /// Seconds since then.
    pub sync_age: Option<u64>,
    /// Seconds since the served generation was published (the same for every repository:
    /// one generation serves them all).
    pub lag: Option<u64>,
    /// Changes seen upstream.
    pub candidates: usize,
    /// Of them, promotable now.
    pub ready: usize,
    /// Of them, held.
    pub held: usize,
    /// Of them, held past `max_age`.
    pub overdue: usize,
}

/// What `status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The output directory.
    pub out: PathBuf,
    /// The time of the report.
    pub now: u64,
    /// The served generation.
    pub current: Option<u64>,
    /// Its `lastupdate`.
    pub lastupdate: Option<u64>,
    /// Seconds since then.
    pub lag: Option<u64>,
    /// When the last complete sync finished (`None`: never synced).
    pub lastsync: Option<u64>,
    /// Seconds since then.
    pub sync_age: Option<u64>,
    /// Per repository.
    pub repos: Vec<RepoStatus>,
    /// Every change seen upstream, with its age; sorted by repository and name.
    pub candidates: Vec<CandidateAge>,
    /// The held changes and why.
    pub held: Vec<HeldChange>,
    /// The names of the overdue ones.
    pub overdue: Vec<String>,
    /// Dependencies of published packages that do not resolve.
    pub broken: Vec<Broken>,
    /// The generations kept, oldest first.
    pub generations: Vec<Generation>,
}

/// Computes the status of `config`'s output directory at `now`, from a dry-run plan with a
/// copy of `ledger`.
///
/// # Errors
/// As [`release::load`] (except that a directory never synced is a status, not an error)
/// and [`release::prepare`]; [`Error::Publish`] when the tree was not made by this tool.
pub fn status(
    config: &RepoConfig,
    ledger: &Ledger,
    now: u64,
    limits: &Limits,
) -> Result<Status, Error> {
    let out = &config.output;
    let generations = publish::generations(out)?;
    let served = generations.iter().find(|g| g.current);
    let current = served.map(|g| g.number);
    let lastupdate = served.and_then(|g| g.lastupdate);
    let lag = lastupdate.map(|t| now.saturating_sub(t));
    let mut status = Status {
        out: out.clone(),
        now,
        current,
        lastupdate,
        lag,
        lastsync: None,
        sync_age: None,
        repos: Vec::new(),
        candidates: Vec::new(),
        held: Vec::new(),
        overdue: Vec::new(),
        broken: Vec::new(),
        generations,
    };
    let Some(sync) = SyncState::load(out)? else {
        status.repos = config
            .repositories
            .iter()
            .map(|name| RepoStatus {
                name: name.clone(),
                published: 0,
                upstream: None,
                synced_at: None,
                sync_age: None,
                lag,
                candidates: 0,
                ready: 0,
                held: 0,
                overdue: 0,
            })
            .collect();
        return Ok(status);
    };
    status.lastsync = Some(sync.lastsync);
    status.sync_age = Some(now.saturating_sub(sync.lastsync));
    let snapshot = release::load(config, limits)?;
    let published: BTreeMap<String, usize> = snapshot
        .published
        .iter()
        .map(|r| (r.name.clone(), r.entries.len()))
        .collect();
    let upstream: BTreeMap<String, usize> = snapshot
        .upstream
        .iter()
        .map(|r| (r.name.clone(), r.entries.len()))
        .collect();
    let mut scratch = ledger.clone();
    let prepared = release::prepare(snapshot, &mut scratch, config, now)?;
    let mut names: Vec<String> = config.repositories.clone();
    let others: Vec<String> = published
        .keys()
        .filter(|r| !names.contains(r))
        .cloned()
        .collect();
    names.extend(others);
    for name in names {
        let count = |repo: &str| repo == name;
        let held: Vec<&HeldChange> = prepared
            .report
            .held
            .iter()
            .filter(|h| count(&h.held.repo))
            .collect();
        let synced_at = sync.repos.get(&name).map(|r| r.fetched_at);
        status.repos.push(RepoStatus {
            published: published.get(&name).copied().unwrap_or(0),
            upstream: upstream.get(&name).copied(),
            synced_at,
            sync_age: synced_at.map(|t| now.saturating_sub(t)),
            lag,
            candidates: prepared
                .candidates
                .iter()
                .filter(|c| count(&c.repo))
                .count(),
            ready: prepared
                .report
                .promoted
                .iter()
                .filter(|p| count(&p.repo))
                .count()
                + prepared
                    .report
                    .removed
                    .iter()
                    .filter(|r| count(&r.repo))
                    .count(),
            held: held.len(),
            overdue: held.iter().filter(|h| h.overdue).count(),
            name,
        });
    }
    let mut candidates = prepared.candidates;
    candidates.sort_by(|a, b| (&a.repo, &a.name).cmp(&(&b.repo, &b.name)));
    status.candidates = candidates;
    status.held = prepared.report.held;
    status.overdue = prepared.report.overdue;
    status.broken = prepared.report.broken;
    Ok(status)
}

/// How many broken dependencies [`render`] lists.
const BROKEN_SHOWN: usize = 10;

/// `5h 12m ago (2026-01-01T00:00:00Z)`.
fn ago(secs: Option<u64>, at: Option<u64>) -> String {
    match (secs, at) {
        (Some(s), Some(t)) => format!("{} ago ({})", human(s), rfc3339(t)),
        _ => "never".to_owned(),
    }
}

/// The status for people.
#[must_use]
pub fn render(status: &Status) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Lumina-Stable `{}`", status.out.display());
    let _ = match status.current {
        Some(n) => writeln!(
            s,
            "  served: generation {n}, published {}",
            ago(status.lag, status.lastupdate)
        ),
        None => writeln!(s, "  served: nothing published yet"),
    };
    let _ = writeln!(
        s,
        "  synced: {}",
        if status.lastsync.is_some() {
            ago(status.sync_age, status.lastsync)
        } else {
            "never: run `lumina-repo sync`".to_owned()
        }
    );
    let _ = writeln!(
        s,
        "\n{:<12} {:>9} {:>9} {:>12} {:>10} {:>6} {:>5} {:>8}",
        "repository", "published", "upstream", "synced", "candidates", "ready", "held", "overdue"
    );
    for r in &status.repos {
        let _ = writeln!(
            s,
            "{:<12} {:>9} {:>9} {:>12} {:>10} {:>6} {:>5} {:>8}",
            r.name,
            r.published,
            r.upstream.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            r.sync_age
                .map_or_else(|| "never".to_owned(), |a| format!("{} ago", human(a))),
            r.candidates,
            r.ready,
            r.held,
            r.overdue
        );
    }
    if !status.candidates.is_empty() {
        let _ = writeln!(s, "\ncandidates:");
        for c in &status.candidates {
            let from = c.published_version.as_deref().unwrap_or("new");
            let when = if c.promotable_in == 0 {
                "old enough".to_owned()
            } else {
                format!("old enough in {}", human(c.promotable_in))
            };
            let _ = writeln!(
                s,
                "  {}/{} {from} -> {}: seen {} ago, {when}",
                c.repo,
                c.name,
                c.version,
                human(c.age)
            );
        }
    }
    if !status.held.is_empty() {
        let _ = writeln!(s, "\nheld:");
        for h in &status.held {
            let version = h.held.version.as_deref().unwrap_or("(removal)");
            let _ = writeln!(
                s,
                "  {}/{} {version}: {}{}",
                h.held.repo,
                h.held.name,
                h.message,
                if h.overdue { " [overdue]" } else { "" }
            );
        }
    }
    let _ = writeln!(
        s,
        "\noverdue: {}",
        if status.overdue.is_empty() {
            "none".to_owned()
        } else {
            status.overdue.join(", ")
        }
    );
    if !status.broken.is_empty() {
        let _ = writeln!(
            s,
            "broken: {} dependencies of published packages resolve to nothing published:",
            status.broken.len()
        );
        for b in status.broken.iter().take(BROKEN_SHOWN) {
            let _ = writeln!(s, "  {}/{} {} needs `{}`", b.repo, b.name, b.version, b.dep);
        }
        if status.broken.len() > BROKEN_SHOWN {
            let _ = writeln!(
                s,
                "  and {} more (`--json` lists them all)",
                status.broken.len() - BROKEN_SHOWN
            );
        }
    }
    let gens: Vec<String> = status
        .generations
        .iter()
        .map(|g| {
            if g.current {
                format!("{} (served)", g.number)
            } else {
                g.number.to_string()
            }
        })
        .collect();
    let _ = writeln!(
        s,
        "generations: {}",
        if gens.is_empty() {
            "none".to_owned()
        } else {
            gens.join(", ")
        }
    );
    s
}
