//! The start of the whole set with no task steering it. Each plugin task, as it ends, counts
//! itself done and launches the plugins that were waiting for it, on the worker it ran on (a
//! chain of plugins hops no threads); a failure fails the plugins that need it, through a
//! worklist. The task that started the wave only keeps the deadlines: each piece in flight
//! files its deadline, and that task sleeps until the earliest and cuts off a piece still
//! running past it (`driver`): one timer for the wave, not one per plugin. At most
//! `max_in_flight` plugins are in flight; the others queue for a place.
//!
//! A plugin task whose plugin lets another start goes on with that one's start itself
//! (`Continued`) instead of spawning a task for it: a chain of plugins is one task, not one per
//! link (each link spawned, scheduled and joined, and every few links a parked worker woken by
//! tokio for nothing, since nothing else can run). Isolation is the same: each start's plugin
//! code runs under its own `catch_unwind` and is cut off at its own deadline by aborting the
//! task, and a task that ends early or is cut off carries nothing on.
//!
//! Once a shutdown begins, the starts under way finish and no other begins: the plugins not
//! started stay `unloaded` (not failed), for the shutdown to find nothing to stop in them.
//!
//! A plugin task with nothing to go on with does not end: it parks (`Parked`), and the next
//! start with no task to go on in is handed to it instead of a task spawned for it. Each spawn
//! allocates a task (768 bytes, aligned to 128, which the system allocator splits and merges
//! again) and registers it with the runtime; at 10,000 plugins of a random graph that was a
//! spawn for most plugins, about a microsecond each. A parked task takes a start the moment it
//! is handed one, so a start waits no longer than for a spawned task; the parked tasks end with
//! the wave.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::Shared;
use super::clock::Stamp;
use super::driver::{AtDeadline, Progress, Watched};
use super::plugin::Start;
use crate::state::{Failure, FailureKind, PluginState};
use crate::task::panic_message;

/// One start of the whole set under way, shared by its plugin tasks.
pub(super) struct StartWave {
    shared: Arc<Shared>,
    /// Per plugin, its dependencies not yet enabled (a required one that fails fails it
    /// instead, so the count reaches zero only when it may start).
    waiting: Box<[AtomicU32]>,
    /// Per plugin, whether its outcome is in; set once, by whoever reports it first.
    done: Box<[AtomicBool]>,
    /// The plugins to start; the others count as done from the outset.
    targets: Box<[bool]>,
    /// Plugins not done yet; the wave is over at zero.
    left: AtomicUsize,
    over: Notify,
    /// The task of each plugin in flight, with its attempt.
    running: Box<[Mutex<Option<Running>>]>,
    /// The deadline each piece in flight had when filed, earliest first; one whose plugin
    /// has moved on is dropped, or filed again under its next deadline, when it comes up.
    deadlines: Mutex<BinaryHeap<Reverse<(Instant, usize, u64)>>>,
    /// Told when a deadline earlier than all filed ones is filed.
    earlier: Notify,
    places: Mutex<Places>,
}

/// A plugin task in flight: its attempt, where it is, and its handle (to abort it), which
/// moves on with the task to the start it goes on with.
struct Running {
    number: u64,
    progress: Arc<Progress>,
    task: JoinHandle<()>,
}

/// The places for plugins in flight, and the plugins waiting for one; and the plugin tasks
/// parked for a start to go on with.
struct Places {
    taken: usize,
    limit: usize,
    queue: VecDeque<usize>,
    parked: Vec<Parked>,
    /// Set when the wave is over: no task parks any more.
    closed: bool,
}

/// A plugin task with nothing to go on with, waiting for a start to be handed to it (or for
/// the wave to end, which drops `handoff`): its handle, to file under that start.
struct Parked {
    task: JoinHandle<()>,
    handoff: oneshot::Sender<(Continued, JoinHandle<()>)>,
}

