//! What moves one plugin: recording a transition, failing, starting (constructor, `setup`,
//! `on_enable`), enabling, disabling and stopping. Every function here runs with the plugin's
//! operation lock held by its caller (invariant 2).

use std::sync::Arc;

use plugin_core::Hook;
use plugin_core::host::ContextHandle;
use tokio::time::Instant;

use super::Shared;
use super::host::ManagerHost;
use super::instance::release;
use super::supervision::is_supervised;
use crate::state::{Failure, FailureKind, HISTORY_LIMIT, Phase, PluginState, StateChange};
use crate::task::{run_blocking_isolated, run_isolated};

impl Shared {
    /// Moves `pos` to `to`, recording why; leaving the running states stops its background
    /// tasks and closes its subscriptions, and leaving the states with an instance releases it.
    pub(super) fn transition(&self, pos: usize, to: PluginState, cause: Option<Failure>) {
        let name = self.name(pos);
        let change = {
            let mut live = self.live(pos);
            let from = live.state;
            // A failed plugin that fails again the same way (a restart that could not get
            // further) changes nothing worth a record; a new cause is recorded.
            if from == PluginState::Failed && to == PluginState::Failed && cause == live.last_error
            {
                return;
            }
            debug_assert!(from.can_go_to(to), "`{name}`: {from} -> {to}");
            live.state = to;
            if let Some(failure) = &cause {
                live.last_error = Some(failure.clone());
            }
            if !to.is_running() {
                live.instance.stop_tasks();
            }
            if !to.has_instance() {
                release(name, live.instance.take());
            }
            let change = StateChange {
                plugin: name.to_owned(),
                from,
                to,
                cause,
                at: self.created.elapsed(),
            };
            if live.history.len() == HISTORY_LIMIT {
                live.history.pop_front();
            }
            live.history.push_back(change.clone());
            change
        };
        if !to.is_running() {
            self.bus.close_owner(name);
        }
        match &change.cause {
            Some(cause) => {
                tracing::warn!(plugin = name, from = %change.from, to = %to, %cause, "plugin state")
            }
            None => tracing::debug!(plugin = name, from = %change.from, to = %to, "plugin state"),
        }
        // No observer is fine; a lagging one misses changes (see `subscribe_changes`).
        let _ = self.changes.send(change);
    }

    /// Moves `pos` to `Failed`; its policy answers a failure of its own while running.
    pub(super) fn fail(&self, pos: usize, failure: Failure) {
        let supervised = is_supervised(&failure);
        self.transition(pos, PluginState::Failed, Some(failure));
        if supervised {
            self.supervise(pos);
        }
    }

    /// Runs one hook of `pos` in its own task; a failure moves the plugin to `Failed`.
    async fn run_hook(&self, pos: usize, hook: Hook) -> Result<(), Failure> {
        let Some((instance, context)) = self.live(pos).instance.handles() else {
            return Ok(());
        };
        let outcome = run_isolated(
            self.name(pos),
            Phase::Hook(hook),
            self.timeout(pos),
            async move { instance.run_hook(hook, &context).await },
        )
        .await;
        if let Err(failure) = &outcome {
            self.fail(pos, failure.clone());
        }
        outcome
    }

