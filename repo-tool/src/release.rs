//! `promote` as a pipeline: from the upstream snapshot `sync` verified and the generation
//! served now, to a plan, and from the plan to a new signed generation.
//!
//! ```text
//! OUT/.upstream/REPO.db, state.json ─┐
//! OUT/current/REPO/os/ARCH/REPO.files ┼─ load ──> Snapshot
//!                                     │             │ prepare (pure but for the ledger's
//! OUT/ledger.json ────────────────────┘             v  first-seen records, in memory)
//!                                                Prepared: the plan, the report
//!                                                   │ publish (render, sign, publish::publish)
//!                                                   v
//!                                     OUT/.generations/N, `current` switched
//! ```
//!
//! # Diff
//!
//! The published set is read from the served generation (one generation, resolved once, so
//! every repository comes from the same one): the configured repositories, plus the `lumina`
//! repository of Lumina's own packages when it is served and is not an upstream repository.
//! The `lumina` repository is carried over unchanged and takes part in dependency
//! resolution; an upstream package of the same name is *shadowed* by it (Lumina ships its
//! own build) and reported. Upstream is the configured repositories in order; a name in two
//! of them counts in the first, as pacman resolves it, and the later one is reported as
//! shadowed.
//!
//! - A *candidate* is an upstream entry whose version (or repository) differs from the
//!   published one, or whose name is not published. Its first-seen time comes from the
//!   ledger; one the ledger never saw (recording is `sync`'s job) is recorded now.
//! - A *removal* is a published package of an upstream repository that no upstream
//!   repository has any more; its age is from the ledger's "missing since" record.
//!
//! # Availability
//!
//! `sync` puts a package file and its `.sig` in the pool only once both verified
//! ([`crate::upstream`]). A candidate that `state.json` lists as rejected, whose file or
//! signature is not in the pool, or whose pool file does not have its `%CSIZE%`, cannot be
//! published: the planner holds it ([`HoldReason::NotVerified`], with the problem as sync
//! reported it), and what needs it waits as for any held change. The SHA-256 was checked by
//! `sync` when the file entered the pool; `promote` does not read package contents (that
//! would cost seconds per run with real packages), `lumina-repo verify` does.
//!
//! # Publishing
//!
//! Nothing changed (no promotion, no removal, the same repositories): no new generation.
//! Otherwise each repository's entries are the upstream entry of every promoted package and
//! the previous entry of every kept one (moved, not copied: the file lists of a whole
//! distribution are large), rendered with [`crate::dbwrite::render`] and published as
//! one new generation ([`crate::publish::publish`]) with `report.json`, `lastsync` from the
//! sync state and `lastupdate` = the plan's time. Before that, the new set is checked once
//! more: every dependency it leaves unresolved must be one the plan reports as broken
//! before the plan ([`promote::unresolved`]); a set less installable than before is never
//! published. A promoted entry gets its file list from the upstream `.files` snapshot when
//! that lists the same package (name, version, SHA-256); the `.db` snapshot stays the one
//! the plan is made from.
//!
//! [`prepare_bootstrap`] seeds an empty tree: everything verified, as it is.
//!
//! # Order of writes
//!
//! The command saves the ledger's new records, publishes (atomic: see [`crate::publish`]),
//! then ends the expedites whose version went out ([`end_expedites`]) and saves the ledger
//! again. A crash at any step leaves a complete signed generation served, and the next run
//! converges (`tests/it/promote_cli.rs` injects a failure after every step). A crash
//! between the publish and the second save leaves such an expedite in force: the package's
//! next version then skips the quarantine too, never the checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use serde::Serialize;

use crate::config::RepoConfig;
use crate::dbwrite;
use crate::entry::DbEntry;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::lock::RepoLock;
use crate::model::{Candidate, Removal, RepoPackage};
use crate::promote::{self, Broken, Held, HoldReason, PlanInput, PromotionPlan, Removed};
use crate::publish::{self, DbSignatures, RepoPackages};
use crate::sign::DetachedSigner;
use crate::syncdb::{self, Limits};
use crate::upstream::{self, SyncState};
use crate::vercmp::vercmp;

/// The repository of Lumina's own packages (`lumina-repo add`), carried over unchanged.
pub const LUMINA_REPO: &str = "lumina";
/// The format of `report.json`.
pub const REPORT_FORMAT: u32 = 1;

/// One repository's database entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoEntries {
    /// The repository name.
    pub name: String,
    /// Its entries.
    pub entries: Vec<DbEntry>,
}

/// Everything `promote` plans from, read from the output directory.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The output directory.
    pub out: PathBuf,
    /// `$arch`.
    pub arch: String,
    /// The upstream snapshot databases, in the configuration's order.
    pub upstream: Vec<RepoEntries>,
    /// The served generation's repositories (configured ones it has, and `lumina`).
    pub published: Vec<RepoEntries>,
    /// The served generation, if any.
    pub current: Option<u64>,
    /// `state.json`.
    pub sync: SyncState,
}

