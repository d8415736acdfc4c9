//! `lumina_repo`: the library behind `lumina-repo`, the maintainers' tool for Lumina-Stable,
//! a mirror of Arch's repositories that lags upstream and promotes each package only after
//! compatibility checks.
//!
//! This crate holds the pure core, with no I/O:
//!
//! ```text
//! vercmp   pacman's version order (alpm_pkg_vercmp), total on hostile input
//!   ^
//! depend   package relations and pacman's satisfaction rules (alpm_depcmp)
//!   ^
//! model    the planner's view of a database entry: Package, Candidate, Removal
//!   ^
//! promote  the planner: published set + upstream changes + policy -> PromotionPlan
//! ```
//!
//! The database reader, the ledger of first-seen times, signing and publishing build on it
//! and feed it plain values. The modules with effects go through `lumina_core::fs` (every
//! write atomic and fsynced, every step a place a test can inject a crash):
//!
//! ```text
//! config   repo.yaml -> RepoConfig (pure; file:line:column diagnostics)
//! lock     RepoLock: flock on OUT/.lock; every function that changes OUT asks for one
//! ledger   first-seen times, holds, expedites, audit log (OUT/ledger.json)
//! sign     gpgme: detached signatures; verification with pacman's trust rule
//! signer_thread  a Signer on its own thread (made early, signs off the linking thread)
//! publish  generations of the served tree, one atomic symlink swap, rollback, gc
//! upstream the snapshot `sync` verified and `promote` plans from (the contract between them)
//! release  `promote`: snapshot + served generation -> diff -> plan -> new signed generation
//! status   `status`: lag, candidates and their age, holds and why, generations (read-only)
//! sync     `sync`: upstream dbs -> snapshot, ledger first-seen times, package files
//!          downloaded (reqwest: concurrent, resumed, retried) and verified into the pool:
//!          `sync::sync(lock, fs, cfg, now, &SyncOptions) -> SyncReport`; `sync::gc`
//! verify   `verify`: a published tree or a mirror copy checked end to end: database
//!          signatures, every entry's file inside the tree, its size, SHA-256, signature
//! ```
//!
//! The database layer (repo-add's formats; entries convert into `model::Package`):
//!
//! ```text
//! entry    one `desc`/`files` entry: repo-add's exact text, validated field by field
//! syncdb   read a sync database (any compression, by magic bytes); hostile input refused
//! dbwrite  write $repo.db / $repo.files deterministically (pure: entries -> bytes)
//! pkgfile  a package file -> the entry repo-add would make (one pass: hashes + file list)
//! add      `lumina-repo add`: plan (pure merge) + apply (atomic writes, lock, sign seam)
//! ```

pub mod add;
pub mod clock;
pub mod config;
pub mod dbwrite;
pub mod depend;
pub mod entry;
pub mod error;
pub mod ledger;
pub mod lock;
pub mod model;
pub mod pkgfile;
pub mod promote;
pub mod publish;
pub mod release;
pub mod sign;
pub mod signer_thread;
pub mod status;
pub mod sync;
pub mod syncdb;
pub mod trace;
pub mod upstream;
pub mod vercmp;
pub mod verify;

pub use error::Error;
