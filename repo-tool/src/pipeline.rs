//! The pipeline's commands: `promote` (plan, then publish a new signed generation) and
//! `status` (what waits and why). Thin: read `repo.yaml`, take the lock where something
//! changes, call [`lumina_repo::release`] / [`lumina_repo::status`], say what happened.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use lumina_core::fs::Fs;
use lumina_repo::clock;
use lumina_repo::config::{RepoConfig, format_duration};
use lumina_repo::ledger::Ledger;
use lumina_repo::lock::RepoLock;
use lumina_repo::release::{self, Prepared, Report, parse_time};
use lumina_repo::signer_thread::SignerThread;
use lumina_repo::syncdb::Limits;
use lumina_repo::upstream::{self, SyncState};

use crate::maintain::ConfigArg;

/// `promote`'s long help.
pub const PROMOTE_LONG_ABOUT: &str = "\
Promote what has waited long enough and passes the checks, and publish it.

Plans from the upstream snapshot `lumina-repo sync` verified (OUT/.upstream) and the \
generation served now: a version seen upstream for `min_age` is promoted if every run-time \
dependency of the resulting set still resolves (names, provides, versions, sonames); split \
packages move together, a soname bump moves with its rebuilds, holds and module constraints \
are honoured, and a package whose file or signature did not verify is held. If anything \
changed, the new databases are signed and published as one new generation, switched in \
atomically, with `report.json` (the plan). Held past `max_age` is overdue.

Examples:
  lumina-repo promote                      # from a timer, after `lumina-repo sync`
  lumina-repo promote --dry-run -v         # the plan, one line per package; nothing written
  lumina-repo promote --json | jq .held    # the report, for scripts
  lumina-repo promote --strict             # exit 3 when something is overdue
  lumina-repo promote --bootstrap          # first publish of an empty tree, from a
                                           # snapshot known to be good (see --bootstrap)";

/// `promote`'s exit codes.
pub const PROMOTE_AFTER_HELP: &str = "\
Exit status:
  0  done (published a new generation, or nothing changed)
  1  an operational error: nothing synced yet, a locked repository, signing or publishing
     failed (the previous generation stays served)
  2  bad input: the command line or an invalid `repo.yaml`; nothing was changed
  3  with --strict: done, but a change is held past `max_age` (overdue)";

/// `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The time of the plan: seconds since the epoch or UTC `2026-01-01T00:00:00Z`
    /// (default: now). For tests and for re-running a plan.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<u64>,
    /// Print the plan; write nothing (not even the ledger).
    #[arg(long)]
    dry_run: bool,
    /// Print the report (`report.json`, with the generation) on standard output.
    #[arg(long)]
    json: bool,
    /// Exit 3 when a change is overdue.
    #[arg(long)]
    strict: bool,
    /// One line per promoted, removed and held package.
    #[arg(short, long)]
    verbose: bool,
    /// Seed an empty Lumina-Stable: publish every verified upstream package as it is, with
    /// no quarantine and no closure check (what does not resolve is reported as broken).
    /// For a first publish from a snapshot known to be good, such as an Arch Linux Archive
    /// date. Refused once a generation was published.
    #[arg(long)]
    bootstrap: bool,
}

/// `status`'s long help.
pub const STATUS_LONG_ABOUT: &str = "\
Show how far Lumina-Stable lags and what waits, and why.

Per repository: packages published and upstream, when it was synced, how many changes wait, \
are ready, held, overdue. Then every candidate with its age and the time until it is old \
enough, every held change with its reason (too young, unsatisfied dependency, soname group \
incomplete, split sibling held, module constraint, manual hold, not verified), the overdue \
ones and the generations kept. Read-only: takes no lock, writes nothing.

Examples:
  lumina-repo status
  lumina-repo status --json | jq '.held[] | select(.overdue)'
  lumina-repo status --now 2026-01-02T00:00:00Z   # what tomorrow's promote would hold";

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The time to report for (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<u64>,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// `promote --strict` found changes held past `max_age`: the promote itself was done; the
/// exit status is 3.
#[derive(Debug)]
pub struct Overdue {
    names: Vec<String>,
}

impl std::fmt::Display for Overdue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--strict: {} held past max_age: {}",
            if self.names.len() == 1 {
                "1 change is".to_owned()
            } else {
                format!("{} changes are", self.names.len())
            },
            self.names.join(", ")
        )
    }
}