fn publish_err(out: &Path, message: impl Into<String>) -> Error {
    Error::Publish {
        out: out.to_path_buf(),
        message: message.into(),
    }
}

/// The repository directory `REPO/os/ARCH` of generation `n`.
fn generation_repo_dir(out: &Path, n: u64, repo: &str, arch: &str) -> PathBuf {
    out.join(publish::GENERATIONS)
        .join(n.to_string())
        .join(repo)
        .join("os")
        .join(arch)
}

/// Reads a served repository's entries from its `REPO.db` (for planning: the file lists
/// are carried over from `REPO.files` when the next generation is rendered, unparsed);
/// `None` when the generation does not have the repository.
fn read_served(dir: &Path, repo: &str, limits: &Limits) -> Result<Option<Vec<DbEntry>>, Error> {
    let path = dir.join(format!("{repo}.db"));
    if lumina_core::fs::lstat(&path)?.is_none() {
        return Ok(None);
    }
    Ok(Some(syncdb::read(&path, limits)?.entries))
}

/// The served archive a repository's next databases are made from: `REPO.files` (file
/// lists included), or `REPO.db` in a generation without one.
fn served_archive(dir: &Path, repo: &str) -> Result<Option<PathBuf>, Error> {
    for kind in ["files", "db"] {
        let path = dir.join(format!("{repo}.{kind}"));
        if lumina_core::fs::lstat(&path)?.is_some() {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The served generation's repositories: the configured ones it has, and `lumina`.
fn read_generation(
    config: &RepoConfig,
    n: u64,
    limits: &Limits,
) -> Result<Vec<RepoEntries>, Error> {
    let lumina =
        (!config.repositories.iter().any(|r| r == LUMINA_REPO)).then(|| LUMINA_REPO.to_owned());
    let mut published = Vec::new();
    for repo in config.repositories.iter().cloned().chain(lumina) {
        let dir = generation_repo_dir(&config.output, n, &repo, &config.architecture);
        if let Some(entries) = read_served(&dir, &repo, limits)? {
            published.push(RepoEntries {
                name: repo,
                entries,
            });
        }
    }
    Ok(published)
}

/// Reads the upstream snapshot, the sync state and the served generation (the upstream
/// databases and the served ones on two threads).
///
/// # Errors
/// - [`Error::Publish`] when nothing was synced yet, or a configured repository was not
///   synced (run `lumina-repo sync`), or the served tree was not made by this tool;
/// - [`Error::InvalidDatabase`] when a snapshot or served database does not validate;
/// - [`Error::Fs`].
pub fn load(config: &RepoConfig, limits: &Limits) -> Result<Snapshot, Error> {
    let out = &config.output;
    let Some(sync) = SyncState::load(out)? else {
        return Err(publish_err(
            out,
            format!(
                "nothing was synced yet (`{}` is missing): run `lumina-repo sync` first",
                upstream::state_path(out).display()
            ),
        ));
    };
    if let Some(missing) = config
        .repositories
        .iter()
        .find(|r| !sync.repos.contains_key(*r))
    {
        return Err(publish_err(
            out,
            format!(
                "repository `{missing}` was never synced (the last sync had {}): run \
                 `lumina-repo sync` first",
                sync.repos.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let current = publish::current(out)?;
    let (upstream, published) = std::thread::scope(|s| {
        let served = s.spawn(|| match current {
            Some(n) => read_generation(config, n, limits),
            None => Ok(Vec::new()),
        });
        let upstream = upstream::load_dbs(out, &config.repositories, limits);
        let served = served
            .join()
            .unwrap_or_else(|_| Err(publish_err(out, "the reading thread panicked")));
        (upstream, served)
    });
    crate::trace::mark("load: upstream and served databases");
    let upstream = upstream?
        .into_iter()
        .map(|(name, db)| RepoEntries {
            name,
            entries: db.entries,
        })
        .collect();
    Ok(Snapshot {
        out: out.clone(),
        arch: config.architecture.clone(),
        upstream,
        published: published?,
        current,
        sync,
    })
}

/// A promoted package in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promoted {
    /// Its repository.
    pub repo: String,
    /// The package name.
    pub name: String,
    /// The new version.
    pub version: String,
    /// The version it replaces, if the name was published.
    pub previous: Option<promote::Previous>,
    /// When this version was first seen upstream.
    pub first_seen: u64,
}

/// A held change in the report: the planner's [`Held`], its reason in words, and whether
/// it is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldChange {
    /// The planner's record.
    #[serde(flatten)]
    pub held: Held,
    /// The reason, in words.
    pub message: String,
    /// Held longer than `max_age` since first seen.
    pub overdue: bool,
    /// When a change held only for its age becomes old enough (seconds since the epoch).
    pub promotable_at: Option<u64>,
}

/// An upstream entry not considered because a package of the same name comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shadowed {
    /// Its repository.
    pub repo: String,
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The repository whose package of that name wins.
    pub by: String,
}

/// Counts, for a one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Packages in the resulting set.
    pub packages: usize,
    /// Changes seen upstream (candidates and removals).
    pub changes: usize,
    /// Promoted.
    pub promoted: usize,
    /// Removed.
    pub removed: usize,
    /// Held.
    pub held: usize,
    /// Held past `max_age`.
    pub overdue: usize,
    /// Dependencies unresolved before the plan already.
    pub broken: usize,
}

/// `report.json`: what a promotion did and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// The time of the plan (`lastupdate` of the generation it made).
    pub now: u64,
    /// When upstream was last synced.
    pub lastsync: u64,
    /// The policy's `min_age`, seconds.
    pub min_age: u64,
    /// The policy's `max_age`, seconds.
    pub max_age: u64,
    /// A bootstrap ([`prepare_bootstrap`]): published without quarantine or closure check.
    pub bootstrap: bool,
    /// The generation published (only in the command's output: the report inside the
    /// generation is written before its number is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// The counts.
    pub summary: Summary,
    /// Promoted packages, sorted by repository and name.
    pub promoted: Vec<Promoted>,
    /// Removed packages.
    pub removed: Vec<Removed>,
    /// Held changes, sorted by name.
    pub held: Vec<HeldChange>,
    /// The names of the held changes that are overdue.
    pub overdue: Vec<String>,
    /// Dependencies of published packages that were unresolved before this plan too.
    pub broken: Vec<Broken>,
    /// Upstream entries shadowed by a package of the same name that comes first.
    pub shadowed: Vec<Shadowed>,
}

/// A change seen upstream, as `status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateAge {
    /// Its repository.
    pub repo: String,
    /// The package name.
    pub name: String,
    /// The upstream version.
    pub version: String,
    /// The published version, if any.
    pub published_version: Option<String>,
    /// When first seen upstream.
    pub first_seen: u64,
    /// Seconds since then.
    pub age: u64,
    /// Seconds until it is old enough (0: it is).
    pub promotable_in: u64,
}

/// A plan ready to publish.
#[derive(Debug)]
pub struct Prepared {
    /// The plan.
    pub plan: PromotionPlan,
    /// The report of the plan.
    pub report: Report,
    /// Every candidate with its age.
    pub candidates: Vec<CandidateAge>,
    /// Whether publishing would change what is served.
    pub changed: bool,
    snapshot: Snapshot,
    /// The repositories of the new generation, in order.
    repos: Vec<String>,
    /// Promoted name -> (repository, version).
    promoted: HashMap<String, (String, String)>,
    /// The candidates' file lists, being read ahead ([`prepare_to_publish`]).
    file_lists: Option<std::thread::JoinHandle<Result<FileLists, Error>>>,
    /// The check of the published set after the plan, running ([`prepare_to_publish`]).
    check: Option<std::thread::JoinHandle<Option<Broken>>>,
}

/// How many packages the published set has after `plan`.
fn count_after(published: &[RepoPackage], plan: &PromotionPlan) -> usize {
    let gone: HashSet<&str> = plan
        .promote
        .iter()
        .map(|p| p.pkg.name.as_str())
        .chain(plan.remove.iter().map(|r| r.name.as_str()))
        .collect();
    published
        .iter()
        .filter(|p| !gone.contains(p.pkg.name.as_str()))
        .count()
        + plan.promote.len()
}

/// A dependency the published set after `plan` leaves unresolved that resolves now (a bug
/// in the planner, if there is one).
fn broken_by(published: &[RepoPackage], plan: &PromotionPlan) -> Option<Broken> {
    // `plan.broken` is sorted.
    promote::unresolved(&plan.apply(published))
        .into_iter()
        .find(|b| plan.broken.binary_search(b).is_err())
}

/// [`broken_by`] on a thread of its own (which then frees the published set).
fn spawn_check(
    published: Vec<RepoPackage>,
    plan: &PromotionPlan,
) -> std::thread::JoinHandle<Option<Broken>> {
    let plan = PromotionPlan {
        promote: plan.promote.clone(),
        remove: plan.remove.clone(),
        held: Vec::new(),
        overdue: Vec::new(),
        broken: plan.broken.clone(),
    };
    std::thread::spawn(move || broken_by(&published, &plan))
}

fn check_err(out: &Path, b: &Broken) -> Error {
    publish_err(
        out,
        format!(
            "refusing to publish: the plan would leave `{}` of `{}` {} in `{}` unresolved, \
             which resolves now (a bug in the planner; please report it)",
            b.dep, b.name, b.version, b.repo
        ),
    )
}

/// Diffs, checks availability and plans (see the module documentation). Records in
/// `ledger` (in memory) the first-seen time of each candidate it never saw and the "missing
/// since" time of each removal; the caller saves it (or, for a dry run, does not).
///
/// # Errors
/// - [`Error::DuplicatePublished`] and the planner's other input errors (a served tree
///   with one name in two repositories);
/// - [`Error::Publish`] when the plan would leave a dependency unresolved that was resolved
///   before (a bug: nothing is published).
pub fn prepare(
    snapshot: Snapshot,
    ledger: &mut Ledger,
    config: &RepoConfig,
    now: u64,
) -> Result<Prepared, Error> {
    prepare_with(snapshot, ledger, config, now, false, None)
}

/// Like [`prepare`], for the first publish of a new Lumina-Stable: every upstream entry
/// that is available (verified into the pool) is published as it is, without the
/// quarantine or the closure check; what does not resolve is reported as broken. Meant for
/// seeding from a snapshot already known to be good, such as an Arch Linux Archive date
/// two days back (`upstream: https://archive.archlinux.org/repos/YYYY/MM/DD/$repo/os/$arch`):
/// from an empty tree the planner would otherwise hold every package that depends, however
/// indirectly, on one updated upstream within `min_age`. A pkgbase with an unavailable
/// member is held whole ([`HoldReason::NotVerified`], its siblings with it): nothing
/// unverified is ever published.
///
/// # Errors
/// [`Error::Publish`] when a generation was ever published (bootstrapping is for an empty
/// tree only); otherwise as [`prepare`].
pub fn prepare_bootstrap(
    snapshot: Snapshot,
    ledger: &mut Ledger,
    config: &RepoConfig,
    now: u64,
) -> Result<Prepared, Error> {
    refuse_bootstrap(&snapshot)?;
    prepare_with(snapshot, ledger, config, now, true, None)
}

/// [`prepare`] (or, with `bootstrap`, [`prepare_bootstrap`]) for a plan that is going to
/// be published: the file lists of the candidates are read from the upstream `.files`
/// snapshots on a second thread while the planner runs, for [`Prepared::publish`].
///
/// # Errors
/// As [`prepare`] and [`prepare_bootstrap`]; [`Error::InvalidDatabase`] when an upstream
/// `.files` snapshot does not validate.
pub fn prepare_to_publish(
    snapshot: Snapshot,
    ledger: &mut Ledger,
    config: &RepoConfig,
    now: u64,
    bootstrap: bool,
    limits: &Limits,
) -> Result<Prepared, Error> {
    if bootstrap {
        refuse_bootstrap(&snapshot)?;
    }
    prepare_with(snapshot, ledger, config, now, bootstrap, Some(limits))
}

fn refuse_bootstrap(snapshot: &Snapshot) -> Result<(), Error> {
    if snapshot.current.is_some() || !publish::generations(&snapshot.out)?.is_empty() {
        return Err(publish_err(
            &snapshot.out,
            "refusing to bootstrap: generations were published already; bootstrapping \
             seeds an empty tree only (run `lumina-repo promote` without `--bootstrap`)",
        ));
    }
    Ok(())
}

/// File lists read ahead, by repository, then by package name: the `.files` entry.
type FileLists = HashMap<String, HashMap<String, DbEntry>>;

/// The `.files` entries of `candidates` from each repository's upstream snapshot.
/// The `.files` entries of `candidates` from each repository's upstream snapshot, read on
/// a thread of its own: the rendering thread of [`Prepared::publish`] joins it.
fn spawn_file_lists(
    out: &Path,
    candidates: &[Candidate],
    limits: Limits,
) -> std::thread::JoinHandle<Result<FileLists, Error>> {
    let mut wanted: HashMap<String, HashSet<String>> = HashMap::new();
    for c in candidates {
        wanted
            .entry(c.repo.clone())
            .or_default()
            .insert(format!("{}-{}", c.pkg.name, c.pkg.version));
    }
    let out = out.to_path_buf();
    std::thread::spawn(move || {
        let lists = read_file_lists(&out, wanted, &limits);
        crate::trace::mark("read ahead: file lists of the candidates");
        lists
    })
}

/// The `.files` entries named by `wanted` (repository -> `NAME-VERSION` directories) from
/// each repository's upstream snapshot, by repository and package name. Only those
/// entries are parsed (sync validated the snapshot whole).
fn read_file_lists(
    out: &Path,
    wanted: HashMap<String, HashSet<String>>,
    limits: &Limits,
) -> Result<FileLists, Error> {
    let mut lists = FileLists::new();
    for (repo, dirs) in wanted {
        let path = upstream::files_path(out, &repo);
        if dirs.is_empty() || lumina_core::fs::lstat(&path)?.is_none() {
            continue;
        }
        let entries = syncdb::read_selected(&path, limits, &|dir| dirs.contains(dir))?.entries;
        lists.insert(
            repo,
            entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        );
    }
    Ok(lists)
}

fn prepare_with(
    mut snapshot: Snapshot,
    ledger: &mut Ledger,
    config: &RepoConfig,
    now: u64,
    bootstrap: bool,
    file_lists: Option<&Limits>,
) -> Result<Prepared, Error> {
    let mut policy = config.policy();
    ledger.apply_to(&mut policy);

    // The published set, and where each name is.
    let mut published = Vec::new();
    let mut published_at: HashMap<&str, (&str, &str)> = HashMap::new();
    for repo in &snapshot.published {
        for e in &repo.entries {
            published.push(RepoPackage {
                repo: repo.name.clone(),
                pkg: e.to_package(),
            });
            published_at.insert(&e.name, (&repo.name, &e.version));
        }
    }
    let lumina_names: HashSet<&str> = snapshot
        .published
        .iter()
        .filter(|r| r.name == LUMINA_REPO && !config.repositories.contains(&r.name))
        .flat_map(|r| r.entries.iter().map(|e| e.name.as_str()))
        .collect();

    // Upstream as pacman would see it: the first repository with a name wins.
    let mut upstream_names: HashMap<&str, &str> = HashMap::new();
    let mut shadowed = Vec::new();
    let mut candidates = Vec::new();
    let rejected: HashMap<(&str, &str, &str), &upstream::Rejected> = snapshot
        .sync
        .rejected
        .iter()
        .map(|r| ((r.repo.as_str(), r.name.as_str(), r.version.as_str()), r))
        .collect();
    let mut unavailable = BTreeMap::new();
    for repo in &snapshot.upstream {
        for e in &repo.entries {
            let by = if lumina_names.contains(e.name.as_str()) {
                Some(LUMINA_REPO)
            } else {
                upstream_names.get(e.name.as_str()).copied()
            };
            if let Some(by) = by {
                shadowed.push(Shadowed {
                    repo: repo.name.clone(),
                    name: e.name.clone(),
                    version: e.version.clone(),
                    by: by.to_owned(),
                });
                continue;
            }
            upstream_names.insert(&e.name, &repo.name);
            let same = published_at
                .get(e.name.as_str())
                .is_some_and(|&(r, v)| r == repo.name && vercmp(v, &e.version).is_eq());
            if same {
                if ledger.missing_since(&e.name).is_some() {
                    ledger.observe(&e.name, &e.version, now);
                }
                continue;
            }
            let first_seen = match ledger.first_seen(&e.name, &e.version) {
                Some(t) => t,
                None => ledger.observe(&e.name, &e.version, now),
            };
            if let Some(problem) = availability(
                &snapshot.out,
                &repo.name,
                e,
                rejected.get(&(&*repo.name, &*e.name, &*e.version)),
            )? {
                unavailable.insert(e.name.clone(), problem);
            }
            candidates.push(Candidate {
                repo: repo.name.clone(),
                pkg: e.to_package(),
                first_seen,
            });
        }
    }
    let removals: Vec<Removal> = snapshot
        .published
        .iter()
        .filter(|r| config.repositories.contains(&r.name))
        .flat_map(|r| r.entries.iter())
        .filter(|e| !upstream_names.contains_key(e.name.as_str()))
        .map(|e| Removal {
            name: e.name.clone(),
            first_seen: ledger.observe_missing(&e.name, now),
        })
        .collect();
    // From here on only the candidates' upstream entries are needed (to publish them):
    // the rest, most of a distribution, is dropped now.
    let wanted: HashSet<(&str, &str)> = candidates
        .iter()
        .map(|c| (c.repo.as_str(), c.pkg.name.as_str()))
        .collect();
    for repo in &mut snapshot.upstream {
        let name = repo.name.as_str();
        repo.entries
            .retain(|e| wanted.contains(&(name, e.name.as_str())));
    }
    drop(wanted);

    let input = PlanInput {
        published: &published,
        candidates: &candidates,
        removals: &removals,
        now,
    };
    let lists = file_lists.map(|limits| spawn_file_lists(&snapshot.out, &candidates, *limits));
    let plan = if bootstrap {
        bootstrap_plan(&candidates, &unavailable, now, &policy)
    } else {
        promote::plan_available(&input, &policy, &unavailable)?
    };
    // The published set after the plan must resolve wherever it resolves now. A plan to be
    // published is checked on a thread of its own, joined before the switch.
    let packages = count_after(&published, &plan);
    let (published, check) = if file_lists.is_some() {
        (None, Some(spawn_check(published, &plan)))
    } else {
        if let Some(b) = broken_by(&published, &plan) {
            return Err(check_err(&snapshot.out, &b));
        }
        (Some(published), None)
    };

    // The repositories of the new generation: the configured ones, and `lumina`.
    let mut repos = config.repositories.clone();
    if snapshot
        .published
        .iter()
        .any(|r| r.name == LUMINA_REPO && !repos.contains(&r.name))
    {
        repos.push(LUMINA_REPO.to_owned());
    }
    let served_repos: Vec<&str> = snapshot.published.iter().map(|r| r.name.as_str()).collect();
    let changed = !plan.promote.is_empty()
        || !plan.remove.is_empty()
        || (snapshot.current.is_some() && served_repos != repos);

    let first_seen: HashMap<&str, u64> = candidates
        .iter()
        .map(|c| (c.pkg.name.as_str(), c.first_seen))
        .collect();
    let min_age = policy.min_age.as_secs();
    let candidate_ages = candidates
        .iter()
        .map(|c| {
            let age = now.saturating_sub(c.first_seen);
            CandidateAge {
                repo: c.repo.clone(),
                name: c.pkg.name.clone(),
                version: c.pkg.version.clone(),
                published_version: published_at
                    .get(c.pkg.name.as_str())
                    .map(|(_, v)| (*v).to_owned()),
                first_seen: c.first_seen,
                age,
                promotable_in: min_age.saturating_sub(age),
            }
        })
        .collect();
    let report = Report {
        format: REPORT_FORMAT,
        now,
        lastsync: snapshot.sync.lastsync,
        min_age,
        max_age: policy.max_age.as_secs(),
        bootstrap,
        generation: None,
        summary: Summary {
            packages,
            changes: candidates.len() + removals.len(),
            promoted: plan.promote.len(),
            removed: plan.remove.len(),
            held: plan.held.len(),
            overdue: plan.overdue.len(),
            broken: plan.broken.len(),
        },
        promoted: plan
            .promote
            .iter()
            .map(|p| Promoted {
                repo: p.repo.clone(),
                name: p.pkg.name.clone(),
                version: p.pkg.version.clone(),
                previous: p.previous.clone(),
                first_seen: first_seen.get(p.pkg.name.as_str()).copied().unwrap_or(now),
            })
            .collect(),
        removed: plan.remove.clone(),
        held: plan
            .held
            .iter()
            .map(|h| HeldChange {
                message: h.reason.to_string(),
                overdue: h.age > policy.max_age,
                promotable_at: matches!(h.reason, HoldReason::TooYoung { .. })
                    .then(|| h.first_seen.saturating_add(min_age)),
                held: h.clone(),
            })
            .collect(),
        overdue: plan.overdue.iter().map(|h| h.name.clone()).collect(),
        broken: plan.broken.clone(),
        shadowed,
    };
    let promoted = plan
        .promote
        .iter()
        .map(|p| (p.pkg.name.clone(), (p.repo.clone(), p.pkg.version.clone())))
        .collect();
    drop(first_seen);
    drop_later((published, candidates, removals));
    Ok(Prepared {
        plan,
        report,
        candidates: candidate_ages,
        changed,
        snapshot,
        repos,
        promoted,
        file_lists: lists,
        check,
    })
}

/// The plan of a bootstrap: every candidate whose pkgbase is wholly available is promoted;
/// the others are held; what the result leaves unresolved is broken.
fn bootstrap_plan(
    candidates: &[Candidate],
    unavailable: &BTreeMap<String, String>,
    now: u64,
    policy: &promote::Policy,
) -> PromotionPlan {
    let mut cause: HashMap<&str, &str> = HashMap::new();
    for c in candidates {
        if unavailable.contains_key(&c.pkg.name) {
            cause.entry(&c.pkg.base).or_insert(&c.pkg.name);
        }
    }
    let mut plan = PromotionPlan {
        promote: Vec::new(),
        remove: Vec::new(),
        held: Vec::new(),
        overdue: Vec::new(),
        broken: Vec::new(),
    };
    for c in candidates {
        let Some(&sibling) = cause.get(c.pkg.base.as_str()) else {
            plan.promote.push(promote::Promotion {
                repo: c.repo.clone(),
                pkg: c.pkg.clone(),
                previous: None,
            });
            continue;
        };
        let reason = match unavailable.get(&c.pkg.name) {
            Some(problem) => HoldReason::NotVerified {
                problem: problem.clone(),
            },
            None => HoldReason::SplitSiblingHeld {
                sibling: sibling.to_owned(),
            },
        };
        let age = std::time::Duration::from_secs(now.saturating_sub(c.first_seen));
        plan.held.push(Held {
            repo: c.repo.clone(),
            name: c.pkg.name.clone(),
            version: Some(c.pkg.version.clone()),
            published_version: None,
            first_seen: c.first_seen,
            age,
            reason,
        });
    }
    plan.promote
        .sort_by(|a, b| (&a.repo, &a.pkg.name).cmp(&(&b.repo, &b.pkg.name)));
    plan.held.sort_by(|a, b| a.name.cmp(&b.name));
    plan.overdue = plan
        .held
        .iter()
        .filter(|h| h.age > policy.max_age)
        .cloned()
        .collect();
    plan.broken = promote::unresolved(&plan.apply(&[]));
    plan
}

/// Why the candidate `e` of `repo` cannot be published, if it cannot.
fn availability(
    out: &Path,
    repo: &str,
    e: &DbEntry,
    rejected: Option<&&upstream::Rejected>,
) -> Result<Option<String>, Error> {
    if let Some(r) = rejected {
        return Ok(Some(format!(
            "sync rejected `{}` ({}): {}",
            r.filename, r.field, r.problem
        )));
    }
    let file = publish::pool_path(out, &e.filename);
    match lumina_core::fs::lstat(&file)? {
        Some(m) if m.is_file() && m.len() == e.csize => {}
        Some(m) if m.is_file() => {
            return Ok(Some(format!(
                "the pool file `{}` is {} bytes but `{repo}`'s entry says %CSIZE% {}",
                e.filename,
                m.len(),
                e.csize
            )));
        }
        _ => {
            return Ok(Some(format!(
                "`{}` has not been fetched and verified yet (not in the pool)",
                e.filename
            )));
        }
    }
    let sig = publish::pool_path(out, &format!("{}.sig", e.filename));
    if !lumina_core::fs::lstat(&sig)?.is_some_and(|m| m.is_file()) {
        return Ok(Some(format!(
            "the signature `{}.sig` has not been fetched and verified yet (not in the pool)",
            e.filename
        )));
    }
    Ok(None)
}

impl Prepared {
    /// The output directory.
    #[must_use]
    pub fn out(&self) -> &Path {
        &self.snapshot.out
    }

    /// The served generation the plan was made from.
    #[must_use]
    pub fn current(&self) -> Option<u64> {
        self.snapshot.current
    }

    /// `report.json` as written into the generation.
    ///
    /// # Errors
    /// [`Error::Publish`] if it cannot be serialized.
    pub fn report_json(&self) -> Result<Vec<u8>, Error> {
        report_bytes(&self.snapshot.out, &self.report)
    }

    /// Renders, signs and publishes the new generation (whether or not anything changed:
    /// check [`Prepared::changed`] first); returns the report with its generation number.
    ///
    /// # Errors
    /// [`Error::Publish`], [`Error::Sign`], [`Error::Fs`] from [`publish::publish`] (the
    /// previous generation then stays served); [`Error::InvalidDatabase`] when an upstream
    /// `.files` snapshot does not validate; [`Error::BuildDatabase`].
    pub fn publish(
        self,
        lock: &RepoLock,
        fs: &Fs,
        signer: &mut dyn DetachedSigner,
        keep: u32,
        limits: &Limits,
    ) -> Result<Report, Error> {
        let report_bytes = self.report_json()?;
        let Self {
            mut report,
            snapshot,
            repos,
            promoted,
            plan,
            file_lists,
            check,
            ..
        } = self;
        let removed: HashSet<&str> = plan.remove.iter().map(|r| r.name.as_str()).collect();
        let stays =
            |e: &DbEntry| !promoted.contains_key(&e.name) && !removed.contains(e.name.as_str());
        // Per repository of the new generation: what it serves now, what it gains.
        let mut work: Vec<RepoWork<'_>> = repos
            .iter()
            .map(|name| RepoWork {
                name,
                served: snapshot
                    .published
                    .iter()
                    .find(|r| &r.name == name)
                    .map(|r| &r.entries[..]),
                new: Vec::new(),
            })
            .collect();
        let mut upstream = snapshot.upstream;
        for repo in &mut upstream {
            let Some(w) = work.iter_mut().find(|w| *w.name == repo.name) else {
                continue;
            };
            let name = &repo.name;
            w.new.extend(repo.entries.drain(..).filter(|e| {
                promoted
                    .get(&e.name)
                    .is_some_and(|(r, v)| r == name && *v == e.version)
            }));
        }
        let packages: Vec<Vec<String>> = work
            .iter()
            .map(|w| {
                w.served
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| stays(e))
                    .chain(&w.new)
                    .map(|e| e.filename.clone())
                    .collect()
            })
            .collect();
        let lists: Vec<RepoPackages<'_>> = work
            .iter()
            .zip(&packages)
            .map(|(w, p)| RepoPackages {
                name: w.name,
                packages: p,
            })
            .collect();
        let out = &snapshot.out;
        let served_dir = |repo: &str| {
            snapshot
                .current
                .map(|n| generation_repo_dir(out, n, repo, &snapshot.arch))
        };
        // The package files are linked into the new generation on this thread (the
        // kernel's work) while the databases are rendered on another; then, while they are
        // signed, they are written and made durable.
        let (rendered_tx, rendered) = std::sync::mpsc::channel();
        let (staging, finished) = std::thread::scope(|s| {
            let render = s.spawn(move || -> Result<(), Error> {
                let mut lists = match file_lists {
                    Some(reading) => Some(reading.join().unwrap_or_else(|_| {
                        Err(publish_err(out, "the reading thread panicked"))
                    })?),
                    None => None,
                };
                for w in work {
                    let mut new = w.new;
                    match lists.as_mut() {
                        Some(l) => attach(&mut new, l.remove(w.name.as_str()).unwrap_or_default()),
                        None => attach_file_lists(out, w.name, &mut new, limits)?,
                    }
                    let source = match (w.served, served_dir(w.name)) {
                        (Some(entries), Some(dir)) => {
                            served_archive(&dir, w.name)?.map(|path| (entries, path))
                        }
                        _ => None,
                    };
                    let dbs = match source {
                        Some((entries, path)) => {
                            let mut archive = syncdb::open_archive(&path, limits)?;
                            dbwrite::render_merged(
                                Some(dbwrite::Served {
                                    entries,
                                    archive: &mut archive,
                                    path: &path,
                                }),
                                &stays,
                                &new,
                            )?
                        }
                        None => dbwrite::render_merged(None, &stays, &new)?,
                    };
                    crate::trace::mark("publish: render databases");
                    if rendered_tx.send((w.name.clone(), dbs)).is_err() {
                        break;
                    }
                }
                Ok(())
            });
            let staging = publish::stage(lock, fs, &snapshot.arch, &lists, report.now, keep);
            let mut pending = Vec::new();
            let put = staging.and_then(|mut staging| {
                for (name, dbs) in rendered.iter() {
                    pending.push((name.clone(), signer.sign_later(&[&dbs.db, &dbs.files])));
                    staging.put_databases(fs, &name, &dbs.db, &dbs.files)?;
                }
                Ok(staging)
            });
            // The thread ends when it sent everything, or failed (then the channel closed).
            let rendered = render
                .join()
                .unwrap_or_else(|_| Err(publish_err(out, "the rendering thread panicked")));
            (put, rendered.map(|()| pending))
        });
        let staging = staging?;
        let pending = finished?;
        staging.sync(fs)?;
        crate::trace::mark("publish: databases written and synced");
        let sigs = pending
            .into_iter()
            .map(|(name, p)| DbSignatures::of(name, p.wait()?))
            .collect::<Result<Vec<_>, Error>>()?;
        crate::trace::mark("publish: signatures");
        if let Some(check) = check {
            let broken = check
                .join()
                .map_err(|_| publish_err(out, "the checking thread panicked"))?;
            if let Some(b) = broken {
                // The staging directory stays behind; the next run removes it.
                return Err(check_err(out, &b));
            }
        }
        let n = staging.finish(fs, &sigs, snapshot.sync.lastsync, report.now, &report_bytes)?;
        report.generation = Some(n);
        drop(lists);
        drop(packages);
        drop_later(snapshot.published);
        Ok(report)
    }
}

