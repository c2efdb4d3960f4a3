//! The manager's side of every plugin's `Context`: finding enabled plugins and supervising
//! their background tasks.
//!
//! A context must not keep the manager alive (the manager owns the contexts), so it holds a
//! `Weak` reference; once the manager is gone, lookups find nothing and spawns are dropped.

use std::sync::{Arc, Weak};

use plugin_core::{BackgroundTask, CancellationToken, Host, PluginInstance};

use crate::lifecycle::Shared;
use crate::state::{Failure, Phase};
use crate::task::{join_failure, spawn_named};

/// The [`Host`] handed to plugin contexts: one per instance, so a context an old instance
/// kept (in a command handler, say) cannot start tasks on behalf of a newer one.
pub(crate) struct ManagerHost {
    pub(crate) shared: Weak<Shared>,
    /// The instance this context belongs to (see `Live::generation`).
    pub(crate) generation: u64,
}

impl Host for ManagerHost {
    fn enabled_instance(&self, name: &str) -> Option<PluginInstance> {
        self.shared.upgrade()?.enabled_instance(name)
    }

    fn cancellation(&self, plugin: &str) -> CancellationToken {
        self.shared
            .upgrade()
            .and_then(|shared| {
                let pos = shared.graph.position(plugin)?;
                Some(shared.cancellation(pos, self.generation))
            })
            .unwrap_or_else(|| {
                // No manager, or no such plugin: nothing will run, so say so at once.
                let token = CancellationToken::new();
                token.cancel();
                token
            })
    }

    fn spawn(&self, plugin: &str, task: BackgroundTask) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Some(pos) = shared.graph.position(plugin) else {
            return;
        };
        let Some(generation) = shared
            .accepting_tasks(pos)
            .filter(|&current| current == self.generation)
        else {
            tracing::warn!(
                plugin,
                "background task refused: this instance is not running"
            );
            return;
        };
        let worker = spawn_named(plugin, "background", task);
        shared.track_task(pos, generation, worker.abort_handle());
        // The watcher only waits; it ends when the worker does, and is not tracked itself.
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        spawn_named(plugin, "background watcher", async move {
            let failure = match worker.await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => plugin_core_failure(error),
                Err(join_error) if join_error.is_cancelled() => return,
                Err(join_error) => Failure::new(Phase::Background, join_failure(join_error)),
            };
            if let Some(shared) = weak.upgrade() {
                shared.background_failed(pos, generation, failure).await;
            }
        });
    }
}

fn plugin_core_failure(error: plugin_core::Error) -> Failure {
    Failure::new(
        Phase::Background,
        crate::state::FailureKind::Error(error.to_string()),
    )
}
