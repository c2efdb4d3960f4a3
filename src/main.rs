//! The demo host: a chat bot whose features are plugins compiled into this binary.
//!
//! Which plugins are in is decided by Cargo features (one per plugin crate); see the README.

mod chat;
mod cli;
mod config_file;
mod linked;
mod report;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use plugin_manager::{PluginManager, PluginsConfig};

use crate::cli::{Cli, Command};
use crate::report::Took;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chatbot: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(Cli::parse()));
    // The plugins are shut down by now. A constructor that never returned still occupies a
    // blocking-pool thread; waiting for it (what dropping the runtime does) would hang the
    // exit, so leave it behind.
    runtime.shutdown_background();
    code
}

async fn run(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();

    let mut config_file = config_file::ConfigFile::locate(cli.config.clone());
    let config = match config_file.as_mut().map(config_file::ConfigFile::load) {
        None => PluginsConfig::empty(),
        Some(Ok(config)) => config,
        Some(Err(error)) => {
            eprintln!("chatbot: {error}");
            return ExitCode::from(2);
        }
    };
    let manager = match PluginManager::builder()
        .registered()
        .config(config)
        .hook_timeout(cli.hook_timeout)
        .shutdown_timeout(cli.shutdown_timeout)
        .build()
    {
        Ok(manager) => manager,
        Err(invalid) => {
            eprintln!("chatbot: {invalid}");
            return ExitCode::from(2);
        }
    };
    let missing = linked::missing_plugin_crates(&manager);
    if !missing.is_empty() {
        eprintln!(
            "chatbot: selected plugin crates registered no plugin: {} (is `#[plugin]` on a type there?)",
            missing.join(", ")
        );
        return ExitCode::from(2);
    }

    for problem in manager.config_problems() {
        eprintln!("chatbot: configuration: {problem}");
    }

    manager.start().await;
    match cli.command.unwrap_or(Command::Run) {
        Command::List { json } => {
            let records = manager.records();
            if json {
                say(&report::json(&records));
            } else {
                say(&report::table("plugins:", &records, Took::Start));
            }
            manager.shutdown().await;
        }
        Command::Run => {
            say(&report::table("started:", &manager.records(), Took::Start));
            chat::run(&manager, cli.reply_timeout, config_file).await;
            say("shutting down");
            manager.shutdown().await;
            let mut records = manager.records();
            records.reverse();
            say(&report::table("stopped:", &records, Took::Stop));
        }
    }
    ExitCode::SUCCESS
}

/// Prints a line to stdout; a closed stdout is not worth a panic.
pub(crate) fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
