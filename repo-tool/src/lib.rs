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
//! and feed it plain values.

pub mod depend;
pub mod error;
pub mod model;
pub mod promote;
pub mod vercmp;

pub use error::Error;
