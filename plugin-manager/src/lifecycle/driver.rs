//! One task per plugin for a whole start (constructor, `setup`, `on_enable`) or stop
//! (`on_disable`, `teardown`, dropping the instance), watched by its caller.
//!
//! The plugin task runs each piece of plugin code under `catch_unwind`, so an error or a panic
//! becomes a [`Failure`] of that piece, and it records its own transitions. Before each piece
//! it publishes its step and deadline in a [`Progress`]; the caller holds the plugin's locks
//! and watches the published deadline: an operation or the stop wave with a timer of its own
//! ([`Shared::run_attempt`]), the start wave with one timer for all its plugins
//! (`start_wave`). When the deadline passes and the task is still in the same step, the caller
//! *cuts the attempt off* ([`Shared::at_deadline`]): it closes the attempt and records the
//! timeout in one step, then aborts the task (a hung hook is dropped, as a hook task's was).
//! Because the deadline is the caller's, code that blocks its thread, which no in-task timer
//! could interrupt, is cut off at its deadline as well (invariant 4).
//!
//! An attempt has a number, kept in the live record. Every transition the task makes checks it
//! under the live record, and the task's last transition closes it, so a task that is cut off
//! (or whose caller went away) changes nothing after that, and a deadline that fires just as
//! the task finishes records nothing twice (invariant 2).
//!
//! Constructors are plain functions: they run in place on a runtime worker while another worker
//! stays free of constructors (so there is always a worker to run the caller's timer), and on
//! tokio's blocking pool otherwise. A constructor waits (yielding) for a slot while the
//! constructors holding the slots have held them for less than [`OVERRUN`] as far as it has
//! seen; once it has seen the same holders for longer, it goes to the blocking pool. A
//! constructor that never returns keeps its slot: a hung constructor takes at most the workers
//! beyond the first, and is cut off at its deadline in every case.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use plugin_core::PluginInstance;
use plugin_core::host::ContextHandle;
use plugin_core::host::Hook;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::clock::Stamp;
use super::{Live, Shared};
use crate::state::{Failure, FailureKind, Phase};
use crate::task::{join_failure, panic_message};

/// Where a plugin task is and until when it may stay there.
pub(super) struct Progress {
    /// The piece of plugin code running (see [`STEPS`]).
    step: AtomicU8,
    /// Its deadline, in nanoseconds since the manager was created.
    deadline: AtomicU64,
    /// Set once the task's outcome is `Ok` and all that is left is dropping what the plugin
    /// released: past the deadline the caller returns without waiting for that.
    settled: std::sync::atomic::AtomicBool,
    /// The deadline of each piece.
    limit: Duration,
    /// The same, in nanoseconds (`u64::MAX`: none).
    limit_nanos: u64,
}

/// The pieces a plugin task runs, by their index in [`Progress::step`].
const STEPS: [Phase; 5] = [
    Phase::Constructor,
    Phase::Hook(Hook::Setup),
    Phase::Hook(Hook::Enable),
    Phase::Hook(Hook::Disable),
    Phase::Hook(Hook::Teardown),
];

fn step_of(phase: Phase) -> u8 {
    STEPS
        .iter()
        .position(|p| *p == phase)
        .expect("a phase a plugin task runs") as u8
}