impl std::error::Error for Overdue {}

fn load_config(arg: &ConfigArg) -> anyhow::Result<RepoConfig> {
    Ok(RepoConfig::load(&arg.config)?)
}

fn require_sync(out: &Path) -> anyhow::Result<()> {
    if SyncState::load(out)?.is_none() {
        anyhow::bail!(
            "nothing was synced into `{}` yet (no `{}`): run `lumina-repo sync` first",
            out.display(),
            upstream::state_path(out).display()
        );
    }
    Ok(())
}

fn print_plan(prepared: &Prepared, prefix: &str) {
    let r = &prepared.report;
    for p in &r.promoted {
        match &p.previous {
            Some(prev) if prev.repo != p.repo => eprintln!(
                "{prefix}promote {}/{} {} -> {} (from `{}`)",
                p.repo, p.name, prev.version, p.version, prev.repo
            ),
            Some(prev) => eprintln!(
                "{prefix}promote {}/{} {} -> {}",
                p.repo, p.name, prev.version, p.version
            ),
            None => eprintln!("{prefix}promote {}/{} {} (new)", p.repo, p.name, p.version),
        }
    }
    for x in &r.removed {
        eprintln!("{prefix}remove  {}/{} {}", x.repo, x.name, x.version);
    }
    for h in &r.held {
        eprintln!(
            "{prefix}hold    {}/{} {}: {}{}",
            h.held.repo,
            h.held.name,
            h.held.version.as_deref().unwrap_or("(removal)"),
            h.message,
            if h.overdue { " [overdue]" } else { "" }
        );
    }
}

fn counts(r: &Report) -> String {
    format!(
        "{} promoted, {} removed, {} held, {} overdue",
        r.summary.promoted, r.summary.removed, r.summary.held, r.summary.overdue
    )
}

/// Writes `text` to standard output; a closed pipe (`| head`) is not an error.
fn stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    stdout(&text)
}

/// How many broken dependencies are listed without `--verbose`.
const BROKEN_SHOWN: usize = 5;

fn warn_overdue(r: &Report, max_age: std::time::Duration, verbose: bool) {
    if !r.overdue.is_empty() {
        eprintln!(
            "warning: held past max_age ({}): {}",
            format_duration(max_age),
            r.overdue.join(", ")
        );
    }
    if r.broken.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} dependencies of published packages resolve to nothing published (they \
         did not before this promote either, so nothing is held for them):",
        r.broken.len()
    );
    let shown = if verbose {
        r.broken.len()
    } else {
        BROKEN_SHOWN
    };
    for b in r.broken.iter().take(shown) {
        eprintln!(
            "  `{}` {} in `{}` needs `{}`",
            b.name, b.version, b.repo, b.dep
        );
    }
    if r.broken.len() > shown {
        eprintln!(
            "  and {} more (`--verbose`, or `broken` in the report)",
            r.broken.len() - shown
        );
    }
}

fn prepare(
    args: &PromoteArgs,
    snapshot: release::Snapshot,
    ledger: &mut Ledger,
    config: &RepoConfig,
    now: u64,
) -> anyhow::Result<Prepared> {
    Ok(if args.bootstrap {
        release::prepare_bootstrap(snapshot, ledger, config, now)?
    } else {
        release::prepare(snapshot, ledger, config, now)?
    })
}

