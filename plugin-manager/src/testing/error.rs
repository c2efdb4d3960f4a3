//! [`TestBedError`] and the sentences it reads as.

use std::fmt::Write as _;
use std::time::Duration;

use plugin_core::ConfigError;

use super::running::describe;
use crate::error::InvalidPluginSet;
use crate::state::{DisplayDuration, Failure, PluginRecord, PluginState};

/// What went wrong in a test bed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TestBedError {
    /// A plugin of the bed is neither given by the test nor registered in this binary.
    #[error("{}", not_registered_text(plugin, needed_by.as_ref(), registered))]
    NotRegistered {
        /// The plugin nothing answers to.
        plugin: String,
        /// The plugin that needs it and that plugin's crate, unless the test named it itself.
        needed_by: Option<(String, Option<String>)>,
        /// The names of the plugins registered in this binary, sorted.
        registered: Vec<String>,
    },
    /// The manager refused the set of plugins.
    #[error(transparent)]
    InvalidSet(InvalidPluginSet),
    /// The configuration is not valid TOML, or names no plugin of the bed.
    #[error("{}", config_text(.0))]
    Config(Vec<ConfigError>),
    /// After [`TestBed::start`](super::TestBed::start), these plugins were not enabled (their records).
    #[error("{}", not_enabled_text(.0))]
    NotEnabled(Vec<PluginRecord>),
    /// A wait reached its deadline.
    #[error(
        "timed out after {} waiting for {awaited}{}",
        DisplayDuration(*after),
        detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    Timeout {
        /// What was awaited.
        awaited: String,
        /// The deadline it had.
        after: Duration,
        /// What was seen instead, when known.
        detail: Option<String>,
    },
    /// The bed has no plugin of this name.
    #[error("the test bed has no plugin `{plugin}`; it has {}", plugins.join(", "))]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
        /// The plugins of the bed, in start order.
        plugins: Vec<String>,
    },
    /// The plugin has no live instance in its state.
    #[error(
        "plugin `{plugin}` has no instance: it is {state}{}",
        failure.as_ref().map(|f| format!(" ({f})")).unwrap_or_default()
    )]
    NoInstance {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: PluginState,
        /// Its last failure, if any.
        failure: Option<Failure>,
    },
    /// The plugin is not of the type asked for.
    #[error("plugin `{plugin}` is a `{actual}`, not a `{asked}`")]
    WrongType {
        /// The plugin.
        plugin: String,
        /// Its type.
        actual: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
    /// The test's subscription was closed.
    #[error("the test's subscription to `{event}` events was closed")]
    EventsClosed {
        /// The event type.
        event: &'static str,
    },
}

fn not_registered_text(
    plugin: &str,
    needed_by: Option<&(String, Option<String>)>,
    registered: &[String],
) -> String {
    let mut text = match needed_by {
        Some((by, Some(krate))) => {
            format!("plugin `{plugin}`, which `{by}` (crate `{krate}`) needs, is not registered")
        }
        Some((by, None)) => format!("plugin `{plugin}`, which `{by}` needs, is not registered"),
        None => format!("plugin `{plugin}` is not registered"),
    };
    let guess = format!("plugin_{}", plugin.replace('-', "_"));
    let _ = write!(
        text,
        " in this binary. A plugin crate is linked into a test only if the test refers to it: \
         name the crate that defines `{plugin}` in the test, e.g. `use {guess} as _;` (with \
         that crate among the dev-dependencies), or give the bed a stand-in with \
         `TestBed::spec` or `TestBed::replace`. Registered here: "
    );
    if registered.is_empty() {
        text.push_str("none");
    } else {
        text.push_str(&registered.join(", "));
    }
    text
}

fn config_text(problems: &[ConfigError]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|p| format!("\n  - {p}")).collect();
            format!("invalid test configuration:{}", lines.concat())
        }
    }
}

fn not_enabled_text(records: &[PluginRecord]) -> String {
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("\n  - `{}`: {}", r.name, describe(r)))
        .collect();
    format!(
        "not every plugin of the test bed is enabled:{}",
        lines.concat()
    )
}
