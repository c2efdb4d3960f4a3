//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use plugin_manager::GraphFormat;
use plugin_manager::host_kit::parse_deadline;

/// A chat bot whose every feature is a plugin. Reads `user: text` lines on stdin.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// Deadline of every plugin hook, unless a plugin sets its own (e.g. `5s`, `500ms`).
    #[arg(long, global = true, value_parser = parse_deadline, default_value = "30s")]
    pub(crate) hook_timeout: Duration,

    /// Deadline of the whole shutdown; plugins still stopping then are abandoned.
    #[arg(long, global = true, value_parser = parse_deadline, default_value = "60s")]
    pub(crate) shutdown_timeout: Duration,

    /// The plugins' configuration file (default: `plugins.toml` if it exists). The bot
    /// watches it and applies changes while it runs.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,

    /// How long to wait for the plugins' replies to one chat line.
    #[arg(long, global = true, value_parser = parse_deadline, default_value = "5s")]
    pub(crate) reply_timeout: Duration,

    /// Serve the plugins' metrics in the Prometheus text format at `http://ADDR/metrics`
    /// while the bot runs (e.g. `127.0.0.1:9100`; port 0 picks a free one, printed on stderr).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the bot: read chat lines from stdin until EOF or Ctrl-C (the default).
    Run,
    /// Start every plugin, print what happened, shut down.
    List {
        /// Print one JSON array, one object per plugin, in start order.
        #[arg(long)]
        json: bool,
    },
    /// Start every plugin, print how long each piece of each start took and the critical
    /// chain (the dependencies that decided when the last plugin was enabled), shut down.
    Profile {
        /// Print one JSON object: `plugins` (timings in milliseconds) and `critical_chain`.
        #[arg(long)]
        json: bool,
    },
    /// Print the plugins' dependency graph, marked with what `check` finds; runs no plugin.
    Graph {
        /// `dot` (Graphviz) or `mermaid`.
        #[arg(long, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Check the plugin set and the configuration file without running any plugin: exit 0 if
    /// it would start cleanly, 2 otherwise, with every problem found.
    Check,
}