impl Progress {
    fn new(limit: Duration) -> Self {
        Self {
            step: AtomicU8::new(0),
            deadline: AtomicU64::new(u64::MAX),
            settled: std::sync::atomic::AtomicBool::new(false),
            limit,
            limit_nanos: u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Marks `phase` as begun at `now` (the caller's one clock read at that boundary), under
    /// the deadline.
    pub(super) fn begin(&self, phase: Phase, now: Stamp) {
        // A limit too large to add (`Duration::MAX`) is no deadline at all.
        let deadline = now.nanos_after(self.limit_nanos);
        self.step.store(step_of(phase), Ordering::Relaxed);
        self.deadline.store(deadline, Ordering::Release);
    }

    /// Marks the outcome settled (`Ok`); see [`Progress::settled`].
    pub(super) fn settle(&self) {
        self.settled.store(true, Ordering::Release);
    }

    pub(super) fn phase(&self) -> Phase {
        STEPS[usize::from(self.step.load(Ordering::Relaxed))]
    }

    /// The deadline of the piece running now.
    pub(super) fn deadline(&self, shared: &Shared) -> Instant {
        let nanos = self.deadline.load(Ordering::Acquire);
        // No piece begun yet (or a deadline past what an `Instant` holds): checked again in an
        // hour.
        let far = || Instant::now() + Duration::from_secs(3600);
        if nanos == u64::MAX {
            return far();
        }
        shared
            .created
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or_else(far)
    }
}

/// What a plugin task works with: the manager, the plugin, its attempt and progress.
pub(super) struct Attempt {
    pub(super) shared: Arc<Shared>,
    pub(super) pos: usize,
    pub(super) number: u64,
    pub(super) progress: Arc<Progress>,
}

/// What the caller watches of an attempt: its number, and where its task is.
pub(super) struct Watched {
    pub(super) number: u64,
    pub(super) progress: Arc<Progress>,
}

impl Attempt {
    /// What the caller watches of this attempt.
    pub(super) fn watched(&self) -> Watched {
        Watched {
            number: self.number,
            progress: self.progress.clone(),
        }
    }

    /// Runs one hook of the instance in place, begun at `now`: an error or a panic becomes a
    /// failure of it.
    pub(super) async fn hook(
        &self,
        hook: Hook,
        now: Stamp,
        instance: &PluginInstance,
        context: &ContextHandle,
    ) -> Result<(), Failure> {
        let phase = Phase::Hook(hook);
        self.progress.begin(phase, now);
        match AssertUnwindSafe(instance.run_hook(hook, context))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Failure::new(phase, FailureKind::Error(error.to_string()))),
            Err(payload) => Err(Failure::new(
                phase,
                FailureKind::Panic(panic_message(payload.as_ref())),
            )),
        }
    }

    /// Runs the constructor, begun at `now`: in place if a worker stays free of constructors,
    /// else on the blocking pool.
    ///
    /// Refused while a constructor of the plugin from an earlier attempt still runs (see
    /// `Slot::constructing`).
    pub(super) async fn construct(&self, now: Stamp) -> Result<PluginInstance, Failure> {
        let phase = Phase::Constructor;
        self.progress.begin(phase, now);
        let slot = &self.shared.slots[self.pos];
        let Some(constructing) = Constructing::begin(&slot.constructing) else {
            return Err(Failure::new(
                phase,
                FailureKind::Error(
                    "its constructor from an earlier attempt, cut off at its deadline, is still \
                     running; it is not constructed again until that one returns"
                        .to_owned(),
                ),
            ));
        };
        let made = if !self.shared.blocking_constructors {
            catch_constructor(&*slot.factory)
        } else if let Some(_slot) = InlineSlot::take().await {
            // `_slot` is released when the constructor returns; never, if it hangs.
            catch_constructor(&*slot.factory)
        } else {
            let span = crate::task::plugin_span(self.shared.name(self.pos), "constructor");
            let factory = slot.factory.clone();
            // The mark goes with the constructor: it is cleared when the constructor returns,
            // even if this attempt was abandoned long before.
            let constructing = constructing.away(Arc::downgrade(&self.shared), self.pos);
            let blocking = move || {
                let _constructing = constructing;
                span.in_scope(|| factory())
            };
            match tokio::task::spawn_blocking(blocking).await {
                Ok(Ok(instance)) => Ok(instance),
                Ok(Err(error)) => Err(FailureKind::Error(error.to_string())),
                Err(join_error) => Err(join_failure(join_error)),
            }
        };
        made.map_err(|kind| Failure::new(phase, kind))
    }
}

/// The mark that a constructor of a plugin runs (`Slot::constructing`): at most one at a
/// time; cleared on drop, that is when the constructor returns (or, run in place, when its
/// attempt ends).
struct Constructing<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Constructing<'a> {
    fn begin(mark: &'a std::sync::atomic::AtomicBool) -> Option<Self> {
        let taken = mark.swap(true, std::sync::atomic::Ordering::AcqRel);
        // Not `then_some(Self(mark))`: that makes the guard either way, and dropping it
        // would clear the mark another constructor holds.
        if taken { None } else { Some(Self(mark)) }
    }

