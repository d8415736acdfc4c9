//! Man pages generated from clap definitions (`clap_mangen`), shared by the three binaries
//! so that `lumina`, `lumina-repo` and `lumina-hook` ship pages of the same shape.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::Fs;

/// Write `NAME.SECTION` for `cmd` and `NAME-SUB.SECTION` for each visible subcommand into
/// `dir` (created if missing), each file atomically. Returns the files written.
///
/// # Errors
/// [`Error::Io`] when a page cannot be rendered or written.
pub fn write_pages(cmd: &clap::Command, dir: &Path, section: &str) -> Result<Vec<String>> {
    let dir = if dir.is_relative() {
        std::env::current_dir()
            .map_err(|e| Error::io(dir, "finding the current directory", e))?
            .join(dir)
    } else {
        dir.to_path_buf()
    };
    let fs = Fs::new();
    fs.create_dir_all(&dir)?;
    let mut pages = Vec::new();
    collect(cmd.clone(), cmd.get_name().to_owned(), &mut pages);
    let mut written = Vec::new();
    for (page, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .section(section)
            .render(&mut buf)
            .map_err(|e| Error::io(dir.join(&page), "rendering a man page", e))?;
        let file = format!("{page}.{section}");
        fs.write_atomic(&dir.join(&file), &buf, false)?;
        written.push(file);
    }
    Ok(written)
}

/// `cmd` as page `name`, then each visible subcommand (and theirs) as `name-sub`, the
/// names the pages' SEE ALSO sections use.
fn collect(cmd: clap::Command, name: String, pages: &mut Vec<(String, clap::Command)>) {
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .cloned()
        .collect();
    pages.push((name.clone(), cmd.name(name.clone())));
    for sub in subs {
        let page = format!("{name}-{}", sub.get_name());
        collect(sub, page, pages);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_command_in_the_given_section() {
        let cmd = clap::Command::new("tool")
            .about("A tool.")
            .subcommand(
                clap::Command::new("run")
                    .about("Run it.")
                    .subcommand(clap::Command::new("fast").about("Fast.")),
            )
            .subcommand(clap::Command::new("secret").hide(true));
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(&cmd, dir.path(), "8").unwrap();
        assert_eq!(written, ["tool.8", "tool-run.8", "tool-run-fast.8"]);
        let page = crate::fs::read(&dir.path().join("tool-run.8")).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH tool-run 8"), "{page}");
        assert!(page.contains("Run it."), "{page}");
    }
}
