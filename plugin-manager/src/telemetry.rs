//! What the manager reports through the [`metrics`] facade, each series labelled
//! `plugin="NAME"` (the names are listed in docs/operating.md):
//!
//! - `plugin_state{plugin,state}`: gauge, 1 for the state the plugin is in, 0 for the others
//!   it has been in;
//! - `plugin_health{plugin,health}`: gauge, the same for `healthy`, `degraded`, `unhealthy`;
//! - `plugin_hook_seconds{plugin,hook}`: histogram of the constructor and each hook;
//! - `plugin_restarts_total{plugin}`: counter of automatic restarts.
//!
//! Events and requests (made, failed, served and unanswered) are counted by each plugin's
//! `Context` (plugin-core).
//!
//! Only when the builder asks for them (`ManagerBuilder::metrics`): registering a series builds,
//! hashes and drops a key with its labels, recorder or not, and a plugin has about ten.
//!
//! Each plugin keeps the handles of its series ([`PluginTelemetry`]), registered with the
//! recorder the first time a series is written and reused after that: a transition writes two
//! gauges instead of building two keys. So a recorder must be installed before the manager
//! starts, as the `metrics` crate asks of every library.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use plugin_core::Health;

use crate::state::{Phase, PluginState};

/// The `health` label values, in the order of [`PluginTelemetry::health`]'s handles.
const HEALTH: [&str; 3] = ["healthy", "degraded", "unhealthy"];

/// The `hook` label values: the constructor, then the hooks by [`Hook::name`](plugin_core::host::Hook::name).
const HOOKS: [&str; 5] = [
    "constructor",
    "setup",
    "on_enable",
    "on_disable",
    "teardown",
];

/// One plugin's series when metrics are on, each registered on first use; see the
/// [module](self). Every method does nothing when they are off.
pub(crate) struct PluginTelemetry(Option<Box<Handles>>);

/// The handles of one plugin's series.
struct Handles {
    /// The `plugin` label.
    plugin: std::sync::Arc<str>,
    /// `plugin_state`, by [`PluginState::ALL`] order.
    states: [OnceLock<Gauge>; PluginState::ALL.len()],
    /// `plugin_health`, by [`HEALTH`] order.
    health: [OnceLock<Gauge>; HEALTH.len()],
    /// `plugin_hook_seconds`, by [`HOOKS`] order.
    hooks: [OnceLock<Histogram>; HOOKS.len()],
    restarts: OnceLock<Counter>,
}

impl PluginTelemetry {
    pub(crate) fn new(plugin: &str, on: bool) -> Self {
        Self(on.then(|| {
            Box::new(Handles {
                plugin: plugin.into(),
                states: Default::default(),
                health: Default::default(),
                hooks: Default::default(),
                restarts: OnceLock::new(),
            })
        }))
    }

    /// A state change: `to` goes to 1, `from` to 0 (if it was ever written: a series the
    /// plugin never had is not made just to hold a 0).
    pub(crate) fn state(&self, from: PluginState, to: PluginState) {
        let Some(handles) = &self.0 else {
            return;
        };
        if from != to
            && let Some(gauge) = handles.states[state_index(from)].get()
        {
            gauge.set(0.0);
        }
        handles.states[state_index(to)]
            .get_or_init(|| {
                metrics::gauge!("plugin_state", "plugin" => handles.plugin.clone(), "state" => to.as_str())
            })
            .set(1.0);
    }

    /// The plugin's health now: its level goes to 1, the others it has had to 0.
    pub(crate) fn health(&self, health: &Health) {
        let Some(handles) = &self.0 else {
            return;
        };
        for (level, gauge) in HEALTH.iter().zip(&handles.health) {
            if *level == health.as_str() {
                gauge
                    .get_or_init(|| {
                        metrics::gauge!("plugin_health", "plugin" => handles.plugin.clone(), "health" => *level)
                    })
                    .set(1.0);
            } else if let Some(gauge) = gauge.get() {
                gauge.set(0.0);
            }
        }
    }

    /// Whether the manager's metrics are on (otherwise every method here does nothing).
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One run of a piece of plugin code; background tasks and `reconfigure` are not timed.
    pub(crate) fn hook(&self, phase: Phase, took: Duration) {
        let Some(handles) = &self.0 else {
            return;
        };
        let name = match phase {
            Phase::Constructor => "constructor",
            Phase::Hook(hook) => hook.name(),
            Phase::Background | Phase::Reconfigure => return,
        };
        let Some(index) = HOOKS.iter().position(|h| *h == name) else {
            return;
        };
        handles.hooks[index]
            .get_or_init(|| {
                metrics::histogram!("plugin_hook_seconds", "plugin" => handles.plugin.clone(), "hook" => HOOKS[index])
            })
            .record(took.as_secs_f64());
    }

    /// An automatic restart.
    pub(crate) fn restarted(&self) {
        let Some(handles) = &self.0 else {
            return;
        };
        handles
            .restarts
            .get_or_init(
                || metrics::counter!("plugin_restarts_total", "plugin" => handles.plugin.clone()),
            )
            .increment(1);
    }
}

fn state_index(state: PluginState) -> usize {
    PluginState::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is in PluginState::ALL")
}