    /// The same mark, held by a constructor that goes to the blocking pool and may outlive its
    /// attempt, and the manager (without keeping it alive: a hung constructor must not keep a
    /// dropped manager's background tasks running).
    fn away(self, shared: std::sync::Weak<Shared>, pos: usize) -> ConstructingAway {
        std::mem::forget(self); // cleared by the `ConstructingAway` instead
        ConstructingAway(shared, pos)
    }
}

impl Drop for Constructing<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// [`Constructing`] for a constructor on the blocking pool.
struct ConstructingAway(std::sync::Weak<Shared>, usize);

impl Drop for ConstructingAway {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            let mark = &shared.slots[self.1].constructing;
            mark.store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

fn catch_constructor(
    factory: &(dyn Fn() -> plugin_core::Result<PluginInstance> + Send + Sync),
) -> Result<PluginInstance, FailureKind> {
    match std::panic::catch_unwind(AssertUnwindSafe(factory)) {
        Ok(Ok(instance)) => Ok(instance),
        Ok(Err(error)) => Err(FailureKind::Error(error.to_string())),
        Err(payload) => Err(FailureKind::Panic(panic_message(payload.as_ref()))),
    }
}

/// How long a constructor may run in place before the others stop waiting for its slot and
/// go to the blocking pool: far above what a constructor that merely builds a value takes, far
/// below any deadline.
const OVERRUN: Duration = Duration::from_millis(2);

/// The slots for constructors running in place on runtime workers, process-wide: each holds
/// zero when free, else the ticket of the constructor holding it ([`ticket`]).
static INLINE_SLOTS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// A ticket no other constructor has had, never zero: a count of this thread's, above a base
/// of its own, so that taking a free slot reads no clock and touches no shared counter.
fn ticket() -> u64 {
    static BASES: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        /// This thread's base (its number, shifted past any count it reaches) and count.
        static NEXT: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    NEXT.with(|next| {
        let (mut base, count) = next.get();
        if base == 0 {
            base = BASES.fetch_add(1, Ordering::Relaxed) << 40;
        }
        next.set((base, count + 1));
        base | (count & ((1 << 40) - 1))
    })
}

/// Leave to run a constructor on this worker. There are as many slots as the runtime has
/// workers less one (none on a current-thread runtime), so one worker is always free of
/// constructors to run the caller's timer.
struct InlineSlot(&'static AtomicU64);

impl InlineSlot {
    /// A slot, once one is free; `None` if every slot stayed held by the same constructors
    /// for longer than [`OVERRUN`] (or there are none), which then runs on the blocking pool.
    async fn take() -> Option<Self> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        let slots = &INLINE_SLOTS[..handle.metrics().num_workers().saturating_sub(1).min(64)];
        if slots.is_empty() {
            return None;
        }
        let mine = ticket();
        // Since when every slot has been held by the holders whose tickets sum to `.1`: the
        // clock is read only once all slots are found taken.
        let mut held_since: Option<(std::time::Instant, u64)> = None;
        loop {
            let mut holders = 0u64;
            for slot in slots {
                match slot.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(InlineSlot(slot)),
                    Err(holder) => holders = holders.wrapping_add(holder),
                }
            }
            match held_since {
                Some((since, same)) if same == holders => {
                    if since.elapsed() > OVERRUN {
                        return None;
                    }
                }
                // New holders (a sum that collides only sends one constructor to the pool
                // early): their time runs from now.
                _ => held_since = Some((std::time::Instant::now(), holders)),
            }
            // A constructor runs in place on another worker, briefly: let it finish.
            tokio::task::yield_now().await;
        }
    }
}

