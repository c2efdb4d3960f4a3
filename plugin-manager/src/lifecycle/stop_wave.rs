//! The stop of the whole set, steered by one task: it launches each plugin's stop task once
//! every plugin that uses it is done, polls the tasks it launched, and keeps all their
//! deadlines with one timer (the earliest filed), as the start wave does, instead of a timer
//! per plugin. At most `max_in_flight` plugins are in flight.
//!
//! Its bookkeeping is the steering task's alone (no locks): a stop task only runs the
//! plugin's code and reports by ending. Stops launched from the plugin tasks themselves, as
//! the start wave's are, measured slower here (`docs/benchmarks.md`, "Tried").
//!
//! A plugin whose one dependency has no other user left to stop is launched with a *run*: its
//! task goes on to stop that dependency, then that one's, and so on (`Run`), instead of
//! ending and having this task launch the next: a chain stops in a few tasks, not one per
//! link, each hop of which woke this task and, every few links, a parked worker. Each member
//! of a run is stopped as a plugin with a task of its own is: its own attempt, its own
//! deadline (kept here through the run's `Carrier`), its own span; a run cut off, or whose
//! task used up its cooperative budget, leaves the members it did not reach to be launched as
//! usual.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::Shared;
use super::clock::Stamp;
use super::driver::{AtDeadline, Watch, Watched};
use super::plugin::Stop;
use crate::graph::DependencyGraph;
use crate::state::Failure;
use crate::task::{join_failure, plugin_span, spawn_named};

/// The most plugins one run stops (a bound on the walk that finds them at its launch; a
/// run's task ends sooner once its cooperative budget is used up).
const RUN_LIMIT: usize = 128;

/// One stop of the whole set under way.
pub(super) struct StopWave<'a> {
    shared: &'a Arc<Shared>,
    /// Per plugin, the plugins that use it not yet done.
    waiting: Vec<usize>,
    /// Per plugin, whether it is done (stopped, failed, cut off, or nothing to stop).
    done: Vec<bool>,
    /// Plugins not done yet.
    left: usize,
    /// Plugins whose users are all done, in the order they became so.
    ready: VecDeque<usize>,
    /// The tasks in flight.
    tasks: FuturesUnordered<Watch<'a>>,
    /// Per plugin in flight (the first of its run), what its deadline is kept by.
    in_flight: Vec<Option<InFlight>>,
    /// The deadline of each piece in flight when filed, earliest first; an entry whose plugin
    /// is done, or has moved on, is dropped or filed again when it comes up.
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
}

/// What a task in flight stops.
enum InFlight {
    /// One plugin, the attempt watched.
    One(Watched),
    /// `len` plugins, from the one it was launched for down its dependencies; `shortest` is
    /// the shortest limit of those after the first (a member opens after any look at the run,
    /// so its deadline is no earlier than that look and its limit).
    Run {
        len: usize,
        shortest: Duration,
        carrier: Arc<Carrier>,
    },
}

/// Where a run's task is, shared by it and the steering task. Moving on to the next member
/// (opening its attempt) and halting the run (closing the attempt of the member it is on)
/// each happen under its lock, so a halted run opens no attempt after.
struct Carrier(Mutex<On>);

/// Where a run's task is.
struct On {
    /// The member it is on (its index in the run), that member, and its attempt (none if it
    /// had nothing to stop).
    member: usize,
    pos: usize,
    watched: Option<Watched>,
    /// The members whose stop ended.
    finished: usize,
    /// Set by the steering task: the run stops where it is.
    halted: bool,
}

impl Carrier {
    fn lock(&self) -> MutexGuard<'_, On> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `limit` after `now`, or an hour after it if that is past what an `Instant` holds (checked
/// again then, as `Progress::deadline` does).
fn after(now: Instant, limit: Duration) -> Instant {
    now.checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(3600))
}

/// The one plugin that `pos` uses, if it uses exactly one (required or optional).
fn only_dependency(graph: &DependencyGraph, pos: usize) -> Option<usize> {
    match (graph.deps(pos), graph.optional_deps(pos)) {
        ([dep], []) | ([], [dep]) => Some(*dep),
        _ => None,
    }
}

