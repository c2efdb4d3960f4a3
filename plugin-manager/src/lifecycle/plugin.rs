//! What moves one plugin: recording a transition, failing, starting (constructor, `setup`,
//! `on_enable`), enabling, disabling and stopping. Every function here runs with the plugin's
//! operation lock held by its caller (invariant 2).

use std::sync::Arc;

use plugin_core::host::ContextHandle;
use plugin_core::host::Hook;
use plugin_core::{ConfigSection, Health};
use tokio::time::Instant;

use super::Shared;
use super::Transition;
use super::driver::Attempt;
use super::host::ManagerHost;
use super::instance::{Released, drop_released, release};
use super::supervision::is_supervised;
use crate::state::{Failure, FailureKind, HISTORY_LIMIT, Phase, PluginState};
use crate::task::run_isolated;
use crate::timings::HookTimings;

impl Shared {
    /// Moves `pos` to `to`, recording why; leaving the running states stops its background
    /// tasks and closes its subscriptions, and leaving the states with an instance releases it.
    pub(super) fn transition(&self, pos: usize, to: PluginState, cause: Option<Failure>) {
        self.change(pos, None, to, cause, None, Instant::now());
    }

    /// [`transition`](Self::transition) on behalf of a plugin task: only while its attempt
    /// `number` is open, closing it if `close` (see `driver`); whether it moved.
    pub(super) fn transition_in(
        &self,
        pos: usize,
        (number, close): (u64, bool),
        to: PluginState,
        cause: Option<Failure>,
    ) -> bool {
        self.change(pos, Some((number, close)), to, cause, None, Instant::now())
    }

