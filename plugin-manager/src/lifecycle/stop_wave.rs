//! The stop of the whole set, steered by one task: it launches each plugin's stop task once
//! every plugin that uses it is done, polls the tasks it launched, and keeps all their
//! deadlines with one timer (the earliest filed), as the start wave does, instead of a timer
//! per plugin. At most `max_in_flight` plugins are in flight.
//!
//! Its bookkeeping is the steering task's alone (no locks): a stop task only runs the
//! plugin's code and reports by ending. Stops launched from the plugin tasks themselves, as
//! the start wave's are, measured slower here (`docs/benchmarks.md`, "Tried").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::Shared;
use super::driver::{AtDeadline, Watch, Watched};
use crate::state::Failure;
use crate::task::{join_failure, spawn_named};

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
    /// Per plugin in flight, what its deadline is kept by.
    watched: Vec<Option<Watched>>,
    /// The deadline of each piece in flight when filed, earliest first; an entry whose plugin
    /// is done, or has moved on, is dropped or filed again when it comes up.
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
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
            watched: (0..n).map(|_| None).collect(),
            deadlines: BinaryHeap::new(),
        }
    }

    /// Ends a wave cut short (at the shutdown deadline): the tasks still in flight are
    /// aborted and their attempts closed; returns which plugins were done, the others being
    /// still stopping, or waiting to.
    pub(super) fn cut_short(self) -> Vec<bool> {
        drop(self.tasks);
        self.done
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

    /// Launches the stop of `pos`, or counts it done if it has nothing to stop.
    fn launch(&mut self, pos: usize) {
        let began = self.shared.stamp();
        let Some(stop) = self.shared.open_stop(pos) else {
            self.finish(pos);
            return;
        };
        let watched = stop.attempt.watched();
        let task = spawn_named(self.shared.name(pos), "stop", stop.run(began));
        let deadline = watched.progress.deadline(self.shared);
        self.tasks
            .push(Watch::new(self.shared, pos, watched.number, task));
        self.deadlines.push(Reverse((deadline, pos)));
        self.watched[pos] = Some(watched);
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
        if let (Err(error), Some(watched)) = (joined, &self.watched[pos]) {
            let failure = Failure::new(watched.progress.phase(), join_failure(error));
            self.shared.fail_attempt(pos, watched.number, &failure);
        }
        self.finish(pos);
    }

    /// Deals with every deadline due: a piece still running past it is cut off.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, pos))) = self.deadlines.peek() {
            if at > now {
                return;
            }
            self.deadlines.pop();
            let Some(watched) = &self.watched[pos] else {
                continue; // done
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

    /// `pos` is done: the plugins it uses may stop once their other users are done.
    fn finish(&mut self, pos: usize) {
        self.done[pos] = true;
        self.watched[pos] = None;
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