/// Drops `value` on a thread of its own: freeing the allocations of tens of thousands of
/// entries takes tens of milliseconds nobody needs to wait for.
fn drop_later<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// One repository of the next generation, while it is published.
struct RepoWork<'a> {
    name: &'a String,
    /// Its entries in the served generation, if it has the repository.
    served: Option<&'a [DbEntry]>,
    /// The promoted entries it gains.
    new: Vec<DbEntry>,
}

/// The file lists of `entries` from the upstream `.files` snapshot of `repo`, where it has
/// the same package (name, version and SHA-256); an entry it does not have keeps none.
fn attach_file_lists(
    out: &Path,
    repo: &str,
    entries: &mut [DbEntry],
    limits: &Limits,
) -> Result<(), Error> {
    let wanted = HashMap::from([(
        repo.to_owned(),
        entries.iter().map(DbEntry::dir_name).collect(),
    )]);
    let mut lists = read_file_lists(out, wanted, limits)?;
    attach(entries, lists.remove(repo).unwrap_or_default());
    crate::trace::mark("publish: file lists of the promoted");
    Ok(())
}

/// Gives each of `entries` the file list of its `.files` entry in `lists`, where that is
/// the same package (name, version and SHA-256).
fn attach(entries: &mut [DbEntry], mut lists: HashMap<String, DbEntry>) {
    for e in entries.iter_mut().filter(|e| e.files.is_none()) {
        if let Some(f) = lists.remove(&e.name)
            && f.version == e.version
            && f.sha256sum == e.sha256sum
        {
            e.files = f.files;
        }
    }
}