impl Drop for InlineSlot {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// What a piece's deadline finds when it fires (see [`Shared::at_deadline`]).
pub(super) enum AtDeadline {
    /// The task moved on to another piece, with a deadline of its own: watch that one.
    Moved(Instant),
    /// The task closed its attempt just now: its outcome is (about to be) in, or, if
    /// `settled`, all that is left is dropping what the plugin released, not waited for.
    Finished { settled: bool },
    /// The attempt is cut off: closed, its failure recorded; abort its task.
    CutOff(Failure),
}

impl Shared {
    /// Opens a new attempt on `pos`, whose live record `live` the caller holds, and whose task
    /// begins with `first`; its deadline runs from `now`, covering the wait for a worker, as a
    /// hook task's did.
    pub(super) fn open_attempt(
        self: &Arc<Self>,
        pos: usize,
        first: Phase,
        live: &mut Live,
        now: Stamp,
    ) -> Attempt {
        live.attempt += 1;
        let limit = self.limit_of(pos, live);
        let progress = Arc::new(Progress::new(limit));
        progress.begin(first, now);
        Attempt {
            shared: self.clone(),
            pos,
            number: live.attempt,
            progress,
        }
    }

    /// How long each piece of an attempt on `pos`, whose live record is `live`, may take.
    pub(super) fn limit_of(&self, pos: usize, live: &Live) -> Duration {
        live.config
            .deadline(self.slots[pos].metadata.timeout, self.hook_timeout)
    }

    /// What the deadline `deadline` of attempt `number` on `pos` finds (see [`AtDeadline`]).
    pub(super) fn at_deadline(
        &self,
        pos: usize,
        number: u64,
        progress: &Progress,
        deadline: Instant,
    ) -> AtDeadline {
        let current = progress.deadline(self);
        if current > deadline {
            return AtDeadline::Moved(current);
        }
        // Looked at again under the live record: the piece may have ended, and the next one
        // begun, since (both are written there, `Attempt::step`).
        let mut moved = None;
        let cut = self.fail_attempt_with(pos, number, || {
            let current = progress.deadline(self);
            if current > deadline {
                moved = Some(current);
                return None;
            }
            Some(Failure::new(
                progress.phase(),
                FailureKind::Timeout(progress.limit),
            ))
        });
        match (cut, moved) {
            (_, Some(next)) => AtDeadline::Moved(next),
            (Some(failure), None) => AtDeadline::CutOff(failure),
            (None, None) => AtDeadline::Finished {
                settled: progress.settled.load(Ordering::Acquire),
            },
        }
    }

    /// Spawns `body`, the task of the attempt `watched` on `pos`, and watches it until it
    /// returns or a piece overruns its deadline.
    pub(super) async fn run_attempt<Fut>(
        self: &Arc<Self>,
        pos: usize,
        what: &'static str,
        watched: Watched,
        body: Fut,
    ) -> Result<(), Failure>
    where
        Fut: Future<Output = Result<(), Failure>> + Send + 'static,
    {
        let Watched { number, progress } = watched;
        let task = crate::task::spawn_named(self.name(pos), what, body);
        let mut watch = Watch::new(self, pos, number, task);
        let mut deadline = progress.deadline(self);
        loop {
            tokio::select! {
                biased;
                (_, joined) = &mut watch => {
                    return match joined {
                        Ok(outcome) => outcome,
                        // The task catches the plugin's panics, so this is the manager's own bug
                        // or a runtime shutting down: a failure of the piece it was in.
                        Err(error) => {
                            let failure = Failure::new(progress.phase(), join_failure(error));
                            self.fail_attempt(pos, number, &failure);
                            Err(failure)
                        }
                    };
                }
                () = tokio::time::sleep_until(deadline) => {
                    match self.at_deadline(pos, number, &progress, deadline) {
                        AtDeadline::Moved(next) => deadline = next,
                        AtDeadline::Finished { settled: true } => return Ok(()),
                        AtDeadline::Finished { settled: false } => {
                            return match (&mut watch).await.1 {
                                Ok(outcome) => outcome,
                                Err(error) => {
                                    Err(Failure::new(progress.phase(), join_failure(error)))
                                }
                            };
                        }
                        AtDeadline::CutOff(failure) => {
                            watch.abort();
                            return Err(failure);
                        }
                    }
                }
            }
        }
    }

