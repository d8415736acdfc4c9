//! `lumina stable enable | disable | status`: Lumina-Stable in pacman.conf. The work is in
//! [`lumina_core::stable::ops`]; this prints it and maps errors to exit statuses.

use std::time::SystemTime;

use lumina_core::config::Config;
use lumina_core::exit::ExitStatus;
use lumina_core::root::Root;
use lumina_core::stable::ops::{self, DisableOptions, EnableOptions, Report};
use lumina_core::stable::{self, Error};

use crate::cli::StableCommand;
use crate::printer::{Paint, Printer};

/// Run `lumina stable ...`.
pub fn run(root: &Root, cmd: StableCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let fs = lumina_core::fs::Fs::new();
    let (result, json) = match cmd {
        StableCommand::Enable(a) => {
            let opts = EnableOptions {
                mirror: a.mirror,
                key: a.key,
                pacman_conf: a.pacman_conf,
                gpgdir: a.gpgdir,
                dry_run: a.dry_run,
                ..EnableOptions::default()
            };
            (ops::enable(root, &fs, &opts, SystemTime::now()), a.json)
        }
        StableCommand::Disable(a) => {
            let opts = DisableOptions {
                pacman_conf: a.pacman_conf,
                gpgdir: a.gpgdir,
                dry_run: a.dry_run,
                ..DisableOptions::default()
            };
            (ops::disable(root, &fs, &opts), a.json)
        }
        StableCommand::Status(a) => return status(root, a.json, printer),
    };
    match result {
        Ok(report) => {
            print_report(&report, json, printer)?;
            Ok(ExitStatus::Success)
        }
        Err(e) => {
            let status = match &e {
                Error::BadInput { .. } | Error::Core(lumina_core::Error::Unsafe { .. }) => {
                    ExitStatus::BadInput
                }
                Error::Conflict { .. } => ExitStatus::Conflict,
                _ => ExitStatus::Failure,
            };
            printer.error(&e.to_string());
            Ok(status)
        }
    }
}

fn print_report(r: &Report, json: bool, printer: &Printer) -> anyhow::Result<()> {
    if json {
        printer.out(&serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if !r.diff.is_empty() {
        for line in r.diff.lines() {
            let paint = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => Some(Paint::Good),
                Some(b'-') if !line.starts_with("---") => Some(Paint::Bad),
                Some(b'@') => Some(Paint::Dim),
                _ => None,
            };
            printer.out(&match paint {
                Some(p) => printer.out_paint(p, line),
                None => line.to_owned(),
            });
        }
    }
    for w in &r.warnings {
        printer.note(&format!("warning: {w}"));
    }
    let would = if r.dry_run { "would " } else { "" };
    let snippet = r.snippet.display();
    match r.snippet_action {
        "create" => printer.note(&format!("{would}write {snippet}")),
        "update" => printer.note(&format!("{would}rewrite {snippet}")),
        "remove" => printer.note(&format!("{would}remove {snippet}")),
        _ => {}
    }
    for c in &r.commands {
        printer.note(&format!("{would}run: {}", c.join(" ")));
    }
    if let Some(b) = &r.backup {
        printer.note(&format!(
            "{}backup of {}: {}",
            if r.dry_run { "would keep a " } else { "" },
            r.pacman_conf.display(),
            b.display()
        ));
    }
    let summary = match (r.action, r.changed, r.dry_run) {
        ("enable", false, _) => format!(
            "Lumina-Stable is already enabled ({}); nothing to do",
            r.servers.join(", ")
        ),
        ("disable", false, _) => "Lumina-Stable is not enabled; nothing to do".to_owned(),
        (_, true, true) => "dry run: nothing was changed".to_owned(),
        ("enable", true, false) => format!(
            "Lumina-Stable enabled for [{}] from {}; now run `pacman -Syyu` (it first reports \
             `missing required signature` for the copies of Arch's unsigned databases it has, \
             then fetches Lumina-Stable's signed ones)",
            r.repos.join("], ["),
            r.servers.join(", ")
        ),
        _ => {
            "Lumina-Stable disabled; now run `pacman -Syyu` to go back to Arch's mirrors".to_owned()
        }
    };
    printer.note(&summary);
    Ok(())
}

fn status(root: &Root, json: bool, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // The pre hook's threshold (`stable:` in /etc/lumina/config.yaml); a broken file is
    // bad input (exit 2), as for `lumina snapshot`.
    let policy = Config::load(root)?.stable;
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let s = ops::status(root, &policy, now);
    if json {
        printer.out(&serde_json::to_string_pretty(&s)?);
        return Ok(ExitStatus::Success);
    }
    if !s.enabled {
        printer.out(&format!(
            "Lumina-Stable is not enabled in {}",
            s.pacman_conf.display()
        ));
        return Ok(ExitStatus::Success);
    }
    printer.out(&format!(
        "Lumina-Stable is enabled in {} for [{}]",
        s.pacman_conf.display(),
        s.repos.join("], [")
    ));
    printer.out(&format!("mirror: {}", s.servers.join(", ")));
    match s.synced {
        Some(at) => printer.out(&format!(
            "databases: {} {} ({} hours ago)",
            if at.signed { "signed" } else { "published" },
            stable::utc_minute(at.time),
            now.saturating_sub(at.time) / 3600
        )),
        None => printer.out("databases: not synced yet; run `pacman -Sy`"),
    }
    printer.out(&format!(
        "freshness: stale after {}; the pre hook {} (`stable:` in {})",
        s.freshness.max_age,
        if s.freshness.warn {
            "warns"
        } else {
            "does not warn"
        },
        lumina_core::root::CONFIG
    ));
    if let Some(msg) = &s.freshness.message {
        printer.note(&format!("warning: {msg}"));
    }
    Ok(ExitStatus::Success)
}
