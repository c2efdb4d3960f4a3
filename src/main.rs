//! The demo host: a chat bot whose features are plugins compiled into this binary.
//!
//! Which plugins are in is decided by Cargo features (one per plugin crate); see the README.
//! Everything not about chat (the configuration file, signals, reports, operator commands)
//! comes from `plugin_manager::host_kit`.

mod chat;
mod cli;

use std::process::ExitCode;

use clap::Parser;
use plugin_manager::host_kit::report::{self, Took, say};
use plugin_manager::host_kit::{self, Host, HostOptions};

use crate::cli::{Cli, Command};

// The plugin crates selected by Cargo features, linked so that their plugins are registered.
plugin_manager::link_plugins!();

fn main() -> ExitCode {
    let cli = Cli::parse();
    host_kit::block_on(run(cli)).unwrap_or_else(|error| {
        eprintln!("chatbot: cannot start the async runtime: {error}");
        ExitCode::FAILURE
    })
}

async fn run(cli: Cli) -> ExitCode {
    host_kit::init_tracing();
    let options = HostOptions::new("chatbot")
        .config(cli.config.clone())
        .hook_timeout(cli.hook_timeout)
        .shutdown_timeout(cli.shutdown_timeout);
    let host = match Host::new(options) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("chatbot: {error}");
            return ExitCode::from(2);
        }
    };
    let started = host.start().await;
    match cli.command.unwrap_or(Command::Run) {
        Command::List { json } => {
            say(&if json {
                report::json(&started)
            } else {
                report::table("plugins:", &started, Took::Start)
            });
            host.shutdown().await;
        }
        Command::Run => {
            say(&report::table("started:", &started, Took::Start));
            chat::run(&host, cli.reply_timeout).await;
            say("shutting down");
            say(&report::table(
                "stopped:",
                &host.shutdown().await,
                Took::Stop,
            ));
        }
    }
    ExitCode::SUCCESS
}
