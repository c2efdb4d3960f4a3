//! What moves one plugin: recording a transition, failing, starting (constructor, `setup`,
//! `on_enable`), enabling, disabling and stopping. Every function here runs with the plugin's
//! operation lock, or the set lock exclusively, held by its caller (invariant 2).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use plugin_core::host::ContextHandle;
use plugin_core::host::Hook;
use plugin_core::{ConfigSection, Health, PluginInstance};

use super::clock::{Stamp, StartStamps};
use super::driver::Attempt;
use super::host::ManagerHost;
use super::instance::{Released, drop_released, release};
use super::supervision::is_supervised;
use super::{Live, Shared, Transition};
use crate::state::{Failure, FailureKind, Phase, PluginState};
use crate::task::{panic_message, run_isolated};

impl Shared {
    /// Moves `pos` to `to`, recording why; leaving the running states stops its background
    /// tasks and closes its subscriptions, and leaving the states with an instance releases it.
    pub(super) fn transition(&self, pos: usize, to: PluginState, cause: Option<Failure>) {
        self.change(pos, None, to, cause, None, self.stamp());
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
        now: Stamp,
    ) -> bool {
        let recorded = self.write_change(pos, &mut self.live(pos), attempt, to, cause, keep, now);
        match recorded {
            Ok(change) => {
                if let Some(change) = change {
                    self.announce(pos, &change);
                }
                true
            }
            Err(_closed) => false,
        }
    }

    /// The part of [`change`](Self::change) made under the live record `live` of `pos`: the
    /// new state, its history entry, what leaving a state takes away. `Err` if the attempt is
    /// no longer open; `None` if nothing changed worth telling. The caller then
    /// [`announce`](Self::announce)s the change, with the record let go.
    #[allow(clippy::too_many_arguments)] // `change`'s, with the record held
    fn write_change(
        &self,
        pos: usize,
        live: &mut Live,
        attempt: Option<(u64, bool)>,
        to: PluginState,
        cause: Option<Failure>,
        keep: Option<&mut Released>,
        now: Stamp,
    ) -> Result<Option<Transition>, Failure> {
        let name = self.name(pos);
        if let Some((number, close)) = attempt {
            if live.attempt != number {
                return Err(cut_off());
            }
            if close {
                live.attempt += 1;
            }
        }
        let from = live.state;
        // A failed plugin that fails again the same way (a restart that could not get
        // further) changes nothing worth a record; a new cause is recorded.
        if from == PluginState::Failed
            && to == PluginState::Failed
            && cause.as_ref() == live.last_error.as_deref()
        {
            return Ok(None);
        }
        debug_assert!(from.can_go_to(to), "`{name}`: {from} -> {to}");
        live.state = to;
        if let Some(failure) = &cause {
            live.last_error = Some(Box::new(failure.clone()));
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
            cause: cause.map(Box::new),
            at: now,
        };
        live.history.push(transition.clone());
        Ok(Some(transition))
    }

    /// What follows a recorded change of `pos`, with its live record let go: leaving the
    /// running states closes the subscriptions and servers its contexts opened (if they
    /// ever opened any: `Slot::on_bus`); the log, the metrics and the
    /// feed of changes hear of it.
    fn announce(&self, pos: usize, change: &Transition) {
        let (name, to) = (self.name(pos), change.to);
        if !to.is_running() && self.slots[pos].on_bus.load(Ordering::Acquire) {
            // The events discarded and the receivers woken here run code of the plugins' (an
            // event's `Drop`, a waker): the bus stays whole if it panics, and so does this
            // change, which is logged and goes on.
            let closed = std::panic::catch_unwind(AssertUnwindSafe(|| self.bus.close_owner(name)));
            if let Err(payload) = closed {
                let panic = panic_message(payload.as_ref());
                tracing::warn!(
                    plugin = name,
                    %panic,
                    "an event's drop or a waker panicked as the plugin's subscriptions closed"
                );
            }
        }
        match &change.cause {
            Some(cause) => {
                tracing::warn!(plugin = name, from = %change.from, to = %to, %cause, "plugin state")
            }
            None => tracing::debug!(plugin = name, from = %change.from, to = %to, "plugin state"),
        }
        self.telemetry(pos).state(change.from, to);
        // No feed held, no change to build: no name to copy, no lock of the channel's (see
        // `ChangeFeed`); a lagging feed misses changes.
        if self.changes.observed() {
            self.changes.send(change.clone().named(name));
        }
    }

    /// Whether announcing a change is only a moment's work, as when no subscriber takes debug
    /// events or spans anywhere (each change is one, each plugin task's span another), the
    /// manager's metrics are off and no feed of changes is held. Then the clock read made as
    /// a plugin was enabled still tells the time a moment after its change was announced
    /// (`StartWave::settle`).
    pub(super) fn unwatched(&self) -> bool {
        !self.metrics
            && !self.changes.observed()
            && tracing::level_filters::LevelFilter::current() < tracing::Level::DEBUG
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
        self.fail_attempt_with(pos, number, || Some(failure.clone()))
            .is_some()
    }