/// The task of a run of `len` members from `first`'s plugin, the one `carrier` is on: each
/// member's stop in turn, each under its own span. It ends early once its cooperative budget
/// is used up: it would yield, and tokio wake a parked worker to take it, where the steering
/// task launches the rest at the cost of one task.
async fn run_members(
    shared: Arc<Shared>,
    first: Stop,
    began: Stamp,
    len: usize,
    carrier: Arc<Carrier>,
) {
    let mut pos = carrier.lock().pos;
    let mut next = Some((first, began));
    for member in 0..len {
        if member > 0 {
            let Some(dep) = only_dependency(&shared.graph, pos) else {
                return; // not reached: a run is a line of only dependencies
            };
            pos = dep;
            let began = shared.stamp();
            let mut on = carrier.lock();
            if on.halted {
                return;
            }
            let stop = shared.open_stop(pos);
            on.member = member;
            on.pos = pos;
            on.watched = stop.as_ref().map(|stop| stop.attempt.watched());
            next = stop.map(|stop| (stop, began));
        }
        if let Some((stop, began)) = next.take() {
            // Its outcome is recorded by its attempt; a run goes on whatever it was.
            let _outcome = stop
                .run(began)
                .instrument(plugin_span(shared.name(pos), "stop"))
                .await;
        }
        carrier.lock().finished = member + 1;
        if !tokio::task::coop::has_budget_remaining() {
            return;
        }
        // Each member costs a unit, so a run of members that take no lock ends too.
        tokio::task::coop::consume_budget().await;
    }
}

impl Drop for StopWave<'_> {
    /// Halts the runs still in flight; their tasks are aborted as the `Watch`es go.
    fn drop(&mut self) {
        self.halt_runs();
    }
}

impl<'a> StopWave<'a> {
    /// A stop of every plugin of `shared`, none launched yet.
    pub(super) fn new(shared: &'a Arc<Shared>) -> Self {
        let graph = &shared.graph;
        let n = graph.len();
        let waiting: Vec<usize> = (0..n)
            .map(|p| graph.dependents(p).len() + graph.optional_dependents(p).len())
            .collect();
        // The last in start order first: a chain stops from its end.
        let ready = (0..n).rev().filter(|&p| waiting[p] == 0).collect();
        Self {
            shared,
            waiting,
            done: vec![false; n],
            left: n,
            ready,
            tasks: FuturesUnordered::new(),
            in_flight: (0..n).map(|_| None).collect(),
            // Sized for every plugin, as the start wave's: most entries stay until the end.
            deadlines: BinaryHeap::with_capacity(n),
        }
    }

    /// Ends a wave cut short (at the shutdown deadline): the tasks still in flight are
    /// aborted and their attempts closed; returns which plugins were done, the others being
    /// still stopping, or waiting to.
    pub(super) fn cut_short(mut self) -> Vec<bool> {
        self.halt_runs();
        std::mem::take(&mut self.done)
    }

    /// Halts every run in flight, closing the attempt of the member it is on, as dropping its
    /// task's `Watch` closes its first member's.
    fn halt_runs(&mut self) {
        for in_flight in &mut self.in_flight {
            if let Some(InFlight::Run { carrier, .. }) = in_flight.take() {
                let mut on = carrier.lock();
                on.halted = true;
                if let Some(watched) = &on.watched {
                    self.shared.close_attempt(on.pos, watched.number);
                }
            }
        }
    }

