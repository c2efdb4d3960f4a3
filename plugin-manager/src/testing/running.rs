//! [`RunningBed`]: the plugins of a bed under a real manager, and waiting for their states.

use std::any::type_name;
use std::time::Duration;

use plugin_core::{EventBus, PluginRef, PluginType};
use tokio::time::Instant;

use super::{TestBedError, events::Events};
use crate::manager::PluginManager;
use crate::state::{PluginRecord, PluginState};
use crate::state_changes::StateChangesError;

/// The plugins of a [`TestBed`](super::TestBed), running under a [`PluginManager`].
///
/// Dropping it without [`RunningBed::shutdown`] aborts the plugins' background tasks without
/// running their `on_disable` and `teardown`.
#[derive(Debug)]
pub struct RunningBed {
    pub(super) manager: PluginManager,
}

impl RunningBed {
    /// The manager running the plugins, for operator requests (`disable`, `restart`,
    /// `reload_config`) and everything else it offers.
    pub fn manager(&self) -> &PluginManager {
        &self.manager
    }

    /// The event bus the plugins use.
    pub fn bus(&self) -> &EventBus {
        self.manager.bus()
    }

    /// The state of `plugin`, if the bed has such a plugin.
    pub fn state(&self, plugin: &str) -> Option<PluginState> {
        self.manager.state(plugin)
    }

    /// A snapshot of the record of `plugin`, if the bed has such a plugin.
    pub fn record(&self, plugin: &str) -> Option<PluginRecord> {
        self.manager.record(plugin)
    }

    /// The live instance of the plugin type `P`, or an error saying why there is none.
    ///
    /// # Errors
    ///
    /// A [`TestBedError`] saying why there is no instance: no such plugin in the bed, or it has
    /// none in its state.
    pub fn get<P: PluginType>(&self) -> Result<PluginRef<P>, TestBedError> {
        self.get_named(P::NAME)
    }

    /// The live instance of `plugin` as a `P`, for plugins given as specs.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), and [`TestBedError::WrongType`] when the instance is not a `P`.
    pub fn get_named<P: Send + Sync + 'static>(
        &self,
        plugin: &str,
    ) -> Result<PluginRef<P>, TestBedError> {
        let record = self.known(plugin)?;
        let instance = self
            .manager
            .instance(plugin)
            .ok_or_else(|| TestBedError::NoInstance {
                plugin: plugin.to_owned(),
                state: record.state,
                failure: record.last_error.clone(),
            })?;
        instance
            .downcast::<P>()
            .ok_or_else(|| TestBedError::WrongType {
                plugin: plugin.to_owned(),
                actual: instance.type_name(),
                asked: type_name::<P>(),
            })
    }

    /// Publishes `event` to the plugins' subscribers; returns how many open subscriptions it
    /// was published to.
    pub fn publish<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        self.manager.bus().publish(event)
    }

    /// Subscribes the test to events of type `E` from now on. Subscribe before doing what
    /// causes the event, so that it cannot pass unseen.
    pub fn events<E: Clone + Send + Sync + 'static>(&self) -> Events<E> {
        Events::new(self.manager.bus())
    }

    /// Waits until `plugin` is in `state` (at once if it is now), at most `timeout` on tokio's
    /// clock, following the manager's state-change feed.
    ///
    /// A timeout error says what was awaited, the state the plugin is in and its last error.
    ///
    /// # Errors
    ///
    /// [`TestBedError::UnknownPlugin`] when the bed has no such plugin,
    /// [`TestBedError::Timeout`] (with the state it is in) when it is not in `state` within
    /// `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_core::{Plugin, PluginMetadata, async_trait};
    /// use plugin_manager::{PluginSpec, PluginState};
    /// use plugin_manager::testing::TestBed;
    ///
    /// #[derive(Default)]
    /// struct Noop;
    /// #[async_trait]
    /// impl Plugin for Noop {}
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let bed = TestBed::new()
    ///     .spec(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
    ///     .start()
    ///     .await?;
    /// let second = Duration::from_secs(1);
    /// bed.wait_for_state("noop", PluginState::Enabled, second).await?;
    ///
    /// let error = bed.wait_for_state("noop", PluginState::Disabled, second).await.unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "timed out after 1s waiting for plugin `noop` to be disabled: it is enabled"
    /// );
    ///
    /// let (waited, disabled) = tokio::join!(
    ///     bed.wait_for_state("noop", PluginState::Disabled, second),
    ///     bed.manager().disable("noop"),
    /// );
    /// waited?;
    /// disabled.unwrap();
    /// # Ok::<(), plugin_manager::testing::TestBedError>(())
    /// # }).unwrap();
    /// ```
    pub async fn wait_for_state(
        &self,
        plugin: &str,
        state: PluginState,
        timeout: Duration,
    ) -> Result<(), TestBedError> {
        let deadline = Instant::now() + timeout;
        // Subscribed before the state is read: a change right after the read is in the feed.
        let mut changes = self.manager.state_changes();
        loop {
            if self.known(plugin)?.state == state {
                return Ok(());
            }
            loop {
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Ok(Ok(change)) if change.plugin == plugin && change.to == state => {
                        return Ok(());
                    }
                    Ok(Ok(_)) => {}
                    // Missed changes: read the state again.
                    Ok(Err(StateChangesError::Lagged { .. })) => break,
                    // The feed ends only with the manager, which `self` keeps alive.
                    Ok(Err(_)) | Err(_) => {
                        let record = self.known(plugin)?;
                        if record.state == state {
                            return Ok(());
                        }
                        return Err(TestBedError::Timeout {
                            awaited: format!("plugin `{plugin}` to be {state}"),
                            after: timeout,
                            detail: Some(describe(&record)),
                        });
                    }
                }
            }
        }
    }

    /// Shuts the plugins down (dependents first) and returns their records afterwards.
    pub async fn shutdown(self) -> Vec<PluginRecord> {
        self.manager.shutdown().await;
        self.manager.records()
    }

    fn known(&self, plugin: &str) -> Result<PluginRecord, TestBedError> {
        self.manager
            .record(plugin)
            .ok_or_else(|| TestBedError::UnknownPlugin {
                plugin: plugin.to_owned(),
                plugins: self
                    .manager
                    .start_order()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
    }
}

/// "it is failed (last error: setup returned an error: ...)".
pub(super) fn describe(record: &PluginRecord) -> String {
    match &record.last_error {
        Some(failure) if record.state == PluginState::Failed => {
            format!("it is {} ({failure})", record.state)
        }
        Some(failure) => format!("it is {} (last error: {failure})", record.state),
        None => format!("it is {}", record.state),
    }
}
