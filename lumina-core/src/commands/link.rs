//! `lumina link`: plan, refuse on conflicts, apply, report.

use std::path::PathBuf;

use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_core::link::{self, Action, OnConflict, Plan};
use serde_json::json;

use super::{open_profile, rel};
use crate::cli::LinkArgs;
use crate::printer::{Paint, Printer};

/// Run `lumina link`.
pub fn run(
    home: Option<PathBuf>,
    args: &LinkArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let profile = open_profile(home)?;
    let ctx = &profile.ctx;
    let on = if args.adopt {
        OnConflict::Adopt
    } else if args.backup {
        OnConflict::Backup
    } else if args.reclaim {
        OnConflict::Reclaim
    } else {
        OnConflict::Refuse
    };
    let stamp = link::utc_stamp(std::time::SystemTime::now());
    let prepared = link::prepare(&profile.registry, ctx, on, &stamp)?;
    let plan = &prepared.plan;
    let conflicts = plan.conflicts().count();
    let status = if conflicts > 0 {
        ExitStatus::Conflict
    } else {
        ExitStatus::Success
    };
    if args.dry_run || conflicts > 0 {
        if args.json {
            printer.out(&serde_json::to_string_pretty(&json!({
                "dry_run": args.dry_run,
                "applied": false,
                "home": ctx.lumina_home,
                "counts": plan.counts(),
                "items": plan.items,
            }))?);
        } else {
            print_items(plan, ctx, printer, args.dry_run);
        }
        if conflicts > 0 {
            let s = if conflicts == 1 { "" } else { "s" };
            printer.error(&format!(
                "{conflicts} conflict{s}; nothing was changed\n\nhint: `--backup` moves what is in \
                 the way to `TARGET.lumina-backup-<time>`; `--adopt` moves a file into the virtual \
                 root as its source"
            ));
        } else {
            printer.note(&summary(plan, "would be"));
        }
        return Ok(status);
    }
    let outcome = link::apply::apply(plan, &prepared.record, &ctx.lumina_home, &Fs::new())?;
    if args.json {
        printer.out(&serde_json::to_string_pretty(&json!({
            "dry_run": false,
            "applied": true,
            "home": ctx.lumina_home,
            "counts": plan.counts(),
            "items": plan.items.iter().filter(|i| i.action != Action::Keep).collect::<Vec<_>>(),
            "backups": outcome.backups,
            "recovered": outcome.recovered,
        }))?);
    } else {
        print_items(plan, ctx, printer, false);
        for (leftover, to) in &outcome.recovered {
            printer.note(&format!(
                "recovered `{}` from an interrupted run: {to}",
                ctx.display(leftover)
            ));
        }
        printer.note(&summary(plan, ""));
    }
    Ok(ExitStatus::Success)
}

fn print_items(plan: &Plan, ctx: &lumina_core::paths::Context, printer: &Printer, all: bool) {
    for item in &plan.items {
        if !all && matches!(item.action, Action::Keep | Action::Forget) {
            continue;
        }
        let paint = match item.action {
            Action::Keep | Action::Forget => Paint::Dim,
            Action::Create => Paint::Good,
            Action::Conflict { .. } => Paint::Bad,
            _ => Paint::Change,
        };
        let name = printer.out_paint(paint, &format!("{:<8}", item.action.name()));
        let target = ctx.display(&item.target);
        let line = match (&item.action, &item.source) {
            (Action::Conflict { conflict }, _) => {
                format!("{name} {target}: {}", conflict.describe())
            }
            (Action::Backup { to }, Some(src)) => {
                format!(
                    "{name} {target} -> {} (old one to `{}`)",
                    rel(ctx, src),
                    ctx.display(to)
                )
            }
            (Action::Remove, _) => format!("{name} {target}"),
            (_, Some(src)) => format!("{name} {target} -> {}", rel(ctx, src)),
            (_, None) => format!("{name} {target}"),
        };
        printer.out(&line);
    }
}

fn summary(plan: &Plan, verb: &str) -> String {
    let c = plan.counts();
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let pre = if verb.is_empty() {
        String::new()
    } else {
        format!("{verb} ")
    };
    format!(
        "{}: {pre}{} created, {} replaced, {} removed, {} adopted, {} backed up; {} unchanged",
        if verb.is_empty() { "linked" } else { "plan" },
        n("create"),
        n("replace"),
        n("remove"),
        n("adopt"),
        n("backup"),
        n("keep"),
    )
}
