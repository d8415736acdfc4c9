//! Everything the user is told goes through [`Printer`]: data on stdout, messages on
//! stderr, colour only on a terminal and never when `NO_COLOR` is set.

use std::io::IsTerminal;

use crate::cli::Color;

/// Output policy for one run.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    color_out: bool,
    color_err: bool,
    quiet: bool,
}

/// A colour for a word.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    /// Green: created, in sync.
    Good,
    /// Yellow: replaced, removed, drift.
    Change,
    /// Red: conflicts, errors.
    Bad,
    /// Dim: unchanged.
    Dim,
}

impl Printer {
    /// Decide colour from `--color`, `NO_COLOR` and whether each stream is a terminal.
    pub fn new(color: Color, quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let pick = |tty: bool| match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => tty && !no_color,
        };
        Self {
            color_out: pick(std::io::stdout().is_terminal()),
            color_err: pick(std::io::stderr().is_terminal()),
            quiet,
        }
    }

    fn paint(on: bool, p: Paint, text: &str) -> String {
        if !on {
            return text.to_owned();
        }
        let code = match p {
            Paint::Good => "32",
            Paint::Change => "33",
            Paint::Bad => "31",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// Colour a word for stdout.
    pub fn out_paint(&self, p: Paint, text: &str) -> String {
        Self::paint(self.color_out, p, text)
    }

    /// A line of data on stdout.
    pub fn out(&self, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}") {
            // `lumina status | head`: the reader is gone, which is not an error.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }

    /// A progress or summary message on stderr (suppressed by `--quiet`).
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// An error message on stderr: `error: ...`, with any `hint:` lines kept as they are.
    pub fn error(&self, msg: &str) {
        eprintln!(
            "{}: {msg}",
            Self::paint(self.color_err, Paint::Bad, "error")
        );
    }
}