    /// As [`fail_attempt`](Self::fail_attempt), with the failure made by `failure` under the
    /// live record, where a plugin task writes each move and begins its next piece: it
    /// returns none (nothing recorded) if, seen from there, there is no failure to record.
    /// The failure recorded, if any.
    pub(super) fn fail_attempt_with(
        &self,
        pos: usize,
        number: u64,
        failure: impl FnOnce() -> Option<Failure>,
    ) -> Option<Failure> {
        let (failure, change) = {
            let mut live = self.live(pos);
            if live.attempt != number {
                return None;
            }
            let failure = failure()?;
            let change = self.write_failure(pos, &mut live, failure.clone())?;
            (failure, change)
        };
        if let Some(change) = change {
            self.announce(pos, &change);
        }
        if is_supervised(&failure) {
            self.supervise(pos);
        }
        Some(failure)
    }

    /// Closes the attempt open on `pos`, if any, and records `failure` if it has an instance,
    /// in one hold of its live record: the task of that attempt, still running, changes
    /// nothing after this (a shutdown past its deadline, `Shared::abandon`).
    pub(super) fn abandon_one(&self, pos: usize, failure: Failure) {
        let change = {
            let mut live = self.live(pos);
            if !live.state.has_instance() {
                live.attempt += 1;
                return;
            }
            self.write_failure(pos, &mut live, failure).flatten()
        };
        if let Some(change) = change {
            self.announce(pos, &change);
        }
    }

    /// Moves `pos`, whose live record `live` the caller holds, to `Failed` for `failure`,
    /// closing its open attempt: the change to announce once the record is let go (`None`
    /// inside if nothing changed worth telling; `None` if the attempt was closed already).
    fn write_failure(
        &self,
        pos: usize,
        live: &mut Live,
        failure: Failure,
    ) -> Option<Option<Transition>> {
        let attempt = Some((live.attempt, true));
        let now = self.stamp();
        self.write_change(
            pos,
            live,
            attempt,
            PluginState::Failed,
            Some(failure),
            None,
            now,
        )
        .ok()
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
        let start = self.open_start(pos, self.stamp())?;
        let watched = start.attempt.watched();
        let body = async move { start.run(false).await.map(drop) };
        self.run_attempt(pos, "start", watched, body).await
    }

    /// Opens a start of `pos` at `now`: its attempt, with the configuration section and the
    /// generation it sets up with, read in one hold of its live record; an invalid section
    /// fails it (recorded) instead.
    pub(super) fn open_start(self: &Arc<Self>, pos: usize, now: Stamp) -> Result<Start, Failure> {
        let mut live = self.live(pos);
        if let Some(error) = live.config.error() {
            let failure = Failure {
                phase: None,
                kind: FailureKind::Config(error.to_string()),
            };
            drop(live);
            self.fail(pos, failure.clone());
            return Err(failure);
        }
        Ok(Start {
            section: live.config.section(),
            generation: live.instance.next_generation(),
            attempt: self.open_attempt(pos, Phase::Constructor, &mut live, now),
            opened: now,
        })
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
        let began = self.stamp();
        let Some(stop) = self.open_stop(pos, began) else {
            return Ok(());
        };
        let watched = stop.attempt.watched();
        self.run_attempt(pos, "stop", watched, stop.run(began))
            .await
    }

