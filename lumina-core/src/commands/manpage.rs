//! `lumina manpage`: roff man pages generated from the clap definitions.

use std::path::Path;

use anyhow::Context as _;
use lumina_core::exit::ExitStatus;

/// Print `lumina(1)` or write one page per command into `dir`.
pub fn run(cmd: clap::Command, dir: Option<&Path>) -> anyhow::Result<ExitStatus> {
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitStatus::Success);
    };
    let fs = lumina_core::fs::Fs::new();
    fs.create_dir_all(dir)?;
    let mut pages = vec![(String::from("lumina"), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("lumina-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        fs.write_atomic(&path, &buf, false)
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(ExitStatus::Success)
}
