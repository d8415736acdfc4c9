//! `lumina status`: drift between the registry and the machine, read-only.

use std::path::PathBuf;

use lumina_core::exit::ExitStatus;
use lumina_core::link::desired::SourceKind;
use lumina_core::link::plan::Item;
use lumina_core::link::{self, Action, Conflict, OnConflict};
use serde::Serialize;
use serde_json::json;

use super::{open_profile, rel};
use crate::printer::{Paint, Printer};

/// The state of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Lumina's link, correct.
    Ok,
    /// Declared, not linked.
    Missing,
    /// Lumina's link to an old source.
    Stale,
    /// Lumina's link whose source is gone.
    Broken,
    /// Something Lumina did not make is in the way.
    Foreign,
    /// Lumina's link that the registry no longer declares.
    Orphaned,
    /// The declaration itself cannot be linked (missing source, collision, ...).
    Invalid,
}

fn state(item: &Item) -> Option<State> {
    Some(match &item.action {
        Action::Keep => State::Ok,
        Action::Create => State::Missing,
        Action::Replace { .. } => State::Stale,
        Action::Remove => State::Orphaned,
        Action::Forget => return None,
        Action::Adopt { .. } | Action::Backup { .. } => State::Foreign,
        Action::Conflict { conflict } => match conflict {
            Conflict::SourceMissing if item.current_link.as_ref() == item.source.as_ref() => {
                State::Broken
            }
            Conflict::SourceMissing if item.source_kind == Some(SourceKind::Missing) => {
                State::Invalid
            }
            Conflict::File | Conflict::Dir | Conflict::ForeignLink { .. } | Conflict::Special => {
                State::Foreign
            }
            _ => State::Invalid,
        },
    })
}

/// Package drift from pacman's local database under `root`; `None` when there is no local
/// database (not a pacman system: nothing to compare).
fn package_drift(
    root: &lumina_core::root::Root,
    declared: &[lumina_core::registry::Package],
) -> anyhow::Result<Option<lumina_core::drift::PackageDrift>> {
    let db = root.join(lumina_core::root::PACMAN_DB);
    let Some(explicit) = lumina_core::pacman::explicit(&db)? else {
        return Ok(None);
    };
    let installed = lumina_core::pacman::installed(&db)?;
    Ok(Some(lumina_core::drift::packages(
        declared, &installed, &explicit,
    )))
}

/// Run `lumina status`.
pub fn run(
    home: Option<PathBuf>,
    root: &lumina_core::root::Root,
    json_out: bool,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let profile = open_profile(home)?;
    let ctx = &profile.ctx;
    let packages = package_drift(root, &profile.registry.packages)?;
    let pkg_drift = packages.as_ref().is_some_and(|p| !p.is_empty());
    let prepared = link::prepare(&profile.registry, ctx, OnConflict::Refuse, "")?;
    let rows: Vec<(State, &Item)> = prepared
        .plan
        .items
        .iter()
        .filter_map(|i| state(i).map(|s| (s, i)))
        .collect();
    let linked = rows.iter().filter(|(s, _)| *s == State::Ok).count();
    let drift: Vec<&(State, &Item)> = rows.iter().filter(|(s, _)| *s != State::Ok).collect();
    if json_out {
        let drift_json: Vec<_> = drift
            .iter()
            .map(|(s, i)| {
                let detail = match &i.action {
                    Action::Conflict { conflict } => Some(conflict.describe()),
                    _ => None,
                };
                json!({ "target": i.target, "state": s, "source": i.source, "detail": detail })
            })
            .collect();
        printer.out(&serde_json::to_string_pretty(&json!({
            "home": ctx.lumina_home,
            "in_sync": drift.is_empty() && !pkg_drift,
            "linked": linked,
            "drift": drift_json,
            "packages": packages,
        }))?);
    } else {
        for (s, i) in &drift {
            let word = printer.out_paint(
                if matches!(s, State::Missing | State::Stale | State::Orphaned) {
                    Paint::Change
                } else {
                    Paint::Bad
                },
                &format!("{:<8}", serde_json::to_value(s)?.as_str().unwrap_or("?")),
            );
            let detail = match (&i.action, &i.source) {
                (Action::Conflict { conflict }, _) => format!(": {}", conflict.describe()),
                (_, Some(src)) => format!(" -> {}", rel(ctx, src)),
                _ => String::new(),
            };
            printer.out(&format!("{word} {}{detail}", ctx.display(&i.target)));
        }
        if let Some(p) = &packages {
            for (word, names) in [("undeclared", &p.undeclared), ("missing", &p.missing)] {
                let word = printer.out_paint(Paint::Change, &format!("{word:<10}"));
                for n in names {
                    printer.out(&format!("{word} package {n}"));
                }
            }
            if !p.is_empty() {
                printer.note(&format!(
                    "packages: {} installed but not declared (`lumina capture`), {} declared but \
                     not installed (`lumina apply`)",
                    p.undeclared.len(),
                    p.missing.len()
                ));
            }
        }
        if drift.is_empty() {
            printer.note(&format!("in sync: {linked} links"));
        } else {
            printer.note(&format!(
                "{} out of sync, {linked} in sync; `lumina link` fixes what it can",
                drift.len()
            ));
        }
    }
    Ok(if drift.is_empty() && !pkg_drift {
        ExitStatus::Success
    } else {
        ExitStatus::Drift
    })
}