    /// Opens a stop of `pos`, begun at `now`, in one hold of its live record: its attempt, the
    /// state it stops from and the handles of its first hook, with its background tasks told
    /// to wind down. `None` if there is nothing to stop; a failed plugin loses its instance
    /// here.
    pub(super) fn open_stop(self: &Arc<Self>, pos: usize, now: Stamp) -> Option<Stop> {
        let mut live = self.live(pos);
        let first = match live.state {
            PluginState::Enabled => Hook::Disable,
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => Hook::Teardown,
            PluginState::Failed => {
                let instance = live.instance.take();
                drop(live);
                release(self.name(pos), instance);
                return None;
            }
            PluginState::Unloaded | PluginState::TornDown => return None,
        };
        // Background tasks watching the token wind down while `on_disable` (or `teardown`)
        // runs.
        live.instance.cancel();
        Some(Stop {
            from: live.state,
            handles: live.instance.handles(),
            attempt: self.open_attempt(pos, Phase::Hook(first), &mut live, now),
        })
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

/// A plugin's instance and its context, to run a hook with.
type Handles = (PluginInstance, ContextHandle);

/// A start of one plugin, opened ([`Shared::open_start`]): its attempt, and what it sets up
/// with.
pub(super) struct Start {
    pub(super) attempt: Attempt,
    section: Arc<ConfigSection>,
    /// The generation of the instance it makes (see `Instance`).
    generation: u64,
    /// When it was opened, on the manager's clock.
    opened: Stamp,
}

impl Start {
    /// The body of a start: constructor, context, `setup`, `on_enable`; the moment it was
    /// enabled. The live record is held three times: to install the instance (and enter
    /// `loaded`), to enter `setup`, to enter `enabled`; each time it also hands out what the
    /// next piece needs.
    ///
    /// `at_once` if it runs where it was opened, with nothing in between (a start carried on
    /// in the task that opened it): its constructor's time then counts from the opening, not
    /// from a clock read of its own.
    pub(super) async fn run(self, at_once: bool) -> Result<Stamp, Failure> {
        let Self {
            attempt,
            section,
            generation,
            opened,
        } = self;
        let (shared, pos) = (&attempt.shared, attempt.pos);
        // One clock read at each boundary of the start (`HookTimings`). What is handed from
        // one piece to the next stays inside a block that ends before the next `.await`: a
        // local that lived across it would stay in the task's future, which is copied as it
        // is spawned.
        let began = if at_once { opened } else { shared.stamp() };
        let (constructed, setup) = {
            let instance = match attempt.construct(began).await {
                Ok(instance) => instance,
                Err(failure) => return attempt.failed(failure),
            };
            let context = ContextHandle::with_config(
                shared.slots[pos].metadata.clone(),
                shared.bus.clone(),
                ManagerHost {
                    shared: Arc::downgrade(shared),
                    pos,
                    generation,
                },
                section,
            );
            let constructed = shared.stamp();
            let handles = attempt.advance(PluginState::Loaded, constructed, |live| {
                live.instance.install(instance, context, generation);
                if generation == 1 || !live.health.is_healthy() {
                    // Written at the first start; later only a change is.
                    shared.telemetry(pos).health(&Health::Healthy);
                }
                live.health = Health::Healthy;
                live.instance.renew_cancellation();
            });
            // Cut off before it was installed: the closure, with the instance and its
            // context, was dropped here, in this plugin task (which catches a panic, and which
            // its caller no longer waits for).
            (constructed, attempt.run(Hook::Setup, constructed, handles?))
        };
        if let Err(failure) = setup.await {
            return attempt.failed(failure);
        }
        let set_up = shared.stamp();
        let enable = {
            let handles = attempt.advance(PluginState::Setup, set_up, |_| {})?;
            attempt.run(Hook::Enable, set_up, handles)
        };
        if let Err(failure) = enable.await {
            return attempt.failed(failure);
        }
        let enabled = shared.stamp();
        let stamps = StartStamps {
            began,
            constructed,
            set_up,
            enabled,
        };
        attempt.finish(PluginState::Enabled, enabled, |live| {
            live.last_start = Some(stamps);
        })?;
        let telemetry = shared.telemetry(pos);
        if telemetry.is_on() {
            for (phase, took) in [
                (Phase::Constructor, constructed.since(began)),
                (Phase::Hook(Hook::Setup), set_up.since(constructed)),
                (Phase::Hook(Hook::Enable), enabled.since(set_up)),
            ] {
                telemetry.hook(phase, took);
            }
        }
        Ok(enabled)
    }
}

/// A stop of one plugin, opened ([`Shared::open_stop`]): its attempt, the state it stops
/// from, and what its first hook runs with.
pub(super) struct Stop {
    pub(super) attempt: Attempt,
    from: PluginState,
    handles: Option<Handles>,
}

impl Stop {
    /// The body of a stop begun at `began`: `on_disable` if enabled, then `teardown`. The live
    /// record is held twice more (it was when the stop was opened): to enter `disabled`, to
    /// enter `torn_down`.
    ///
    /// Not an `async fn`, as [`Attempt::run`]: the body uses the stop's fields in place.
    #[allow(clippy::manual_async_fn)] // on purpose, as said
    pub(super) fn run(
        self,
        began: Stamp,
    ) -> impl Future<Output = Result<(), Failure>> + Send + 'static {
        async move {
            let (shared, pos) = (&self.attempt.shared, self.attempt.pos);
            let attempt = &self.attempt;
            // One clock read at each boundary of the stop, as of the start; handles stay out
            // of the future across `.await`s, as in `Start::run`.
            let (tearing_down, teardown) = if self.from == PluginState::Enabled {
                if let Err(failure) = attempt.run(Hook::Disable, began, self.handles).await {
                    return attempt.failed(failure);
                }
                let tearing_down = shared.stamp();
                let handles = attempt.advance(PluginState::Disabled, tearing_down, |_| {})?;
                shared
                    .telemetry(pos)
                    .hook(Phase::Hook(Hook::Disable), tearing_down.since(began));
                (
                    tearing_down,
                    attempt.run(Hook::Teardown, tearing_down, handles),
                )
            } else {
                (began, attempt.run(Hook::Teardown, began, self.handles))
            };
            if let Err(failure) = teardown.await {
                return attempt.failed(failure);
            }
            let done = shared.stamp();
            shared
                .telemetry(pos)
                .hook(Phase::Hook(Hook::Teardown), done.since(tearing_down));
            let released = attempt.finish(PluginState::TornDown, done, |live| {
                live.stop_time = Some(done.since(began));
            })?;
            // The outcome is settled; the caller need not wait for the instance's `Drop`
            // (plugin code, which may block) past the deadline.
            attempt.progress.settle();
            drop_released(shared.name(pos), released);
            Ok(())
        }
    }
}

impl Attempt {
    /// If this attempt is still open: `first` under the live record, then a move to `to` at
    /// `now`, in one hold of the record; hands out the instance and its context for the next
    /// hook. `first` is not run on an attempt that is closed.
    fn advance(
        &self,
        to: PluginState,
        now: Stamp,
        first: impl FnOnce(&mut Live),
    ) -> Result<Option<Handles>, Failure> {
        self.step(to, false, now, first)
            .map(|(_nothing, handles)| handles)
    }

