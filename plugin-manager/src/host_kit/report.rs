//! What a host prints about its plugins: the startup and shutdown tables, the `list --json`
//! records and one line per state change.
//!
//! Each function returns the text (without a final newline where it is one line), so a host
//! chooses where it goes; [`say`] is the stdout printer the kit itself uses.
//!
//! Everything in the text that came from a plugin or the configuration (names, versions,
//! dependencies, errors, panic messages) is [escaped](super::text::escape): a control
//! character shows as `\n`, `\u{1b}`, ..., so no plugin can forge a line of its own. Errors
//! are also [shortened](super::text::shorten) to [`MAX_ERROR_CHARS`].

use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

use super::text::{escape, shorten};
use crate::state::{DisplayDuration, PluginRecord, StateChange, as_millis};

/// How many characters of an error or a panic message the reports show.
pub const MAX_ERROR_CHARS: usize = 1000;

/// An error as the human-readable reports show it: escaped, then shortened.
fn error_text(error: &dyn std::fmt::Display) -> String {
    shorten(&escape(&error.to_string()), MAX_ERROR_CHARS).into_owned()
}

/// One plugin as `list --json` shows it: a flat view of a [`PluginRecord`].
///
/// The field names and values are a contract with the scripts that read the output:
/// `name`, `version`, `description`, `crate`, `deps`, `optional_deps`, `state` (as
/// [`PluginState::as_str`](crate::PluginState::as_str)), `error` (the last failure as text, or
/// `null`), `start_time_ms` and `stop_time_ms` (fractional milliseconds, or `null`),
/// `dropped_events`, `config` (`default` or `file:line`), `restart_count` and `health`
/// (`healthy`, `degraded: REASON` or `unhealthy: REASON`).
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::host_kit::report::ListEntry;
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
///     .build()
///     .unwrap();
/// let record = manager.record("noop").unwrap();
/// let json = serde_json::to_value(ListEntry::from(&record)).unwrap();
/// assert_eq!(json["name"], "noop");
/// assert_eq!(json["state"], "unloaded");
/// assert_eq!(json["config"], "default");
/// assert_eq!(json["error"], serde_json::Value::Null);
/// assert_eq!(json["health"], "healthy");
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ListEntry<'a> {
    /// The plugin's name.
    pub name: &'a str,
    /// Its crate's version.
    pub version: &'a str,
    /// Its crate's description.
    pub description: &'a str,
    /// The crate it comes from, as `crate`.
    #[serde(rename = "crate")]
    pub crate_name: &'a str,
    /// Required dependencies.
    pub deps: &'a [String],
    /// Optional dependencies, present or not.
    pub optional_deps: &'a [String],
    /// The state, as `enabled`, `torn_down`, ...
    pub state: &'static str,
    /// The last failure, as the sentence the reports show.
    pub error: Option<String>,
    /// How long the last start took, in milliseconds.
    pub start_time_ms: Option<f64>,
    /// How long the last stop took, in milliseconds.
    pub stop_time_ms: Option<f64>,
    /// Events the plugin's subscriptions lost by falling a whole queue capacity behind.
    pub dropped_events: u64,
    /// `default`, or the `file:line` of the plugin's section.
    pub config: String,
    /// Automatic restarts so far.
    pub restart_count: u32,
    /// What the plugin last reported of its health, as `healthy`, `degraded: REASON`, ...
    pub health: String,
}

impl<'a> From<&'a PluginRecord> for ListEntry<'a> {
    fn from(r: &'a PluginRecord) -> Self {
        Self {
            name: &r.name,
            version: &r.version,
            description: &r.description,
            crate_name: &r.crate_name,
            deps: &r.deps,
            optional_deps: &r.optional_deps,
            state: r.state.as_str(),
            error: r.last_error.as_ref().map(ToString::to_string),
            start_time_ms: r.start_time.map(as_millis),
            stop_time_ms: r.stop_time.map(as_millis),
            dropped_events: r.dropped_events,
            config: r.config_source.to_string(),
            restart_count: r.restart_count,
            health: r.health.to_string(),
        }
    }
}

/// The records as one pretty-printed JSON array of [`ListEntry`], in the order given.
pub fn json(records: &[PluginRecord]) -> String {
    let entries: Vec<ListEntry<'_>> = records.iter().map(ListEntry::from).collect();
    // Strings, numbers and options only: serializing them cannot fail.
    serde_json::to_string_pretty(&entries).expect("plugin records serialize")
}

