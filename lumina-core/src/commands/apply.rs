//! `lumina apply`: install what the registry declares, link, set themes, report what is
//! installed but not declared. Everything is planned (and checked) before anything changes.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use lumina_core::apply::{self as pkgs, Pacman};
use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_core::link::{self, OnConflict};
use lumina_core::root::Root;
use lumina_core::theme::{self, ThemeAction};
use lumina_core::{drift, pacman};
use serde_json::json;

use super::open_profile;
use crate::cli::{ApplyArgs, PacmanArgs};
use crate::printer::{Paint, Printer};

/// The pacman runner from the command line.
pub fn pacman_of(root: &Root, a: &PacmanArgs) -> Pacman {
    Pacman {
        bin: a.pacman.clone(),
        root: root.clone(),
        config: a.pacman_conf.clone(),
        dbpath: a.dbpath.clone(),
        sudo: a.sudo.clone(),
    }
}

/// Ask `question` on the terminal; `Ok(None)` when there is no terminal to ask on.
pub fn ask(question: &str) -> anyhow::Result<Option<bool>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Some(matches!(line.trim(), "y" | "Y" | "yes" | "Yes")))
}

/// `git add PATHS` and `git commit -m MESSAGE -- PATHS` in `repo`. Without a git identity,
/// commits as `Lumina <lumina@localhost>` and says so.
pub fn git_commit(
    repo: &Path,
    message: &str,
    paths: &[&str],
    printer: &Printer,
) -> anyhow::Result<()> {
    let git = Path::new("git");
    let r = repo.as_os_str().to_owned();
    let mut add: Vec<std::ffi::OsString> = vec!["-C".into(), r.clone(), "add".into(), "--".into()];
    add.extend(paths.iter().map(Into::into));
    lumina_core::cmd::run(git, add)?;
    let mut c: Vec<std::ffi::OsString> = vec!["-C".into(), r.clone()];
    if lumina_core::cmd::run(git, ["-C".into(), r, "config".into(), "user.email".into()]).is_err() {
        c.extend(
            [
                "-c",
                "user.name=Lumina",
                "-c",
                "user.email=lumina@localhost",
            ]
            .map(Into::into),
        );
        printer.note(
            "note: git has no user.email here; committed as `Lumina <lumina@localhost>` (set \
             yours with `git config --global user.email ...`)",
        );
    }
    c.extend(["commit", "-q", "-m", message, "--"].map(Into::into));
    c.extend(paths.iter().map(Into::into));
    lumina_core::cmd::run(git, c)?;
    Ok(())
}