    /// [`advance`](Self::advance) to `to`, closing the attempt: what the move took from the
    /// plugin (a move to a state without an instance takes it) is handed back, for the task
    /// to drop after its last transition.
    fn finish(
        &self,
        to: PluginState,
        now: Stamp,
        first: impl FnOnce(&mut Live),
    ) -> Result<Released, Failure> {
        self.step(to, true, now, first)
            .map(|(released, _)| released)
    }

    /// [`advance`](Self::advance) and [`finish`](Self::finish): the move (closing the attempt
    /// if `close`), what it took from the plugin, and (if the attempt goes on) the handles for
    /// the next hook; the change is announced once the record is let go.
    fn step(
        &self,
        to: PluginState,
        close: bool,
        now: Stamp,
        first: impl FnOnce(&mut Live),
    ) -> Result<(Released, Option<Handles>), Failure> {
        let mut released = (None, None);
        let (change, handles) = {
            let mut live = self.shared.live(self.pos);
            if live.attempt != self.number {
                return Err(cut_off());
            }
            first(&mut live);
            let attempt = Some((self.number, close));
            let keep = Some(&mut released);
            let change = self
                .shared
                .write_change(self.pos, &mut live, attempt, to, None, keep, now)?;
            // The next piece begins in the same hold, so a deadline looked at under the
            // record (`Shared::at_deadline`) never finds this piece ended and the next one
            // not yet begun.
            if let Some(next) = (!close).then(|| next_piece(to)).flatten() {
                self.progress.begin(next, now);
            }
            (change, (!close).then(|| live.instance.handles()).flatten())
        };
        if let Some(change) = change {
            self.shared.announce(self.pos, &change);
        }
        Ok((released, handles))
    }

    /// Records `failure` (as `Shared::fail` does) and closes the attempt.
    fn failed<T>(&self, failure: Failure) -> Result<T, Failure> {
        self.shared.fail_attempt(self.pos, self.number, &failure);
        Err(failure)
    }

    /// Runs `hook` with `handles`, begun at `now`; no instance, nothing to run. The handles
    /// are dropped before the next transition, which may release the instance: its `Drop`
    /// then runs where the release puts it, not here.
    ///
    /// Not an `async fn`: one keeps a second copy of its arguments in its future, and the
    /// handles would take room twice in every plugin task.
    #[allow(clippy::manual_async_fn)] // on purpose, as said
    fn run(
        &self,
        hook: Hook,
        now: Stamp,
        handles: Option<Handles>,
    ) -> impl Future<Output = Result<(), Failure>> + Send + '_ {
        async move {
            let Some((instance, context)) = &handles else {
                return Ok(());
            };
            self.hook(hook, now, instance, context).await
        }
    }
}

/// The piece a plugin task runs after moving to `to`, if it goes on.
fn next_piece(to: PluginState) -> Option<Phase> {
    match to {
        PluginState::Loaded => Some(Phase::Hook(Hook::Setup)),
        PluginState::Setup => Some(Phase::Hook(Hook::Enable)),
        PluginState::Disabled => Some(Phase::Hook(Hook::Teardown)),
        _ => None,
    }
}

/// What a plugin task returns once its caller has cut it off; nobody reads it.
fn cut_off() -> Failure {
    Failure {
        phase: None,
        kind: FailureKind::Error("cut off by its caller".to_owned()),
    }
}
