//! `lumina init`: the virtual root as a git repository, from this machine (or cloned), and
//! the user's enrolment for the post-transaction hook.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_core::paths::Context;
use lumina_core::root::{self, Root};
use lumina_core::{hardware, init, pacman, profile, registry};
use serde_json::json;

use super::apply::git_commit;
use crate::cli::{ApplyArgs, InitArgs};
use crate::printer::Printer;

fn bad(printer: &Printer, msg: &str) -> anyhow::Result<ExitStatus> {
    printer.error(msg);
    Ok(ExitStatus::BadInput)
}

/// The acting user's login name.
fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}

/// What enrolment does: the new config text to write (as root), or the command to run.
enum Enrol {
    Done,
    Write(PathBuf, String),
    Command(String),
}

fn plan_enrol(root: &Root, user: &str) -> anyhow::Result<Enrol> {
    let path = root.join(root::CONFIG);
    if !nix::unistd::geteuid().is_root() {
        // Read what is there (it is world-readable) to avoid asking for nothing.
        if let Ok(c) = lumina_core::config::Config::load(root)
            && c.users.iter().any(|u| u == user)
        {
            return Ok(Enrol::Done);
        }
        let at = if root.path() == Path::new("/") {
            String::new()
        } else {
            format!(" --root {}", root.path().display())
        };
        return Ok(Enrol::Command(format!(
            "sudo lumina{at} init --enrol {user}"
        )));
    }
    let text = match lumina_core::fs::stat(&path)? {
        None => None,
        Some(_) => {
            lumina_core::perm::check_private(&path)?;
            Some(String::from_utf8(lumina_core::fs::read(&path)?)?)
        }
    };
    Ok(
        match init::enrol(text.as_deref(), &path, user).map_err(lumina_core::Error::Registry)? {
            None => Enrol::Done,
            Some(t) => Enrol::Write(path, t),
        },
    )
}

fn write_enrol(path: &Path, text: &str) -> anyhow::Result<()> {
    let fs = Fs::new();
    if let Some(dir) = path.parent() {
        fs.create_dir_all(dir)?;
    }
    fs.write_atomic(path, text.as_bytes(), false)?;
    Ok(())
}

/// Run `lumina init`.
pub fn run(
    home: Option<PathBuf>,
    root: &Root,
    args: InitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if let Some(user) = &args.enrol {
        if !nix::unistd::geteuid().is_root() {
            return bad(
                printer,
                &format!(
                    "`--enrol` writes `{}` and needs root\n\nhint: run `sudo lumina init --enrol {user}`",
                    root::CONFIG
                ),
            );
        }
        lumina_core::user::lookup(user)?;
        match plan_enrol(root, user)? {
            Enrol::Done => printer.note(&format!("{user} is already enrolled")),
            Enrol::Write(path, text) => {
                write_enrol(&path, &text)?;
                printer.note(&format!(
                    "enrolled {user} in `{}`: the post-transaction hook relinks their links",
                    path.display()
                ));
            }
            Enrol::Command(_) => {}
        }
        return Ok(ExitStatus::Success);
    }
    let user_home =
        lumina_core::user::current_home().context("cannot tell your home directory: set `HOME`")?;
    let lumina_home = home.unwrap_or_else(|| user_home.join(".lumina"));
    let lumina_home = if lumina_home.is_absolute() {
        lumina_home
    } else {
        std::env::current_dir()?.join(lumina_home)
    };
    let file = lumina_home.join(registry::FILE_NAME);
    if lumina_core::fs::lstat(&file)?.is_some() {
        return bad(
            printer,
            &format!(
                "`{}` already exists; `lumina init` never overwrites a registry\n\nhint: `lumina \
                 apply` makes this machine match it; to start again, move it away first",
                file.display()
            ),
        );
    }
    if let Some(from) = &args.from {
        return from_git(from, &lumina_home, root, &args, printer);
    }
    let (detected, prof) = match args.hardware.as_str() {
        "none" => (None, None),
        "auto" => {
            let sysroot = args.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
            let d = hardware::identify(&hardware::read(&sysroot)?);
            let p = profile::load(root, d.profile)?;
            (Some(d), Some(p))
        }
        name => (None, Some(profile::load(root, name)?)),
    };
    let dbpath = args
        .pacman
        .dbpath
        .clone()
        .unwrap_or_else(|| root.join(root::PACMAN_DB));
    let explicit = pacman::explicit(&dbpath)?;
    if explicit.is_none() {
        printer.note(&format!(
            "warning: no pacman database at `{}`: no installed packages captured",
            dbpath.display()
        ));
    }
    let draft = init::draft(
        &explicit.unwrap_or_default(),
        detected.as_ref(),
        prof.as_ref(),
    );
    let ctx = Context {
        user_home: user_home.clone(),
        lumina_home: lumina_home.clone(),
    };
    // The draft must be a registry this Lumina reads, before anything is written.
    registry::parse(&draft.registry, &file, &ctx).map_err(lumina_core::Error::Registry)?;
    let user = user_name();
    let enrol = plan_enrol(root, &user)?;
    let missing_hooks: Vec<String> = init::HOOKS
        .iter()
        .filter(|h| !root.join(h).exists())
        .map(|h| (*h).to_owned())
        .collect();
    let enrol_json = match &enrol {
        Enrol::Done => json!({ "user": user, "state": "enrolled" }),
        Enrol::Write(p, _) => {
            json!({ "user": user, "state": if args.dry_run { "would_write" } else { "written" }, "file": p })
        }
        Enrol::Command(c) => json!({ "user": user, "state": "needs_root", "command": c }),
    };
    let result = json!({
        "dry_run": args.dry_run,
        "home": lumina_home,
        "hardware": detected,
        "profile": prof.as_ref().map(|p| &p.name),
        "captured": draft.captured,
        "profile_packages": draft.profile_packages,
        "kernel_parameters": prof.as_ref().map(|p| &p.kernel_parameters),
        "files": draft.files,
        "enrol": enrol_json,
        "missing_hooks": missing_hooks,
        "registry": draft.registry,
    });
    if let Some(d) = &detected {
        for r in &d.reasons {
            printer.note(&format!("hardware: {r}"));
        }
    }
    if args.dry_run {
        if args.json {
            printer.out(&serde_json::to_string_pretty(&result)?);
        } else {
            printer.out(draft.registry.trim_end());
        }
        printer.note(&format!(
            "plan: would create `{}` as a git repository with this `lumina.yaml` ({} packages \
             captured, {} from the profile)",
            lumina_home.display(),
            draft.captured.len(),
            draft.profile_packages.len()
        ));
        enrol_note(&enrol, true, printer);
        hooks_note(&missing_hooks, printer);
        return Ok(ExitStatus::Success);
    }
    let fs = Fs::new();
    fs.create_dir_all(&lumina_home)?;
    lumina_core::perm::check_private(&lumina_home)?;
    if lumina_core::fs::stat(&lumina_home.join(".git"))?.is_none() {
        lumina_core::cmd::run(
            Path::new("git"),
            [
                "init".into(),
                "-q".into(),
                lumina_home.clone().into_os_string(),
            ],
        )?;
    }
    let mut paths = vec![registry::FILE_NAME.to_owned()];
    let ignore = lumina_home.join(".gitignore");
    if lumina_core::fs::lstat(&ignore)?.is_none() {
        fs.write_atomic(&ignore, b".state/\n", false)?;
        paths.push(".gitignore".into());
    }
    for f in &draft.files {
        let p = lumina_home.join(&f.source);
        if let Some(dir) = p.parent() {
            fs.create_dir_all(dir)?;
        }
        fs.write_atomic(&p, f.content.as_bytes(), false)?;
        paths.push(f.source.clone());
    }
    fs.write_atomic(&file, draft.registry.as_bytes(), false)?;
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    git_commit(
        &lumina_home,
        "lumina init: this machine as it is",
        &refs,
        printer,
    )?;
    if let Enrol::Write(p, t) = &enrol {
        write_enrol(p, t)?;
    }
    if args.json {
        printer.out(&serde_json::to_string_pretty(&result)?);
    }
    printer.note(&format!(
        "initialised `{}`: {} packages captured, profile `{}` ({} packages); next: `lumina apply \
         --dry-run`",
        lumina_home.display(),
        draft.captured.len(),
        prof.as_ref().map_or("none", |p| p.name.as_str()),
        draft.profile_packages.len()
    ));
    enrol_note(&enrol, false, printer);
    hooks_note(&missing_hooks, printer);
    Ok(ExitStatus::Success)
}