    /// Moves `pos` to `to` at `now` and, if that takes away its instance, hands the instance
    /// to the caller (`release` otherwise drops it in a task of its own). `keep` receives it.
    fn change(
        &self,
        pos: usize,
        attempt: Option<(u64, bool)>,
        to: PluginState,
        cause: Option<Failure>,
        keep: Option<&mut Released>,
        now: Instant,
    ) -> bool {
        let name = self.name(pos);
        let change = {
            let mut live = self.live(pos);
            if let Some((number, close)) = attempt {
                if live.attempt != number {
                    return false;
                }
                if close {
                    live.attempt += 1;
                }
            }
            let from = live.state;
            // A failed plugin that fails again the same way (a restart that could not get
            // further) changes nothing worth a record; a new cause is recorded.
            if from == PluginState::Failed && to == PluginState::Failed && cause == live.last_error
            {
                return true;
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
                let released = live.instance.take();
                match keep {
                    Some(keep) => *keep = released,
                    None => release(name, released),
                }
            }
            let transition = Transition {
                from,
                to,
                cause,
                at: now.saturating_duration_since(self.created),
            };
            if live.history.len() == HISTORY_LIMIT {
                live.history.pop_front();
            } else if live.history.capacity() == 0 {
                // Room for a start and a stop without growing.
                live.history.reserve_exact(8);
            }
            live.history.push_back(transition.clone());
            transition
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
        self.telemetry(pos).state(change.from, to);
        // No observer, no change to send (nor a name to copy); a lagging one misses changes
        // (see `subscribe_changes`).
        if self.changes.receiver_count() > 0 {
            let _ = self.changes.send(change.named(name));
        }
        true
    }

    /// Moves `pos` to `Failed`; its policy answers a failure of its own while running.
    pub(super) fn fail(&self, pos: usize, failure: Failure) {
        let supervised = is_supervised(&failure);
        self.transition(pos, PluginState::Failed, Some(failure));
        if supervised {
            self.supervise(pos);
        }
    }

    /// Records `failure` (as [`fail`](Self::fail) does) and closes attempt `number` on `pos`,
    /// in one step, if that attempt is still open; whether it was. Closing and recording at
    /// once means nobody sees the attempt closed before the plugin is `Failed`.
    pub(super) fn fail_attempt(&self, pos: usize, number: u64, failure: &Failure) -> bool {
        let failed = self.transition_in(
            pos,
            (number, true),
            PluginState::Failed,
            Some(failure.clone()),
        );
        if failed && is_supervised(failure) {
            self.supervise(pos);
        }
        failed
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

    /// Makes a fresh instance of `pos`, then runs `setup` and `on_enable`, all in one task of
    /// the plugin's (`driver`).
    pub(super) async fn start_one(self: &Arc<Self>, pos: usize) -> Result<(), Failure> {
        let section = self.start_section(pos)?;
        self.run_attempt(pos, "start", Phase::Constructor, move |attempt| {
            attempt.start(section)
        })
        .await
    }

    /// The configuration section a start of `pos` sets up with; an invalid one fails it.
    pub(super) fn start_section(&self, pos: usize) -> Result<Arc<ConfigSection>, Failure> {
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
        Ok(section)
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

    /// Disables `pos` if enabled, then tears it down, in one task of the plugin's (`driver`); a
    /// failed plugin just loses its instance.
    pub(super) async fn stop_one(self: &Arc<Self>, pos: usize) -> Result<(), Failure> {
        let first = match self.state(pos) {
            PluginState::Enabled => Hook::Disable,
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => Hook::Teardown,
            PluginState::Failed => {
                let instance = self.live(pos).instance.take();
                release(self.name(pos), instance);
                return Ok(());
            }
            PluginState::Unloaded | PluginState::TornDown => return Ok(()),
        };
        let began = Instant::now();
        self.run_attempt(pos, "stop", Phase::Hook(first), move |attempt| {
            attempt.stop(began)
        })
        .await
    }

    /// Fails `pos` and stops (best effort) then fails every plugin in `dependents` that has an
    /// instance; the caller holds the locks of `dependents` (invariant 2).
    pub(super) async fn fail_with_dependents(
        self: &Arc<Self>,
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

impl Attempt {
    /// Moves the plugin on at `now`, if this attempt is still open.
    fn to(&self, to: PluginState, now: Instant) -> Result<(), Failure> {
        self.step(to, false, now).map(|_nothing_released| ())
    }

    /// Moves the plugin to `to` at `now` and closes the attempt.
    fn finish(&self, to: PluginState, now: Instant) -> Result<(), Failure> {
        self.step(to, true, now).map(|_nothing_released| ())
    }

    /// Moves the plugin to `to`, which has no instance, at `now` and closes the attempt; the
    /// instance (and its context) are handed back, for the task to drop after its last
    /// transition.
    fn finish_releasing(&self, to: PluginState, now: Instant) -> Result<Released, Failure> {
        self.step(to, true, now)
    }

    /// Moves the plugin to `to` at `now` if this attempt is still open, closing it if `close`;
    /// what the move took from the plugin (only a move to a state without an instance takes
    /// anything).
    fn step(&self, to: PluginState, close: bool, now: Instant) -> Result<Released, Failure> {
        let mut released = (None, None);
        let attempt = Some((self.number, close));
        if self
            .shared
            .change(self.pos, attempt, to, None, Some(&mut released), now)
        {
            Ok(released)
        } else {
            Err(cut_off())
        }
    }

    /// Records `failure` (as `Shared::fail` does) and closes the attempt.
    fn failed(&self, failure: Failure) -> Result<(), Failure> {
        self.shared.fail_attempt(self.pos, self.number, &failure);
        Err(failure)
    }

    /// Runs `hook` of the current instance, begun at `now`; no instance, nothing to run.
    async fn run(&self, hook: Hook, now: Instant) -> Result<(), Failure> {
        // The handles are dropped before the next transition, which may release the instance:
        // its `Drop` then runs in the release task, not here.
        let Some((instance, context)) = self.shared.live(self.pos).instance.handles() else {
            return Ok(());
        };
        self.hook(hook, now, &instance, &context).await
    }

    /// The body of a start: constructor, context, `setup`, `on_enable`.
    pub(super) async fn start(
        self,
        section: Arc<plugin_core::ConfigSection>,
    ) -> Result<(), Failure> {
        let (shared, pos) = (&self.shared, self.pos);
        // One clock read at each boundary of the start (`HookTimings`).
        let began = Instant::now();
        let instance = match self.construct(began).await {
            Ok(instance) => instance,
            Err(failure) => return self.failed(failure),
        };
        let generation = shared.live(pos).instance.next_generation();
        let context = ContextHandle::new(
            shared.slots[pos].metadata.clone(),
            shared.bus.clone(),
            Arc::new(ManagerHost {
                shared: Arc::downgrade(shared),
                pos,
                generation,
            }),
        );
        context.set_config(section);
        {
            let mut live = shared.live(pos);
            if live.attempt != self.number {
                drop(live);
                release(shared.name(pos), (Some(instance), Some(context)));
                return Err(cut_off());
            }
            live.instance.install(instance, context, generation);
            if generation == 1 || !live.health.is_healthy() {
                // Written at the first start; later only a change is.
                shared.telemetry(pos).health(&Health::Healthy);
            }
            live.health = Health::Healthy;
            live.instance.renew_cancellation();
        }
        let constructed = Instant::now();
        self.to(PluginState::Loaded, constructed)?;
        if let Err(failure) = self.run(Hook::Setup, constructed).await {
            return self.failed(failure);
        }
        let set_up = Instant::now();
        self.to(PluginState::Setup, set_up)?;
        if let Err(failure) = self.run(Hook::Enable, set_up).await {
            return self.failed(failure);
        }
        let enabled = Instant::now();
        let timings = HookTimings {
            constructor: Some(constructed - began),
            setup: Some(set_up - constructed),
            on_enable: Some(enabled - set_up),
            ready_at: Some(enabled - shared.created),
        };
        {
            let mut live = shared.live(pos);
            live.start_time = Some(enabled - began);
            live.timings = timings;
        }
        let telemetry = shared.telemetry(pos);
        for (phase, took) in [
            (Phase::Constructor, timings.constructor),
            (Phase::Hook(Hook::Setup), timings.setup),
            (Phase::Hook(Hook::Enable), timings.on_enable),
        ] {
            telemetry.hook(phase, took.unwrap_or_default());
        }
        self.finish(PluginState::Enabled, enabled)
    }

    /// The body of a stop: `on_disable` if enabled, then `teardown`.
    pub(super) async fn stop(self, began: Instant) -> Result<(), Failure> {
        let (shared, pos) = (&self.shared, self.pos);
        // One clock read at each boundary of the stop, as of the start.
        let mut tearing_down = began;
        if shared.state(pos) == PluginState::Enabled {
            // Background tasks watching the token wind down while `on_disable` runs.
            shared.live(pos).instance.cancel();
            if let Err(failure) = self.run(Hook::Disable, began).await {
                return self.failed(failure);
            }
            tearing_down = Instant::now();
            self.to(PluginState::Disabled, tearing_down)?;
            shared
                .telemetry(pos)
                .hook(Phase::Hook(Hook::Disable), tearing_down - began);
        }
        match shared.state(pos) {
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => {
                shared.live(pos).instance.cancel();
                if let Err(failure) = self.run(Hook::Teardown, tearing_down).await {
                    return self.failed(failure);
                }
                let done = Instant::now();
                shared
                    .telemetry(pos)
                    .hook(Phase::Hook(Hook::Teardown), done - tearing_down);
                shared.live(pos).stop_time = Some(done - began);
                let released = self.finish_releasing(PluginState::TornDown, done)?;
                // The outcome is settled; the caller need not wait for the instance's `Drop`
                // (plugin code, which may block) past the deadline.
                self.progress.settle();
                drop_released(shared.name(pos), released);
                Ok(())
            }
            _ => {
                shared.close_attempt(pos, self.number);
                Ok(())
            }
        }
    }
}

/// What a plugin task returns once its caller has cut it off; nobody reads it.
fn cut_off() -> Failure {
    Failure {
        phase: None,
        kind: FailureKind::Error("cut off by its caller".to_owned()),
    }
}
