//! The process seam: every external program Lumina runs goes through [`run`].
//!
//! Commands are argv arrays, never shell strings. A failure names the argv, the exit status
//! and the trimmed standard error, so a hook's one-line message can say what failed.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The output of a successful command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

fn show(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `program args...` and wait. `program` is a path or a name looked up in `PATH`.
///
/// # Errors
/// [`Error::Command`] when it cannot start (with "not installed" for `ENOENT`) or exits
/// non-zero.
pub fn run<I, S>(program: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut argv: Vec<OsString> = vec![program.as_os_str().to_owned()];
    argv.extend(args.into_iter().map(Into::into));
    log_debug(&argv);
    // stdin is an empty pipe, not /dev/null: pacman's hook chroot may have no /dev.
    let child = Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command {
            argv: show(&argv),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{}` is not installed", program.display())
            } else {
                e.to_string()
            },
        })
        .map(|mut c| {
            drop(c.stdin.take());
            c
        })?;
    let out = child.wait_with_output().map_err(|e| Error::Command {
        argv: show(&argv),
        message: e.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".into(),
        };
        let detail = stderr.trim().lines().last().unwrap_or("").to_owned();
        return Err(Error::Command {
            argv: show(&argv),
            message: if detail.is_empty() {
                status
            } else {
                format!("{status}: {detail}")
            },
        });
    }
    Ok(Output { stdout, stderr })
}

fn log_debug(argv: &[OsString]) {
    if std::env::var_os("LUMINA_DEBUG").is_some() {
        eprintln!("lumina: debug: running {}", show(argv));
    }
}
