//! `chatbot profile`: how long each piece of each plugin's start took, and the critical chain
//! that `plugin_manager::critical_chain` finds.

use std::fmt::Write as _;
use std::time::Duration;

use plugin_manager::host_kit::report;
use plugin_manager::host_kit::text::escape;
use plugin_manager::{PluginRecord, critical_chain};
use serde::Serialize;

/// One plugin in `profile --json`.
#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    constructor_ms: Option<f64>,
    setup_ms: Option<f64>,
    on_enable_ms: Option<f64>,
    ready_at_ms: Option<f64>,
}

/// The whole of `profile --json`.
#[derive(Serialize)]
struct Profile<'a> {
    plugins: Vec<Entry<'a>>,
    critical_chain: Vec<String>,
}

fn ms(duration: Option<Duration>) -> Option<f64> {
    // To the microsecond: what the clock measures meaningfully here.
    duration.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}

fn cell(duration: Option<Duration>) -> String {
    ms(duration).map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}ms"))
}

/// The profile as one JSON object.
pub(crate) fn json(records: &[PluginRecord]) -> String {
    let profile = Profile {
        plugins: records
            .iter()
            .map(|r| Entry {
                name: &r.name,
                constructor_ms: ms(r.timings.constructor),
                setup_ms: ms(r.timings.setup),
                on_enable_ms: ms(r.timings.on_enable),
                ready_at_ms: ms(r.timings.ready_at),
            })
            .collect(),
        critical_chain: critical_chain(records),
    };
    serde_json::to_string_pretty(&profile).expect("strings and numbers serialize")
}

/// The profile as a table, then the critical chain, one link a line: when it became enabled
/// (`@`) and how long its own start took (`+`).
pub(crate) fn text(records: &[PluginRecord]) -> String {
    let width = report::name_width(records);
    let mut out = String::from("profile (ms since the manager was created):\n");
    let _ = writeln!(
        out,
        "  {:width$}  {:>12}  {:>12}  {:>12}  {:>12}",
        "plugin", "constructor", "setup", "on_enable", "ready at"
    );
    for r in records {
        let t = &r.timings;
        let _ = writeln!(
            out,
            "  {:width$}  {:>12}  {:>12}  {:>12}  {:>12}",
            escape(&r.name),
            cell(t.constructor),
            cell(t.setup),
            cell(t.on_enable),
            cell(t.ready_at),
        );
    }
    out.push_str("critical chain:\n");
    let chain = critical_chain(records);
    if chain.is_empty() {
        out.push_str("  (no plugin became enabled)\n");
    }
    for (depth, name) in chain.iter().enumerate() {
        let Some(r) = records.iter().find(|r| &r.name == name) else {
            continue;
        };
        let took = r
            .timings
            .ready_at
            .zip(r.timings.started_at())
            .map(|(a, b)| a - b);
        let _ = writeln!(
            out,
            "  {:indent$}{} @{} +{}",
            "",
            escape(name),
            cell(r.timings.ready_at),
            cell(took),
            indent = depth * 2
        );
    }
    out
}
