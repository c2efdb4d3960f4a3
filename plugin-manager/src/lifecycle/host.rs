//! The manager's side of every plugin's `Context`: finding enabled plugins and supervising
//! their background tasks.
//!
//! A context must not keep the manager alive (the manager owns the contexts), so it holds a
//! `Weak` reference; once the manager is gone, lookups find nothing and spawns are dropped.
//! It knows its plugin's position and instance, so nothing it does looks the plugin up by name.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use plugin_core::host::CancellationToken;
use plugin_core::host::{BackgroundTask, Host};
use plugin_core::{Health, PluginInstance};
use tokio::task::AbortHandle;

use super::Shared;
use crate::state::{Failure, FailureKind, Phase};
use crate::task::{join_failure, spawn_named};

/// The [`Host`] handed to plugin contexts: one per instance, so a context an old instance
/// kept (in a command handler, say) cannot start tasks on behalf of a newer one.
pub(super) struct ManagerHost {
    pub(super) shared: Weak<Shared>,
    /// The plugin's position in the table.
    pub(super) pos: usize,
    /// The instance this context belongs to (see `Instance::generation`).
    pub(super) generation: u64,
}

impl Host for ManagerHost {
    fn enabled_instance(&self, name: &str) -> Option<PluginInstance> {
        self.shared.upgrade()?.enabled_instance(name)
    }

    /// The name is the context's own plugin, which this host knows by position.
    fn cancellation(&self, _plugin: &str) -> CancellationToken {
        match self.shared.upgrade() {
            Some(shared) => shared
                .live(self.pos)
                .instance
                .cancellation_for(self.generation),
            None => {
                // No manager: nothing will run, so say so at once.
                let token = CancellationToken::new();
                token.cancel();
                token
            }
        }
    }

    /// Marks the plugin (any of its instances) as one whose subscriptions and servers are
    /// closed when it stops running; one that never opened any costs its stops nothing.
    fn opens_on_bus(&self, _plugin: &str) {
        if let Some(shared) = self.shared.upgrade() {
            shared.slots[self.pos].on_bus.store(true, Ordering::Release);
        }
    }

    fn report_health(&self, _plugin: &str, health: Health) {
        if let Some(shared) = self.shared.upgrade() {
            shared.health_reported(self.pos, self.generation, health);
        }
    }

    fn spawn(&self, _plugin: &str, task: BackgroundTask) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let (pos, generation) = (self.pos, self.generation);
        let plugin = shared.name(pos);
        if !shared.accepting_tasks(pos, generation) {
            tracing::warn!(
                plugin,
                "background task refused: this instance is not running"
            );
            return;
        }
        let worker = spawn_named(plugin, "background", task);
        shared.track_task(pos, generation, worker.abort_handle());
        // The watcher only waits; it ends when the worker does, and is not tracked itself.
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        spawn_named(plugin, "background watcher", async move {
            let failure = match worker.await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => {
                    Failure::new(Phase::Background, FailureKind::Error(error.to_string()))
                }
                Err(join_error) if join_error.is_cancelled() => return,
                Err(join_error) => Failure::new(Phase::Background, join_failure(join_error)),
            };
            if let Some(shared) = weak.upgrade() {
                shared.background_failed(pos, generation, failure).await;
            }
        });
    }
}

impl Shared {
    /// Whether instance `generation` of `pos` may start background tasks now.
    fn accepting_tasks(&self, pos: usize, generation: u64) -> bool {
        let live = self.live(pos);
        live.instance.accepts_tasks(live.state, generation)
    }

    /// Keeps a background task of `pos` to abort when it stops; the plugin may have stopped
    /// since it was accepted, and the task is then aborted at once.
    fn track_task(&self, pos: usize, generation: u64, task: AbortHandle) {
        let mut live = self.live(pos);
        let state = live.state;
        live.instance.track(state, generation, task);
    }

    /// Instance `generation` of `pos` reported `health`: recorded; if it is unhealthy and its
    /// configuration says `fail_when_unhealthy`, it fails as if a background task had (in a
    /// task of its own: the report may come from a hook, under the plugin's locks).
    fn health_reported(self: &Arc<Self>, pos: usize, generation: u64, health: Health) {
        let plugin = self.name(pos);
        let fail = {
            let mut live = self.live(pos);
            if !live.instance.is(generation) {
                return; // an old instance's word is no longer the plugin's
            }
            let fail = matches!(health, Health::Unhealthy(_))
                && live.config.fail_when_unhealthy()
                && live.state.is_running();
            live.health = health.clone();
            fail
        };
        self.telemetry(pos).health(&health);
        match &health {
            Health::Healthy => tracing::info!(plugin, %health, "plugin health"),
            _ => tracing::warn!(plugin, %health, "plugin health"),
        }
        let Health::Unhealthy(reason) = health else {
            return;
        };
        if fail {
            let weak: Weak<Shared> = Arc::downgrade(self);
            spawn_named(plugin, "health", async move {
                if let Some(shared) = weak.upgrade() {
                    let failure = Failure::unhealthy(&reason);
                    shared.background_failed(pos, generation, failure).await;
                }
            });
        }
    }

    /// A background task of `pos` failed: the plugin fails, and the enabled plugins that need
    /// it are stopped and fail with "dependency failed".
    async fn background_failed(self: &Arc<Self>, pos: usize, generation: u64, failure: Failure) {
        let dependents = self.graph.dependents_closure(pos);
        let _locks = self.lock_all(&dependents).await;
        {
            let live = self.live(pos);
            if !live.instance.is(generation) || !live.state.is_running() {
                return; // an old instance, or already stopped: nothing to report
            }
        }
        self.fail_with_dependents(pos, &dependents, failure).await;
    }
}
