//! The demo host: a chat bot whose features are plugins compiled into this binary.
//!
//! Which plugins are in is decided by Cargo features (one per plugin crate); see the README.
//! Everything not about chat (the configuration file, signals, reports, operator commands)
//! comes from `plugin_manager::host_kit`.
//!
//! Signals are listened to from the very start: one during start-up tears down what started;
//! one during the chat ends it and shuts down gracefully; a second one during the shutdown
//! exits at once, saying which plugins were abandoned. Stdout is written by a thread of its
//! own (see `output`), so a stdout nobody reads never keeps a signal from being heard.

mod chat;
mod cli;
mod input;
mod inspect;
mod metrics;
mod output;
mod profile;

use std::process::ExitCode;

use clap::Parser;
use plugin_manager::PluginManager;
use plugin_manager::host_kit::report::{self, Took};
use plugin_manager::host_kit::{self, Host, HostOptions, ShutdownSignal, ShutdownSignals};

use crate::cli::{Cli, Command};
use crate::output::{Output, Written};

// The plugin crates selected by Cargo features, linked so that their plugins are registered.
plugin_manager::link_plugins!();

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `graph` and `check` run no plugin: no runtime, no signal handlers, no host.
    if let Some(exit) = inspect::run(&cli) {
        return exit;
    }
    host_kit::block_on(run(cli)).unwrap_or_else(|error| {
        eprintln!("chatbot: cannot start the async runtime: {error}");
        ExitCode::FAILURE
    })
}

async fn run(mut cli: Cli) -> ExitCode {
    // First of all, so that no signal finds the process without a handler.
    let mut signals = ShutdownSignals::new()
        .inspect_err(|error| eprintln!("chatbot: cannot listen for shutdown signals: {error}"))
        .ok();
    host_kit::init_tracing();
    let (out, written) = match Output::stdout() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("chatbot: cannot start the stdout writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Before the host: the plugins' series are recorded from their first transition.
    let metrics = match cli.metrics {
        Some(addr) => match metrics::bind(addr).await {
            Ok((listener, handle)) => {
                if let Ok(bound) = listener.local_addr() {
                    eprintln!("chatbot: metrics at http://{bound}/metrics");
                }
                Some((listener, handle))
            }
            Err(error) => {
                eprintln!("chatbot: {error}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let options = HostOptions::new("chatbot")
        .config(cli.config.clone())
        .hook_timeout(cli.hook_timeout)
        .shutdown_timeout(cli.shutdown_timeout);
    // The manager reports its plugins' series only when asked to.
    let plugins = PluginManager::builder().registered();
    let plugins = if metrics.is_some() {
        plugins.metrics()
    } else {
        plugins
    };
    let host = match Host::with_builder(plugins, options) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("chatbot: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.take().unwrap_or(Command::Run);
    let body = drive(&host, (out, written), signals.as_mut(), command, &cli);
    match metrics {
        Some((listener, handle)) => tokio::select! {
            exit = body => exit,
            () = metrics::serve(listener, handle, host.manager()) => ExitCode::FAILURE,
        },
        None => body.await,
    }
}

/// Runs `command` on the host: start, the command's work, shutdown.
async fn drive(
    host: &Host,
    (out, written): (Output, Written),
    mut signals: Option<&mut ShutdownSignals>,
    command: Command,
    cli: &Cli,
) -> ExitCode {
    // Notes go to stdout, except for `list`, whose stdout is the list alone.
    let note = |text: String| match command {
        Command::Run => out.say_now(text),
        Command::List { .. } | Command::Profile { .. } | Command::Graph { .. } | Command::Check => {
            eprintln!("chatbot: {text}")
        }
    };

    let started = tokio::select! {
        started = host.start() => Some(started),
        signal = next_signal(signals.as_deref_mut()) => {
            note(format!("{signal} during start-up: tearing down what started"));
            None
        }
    };
    if let Some(started) = &started {
        match command {
            Command::List { json } => out.say_now(if json {
                report::json(started)
            } else {
                report::table("plugins:", started, Took::Start)
            }),
            Command::Profile { json } => out.say_now(if json {
                profile::json(started)
            } else {
                profile::text(started)
            }),
            Command::Run => {
                out.say_now(report::table("started:", started, Took::Start));
                tokio::select! {
                    () = chat::run(host, &out, cli.reply_timeout) => {}
                    signal = next_signal(signals.as_deref_mut()) => out.say_now(format!("({signal})")),
                }
            }
            // Answered by `inspect::run` before anything started.
            Command::Graph { .. } | Command::Check => {}
        }
    }
    if matches!(command, Command::Run) {
        out.say_now("shutting down");
    }

    let mut exit = ExitCode::SUCCESS;
    tokio::select! {
        stopped = host.shutdown() => match command {
            Command::Run => out.say_now(report::table("stopped:", &stopped, Took::Stop)),
            // An interrupted `list` still prints its one list: what there is after the shutdown.
            Command::List { json } if started.is_none() => out.say_now(if json {
                report::json(&stopped)
            } else {
                report::table("stopped:", &stopped, Took::Stop)
            }),
            Command::List { .. } | Command::Profile { .. } | Command::Graph { .. } | Command::Check => {}
        },
        signal = next_signal(signals.as_deref_mut()) => {
            note(format!("{signal} again: exiting now"));
            note(report::abandoned(&host.manager().records()));
            exit = ExitCode::FAILURE;
        }
    }
    // Bounded: a stdout nobody reads does not keep the process alive; nor past another signal.
    tokio::select! {
        _ = out.finish(written, cli.shutdown_timeout) => {}
        _ = next_signal(signals) => {}
    }
    exit
}

async fn next_signal(signals: Option<&mut ShutdownSignals>) -> ShutdownSignal {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}
