//! `lumina detach`: replace every link Lumina made with a copy of its source.

use std::path::PathBuf;

use lumina_core::exit::ExitStatus;
use lumina_core::fs::Fs;
use lumina_core::link::detach::{self, Detached};
use serde_json::json;

use super::open_profile;
use crate::printer::Printer;

/// Run `lumina detach`.
pub fn run(home: Option<PathBuf>, json_out: bool, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let profile = open_profile(home)?;
    let ctx = &profile.ctx;
    let done = detach::detach(&ctx.lumina_home, &Fs::new())?;
    let missing = done
        .iter()
        .filter(|d| matches!(d, Detached::SourceMissing { .. }))
        .count();
    if json_out {
        printer.out(&serde_json::to_string_pretty(
            &json!({ "home": ctx.lumina_home, "results": done }),
        )?);
    } else {
        for d in &done {
            let line = match d {
                Detached::Copied { target } => format!("copied   {}", ctx.display(target)),
                Detached::Forgotten { target } => {
                    format!(
                        "forgot   {} (no longer Lumina's link; untouched)",
                        ctx.display(target)
                    )
                }
                Detached::SourceMissing { target } => {
                    format!(
                        "kept     {} (its source is gone; left as a link)",
                        ctx.display(target)
                    )
                }
            };
            printer.out(&line);
        }
        let copied = done
            .iter()
            .filter(|d| matches!(d, Detached::Copied { .. }))
            .count();
        printer.note(&format!("detached: {copied} links replaced by copies"));
    }
    if missing > 0 {
        printer.error(&format!(
            "{missing} links point at missing sources and were left in place"
        ));
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}
