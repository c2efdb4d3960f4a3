//! `chatbot graph` and `chatbot check`: the plugin set and its configuration file, drawn or
//! checked by `plugin_manager::host_kit::check` without running any constructor or hook (so
//! without a runtime, signals or a host).

use std::io::Write as _;
use std::process::ExitCode;

use plugin_manager::host_kit::{HostOptions, check, text};

use crate::cli::{Cli, Command};

/// Answers `graph` and `check`; `None` for the commands that run the plugins.
pub(crate) fn run(cli: &Cli) -> Option<ExitCode> {
    let options = || HostOptions::new("chatbot").config(cli.config.clone());
    match &cli.command {
        Some(Command::Graph { format }) => Some(match check::graph(&options(), *format) {
            Ok(graph) => print(&graph),
            Err(error) => {
                eprintln!("chatbot: {}", text::escape(&error.to_string()));
                ExitCode::from(2)
            }
        }),
        Some(Command::Check) => {
            let report = check::check(&options());
            // The report escapes what came from the file itself.
            let printed = print(&format!("{report}\n"));
            Some(if report.is_ok() {
                printed
            } else {
                ExitCode::from(report.exit_status())
            })
        }
        _ => None,
    }
}

/// Writes `text` to stdout; a stdout that went away is a failure, not a panic.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
