//! `lumina manpage`: roff man pages generated from the clap definitions.

use std::path::Path;

use lumina_core::exit::ExitStatus;

/// Print `lumina(1)` or write one page per command into `dir`.
pub fn run(cmd: clap::Command, dir: Option<&Path>) -> anyhow::Result<ExitStatus> {
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitStatus::Success);
    };
    lumina_core::manpage::write_pages(&cmd, dir, "1")?;
    Ok(ExitStatus::Success)
}