    /// Makes a fresh instance of `pos`, then runs `setup` and `on_enable`.
    pub(super) async fn start_one(self: &Arc<Self>, pos: usize) -> Result<(), Failure> {
        let (config_error, section) = {
            let live = self.live(pos);
            (live.config.error().cloned(), live.config.section())
        };
        if let Some(error) = config_error {
            let failure = Failure {
                phase: None,
                kind: FailureKind::Config(error.to_string()),
            };
            self.fail(pos, failure.clone());
            return Err(failure);
        }
        let name = self.name(pos).to_owned();
        let began = Instant::now();
        let factory = self.slots[pos].factory.clone();
        let limit = self.timeout(pos);
        let made = if self.blocking_constructors {
            run_blocking_isolated(Phase::Constructor, limit, move || factory()).await
        } else {
            run_isolated(&name, Phase::Constructor, limit, async move { factory() }).await
        };
        let instance = match made {
            Ok(instance) => instance,
            Err(failure) => {
                self.fail(pos, failure.clone());
                return Err(failure);
            }
        };
        let generation = self.live(pos).instance.next_generation();
        let context = ContextHandle::new(
            self.slots[pos].metadata.clone(),
            self.bus.clone(),
            Arc::new(ManagerHost {
                shared: Arc::downgrade(self),
                pos,
                generation,
            }),
        );
        context.set_config(section);
        {
            let mut live = self.live(pos);
            live.instance.install(instance, context, generation);
            live.instance.renew_cancellation();
        }
        self.transition(pos, PluginState::Loaded, None);
        self.run_hook(pos, Hook::Setup).await?;
        self.transition(pos, PluginState::Setup, None);
        self.run_hook(pos, Hook::Enable).await?;
        self.live(pos).start_time = Some(began.elapsed());
        self.transition(pos, PluginState::Enabled, None);
        Ok(())
    }

    /// Whether the instance of `pos` was set up with a section the configuration has replaced.
    pub(super) fn config_stale(&self, pos: usize) -> bool {
        let live = self.live(pos);
        live.instance
            .context()
            .is_some_and(|ctx| live.config.differs_from(&ctx.config_section()))
    }

    /// Runs `on_enable` of a `Disabled` (or `Setup`) plugin and marks it `Enabled`.
    pub(super) async fn enable_one(&self, pos: usize) -> Result<(), Failure> {
        {
            let mut live = self.live(pos);
            live.instance.renew_cancellation();
            live.instance.set_enabling(true);
        }
        let outcome = self.run_hook(pos, Hook::Enable).await;
        self.live(pos).instance.set_enabling(false);
        outcome?;
        self.transition(pos, PluginState::Enabled, None);
        Ok(())
    }

    /// Runs `on_disable` if `pos` is enabled.
    pub(super) async fn disable_one(&self, pos: usize) -> Result<(), Failure> {
        if self.state(pos) == PluginState::Enabled {
            // Background tasks watching the token wind down while `on_disable` runs.
            self.live(pos).instance.cancel();
            self.run_hook(pos, Hook::Disable).await?;
            self.transition(pos, PluginState::Disabled, None);
        }
        Ok(())
    }

    /// Disables `pos` if enabled, then tears it down; a failed plugin just loses its instance.
    pub(super) async fn stop_one(&self, pos: usize) -> Result<(), Failure> {
        let began = Instant::now();
        self.disable_one(pos).await?;
        match self.state(pos) {
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => {
                self.live(pos).instance.cancel();
                self.run_hook(pos, Hook::Teardown).await?;
                self.live(pos).stop_time = Some(began.elapsed());
                self.transition(pos, PluginState::TornDown, None);
            }
            PluginState::Failed => {
                let instance = self.live(pos).instance.take();
                release(self.name(pos), instance);
            }
            PluginState::Unloaded | PluginState::Enabled | PluginState::TornDown => {}
        }
        Ok(())
    }

    /// Fails `pos` and stops (best effort) then fails every plugin in `dependents` that has an
    /// instance; the caller holds the locks of `dependents` (invariant 2).
    pub(super) async fn fail_with_dependents(
        &self,
        pos: usize,
        dependents: &[usize],
        failure: Failure,
    ) {
        for &p in dependents.iter().rev().filter(|&&p| p != pos) {
            if !self.state(p).has_instance() {
                continue;
            }
            let _ = self.stop_one(p).await;
            let cause = self
                .graph
                .deps(p)
                .iter()
                .copied()
                .find(|d| dependents.contains(d))
                .unwrap_or(pos);
            self.fail(p, Failure::dependency_failed(self.name(cause)));
        }
        self.fail(pos, failure);
    }
}
