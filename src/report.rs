//! What the host prints about the plugins: the startup and shutdown reports, `list --json`.

use std::fmt::Write as _;

use plugin_manager::{DisplayDuration, PluginRecord, StateChange};
use serde::Serialize;

/// One plugin in `list --json`.
#[derive(Debug, Serialize)]
struct PluginJson<'a> {
    name: &'a str,
    version: &'a str,
    description: &'a str,
    #[serde(rename = "crate")]
    crate_name: &'a str,
    deps: &'a [String],
    optional_deps: &'a [String],
    state: &'static str,
    error: Option<String>,
    start_time_ms: Option<f64>,
    stop_time_ms: Option<f64>,
    dropped_events: u64,
    config: String,
    restart_count: u32,
}

/// The records as one JSON array, in the order given.
pub(crate) fn json(records: &[PluginRecord]) -> String {
    let plugins: Vec<PluginJson<'_>> = records
        .iter()
        .map(|r| PluginJson {
            name: &r.name,
            version: &r.version,
            description: &r.description,
            crate_name: &r.crate_name,
            deps: &r.deps,
            optional_deps: &r.optional_deps,
            state: r.state.as_str(),
            error: r.last_error.as_ref().map(ToString::to_string),
            start_time_ms: r.start_time.map(|d| d.as_secs_f64() * 1000.0),
            stop_time_ms: r.stop_time.map(|d| d.as_secs_f64() * 1000.0),
            dropped_events: r.dropped_events,
            config: r.config_source.to_string(),
            restart_count: r.restart_count,
        })
        .collect();
    serde_json::to_string_pretty(&plugins).expect("plugin records serialize")
}

/// Which duration a table shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Took {
    /// How long each plugin took to start.
    Start,
    /// How long each plugin took to stop.
    Stop,
}

/// A table of the records, one line each, with the error under a failed plugin.
pub(crate) fn table(title: &str, records: &[PluginRecord], took: Took) -> String {
    let width = records
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!("{title}\n");
    let _ = writeln!(
        out,
        "  {:width$}  {:8}  {:9}  {:>8}  deps",
        "plugin",
        "version",
        "state",
        match took {
            Took::Start => "start",
            Took::Stop => "stop",
        }
    );
    for r in records {
        let time = match took {
            Took::Start => r.start_time,
            Took::Stop => r.stop_time,
        }
        .map_or_else(|| "-".to_owned(), |d| DisplayDuration(d).to_string());
        let deps = if r.deps.is_empty() {
            "-".to_owned()
        } else {
            r.deps.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:8}  {:9}  {:>8}  {deps}",
            r.name,
            r.version,
            r.state.as_str(),
            time
        );
        if let Some(error) = &r.last_error {
            let _ = writeln!(out, "  {:width$}  error: {error}", "");
        }
    }
    out
}

/// One line for a state change, as printed while the bot runs.
pub(crate) fn change(change: &StateChange) -> String {
    match &change.cause {
        Some(cause) => format!(
            "* {}: {} -> {} ({cause})",
            change.plugin, change.from, change.to
        ),
        None => format!("* {}: {} -> {}", change.plugin, change.from, change.to),
    }
}