    /// Runs the wave until every plugin is done. Dropped before that (at the shutdown
    /// deadline), it aborts the tasks in flight and closes their attempts (`Watch`).
    pub(super) async fn run(&mut self) {
        let far = || Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed_for = None;
        while self.left > 0 {
            while self.tasks.len() < self.shared.max_in_flight {
                let Some(pos) = self.ready.pop_front() else {
                    break;
                };
                self.launch(pos);
            }
            if self.left == 0 {
                break;
            }
            // One timer, moved only when the earliest deadline filed changes.
            let earliest = self.deadlines.peek().map(|Reverse((at, _))| *at);
            if earliest != armed_for {
                timer.as_mut().reset(earliest.unwrap_or_else(far));
                armed_for = earliest;
            }
            tokio::select! {
                biased;
                Some(joined) = self.tasks.next() => self.ended(joined),
                () = timer.as_mut() => {
                    self.expire();
                    // Set again at once: a timer that fired stays ready, and one left so
                    // with nothing filed (a plugin whose task reports just after its
                    // deadline) would wake this loop for nothing until that report.
                    armed_for = self.deadlines.peek().map(|Reverse((at, _))| *at);
                    timer.as_mut().reset(armed_for.unwrap_or_else(far));
                }
            }
        }
    }

    /// Launches the stop of `pos`, with a run if it has one, or counts it done if it has
    /// nothing to stop.
    fn launch(&mut self, pos: usize) {
        let began = self.shared.stamp();
        let Some(stop) = self.shared.open_stop(pos) else {
            self.finish(pos);
            return;
        };
        let watched = stop.attempt.watched();
        let (number, mut deadline) = (watched.number, watched.progress.deadline(self.shared));
        let (len, shortest) = self.run_from(pos);
        let (task, in_flight) = if len == 1 {
            let task = spawn_named(self.shared.name(pos), "stop", stop.run(began));
            (task, InFlight::One(watched))
        } else {
            let carrier = Arc::new(Carrier(Mutex::new(On {
                member: 0,
                pos,
                watched: Some(watched),
                finished: 0,
                halted: false,
            })));
            let members = run_members(self.shared.clone(), stop, began, len, carrier.clone());
            let task = tokio::spawn(members.map(Ok));
            deadline = deadline.min(after(Instant::now(), shortest));
            let run = InFlight::Run {
                len,
                shortest,
                carrier,
            };
            (task, run)
        };
        self.tasks.push(Watch::new(self.shared, pos, number, task));
        self.deadlines.push(Reverse((deadline, pos)));
        self.in_flight[pos] = Some(in_flight);
    }

    /// How many plugins a run from `pos` stops: `pos`, then its only dependency while `pos`'s
    /// run is that one's last user left to stop, and so on; and the shortest limit of those
    /// after `pos`.
    fn run_from(&self, pos: usize) -> (usize, Duration) {
        let (mut len, mut last, mut shortest) = (1, pos, Duration::MAX);
        while len < RUN_LIMIT {
            match only_dependency(&self.shared.graph, last) {
                Some(dep) if self.waiting[dep] == 1 && !self.done[dep] => {
                    let limit = self.shared.limit_of(dep, &self.shared.live(dep));
                    (len, last, shortest) = (len + 1, dep, shortest.min(limit));
                }
                _ => break,
            }
        }
        (len, shortest)
    }

    /// A stop task ended (`joined`): a panic that escaped it, or its abort by the runtime, is
    /// a failure of the piece it was in. One cut off at its deadline counted as done then.
    fn ended(
        &mut self,
        (pos, joined): (usize, Result<Result<(), Failure>, tokio::task::JoinError>),
    ) {
        if self.done[pos] {
            return;
        }
        match (joined, self.in_flight[pos].take()) {
            (Err(error), Some(InFlight::One(watched))) => {
                let failure = Failure::new(watched.progress.phase(), join_failure(error));
                self.shared.fail_attempt(pos, watched.number, &failure);
                self.finish(pos);
            }
            (joined, Some(InFlight::Run { carrier, .. })) => {
                let on = carrier.lock();
                let mut finished = on.finished;
                if let (Err(error), Some(watched)) = (joined, &on.watched) {
                    // The member it was on failed (its attempt, if still open, says how).
                    let failure = Failure::new(watched.progress.phase(), join_failure(error));
                    self.shared.fail_attempt(on.pos, watched.number, &failure);
                    finished = on.member + 1;
                }
                drop(on);
                self.finish_run(pos, finished);
            }
            _ => self.finish(pos),
        }
    }

