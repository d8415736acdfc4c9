//! `lumina capture`: declare the packages installed outside Lumina, in place, and commit.

use std::path::PathBuf;

use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_core::root::{self, Root};
use lumina_core::{drift, pacman, registry};
use serde_json::json;

use super::apply::{ask, git_commit};
use super::open_profile;
use crate::cli::CaptureArgs;
use crate::printer::{Paint, Printer};

/// Run `lumina capture`.
pub fn run(
    home: Option<PathBuf>,
    root: &Root,
    args: &CaptureArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let profile = open_profile(home)?;
    let ctx = &profile.ctx;
    let dbpath = args
        .dbpath
        .clone()
        .unwrap_or_else(|| root.join(root::PACMAN_DB));
    let Some(explicit) = pacman::explicit(&dbpath)? else {
        printer.error(&format!(
            "there is no pacman database at `{}`; nothing to capture\n\nhint: point `--root` or \
             `--dbpath` at the system whose packages to capture",
            dbpath.display()
        ));
        return Ok(ExitStatus::Failure);
    };
    let installed = pacman::installed(&dbpath)?;
    let add = drift::packages(&profile.registry.packages, &installed, &explicit).undeclared;
    let file = ctx.lumina_home.join(registry::FILE_NAME);
    let git = lumina_core::fs::stat(&ctx.lumina_home.join(".git"))?.is_some();
    if add.is_empty() {
        if args.json {
            printer.out(&serde_json::to_string_pretty(
                &json!({ "dry_run": args.dry_run, "added": [], "committed": false }),
            )?);
        }
        printer.note("nothing to capture: every explicitly installed package is declared");
        return Ok(ExitStatus::Success);
    }
    let text = String::from_utf8(lumina_core::fs::read(&file)?)?;
    let edited = lumina_core::capture::add_packages(&text, &file, ctx, &add)
        .map_err(lumina_core::Error::Registry)?;
    let show = |done: bool| -> anyhow::Result<()> {
        if args.json {
            printer.out(&serde_json::to_string_pretty(&json!({
                "dry_run": args.dry_run,
                "added": add,
                "committed": done && git,
                "registry": if args.dry_run { Some(&edited) } else { None },
            }))?);
        } else {
            for n in &add {
                printer.out(&format!(
                    "{} {n}",
                    printer.out_paint(Paint::Good, "add     ")
                ));
            }
        }
        Ok(())
    };
    if args.dry_run {
        show(false)?;
        printer.note(&format!(
            "plan: {} package{} would be added to `{}`",
            add.len(),
            if add.len() == 1 { "" } else { "s" },
            file.display()
        ));
        return Ok(ExitStatus::Success);
    }
    if !args.yes {
        match ask(&format!("Add {} to `{}`?", add.join(" "), file.display()))? {
            Some(true) => {}
            Some(false) => {
                printer.error("nothing was changed");
                return Ok(ExitStatus::Failure);
            }
            None => {
                printer.error(
                    "no terminal to ask on; nothing was changed\n\nhint: use --yes to add them \
                     without asking, or --dry-run to see them",
                );
                return Ok(ExitStatus::BadInput);
            }
        }
    }
    Fs::new().write_atomic(&file, edited.as_bytes(), false)?;
    if git {
        git_commit(
            &ctx.lumina_home,
            &format!("lumina capture: declare {}", add.join(", ")),
            &[registry::FILE_NAME],
            printer,
        )?;
    }
    show(true)?;
    let n = format!(
        "{} package{}",
        add.len(),
        if add.len() == 1 { "" } else { "s" }
    );
    printer.note(&if git {
        format!("captured {n} and committed `lumina.yaml`")
    } else {
        format!(
            "captured {n}; `{}` is not a git repository, nothing was committed",
            ctx.lumina_home.display()
        )
    });
    Ok(ExitStatus::Success)
}
