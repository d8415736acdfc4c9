//! `lumina`: parse the command line, dispatch, print one error chain, map it to an exit code.

mod cli;
mod commands;
mod printer;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use lumina_core::exit::ExitStatus;

use crate::cli::{Cli, Command};
use crate::printer::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.color, cli.quiet);
    match run(cli, &printer) {
        Ok(status) => status.into(),
        Err(err) => {
            // A closed pipe (`lumina status | head`) is not an error.
            if let Some(io) = err.root_cause().downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            printer.error(&format!("{err:#}"));
            exit_for(&err).into()
        }
    }
}

fn exit_for(err: &anyhow::Error) -> ExitStatus {
    match err.downcast_ref::<lumina_core::Error>() {
        Some(lumina_core::Error::Registry(_) | lumina_core::Error::Unsafe { .. }) => {
            ExitStatus::BadInput
        }
        _ => ExitStatus::Failure,
    }
}

fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(name) = &cli.user
        && !matches!(
            cli.command,
            Command::Schema
                | Command::Completions { .. }
                | Command::Manpage { .. }
                | Command::Snapshot(_)
                | Command::Stable(_)
        )
    {
        let account = lumina_core::user::lookup(name)?;
        let code = lumina_core::user::run_as(&account, &args_without_user())?;
        return Ok(match code {
            0 => ExitStatus::Success,
            2 => ExitStatus::BadInput,
            3 => ExitStatus::Conflict,
            4 => ExitStatus::Drift,
            _ => ExitStatus::Failure,
        });
    }
    match cli.command {
        Command::Link(args) => commands::link::run(cli.home, &args, printer),
        Command::Status(args) => {
            let root = lumina_core::root::Root::new(cli.root);
            commands::status::run(cli.home, &root, args.json, printer)
        }
        Command::Init(args) => commands::init::run(
            cli.home,
            &lumina_core::root::Root::new(cli.root),
            args,
            printer,
        ),
        Command::Apply(args) => commands::apply::run(
            cli.home,
            &lumina_core::root::Root::new(cli.root),
            &args,
            printer,
        ),
        Command::Capture(args) => commands::capture::run(
            cli.home,
            &lumina_core::root::Root::new(cli.root),
            &args,
            printer,
        ),
        Command::Detach(args) => commands::detach::run(cli.home, args.json, printer),
        Command::Snapshot(cmd) => {
            commands::snapshot::run(&lumina_core::root::Root::new(cli.root), cmd, printer)
        }
        Command::Stable(cmd) => {
            commands::stable::run(&lumina_core::root::Root::new(cli.root), cmd, printer)
        }
        Command::Schema => {
            let schema = lumina_core::registry::schema::json_schema();
            printer.out(&serde_json::to_string_pretty(&schema)?);
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lumina", &mut buf);
            printer.out(String::from_utf8_lossy(&buf).trim_end());
            Ok(ExitStatus::Success)
        }
        Command::Manpage { dir } => commands::manpage::run(Cli::command(), dir.as_deref()),
    }
}

/// This process's arguments without `--user NAME` / `--user=NAME`, for the child.
fn args_without_user() -> Vec<OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--user" {
            args.next();
        } else if !a.to_string_lossy().starts_with("--user=") {
            out.push(a);
        }
    }
    out
}