/// What a plugin task does once the start it ran is settled.
enum Next {
    /// Goes on with this start.
    GoOn(Continued),
    /// Parks with its handle, nothing being ready for it.
    Park(JoinHandle<()>),
    /// Ends: it was cut off, or the start it ran was not its to report.
    End,
}

/// Closes the wave's parking when the wave is over, or its steering task is dropped: every
/// parked task's handoff is dropped (outside the lock), and the task ends.
struct CloseParking<'a>(&'a StartWave);

impl Drop for CloseParking<'_> {
    fn drop(&mut self) {
        let parked = {
            let mut places = lock(&self.0.places);
            places.closed = true;
            std::mem::take(&mut places.parked)
        };
        drop(parked);
    }
}

/// The plugin code of a start, as its task runs it: the moment the plugin was enabled, or
/// its failure.
trait PluginCode: Future<Output = Result<Stamp, Failure>> + Send + 'static {}

impl<F: Future<Output = Result<Stamp, Failure>> + Send + 'static> PluginCode for F {}

/// A start opened, not yet running: what its caller watches, and the start itself, whose
/// plugin code ([`StartWave::code`], 528 bytes) is made only where it runs, so that it is not
/// copied on its way there.
struct Prepared {
    pos: usize,
    number: u64,
    progress: Arc<Progress>,
    start: Start,
    /// Opened at the clock read its task made as its last plugin was enabled, to run at once
    /// in that task (see [`StartWave::settle`]): its constructor's time counts from there.
    at_once: bool,
}

/// A start to run in a task that ran another one (the task of the plugin that let it start,
/// or a parked task), not in a task of its own: that task's handle is filed under it. The
/// task holds the wave for all its starts (`Continued::run`), so going on clones no `Arc` (a
/// count both workers would write); and it makes the start's code in its own future, not in a
/// box (the task grows from 768 to 896 bytes for it, where a box and three copies of the code
/// for each start cost about 500 instructions).
struct Continued(Prepared);