/// `lumina-repo promote`.
pub fn promote(args: &PromoteArgs) -> anyhow::Result<()> {
    lumina_repo::trace::start();
    let config = load_config(&args.config)?;
    let now = args.now.unwrap_or_else(clock::now);
    let limits = Limits::default();
    let out = &config.output;
    let strict = |r: &Report| -> anyhow::Result<()> {
        if args.strict && !r.overdue.is_empty() {
            return Err(Overdue {
                names: r.overdue.clone(),
            }
            .into());
        }
        Ok(())
    };

    if args.dry_run {
        // Read-only: no lock (taking it would create the lock file), no ledger saved.
        require_sync(out)?;
        let mut ledger = Ledger::load(&config.ledger_path())?;
        let snapshot = release::load(&config, &limits)?;
        let prepared = prepare(args, snapshot, &mut ledger, &config, now)?;
        print_plan(&prepared, "");
        let r = &prepared.report;
        eprintln!(
            "dry run: {}; {}",
            counts(r),
            if prepared.changed {
                "a new generation would be published"
            } else {
                "nothing would change"
            }
        );
        warn_overdue(r, config.max_age, args.verbose);
        if args.json {
            print_json(r)?;
        }
        return strict(r);
    }

    let fs = Fs::new();
    let lock = RepoLock::acquire(&fs, out, "lumina-repo promote")?;
    // Looking the key up takes GnuPG a tenth of a second: done meanwhile.
    // Two: a repository's two databases are signed at once.
    let mut signer = SignerThread::spawn(
        config.signing.gnupg_home.clone(),
        config.signing.key.clone(),
        2,
    );
    require_sync(out)?;
    lumina_repo::trace::mark("lock, config");
    // The ledger (a few MB of JSON on a big mirror) is read while the databases are.
    let (ledger, snapshot) = std::thread::scope(|s| {
        let ledger = s.spawn(|| Ledger::load(&config.ledger_path()));
        let snapshot = release::load(&config, &limits);
        (ledger.join(), snapshot)
    });
    let mut ledger =
        ledger.map_err(|_| anyhow::anyhow!("the ledger's reading thread panicked"))??;
    let snapshot = snapshot?;
    let prepared =
        release::prepare_to_publish(snapshot, &mut ledger, &config, now, args.bootstrap, &limits)?;
    lumina_repo::trace::mark("plan");
    // First-seen records made now (a version sync did not record) are kept whatever
    // happens next.
    ledger
        .save(&fs, &lock)
        .with_context(|| format!("cannot save the ledger `{}`", ledger.path().display()))?;
    lumina_repo::trace::mark("save the ledger");
    if args.verbose {
        print_plan(&prepared, "");
    }
    if !prepared.changed {
        let r = &prepared.report;
        eprintln!(
            "nothing to publish ({}); {}",
            counts(r),
            match prepared.current() {
                Some(g) => format!("generation {g} stays served"),
                None => "nothing is published yet".to_owned(),
            }
        );
        warn_overdue(r, config.max_age, args.verbose);
        if args.json {
            print_json(r)?;
        }
        return strict(r);
    }
    signer.ready()?;
    let plan = prepared.plan.clone();
    lumina_repo::trace::mark("signer");
    let report = prepared.publish(&lock, &fs, &mut signer, config.keep_generations, &limits)?;
    let ended = release::end_expedites(&mut ledger, &plan, now);
    ledger
        .save(&fs, &lock)
        .with_context(|| format!("cannot save the ledger `{}`", ledger.path().display()))?;
    lumina_repo::trace::mark("save the ledger");
    for name in &ended {
        if args.verbose {
            eprintln!("expedite of `{name}` done: its version was published");
        }
    }
    eprintln!(
        "{}; published generation {} ({} packages) at `{}`",
        counts(&report),
        report.generation.unwrap_or(0),
        report.summary.packages,
        out.join(lumina_repo::publish::CURRENT).display()
    );
    warn_overdue(&report, config.max_age, args.verbose);
    if args.json {
        print_json(&report)?;
    }
    lumina_repo::trace::mark("report");
    strict(&report)
}

/// `lumina-repo status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let now = args.now.unwrap_or_else(clock::now);
    let ledger = Ledger::load(&config.ledger_path())?;
    let status = lumina_repo::status::status(&config, &ledger, now, &Limits::default())?;
    if args.json {
        print_json(&status)
    } else {
        stdout(&lumina_repo::status::render(&status))
    }
}
