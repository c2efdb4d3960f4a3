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
//! `Context` (plugin-core). Without an installed recorder every call here is a no-op of the
//! facade's.

use std::sync::Arc;
use std::time::Duration;

use plugin_core::Health;

use crate::state::{Phase, PluginState};

/// The plugin's `plugin_state` series: `from` goes to 0, `to` to 1.
pub(crate) fn state(plugin: &Arc<str>, from: PluginState, to: PluginState) {
    if from != to {
        metrics::gauge!("plugin_state", "plugin" => plugin.clone(), "state" => from.as_str())
            .set(0.0);
    }
    metrics::gauge!("plugin_state", "plugin" => plugin.clone(), "state" => to.as_str()).set(1.0);
}

/// The plugin's `plugin_health` series.
pub(crate) fn health(plugin: &Arc<str>, health: &Health) {
    for level in ["healthy", "degraded", "unhealthy"] {
        let on = if health.as_str() == level { 1.0 } else { 0.0 };
        metrics::gauge!("plugin_health", "plugin" => plugin.clone(), "health" => level).set(on);
    }
}

/// One run of a piece of plugin code.
pub(crate) fn hook(plugin: &Arc<str>, phase: Phase, took: Duration) {
    let hook = match phase {
        Phase::Constructor => "constructor",
        Phase::Hook(hook) => hook.name(),
        Phase::Background | Phase::Reconfigure => return,
    };
    metrics::histogram!("plugin_hook_seconds", "plugin" => plugin.clone(), "hook" => hook)
        .record(took.as_secs_f64());
}

/// An automatic restart.
pub(crate) fn restarted(plugin: &Arc<str>) {
    metrics::counter!("plugin_restarts_total", "plugin" => plugin.clone()).increment(1);
}