    /// Ends attempt `number` of `pos` if it is still open; whether it was.
    pub(super) fn close_attempt(&self, pos: usize, number: u64) -> bool {
        let mut live = self.live(pos);
        if live.attempt == number {
            live.attempt += 1;
            true
        } else {
            false
        }
    }
}

/// The caller's hold on a plugin task, and a future of its end. Dropping it before the task
/// ended (the caller was cancelled, as shutdown cancels its stop wave at its deadline) aborts
/// the task and closes its attempt, so the task changes nothing after that; once the task has
/// ended, its attempt is closed already (by its last transition, or by the caller recording
/// what ended it) and dropping it does nothing.
pub(super) struct Watch<'a> {
    shared: &'a Shared,
    pos: usize,
    number: u64,
    task: JoinHandle<Result<(), Failure>>,
    ended: bool,
}

impl<'a> Watch<'a> {
    /// The hold on `task`, the task of attempt `number` on `pos`.
    pub(super) fn new(
        shared: &'a Shared,
        pos: usize,
        number: u64,
        task: JoinHandle<Result<(), Failure>>,
    ) -> Self {
        Self {
            shared,
            pos,
            number,
            task,
            ended: false,
        }
    }

    /// Aborts the task (it is cut off), leaving its attempt to the caller.
    pub(super) fn abort(&self) {
        self.task.abort();
    }
}