fn report_bytes(out: &Path, report: &Report) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(report)
        .map_err(|e| publish_err(out, format!("cannot serialize the report: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// After a publish: ends the expedites whose package (by name or pkgbase) got a version
/// published, in the audit log. Returns the names un-expedited.
pub fn end_expedites(ledger: &mut Ledger, plan: &PromotionPlan, now: u64) -> Vec<String> {
    let marks: Vec<String> = ledger.expedited().keys().cloned().collect();
    let mut ended = Vec::new();
    for mark in marks {
        if let Some(p) = plan
            .promote
            .iter()
            .find(|p| p.pkg.name == mark || p.pkg.base == mark)
        {
            let reason = format!("published `{}` {}", p.pkg.name, p.pkg.version);
            if ledger.unexpedite(&mark, &reason, now) {
                ended.push(mark);
            }
        }
    }
    ended
}

/// Parses a time for `--now`: seconds since the Unix epoch (`1767225600`), or RFC 3339 UTC
/// (`2026-01-01T00:00:00Z`, also with a space instead of `T`, or a date alone).
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{text}` is not a time: write seconds since the Unix epoch (`1767225600`) or UTC \
             as `2026-01-01T00:00:00Z`"
        )
    };
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| bad());
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (text, None),
    };
    let num = |s: &str, len: usize| -> Result<u64, String> {
        if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let (y, m, day) = (num(y, 4)?, num(m, 2)?, num(day, 2)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
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
    if y < 1970 || !(1..=12).contains(&m) || day == 0 || day > month_days[(m - 1) as usize] {
        return Err(bad());
    }
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if let Some(t) = time {
        let mut parts = t.split(':');
        let (Some(h), Some(mi), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        (hh, mm, ss) = (num(h, 2)?, num(mi, 2)?, num(s, 2)?);
        if hh > 23 || mm > 59 || ss > 59 {
            return Err(bad());
        }
    }
    Ok(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Howard Hinnant's `days_from_civil`, for dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2d 3h`, `5h 12m`, `40m`, `0m`: a duration for people.
#[must_use]
pub fn human(secs: u64) -> String {
    let minutes = secs / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests;
