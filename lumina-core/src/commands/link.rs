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
    // The process ends now: handing the plan's and the record's memory back to the allocator
    // one allocation at a time (tens of thousands for a large tree) is wasted work.
    std::mem::forget(prepared);
    Ok(ExitStatus::Success)
}

fn print_items(plan: &Plan, ctx: &lumina_core::paths::Context, printer: &Printer, all: bool) {
    use std::fmt::Write as _;
    let short = Shortener::new(ctx);
    // Each action's painted name, made once.
    let mut names: Vec<(&'static str, String)> = Vec::new();
    let mut out = String::new();
    for item in &plan.items {
        if !all && matches!(item.action, Action::Keep | Action::Forget) {
            continue;
        }
        let word = item.action.name();
        let name = match names.iter().find(|(w, _)| *w == word) {
            Some((_, n)) => n.as_str(),
            None => {
                let paint = match item.action {
                    Action::Keep | Action::Forget => Paint::Dim,
                    Action::Create => Paint::Good,
                    Action::Conflict { .. } => Paint::Bad,
                    _ => Paint::Change,
                };
                names.push((word, printer.out_paint(paint, &format!("{word:<8}"))));
                names.last().map_or("", |(_, n)| n.as_str())
            }
        };
        out.push_str(name);
        out.push(' ');
        short.push_target(&mut out, &item.target);
        // Writing into a String cannot fail.
        let _ = match (&item.action, &item.source) {
            (Action::Conflict { conflict }, _) => writeln!(out, ": {}", conflict.describe()),
            (Action::Backup { to }, Some(src)) => writeln!(
                out,
                " -> {} (old one to `{}`)",
                short.source(src),
                ctx.display(to)
            ),
            (Action::Remove, _) | (_, None) => writeln!(out),
            (_, Some(src)) => {
                out.push_str(" -> ");
                out.push_str(&short.source(src));
                writeln!(out)
            }
        };
    }
    if out.pop().is_some() {
        printer.out(&out);
    }
}

/// A relative path spelled plainly: not empty, no empty or `.` component.
fn plain(rel: &[u8]) -> bool {
    !rel.is_empty()
        && rel
            .split(|&c| c == b'/')
            .all(|c| !c.is_empty() && c != b".")
}

/// [`lumina_core::paths::Context::display`] and [`rel`], without parsing path components
/// for the usual case (thousands of lines): a target under the home directory, a source
/// under the virtual root, both spelled plainly. Anything else goes the general way.
struct Shortener<'c> {
    ctx: &'c lumina_core::paths::Context,
    home: Option<&'c [u8]>,
    root: Option<&'c [u8]>,
}

impl<'c> Shortener<'c> {
    fn new(ctx: &'c lumina_core::paths::Context) -> Self {
        let plain = |p: &'c std::path::Path| {
            let b = p.as_os_str().as_encoded_bytes();
            b.strip_prefix(b"/").is_some_and(plain).then_some(b)
        };
        Self {
            ctx,
            home: plain(&ctx.user_home),
            root: plain(&ctx.lumina_home),
        }
    }

    /// The part of `p` below `base` when it is plainly `base/...` (no `//`, no `.`).
    fn below<'p>(base: Option<&[u8]>, p: &'p std::path::Path) -> Option<&'p [u8]> {
        let b = p.as_os_str().as_encoded_bytes();
        let rest = b.strip_prefix(base?)?.strip_prefix(b"/")?;
        plain(rest).then_some(rest)
    }

    fn push_target(&self, out: &mut String, p: &std::path::Path) {
        match Self::below(self.home, p) {
            Some(rest) => {
                out.push_str("~/");
                out.push_str(&String::from_utf8_lossy(rest));
            }
            None => out.push_str(&self.ctx.display(p)),
        }
    }

    fn source<'p>(&self, p: &'p std::path::Path) -> std::borrow::Cow<'p, str> {
        match Self::below(self.root, p) {
            Some(rest) => String::from_utf8_lossy(rest),
            None => rel(self.ctx, p),
        }
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use lumina_core::paths::Context;

    use super::{Shortener, rel};

    /// The shortcut prints exactly what `Context::display` and `rel` print.
    #[test]
    fn shortened_paths_are_what_display_and_rel_print() {
        let homes = [
            "/home/ana",
            "/home/ana/",
            "/home//ana",
            "/home/./ana",
            "/",
            "/h",
        ];
        let paths = [
            "/home/ana/.bashrc",
            "/home/ana/.config/nvim/init.lua",
            "/home/ana",
            "/home/ana/",
            "/home/anab/x",
            "/home/ana//x",
            "/home/ana/./x",
            "/home/ana/x/.",
            "/home/ana/../x",
            "/home/ana/.lumina/shell/bashrc",
            "/home/ana/.lumina",
            "/etc/x",
            "/h/x",
            "/home/ana/\u{e9}",
        ];
        for home in homes {
            for root in ["/home/ana/.lumina", "/srv/root", "/home/ana/.lumina/"] {
                let ctx = Context {
                    user_home: PathBuf::from(home),
                    lumina_home: PathBuf::from(root),
                };
                let s = Shortener::new(&ctx);
                let odd = [b"/home/ana/\xff.x".as_slice(), b"/home/ana/.lumina/\xfe"];
                let odd = odd.iter().map(|b| {
                    Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b))
                });
                for p in paths.iter().map(Path::new).chain(odd) {
                    let mut t = String::new();
                    s.push_target(&mut t, p);
                    assert_eq!(t, ctx.display(p), "{home} {p:?}");
                    assert_eq!(s.source(p), rel(&ctx, p), "{root} {p:?}");
                }
            }
        }
    }
}