impl Future for Watch<'_> {
    /// The plugin, and how its task ended.
    type Output = (usize, Result<Result<(), Failure>, tokio::task::JoinError>);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let joined = std::task::ready!(std::pin::Pin::new(&mut self.task).poll(cx));
        self.ended = true;
        std::task::Poll::Ready((self.pos, joined))
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.task.abort();
            self.shared.close_attempt(self.pos, self.number);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Constructors that block their thread on a multi-thread runtime, where they first run in
    //! place (the fault matrix runs on a current-thread runtime, where they go to the blocking
    //! pool). No timing is asserted: only that start returns while they are still blocked.

    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use plugin_core::{Plugin, PluginInstance, PluginMetadata, async_trait};

    use crate::state::{FailureKind, Phase, PluginState};
    use crate::{PluginManager, PluginSpec};

    #[derive(Default)]
    struct Noop;

    #[async_trait]
    impl Plugin for Noop {}

    /// A gate the blocked constructors wait at, opened at the end of the test.
    #[derive(Default)]
    struct Gate(Mutex<bool>, Condvar);

    impl Gate {
        fn pass(&self) {
            let open = self.0.lock().unwrap();
            let _open = self.1.wait_while(open, |open| !*open).unwrap();
        }

        fn open(&self) {
            *self.0.lock().unwrap() = true;
            self.1.notify_all();
        }
    }

    /// Opens the gate when dropped, first of the test's locals: a test that fails inside
    /// `block_on` unwinds past its runtime, whose drop waits for every thread held at the gate
    /// (the failure would hang instead of being reported).
    struct OpensOnDrop(Arc<Gate>);

    impl Drop for OpensOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    /// A multi-thread runtime of two workers, as on the 2-core machines the tests run on.
    fn two_workers() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// `first`, then `n` plugins `ok0`, `ok1`, ... that start normally.
    fn with_noops(first: impl IntoIterator<Item = PluginSpec>, n: usize) -> Vec<PluginSpec> {
        let noops =
            (0..n).map(|i| PluginSpec::with_default::<Noop>(PluginMetadata::new(format!("ok{i}"))));
        first.into_iter().chain(noops).collect()
    }

    fn blocking(name: &str, gate: &Arc<Gate>) -> PluginSpec {
        let gate = gate.clone();
        PluginSpec::new(PluginMetadata::new(name), move || {
            gate.pass();
            Ok(PluginInstance::new(Noop))
        })
    }

    #[test]
    fn hung_constructors_are_cut_off_on_a_multi_thread_runtime() {
        let runtime = two_workers();
        let gate = Arc::new(Gate::default());
        let _opens = OpensOnDrop(gate.clone());
        // More hung constructors than workers, among plugins that start normally.
        let hung = (0..3).map(|i| blocking(&format!("hung{i}"), &gate));
        let specs = with_noops(hung, 50);
        // Long enough for the 50 others to start on a loaded machine.
        let limit = Duration::from_secs(1);
        let manager = PluginManager::builder()
            .plugins(specs)
            .hook_timeout(limit)
            .build()
            .unwrap();
        runtime.block_on(async {
            manager.start().await;
            for i in 0..3 {
                let record = manager.record(&format!("hung{i}")).unwrap();
                assert_eq!(record.state, PluginState::Failed);
                let failure = record.last_error.unwrap();
                assert_eq!(failure.phase, Some(Phase::Constructor));
                assert_eq!(failure.kind, FailureKind::Timeout(limit));
            }
            assert_eq!(manager.enabled().len(), 50);
            manager.shutdown().await;
        });
        gate.open();
        runtime.shutdown_background();
    }

    /// Holds its thread at the gate when dropped.
    struct Stuck(Arc<Gate>);

    #[async_trait]
    impl Plugin for Stuck {}

    impl Drop for Stuck {
        fn drop(&mut self) {
            self.0.pass();
        }
    }

    /// Starts `stuck` (needing `deps`; its instance blocks its thread when dropped), `others`
    /// and 20 plugins more, then shuts them all down: shutdown returns at `stuck`'s hook
    /// deadline, while its instance is still being dropped, and every plugin is torn down.
    /// Waiting for the drop would mean waiting for the shutdown deadline, a day away (the
    /// guard below only turns that hang into a failure).
    fn shutdown_with_a_blocked_drop(deps: &[&str], others: Vec<PluginSpec>) {
        let runtime = two_workers();
        let gate = Arc::new(Gate::default());
        let _opens = OpensOnDrop(gate.clone());
        let held = gate.clone();
        let stuck = PluginMetadata::new("stuck").with_deps(deps.iter().copied());
        let stuck = PluginSpec::new(stuck, move || Ok(PluginInstance::new(Stuck(held.clone()))));
        let specs = with_noops(std::iter::once(stuck).chain(others), 20);
        let n = specs.len();
        let manager = PluginManager::builder()
            .plugins(specs)
            .hook_timeout(Duration::from_millis(200))
            .shutdown_timeout(Duration::from_secs(24 * 3600))
            .build()
            .unwrap();
        runtime.block_on(async {
            manager.start().await;
            assert_eq!(manager.enabled().len(), n);
            tokio::time::timeout(Duration::from_secs(600), manager.shutdown())
                .await
                .expect("shutdown returns without waiting for a blocked drop");
            for record in manager.records() {
                assert_eq!(record.state, PluginState::TornDown, "{}", record.name);
                assert_eq!(record.last_error, None, "{}", record.name);
            }
        });
        gate.open();
        runtime.shutdown_background();
    }

    #[test]
    fn a_drop_that_blocks_its_thread_does_not_hold_up_shutdown() {
        shutdown_with_a_blocked_drop(&[], Vec::new());
    }

    /// The same inside a run (`stop_wave`): `top` uses `stuck`, which uses `base`, each the
    /// other's only user, so one task stops all three; `stuck`'s drop holds that task, and
    /// `base` is still stopped, by a task of its own, at `stuck`'s deadline.
    #[test]
    fn a_drop_that_blocks_its_thread_inside_a_run_does_not_hold_up_the_rest() {
        let noop = |metadata| PluginSpec::with_default::<Noop>(metadata);
        shutdown_with_a_blocked_drop(
            &["base"],
            vec![
                noop(PluginMetadata::new("base")),
                noop(PluginMetadata::new("top").with_deps(["stuck"])),
            ],
        );
    }
}
