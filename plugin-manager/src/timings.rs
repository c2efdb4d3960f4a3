//! How long a plugin's start took, piece by piece, and the critical chain of a start: what a
//! host's `profile` command shows.
//!
//! The manager reads the clock once at each boundary of a start (before the constructor,
//! between the pieces, once enabled), so profiling costs nothing a start did not already pay
//! for but those reads. A start carried on in the task of the plugin that let it start (a
//! chain's next link) begins at that plugin's last read, made as it was enabled, when that
//! was only a moment before: nothing else was left to settle, and nothing watched the change
//! (no subscriber taking debug events, no manager metrics, no feed of changes held; any of
//! those, and the start reads the clock itself). Its constructor's time then holds what the
//! manager did in between, well under a microsecond (a clock read in a virtual machine costs
//! about 30 ns, and two fewer a link made a chain's start about a seventh faster).

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::state::{PluginRecord, as_millis};

/// How long each piece of a plugin's last start took, and when it became enabled.
///
/// Every field is `None` until the piece ran to its end. Serialized, the fields are
/// `constructor_ms`, `setup_ms`, `on_enable_ms` and `ready_at_ms` (fractional milliseconds).
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::{PluginManager, PluginSpec};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
///     .build()
///     .unwrap();
/// assert_eq!(manager.record("noop").unwrap().timings.ready_at, None);
/// manager.start().await;
/// let timings = manager.record("noop").unwrap().timings;
/// assert!(timings.setup.is_some() && timings.ready_at.is_some());
/// # manager.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HookTimings {
    /// The constructor, including making the plugin's context.
    #[serde(rename = "constructor_ms", serialize_with = "optional_millis")]
    pub constructor: Option<Duration>,
    /// `setup`.
    #[serde(rename = "setup_ms", serialize_with = "optional_millis")]
    pub setup: Option<Duration>,
    /// `on_enable`.
    #[serde(rename = "on_enable_ms", serialize_with = "optional_millis")]
    pub on_enable: Option<Duration>,
    /// When the plugin became enabled, measured from the manager's creation on tokio's clock.
    #[serde(rename = "ready_at_ms", serialize_with = "optional_millis")]
    pub ready_at: Option<Duration>,
}

impl HookTimings {
    /// When the last start began (`ready_at` less the three pieces), if it finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_manager::HookTimings;
    ///
    /// let ms = Duration::from_millis;
    /// let mut timings = HookTimings::default();
    /// (timings.constructor, timings.setup, timings.on_enable) = (Some(ms(1)), Some(ms(2)), Some(ms(3)));
    /// timings.ready_at = Some(ms(10));
    /// assert_eq!(timings.started_at(), Some(ms(4)));
    /// ```
    #[must_use]
    pub fn started_at(&self) -> Option<Duration> {
        let took = self.constructor? + self.setup? + self.on_enable?;
        Some(self.ready_at?.saturating_sub(took))
    }
}

fn optional_millis<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    duration.map(as_millis).serialize(serializer)
}

/// The chain of dependencies that decided when the last plugin became enabled, first link
/// first, as `systemd-analyze critical-chain` shows it: from the plugin enabled last, step to
/// its dependency (required or optional) that became enabled last before it started, and
/// again from there, until a plugin whose start waited on none.
///
/// Plugins that never became enabled are left out; with none, the chain is empty.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::{PluginManager, PluginSpec, critical_chain};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("base")))
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("top").with_deps(["base"])))
///     .build()
///     .unwrap();
/// manager.start().await;
/// assert_eq!(critical_chain(&manager.records()), ["base", "top"]);
/// # manager.shutdown().await;
/// # });
/// ```
#[must_use]
pub fn critical_chain(records: &[PluginRecord]) -> Vec<String> {
    let ready = |r: &PluginRecord| r.timings.ready_at;
    // The last one enabled; the earliest in start order among equals.
    let Some(mut link) = records
        .iter()
        .filter(|r| ready(r).is_some())
        .rev()
        .max_by_key(|r| ready(r))
    else {
        return Vec::new();
    };
    let mut chain = vec![link.name.clone()];
    loop {
        let started = link.timings.started_at().or(ready(link));
        let previous = link
            .deps
            .iter()
            .chain(&link.optional_deps)
            .filter_map(|dep| records.iter().find(|r| &r.name == dep))
            .filter(|r| matches!((ready(r), started), (Some(at), Some(start)) if at <= start))
            .rev()
            .max_by_key(|r| ready(r));
        match previous {
            // A cycle cannot happen in a valid set; the check only keeps a made-up one finite.
            Some(dep) if !chain.contains(&dep.name) => {
                chain.push(dep.name.clone());
                link = dep;
            }
            _ => break,
        }
    }
    chain.reverse();
    chain
}
