//! Whether a host is ready to serve ([`readiness`], [`Host::ready`](super::Host::ready)), and
//! the metrics a host refreshes from the records before it exports them ([`refresh_metrics`]).

use std::fmt;

use serde::Serialize;

use super::text::escape;
use crate::state::{PluginRecord, PluginState};

/// Whether every plugin the configuration switches on is enabled and healthy; the plugins that
/// are not, each with why.
///
/// `Degraded` counts as healthy here: the plugin still does its job.
///
/// Displayed as `ready`, or `not ready: dice (failed), store (unhealthy: no disk)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// Every required plugin is enabled and not unhealthy.
    pub ready: bool,
    /// The required plugins that are not, in start order, with their state or health.
    pub waiting_for: Vec<(String, String)>,
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ready {
            return f.write_str("ready");
        }
        f.write_str("not ready: ")?;
        for (i, (name, why)) in self.waiting_for.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} ({})", escape(name), escape(why))?;
        }
        Ok(())
    }
}

/// The readiness of a set of plugins from their records: every plugin switched on by the
/// configuration (`configured_on`) must be `enabled` and not `Unhealthy`.
///
/// ```
/// use plugin_core::{Context, Health, Plugin, PluginMetadata, Result, async_trait};
/// use plugin_manager::host_kit::health::readiness;
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Store;
/// #[async_trait]
/// impl Plugin for Store {
///     async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
///         ctx.health().set(Health::Unhealthy("no disk".into()));
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Store>(PluginMetadata::new("store")))
///     .build()
///     .unwrap();
/// assert!(!readiness(&manager.records()).ready); // not started yet
/// manager.start().await;
/// let ready = readiness(&manager.records());
/// assert_eq!(ready.to_string(), "not ready: store (unhealthy: no disk)");
/// # manager.shutdown().await;
/// # });
/// ```
#[must_use]
pub fn readiness(records: &[PluginRecord]) -> Readiness {
    let waiting_for: Vec<(String, String)> = records
        .iter()
        .filter(|r| r.configured_on)
        .filter_map(|r| {
            let why = if r.state != PluginState::Enabled {
                r.state.as_str().to_owned()
            } else if matches!(r.health, plugin_core::Health::Unhealthy(_)) {
                r.health.to_string()
            } else {
                return None;
            };
            Some((r.name.clone(), why))
        })
        .collect();
    Readiness {
        ready: waiting_for.is_empty(),
        waiting_for,
    }
}

/// Sets the metrics that the manager keeps as counts in the records rather than reports as
/// they happen: `plugin_events_dropped_total{plugin}` (events the plugin's subscriptions lost
/// by falling a whole queue capacity behind). A host calls it before each export (each
/// scrape).
///
/// ```
/// # use plugin_core::{Plugin, PluginMetadata, async_trait};
/// # use plugin_manager::{PluginManager, PluginSpec};
/// # #[derive(Default)]
/// # struct Noop;
/// # #[async_trait]
/// # impl Plugin for Noop {}
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
///     .build()
///     .unwrap();
/// // Without a recorder installed, a no-op.
/// plugin_manager::host_kit::health::refresh_metrics(&manager.records());
/// ```
pub fn refresh_metrics(records: &[PluginRecord]) {
    for r in records {
        metrics::counter!("plugin_events_dropped_total", "plugin" => r.name.clone())
            .absolute(r.dropped_events);
    }
}