/// Run `lumina apply`.
pub fn run(
    home: Option<PathBuf>,
    root: &Root,
    args: &ApplyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let profile = open_profile(home)?;
    let ctx = &profile.ctx;
    let reg = &profile.registry;
    let pm = pacman_of(root, &args.pacman);
    let dbpath = pm.dbpath();
    let installed = pacman::installed(&dbpath)?;
    let explicit = pacman::explicit(&dbpath)?.unwrap_or_default();
    let pkg_drift = drift::packages(&reg.packages, &installed, &explicit);
    let install = pkg_drift.missing.clone();
    if !install.is_empty() {
        let sync = pm.sync_names()?;
        let missing = pkgs::unavailable(&install, &sync, |n| pm.resolves(n));
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let (s, them) = if missing.len() == 1 {
                ("", "it")
            } else {
                ("s", "them")
            };
            printer.error(&format!(
                "no repository has the declared package{s} {list}; nothing was installed or \
                 changed\n\nhint: check the name{s} in `{}`, or refresh pacman's databases \
                 (`pacman -Syu`) if a repository should have {them}",
                ctx.lumina_home
                    .join(lumina_core::registry::FILE_NAME)
                    .display()
            ));
            return Ok(ExitStatus::Failure);
        }
    }
    let stamp = link::utc_stamp(std::time::SystemTime::now());
    let prepared = link::prepare(reg, ctx, OnConflict::Refuse, &stamp)?;
    let plan = &prepared.plan;
    let conflicts = plan.conflicts().count();
    let themes = theme::plan(&reg.themes, &ctx.user_home, |p| {
        theme::current(p).unwrap_or_else(|e| theme::Current::Other(e.to_string()))
    });
    let changed_links: Vec<_> = plan
        .items
        .iter()
        .filter(|i| !matches!(i.action, link::Action::Keep | link::Action::Forget))
        .collect();
    let report = |applied: bool| {
        json!({
            "dry_run": args.dry_run,
            "applied": applied,
            "home": ctx.lumina_home,
            "packages": { "install": install, "undeclared": pkg_drift.undeclared },
            "links": { "counts": plan.counts(), "items": changed_links },
            "themes": themes,
        })
    };
    let print_plan = |done: bool| {
        for n in &install {
            printer.out(&format!(
                "{} {n}",
                printer.out_paint(Paint::Good, "install ")
            ));
        }
        for i in &changed_links {
            let word = printer.out_paint(
                if matches!(i.action, link::Action::Conflict { .. }) {
                    Paint::Bad
                } else {
                    Paint::Change
                },
                &format!("{:<8}", i.action.name()),
            );
            let detail = match &i.action {
                link::Action::Conflict { conflict } => format!(": {}", conflict.describe()),
                _ => String::new(),
            };
            printer.out(&format!("{word} {}{detail}", ctx.display(&i.target)));
        }
        for t in &themes {
            let keys = t
                .keys
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let (word, extra) = match &t.action {
                ThemeAction::Keep => continue,
                ThemeAction::Write => ("theme   ", String::new()),
                ThemeAction::Skip { reason } => ("skip    ", format!(": {reason}")),
            };
            printer.out(&format!(
                "{} {} ({keys}){extra}",
                printer.out_paint(Paint::Change, word),
                ctx.display(&t.path)
            ));
        }
        let n = |k: usize, one: &str| format!("{k} {one}{}", if k == 1 { "" } else { "s" });
        let writes = themes
            .iter()
            .filter(|t| t.action == ThemeAction::Write)
            .count();
        printer.note(&if done {
            format!(
                "applied: {} installed, {} made, {} written",
                n(install.len(), "package"),
                n(changed_links.len(), "link change"),
                n(writes, "theme file")
            )
        } else {
            format!(
                "plan: {} to install, {}, {} to write",
                n(install.len(), "package"),
                n(changed_links.len(), "link change"),
                n(writes, "theme file")
            )
        });
    };
    if args.dry_run || conflicts > 0 {
        if args.json {
            printer.out(&serde_json::to_string_pretty(&report(false))?);
        } else {
            print_plan(false);
        }
        undeclared_note(&pkg_drift.undeclared, printer);
        if conflicts > 0 {
            printer.error(&format!(
                "{conflicts} link conflict{}; nothing was installed or changed\n\nhint: `lumina \
                 link --backup` or `--adopt` resolves them, then run `lumina apply` again",
                if conflicts == 1 { "" } else { "s" }
            ));
            return Ok(ExitStatus::Conflict);
        }
        return Ok(ExitStatus::Success);
    }
    if !install.is_empty() && !args.yes {
        let q = format!("Install {} with pacman?", install.join(" "));
        match ask(&q)? {
            Some(true) => {}
            Some(false) => {
                printer.error("nothing was installed or changed");
                return Ok(ExitStatus::Failure);
            }
            None => {
                printer.error(&format!(
                    "{} package{} to install and no terminal to ask on; nothing was changed\n\n\
                     hint: use --yes to install without asking, or --dry-run to see the plan",
                    install.len(),
                    if install.len() == 1 { "" } else { "s" }
                ));
                return Ok(ExitStatus::BadInput);
            }
        }
    }
    if !install.is_empty() {
        let out = pm.install(&install)?;
        if !args.json {
            for l in out.stdout.lines() {
                printer.note(l);
            }
        }
    }
    let fs = Fs::new();
    link::apply::apply(plan, &prepared.record, &ctx.lumina_home, &fs)?;
    theme::apply(&themes, &fs)?;
    if args.json {
        printer.out(&serde_json::to_string_pretty(&report(true))?);
    } else {
        print_plan(true);
    }
    undeclared_note(&pkg_drift.undeclared, printer);
    Ok(ExitStatus::Success)
}

fn undeclared_note(undeclared: &[String], printer: &Printer) {
    if !undeclared.is_empty() {
        printer.note(&format!(
            "installed but not declared: {} (`lumina capture` adds them to the registry)",
            undeclared.join(" ")
        ));
    }
}