/// Which duration a [`table`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Took {
    /// How long each plugin took to start (the `start` column).
    Start,
    /// How long each plugin took to stop (the `stop` column).
    Stop,
}

/// The width of the name column of a table of `records`: the longest escaped name, and at
/// least the header's `plugin` (6).
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::host_kit::report::name_width;
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("dice-stats")))
///     .build()?;
/// assert_eq!(name_width(&manager.records()), 10);
/// # Ok::<(), plugin_manager::InvalidPluginSet>(())
/// ```
#[must_use]
pub fn name_width(records: &[PluginRecord]) -> usize {
    records
        .iter()
        .map(|r| escape(&r.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(6)
}

/// A table of the records under `title`, one line each, with the error under a failed
/// plugin and the health under one that reported itself degraded or unhealthy; it ends with
/// a newline.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::host_kit::report::{Took, table};
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop").with_version("1.0.0")))
///     .build()
///     .unwrap();
/// assert_eq!(
///     table("plugins:", &manager.records(), Took::Start),
///     "plugins:\n  plugin  version   state         start  deps\n  noop    1.0.0     unloaded          -  -\n",
/// );
/// ```
pub fn table(title: &str, records: &[PluginRecord], took: Took) -> String {
    let width = name_width(records);
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
            escape(&r.deps.join(", ")).into_owned()
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:8}  {:9}  {:>8}  {deps}",
            escape(&r.name),
            escape(&r.version),
            r.state.as_str(),
            time
        );
        if let Some(error) = &r.last_error {
            let _ = writeln!(out, "  {:width$}  error: {}", "", error_text(error));
        }
        if !r.health.is_healthy() {
            let _ = writeln!(out, "  {:width$}  health: {}", "", error_text(&r.health));
        }
    }
    out
}

/// One line for a state change: `* dice: enabled -> disabled`, with the cause of a failure
/// in parentheses.
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::{PluginState, StateChange, host_kit::report::change};
///
/// let off = StateChange::new("dice", PluginState::Enabled, PluginState::Disabled, Duration::ZERO);
/// assert_eq!(change(&off), "* dice: enabled -> disabled");
/// ```
///
/// The name and the cause are escaped: a panic message cannot start a line.
///
/// ```
/// # use std::time::Duration;
/// # use plugin_manager::{Failure, FailureKind, Phase, PluginState, StateChange, host_kit::report::change};
/// let panic = FailureKind::Panic("boom\n* dice: enabled -> failed (forged)".into());
/// let forged = StateChange::new("dice", PluginState::Enabled, PluginState::Failed, Duration::ZERO)
///     .with_cause(Failure::new(Phase::Background, panic));
/// assert_eq!(change(&forged).lines().count(), 1);
/// ```
pub fn change(change: &StateChange) -> String {
    let plugin = escape(&change.plugin);
    match &change.cause {
        Some(cause) => format!(
            "* {plugin}: {} -> {} ({})",
            change.from,
            change.to,
            error_text(cause)
        ),
        None => format!("* {plugin}: {} -> {}", change.from, change.to),
    }
}

/// What a host abandoned when it left before its shutdown finished (a second Ctrl-C, say):
/// one line naming the plugins of `records` that are neither torn down, failed nor never
/// loaded, with their states, or saying that nothing was left.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::host_kit::report::abandoned;
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
///     .build()
///     .unwrap();
/// assert_eq!(abandoned(&manager.records()), "abandoned: nothing (every plugin had stopped)");
/// ```
pub fn abandoned(records: &[PluginRecord]) -> String {
    use crate::PluginState;
    let left: Vec<String> = records
        .iter()
        .filter(|r| {
            !matches!(
                r.state,
                PluginState::TornDown | PluginState::Failed | PluginState::Unloaded
            )
        })
        .map(|r| format!("{} ({})", escape(&r.name), r.state.as_str()))
        .collect();
    if left.is_empty() {
        "abandoned: nothing (every plugin had stopped)".to_owned()
    } else {
        format!("abandoned, not torn down: {}", left.join(", "))
    }
}

/// The line for state changes an observer missed because it fell behind.
pub fn missed(count: u64) -> String {
    format!("* ({count} state changes not shown)")
}

/// Prints `text` and a newline to stdout and flushes it. A closed stdout (the reader went
/// away) is not worth a panic, so errors are ignored.
///
/// The write blocks the calling thread while stdout is full (a pipe nobody reads). A host
/// that must stay responsive to signals then prints from a thread of its own instead, as the
/// demo bot does.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