fn enrol_note(enrol: &Enrol, dry_run: bool, printer: &Printer) {
    match enrol {
        Enrol::Done => {}
        Enrol::Write(p, _) => printer.note(&format!(
            "{} {} in `{}`: the post-transaction hook relinks their links",
            if dry_run { "would enrol" } else { "enrolled" },
            user_name(),
            p.display()
        )),
        Enrol::Command(c) => printer.note(&format!(
            "to have the post-transaction hook relink your links after each pacman transaction, \
             run: {c}"
        )),
    }
}

fn hooks_note(missing: &[String], printer: &Printer) {
    if let Some(h) = missing.first() {
        printer.note(&format!(
            "warning: Lumina's pacman hooks are not installed (no `{h}`): transactions get no \
             snapshots and links are not re-asserted; install the lumina package"
        ));
    }
}

fn from_git(
    from: &str,
    lumina_home: &Path,
    root: &Root,
    args: &InitArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if let Some(m) = lumina_core::fs::stat(lumina_home)?
        && (!m.is_dir() || !lumina_core::fs::read_dir(lumina_home)?.is_empty())
    {
        return bad(
            printer,
            &format!(
                "`{}` exists and is not empty; `lumina init --from` clones into a new directory\n\n\
                 hint: choose another with `--home`, or move it away",
                lumina_home.display()
            ),
        );
    }
    if args.dry_run {
        printer.note(&format!(
            "plan: would clone `{from}` into `{}`, then `lumina apply`",
            lumina_home.display()
        ));
        return Ok(ExitStatus::Success);
    }
    lumina_core::cmd::run(
        Path::new("git"),
        [
            "clone".into(),
            "-q".into(),
            "--".into(),
            from.into(),
            lumina_home.as_os_str().to_owned(),
        ],
    )?;
    printer.note(&format!("cloned `{from}` into `{}`", lumina_home.display()));
    let apply = ApplyArgs {
        dry_run: false,
        yes: args.yes,
        json: args.json,
        pacman: crate::cli::PacmanArgs {
            pacman: args.pacman.pacman.clone(),
            pacman_conf: args.pacman.pacman_conf.clone(),
            dbpath: args.pacman.dbpath.clone(),
            sudo: args.pacman.sudo.clone(),
        },
    };
    super::apply::run(Some(lumina_home.to_path_buf()), root, &apply, printer)
}