/// A step of settling a start.
enum Work {
    /// The plugin may start: it takes a place, or queues for one.
    Ready(usize),
    /// The plugin holds a place: launch it.
    Launch(usize),
    /// The plugin's outcome, from its task, its deadline or a launch that failed at once;
    /// `place` if it held one.
    Report { pos: usize, ok: bool, place: bool },
    /// The plugin is done (counted once): let go of what waited for it.
    Done { pos: usize, ok: bool },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StartWave {
    /// Starts the `targets` (the others count as done, successful if enabled), each once the
    /// `waiting` count of its dependencies not yet done is down to zero; returns when every
    /// plugin is done.
    pub(super) async fn run(
        shared: &Arc<Shared>,
        waiting: impl Iterator<Item = usize>,
        targets: Box<[bool]>,
    ) {
        let wave = Self::new(shared, waiting, targets);
        let n = wave.targets.len();
        // Popped last first: the first plugins in start order are launched first.
        let mut work: Vec<Work> = (0..n)
            .rev()
            .filter(|&pos| wave.targets[pos] && wave.waiting[pos].load(Ordering::Relaxed) == 0)
            .map(Work::Ready)
            .collect();
        work.extend(
            (0..n)
                .filter(|&pos| !wave.targets[pos])
                .map(|pos| Work::Report {
                    pos,
                    ok: shared.state(pos) == PluginState::Enabled,
                    place: false,
                }),
        );
        let _close = CloseParking(&wave);
        drop(wave.settle(work, None, None));
        wave.keep_deadlines().await;
    }

    fn new(
        shared: &Arc<Shared>,
        waiting: impl Iterator<Item = usize>,
        targets: Box<[bool]>,
    ) -> Arc<Self> {
        let n = targets.len();
        Arc::new(Self {
            shared: shared.clone(),
            waiting: waiting
                .map(|w| AtomicU32::new(u32::try_from(w).unwrap_or(u32::MAX)))
                .collect(),
            done: (0..n).map(|_| AtomicBool::new(false)).collect(),
            targets,
            left: AtomicUsize::new(n),
            over: Notify::new(),
            running: (0..n).map(|_| Mutex::new(None)).collect(),
            // Sized for every plugin at once: an entry stays until it comes up, after the wave
            // in most, and growing by doubling copies it and takes ever larger blocks.
            deadlines: Mutex::new(BinaryHeap::with_capacity(n)),
            earlier: Notify::new(),
            places: Mutex::new(Places {
                taken: 0,
                limit: shared.max_in_flight,
                queue: VecDeque::new(),
                parked: Vec::new(),
                closed: false,
            }),
        })
    }

    /// Works through `step` and everything it leads to, on this thread's worklist: a plugin
    /// task settling its outcome allocates none. With `carry`, the handle of the task that
    /// reports, the first plugin this lets start is not launched but handed back, to go on
    /// in that task; if there is none, the handle is handed back, to park with. `last` is the
    /// task's last clock read, if it made one just before (its plugin enabled).
    fn settle_one(
        self: &Arc<Self>,
        step: Work,
        carry: Option<JoinHandle<()>>,
        last: Option<Stamp>,
    ) -> Next {
        thread_local! {
            /// Empty between uses; taken (so a nested use would find none) while in use.
            static WORKLIST: std::cell::Cell<Vec<Work>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut work = WORKLIST.take();
        work.push(step);
        let (work, next) = self.settle(work, carry, last);
        WORKLIST.set(work);
        next
    }

    /// Works through `work` and everything it leads to (a worklist, not recursion: a chain
    /// of 10,000 plugins that fail at once is 10,000 steps, not 10,000 frames); hands the
    /// emptied list back, with what the task of `carry` does next.
    ///
    /// A start opens with a clock read of its own (its deadline runs from it), but the one
    /// the task goes on with opens and begins at `last`, the read the task made as its own
    /// plugin was enabled (which is what a chain's next link waited for), if that was only a
    /// moment before: nothing else is left to settle, and nothing watched the change that
    /// could have taken long over it ([`Shared::unwatched`]).
    fn settle(
        self: &Arc<Self>,
        mut work: Vec<Work>,
        mut carry: Option<JoinHandle<()>>,
        mut last: Option<Stamp>,
    ) -> (Vec<Work>, Next) {
        let mut continued = None;
        while let Some(step) = work.pop() {
            match step {
                Work::Ready(pos) => {
                    let mut places = lock(&self.places);
                    if places.taken < places.limit {
                        places.taken += 1;
                        work.push(Work::Launch(pos));
                    } else {
                        places.queue.push_back(pos);
                    }
                }
                Work::Launch(pos) if self.shared.shutting_down.load(Ordering::Acquire) => {
                    // A shutdown began: the starts under way finish, and no other begins (the
                    // plugin stays `unloaded`, and so do those that need it, `let_go`).
                    work.push(Work::Report {
                        pos,
                        ok: false,
                        place: true,
                    });
                }
                Work::Launch(pos) => {
                    // A task that used up its budget of tokio's cooperative scheduling
                    // would yield at the next start's first lock, and tokio wake a parked
                    // worker to take it: a fresh task (first on this worker) costs less.
                    let goes_on = carry.is_some() && tokio::task::coop::has_budget_remaining();
                    let (now, at_once) = match last.take() {
                        Some(last) if goes_on && work.is_empty() && self.shared.unwatched() => {
                            (last, true)
                        }
                        _ => (self.shared.stamp(), false),
                    };
                    match (self.prepare(pos, now, at_once), carry.take()) {
                        (Ok(prepared), Some(task)) if goes_on => {
                            continued = Some(self.carry_on(prepared, task));
                        }
                        (Ok(prepared), unused) => {
                            carry = unused;
                            self.launch(prepared);
                        }
                        (Err(_recorded), unused) => {
                            carry = unused;
                            work.push(Work::Report {
                                pos,
                                ok: false,
                                place: true,
                            });
                        }
                    }
                }
                Work::Report { pos, ok, place } => {
                    if self.done[pos].swap(true, Ordering::AcqRel) {
                        continue; // reported already (a deadline and the task, say)
                    }
                    if place {
                        let mut places = lock(&self.places);
                        match places.queue.pop_front() {
                            Some(next) => work.push(Work::Launch(next)),
                            None => places.taken -= 1,
                        }
                    }
                    work.push(Work::Done { pos, ok });
                }
                Work::Done { pos, ok } => {
                    self.let_go(pos, ok, &mut work);
                    if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        self.over.notify_one();
                    }
                }
            }
        }
        let next = match (continued, carry) {
            (Some(continued), _) => Next::GoOn(continued),
            (None, Some(task)) => Next::Park(task),
            (None, None) => Next::End,
        };
        (work, next)
    }

    /// What `pos` being done lets go: its users may start, or fail if it failed.
    fn let_go(&self, pos: usize, ok: bool, work: &mut Vec<Work>) {
        let graph = &self.shared.graph;
        let ready = |p: usize| self.waiting[p].fetch_sub(1, Ordering::AcqRel) == 1;
        for &user in graph.optional_dependents(pos) {
            if ready(user) && self.targets[user] {
                work.push(Work::Ready(user));
            }
        }
        for &user in graph.dependents(pos) {
            if !self.targets[user] {
                continue;
            }
            if ok {
                // All required dependencies enabled: no failure can claim it.
                if ready(user) {
                    work.push(Work::Ready(user));
                }
            } else if !self.done[user].swap(true, Ordering::AcqRel) {
                // Not started for want of `pos`; once a shutdown began, for want of time, and
                // not failed.
                let shutting_down = self.shared.shutting_down.load(Ordering::Acquire);
                if !shutting_down && self.shared.state(user) == PluginState::Unloaded {
                    let failure = Failure::dependency_failed(self.shared.name(pos));
                    self.shared.fail(user, failure);
                }
                work.push(Work::Done {
                    pos: user,
                    ok: false,
                });
            }
        }
    }

    /// Opens the start of `pos` at `now` (`at_once`: to run at once where it opens, see
    /// [`Prepared::at_once`]); an invalid configuration section fails it at once (recorded).
    fn prepare(&self, pos: usize, now: Stamp, at_once: bool) -> Result<Prepared, Failure> {
        let start = self.shared.open_start(pos, now)?;
        let Watched { number, progress } = start.attempt.watched();
        Ok(Prepared {
            pos,
            number,
            progress,
            start,
            at_once,
        })
    }

    /// The plugin code of `start`, of `pos`, in its span; `at_once` if it runs where it was
    /// opened, with nothing in between ([`Prepared::at_once`], [`Start::run`]).
    fn code(&self, pos: usize, start: Start, at_once: bool) -> impl PluginCode {
        let span = crate::task::plugin_span(self.shared.name(pos), "start");
        start.run(at_once).instrument(span)
    }

    /// Hands `prepared` to a parked plugin task (which files it and its deadline as it takes it),
    /// or spawns the task that runs it, which reports its outcome as it ends and goes on with
    /// what that lets start.
    fn launch(self: &Arc<Self>, prepared: Prepared) {
        let parked = lock(&self.places).parked.pop();
        let Some(Parked { task, handoff }) = parked else {
            return self.spawn(prepared);
        };
        // Handed with the task's own handle and filed by the task as it takes it (`park`), not
        // here: filed here, its deadline could cut it off and abort the parked task before
        // the hand-off, and the start, handed back, would run untracked.
        if let Err((Continued(prepared), _gone)) = handoff.send((Continued(prepared), task)) {
            // The parked task is gone (its runtime is shutting down): nothing was filed, and
            // the start goes on in a task of its own.
            self.spawn(prepared);
        }
    }

    /// Spawns the task that runs `prepared` (see [`launch`](Self::launch)).
    fn spawn(self: &Arc<Self>, prepared: Prepared) {
        let Prepared {
            pos,
            number,
            progress,
            start,
            at_once: _,
        } = prepared;
        let code = self.code(pos, start, false);
        let wave = self.clone();
        let watched = progress.clone();
        // Combinators, not an `async` block: a block would hold the plugin code twice (as
        // what it captured and as what it awaits), and the task's future is copied as it is
        // spawned.
        let task = tokio::spawn(
            AssertUnwindSafe(code)
                .catch_unwind()
                .map(move |caught| {
                    let enabled = wave.outcome(pos, number, &watched, caught);
                    let next = wave.ended(pos, number, enabled);
                    (wave, next)
                })
                .then(|(wave, next)| Continued::run(wave, next)),
        );
        // Stored after the spawn, not under the lock across it: a task that ends at once, on
        // the other worker, would wait for the lock (in `forget`) off its thread. One that
        // ended already leaves its handle here until the wave is over (and carries nothing
        // on: it found no handle to carry).
        self.track(pos, number, progress, task);
    }

    /// Files `task` as the task of attempt `number` on `pos`, then the attempt's deadline:
    /// once the handle is filed, so that a deadline due at once finds the task to abort.
    fn track(&self, pos: usize, number: u64, progress: Arc<Progress>, task: JoinHandle<()>) {
        let deadline = progress.deadline(&self.shared);
        *lock(&self.running[pos]) = Some(Running {
            number,
            progress,
            task,
        });
        self.file(deadline, pos, number);
    }

    /// Files `task`, the task of the plugin that let `prepared` start, as its task: it goes on
    /// with it.
    fn carry_on(self: &Arc<Self>, prepared: Prepared, task: JoinHandle<()>) -> Continued {
        let (pos, number) = (prepared.pos, prepared.number);
        self.track(pos, number, prepared.progress.clone(), task);
        Continued(prepared)
    }

    /// When the plugin code of attempt `number` on `pos` had the plugin enabled, if it
    /// succeeded. The code catches the plugin's panics, so one caught here is the manager's
    /// own bug: a failure of the piece it was in, as `run_attempt` records it.
    fn outcome(
        &self,
        pos: usize,
        number: u64,
        progress: &Progress,
        caught: std::thread::Result<Result<Stamp, Failure>>,
    ) -> Option<Stamp> {
        match caught {
            Ok(outcome) => outcome.ok(),
            Err(payload) => {
                let kind = FailureKind::Panic(panic_message(payload.as_ref()));
                let failure = Failure::new(progress.phase(), kind);
                self.shared.fail_attempt(pos, number, &failure);
                None
            }
        }
    }

    /// The task of attempt `number` on `pos` ended its plugin code, with the plugin `enabled`
    /// at that moment or failed: what that lets start, the task goes on with (its handle, if
    /// filed, moves on with it), or parks.
    fn ended(self: &Arc<Self>, pos: usize, number: u64, enabled: Option<Stamp>) -> Next {
        let carry = self.forget(pos, number).map(|running| running.task);
        self.settle_one(
            Work::Report {
                pos,
                ok: enabled.is_some(),
                place: true,
            },
            carry,
            enabled,
        )
    }

    /// Takes the handle of attempt `number` on `pos` out, if it is still the one in flight.
    fn forget(&self, pos: usize, number: u64) -> Option<Running> {
        let mut running = lock(&self.running[pos]);
        if running.as_ref().is_some_and(|r| r.number == number) {
            running.take()
        } else {
            None
        }
    }

    /// Files the deadline of attempt `number` on `pos`.
    fn file(&self, deadline: Instant, pos: usize, number: u64) {
        let mut deadlines = lock(&self.deadlines);
        let earliest = deadlines
            .peek()
            .is_none_or(|Reverse((at, _, _))| deadline < *at);
        deadlines.push(Reverse((deadline, pos, number)));
        drop(deadlines);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Sleeps until the earliest deadline filed, deals with what is due, and so on until the
    /// wave is over.
    async fn keep_deadlines(self: &Arc<Self>) {
        loop {
            if self.left.load(Ordering::Acquire) == 0 {
                return;
            }
            let next = lock(&self.deadlines).peek().map(|Reverse((at, _, _))| *at);
            let due = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.over.notified() => return,
                () = self.earlier.notified() => {}
                () = due => self.expire(),
            }
        }
    }

    /// Deals with every deadline due: a piece still running past it is cut off.
    fn expire(self: &Arc<Self>) {
        let now = Instant::now();
        loop {
            let Some(Reverse((at, pos, number))) = ({
                let mut deadlines = lock(&self.deadlines);
                match deadlines.peek() {
                    Some(Reverse((at, _, _))) if *at <= now => deadlines.pop(),
                    _ => None,
                }
            }) else {
                return;
            };
            let progress = match &*lock(&self.running[pos]) {
                Some(running) if running.number == number => running.progress.clone(),
                _ => continue, // ended
            };
            match self.shared.at_deadline(pos, number, &progress, at) {
                AtDeadline::Moved(next) => self.file(next, pos, number),
                // Its task reports as it ends, just now (a start releases nothing to drop).
                AtDeadline::Finished { .. } => {}
                AtDeadline::CutOff(_recorded) => {
                    if let Some(running) = self.forget(pos, number) {
                        running.task.abort();
                    }
                    let next = self.settle_one(
                        Work::Report {
                            pos,
                            ok: false,
                            place: true,
                        },
                        None,
                        None,
                    );
                    debug_assert!(
                        matches!(next, Next::End),
                        "nothing is carried without a task"
                    );
                }
            }
        }
    }
}

impl Continued {
    /// Runs `next` and each start it goes on with, in the calling task of `wave`, with the
    /// same isolation as a task of its own: its own `catch_unwind` and deadline; parks when
    /// there is none, until one is handed to it or the wave is over.
    async fn run(wave: Arc<StartWave>, mut next: Next) {
        loop {
            // A start carried on may run at once where it was opened; a handed one runs once
            // this task is woken for it.
            let (
                Continued(Prepared {
                    pos,
                    number,
                    progress,
                    start,
                    at_once,
                }),
                handed,
            ) = match next {
                Next::GoOn(continued) => (continued, false),
                Next::Park(task) => match wave.park(task).await {
                    Some(continued) => (continued, true),
                    None => return,
                },
                Next::End => return,
            };
            let at_once = at_once && !handed;
            // Each start costs a unit of the task's budget, so a chain of starts that take no
            // lock goes on in one task for at most a budget's worth (`settle`).
            tokio::task::coop::consume_budget().await;
            let code = wave.code(pos, start, at_once);
            let caught = AssertUnwindSafe(code).catch_unwind().await;
            let enabled = wave.outcome(pos, number, &progress, caught);
            next = wave.ended(pos, number, enabled);
        }
    }
}

impl StartWave {
    /// Parks the plugin task whose handle is `task` until a start is handed to it; `None` once
    /// the wave is over.
    ///
    /// The start comes with this task's handle, which the task files under it before it runs
    /// it, and with it its deadline ([`track`](Self::track)), as a carried-on start's is.
    async fn park(&self, task: JoinHandle<()>) -> Option<Continued> {
        let (handoff, handed) = oneshot::channel();
        {
            let mut places = lock(&self.places);
            if places.closed {
                return None;
            }
            places.parked.push(Parked { task, handoff });
        }
        let (continued, task) = handed.await.ok()?;
        let start = &continued.0;
        self.track(start.pos, start.number, start.progress.clone(), task);
        Some(continued)
    }
}