    /// The first `finished` members of the run from `pos` are done (at least one): the one
    /// after the last of them (if any, or the plugins it uses) may stop.
    fn finish_run(&mut self, pos: usize, finished: usize) {
        let mut last = pos;
        for _ in 1..finished {
            // Its only dependency was in the run: done, not launched.
            self.done[last] = true;
            self.left -= 1;
            let Some(dep) = only_dependency(&self.shared.graph, last) else {
                break; // not reached: a run is a line of only dependencies
            };
            self.waiting[dep] -= 1;
            last = dep;
        }
        self.finish(last);
    }

    /// Deals with every deadline due: a piece still running past it is cut off.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, pos))) = self.deadlines.peek() {
            if at > now {
                return;
            }
            self.deadlines.pop();
            let watched = match &self.in_flight[pos] {
                None => continue, // done
                Some(InFlight::One(watched)) => watched,
                Some(InFlight::Run {
                    len,
                    shortest,
                    carrier,
                }) => {
                    let (left, carrier) = (len - 1, carrier.clone());
                    let shortest = *shortest;
                    self.expire_run(pos, &carrier, at, |on| {
                        (on.member < left).then(|| after(now, shortest))
                    });
                    continue;
                }
            };
            match self
                .shared
                .at_deadline(pos, watched.number, &watched.progress, at)
            {
                AtDeadline::Moved(next) => self.deadlines.push(Reverse((next, pos))),
                // Its task reports as it ends, just now.
                AtDeadline::Finished { settled: false } => {}
                // All that is left is dropping what the plugin released: not waited for.
                AtDeadline::Finished { settled: true } => self.finish(pos),
                AtDeadline::CutOff(_recorded) => {
                    if let Some(task) = self.tasks.iter().find(|task| task.pos() == pos) {
                        task.abort();
                    }
                    self.finish(pos);
                }
            }
        }
    }

    /// A look at the run from `pos` came up (for the deadline `at`): at the deadline of the
    /// member it is on, or at the earliest any member after it can have (`next_member`, if
    /// one is left). The next look is at the earlier of the two.
    fn expire_run(
        &mut self,
        pos: usize,
        carrier: &Carrier,
        at: Instant,
        next_member: impl Fn(&On) -> Option<Instant>,
    ) {
        let mut on = carrier.lock();
        let soonest = next_member(&on);
        let Some(watched) = &on.watched else {
            // On a member with nothing to stop: it goes on at once, or ends (and reports).
            self.look_again(pos, soonest);
            return;
        };
        let cut_off = match self
            .shared
            .at_deadline(on.pos, watched.number, &watched.progress, at)
        {
            AtDeadline::Moved(next) => {
                self.look_again(pos, Some(soonest.map_or(next, |soonest| soonest.min(next))));
                return;
            }
            // Its own deadline was not past: the run goes on to the next member, or ends.
            AtDeadline::Finished { settled: false } => {
                self.look_again(pos, soonest);
                return;
            }
            // All that is left of the member is dropping what the plugin released: not
            // waited for, the run's task ends after it, and the rest are launched as usual.
            AtDeadline::Finished { settled: true } => false,
            AtDeadline::CutOff(_recorded) => true,
        };
        on.halted = true;
        let finished = on.member + 1;
        drop(on);
        if cut_off && let Some(task) = self.tasks.iter().find(|task| task.pos() == pos) {
            task.abort();
        }
        self.in_flight[pos] = None;
        self.finish_run(pos, finished);
    }

    /// Files the next look at the run from `pos` at `at`; none if it has no member left to
    /// watch (its task ends, and reports).
    fn look_again(&mut self, pos: usize, at: Option<Instant>) {
        if let Some(at) = at {
            self.deadlines.push(Reverse((at, pos)));
        }
    }

    /// `pos` is done: the plugins it uses may stop once their other users are done.
    fn finish(&mut self, pos: usize) {
        self.done[pos] = true;
        self.in_flight[pos] = None;
        self.left -= 1;
        let graph = &self.shared.graph;
        for &dep in graph.deps(pos).iter().chain(graph.optional_deps(pos)) {
            self.waiting[dep] -= 1;
            if self.waiting[dep] == 0 {
                self.ready.push_back(dep);
            }
        }
    }
}
