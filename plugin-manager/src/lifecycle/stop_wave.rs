//! The stop of the whole set, steered by one task and carried out by a pool of stop tasks.
//!
//! The steering task keeps the wave's bookkeeping (no locks): which plugins wait for users
//! still to stop, which are done, and every deadline, with one timer. A plugin whose users are
//! all done becomes a *job*, queued for the pool. Each pool task takes the next job, opens its
//! stop, runs it, reports the job done and takes the next: a job costs no task spawn, and the
//! steering task neither spawns nor opens stops, so the work spreads over the workers while
//! the steering task only counts. At most `max_in_flight` pool tasks exist.
//!
//! A job is a *run*: the plugin, then its only dependency when the job's plugin is that one's
//! last user left to stop, and so on (up to 128), so a chain stops in few jobs. Each member of
//! a job is stopped as a lone plugin was: its own attempt, its own span, its own deadline.
//!
//! Each pool task has a `Carrier`, shared with the steering task, saying which member it is
//! on. Taking a job, moving on to the next member (opening its attempt) and halting the task
//! (closing the attempt of the member it is on) each happen under the carrier's lock, so a
//! halted task opens nothing after. The steering task looks at each busy pool task at the
//! deadline of the member it is on, or sooner: at the earliest the next member's can be (the
//! shortest limit of the set after the look, as a member opens after it). An idle task is
//! not looked at until it says it took a job. A member past its
//! deadline is cut off and its task aborted; one whose outcome is settled while its `Drop`
//! still runs is not waited for; either way the members it did not reach are queued anew.
//!
//! Stops launched from the plugin tasks themselves, as the start wave's are, measured slower
//! here, and a task spawned per plugin by the steering task made that task the pace-setter
//! (`docs/benchmarks.md`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::{AbortHandle, JoinError};
use tokio::time::Instant;
use tracing::Instrument;

use super::Shared;
use super::driver::{AtDeadline, Watched};
use crate::graph::DependencyGraph;
use crate::state::Failure;
use crate::task::{join_failure, plugin_span};

/// The most plugins one job stops (a bound on the walk that finds them; a pool task also ends
/// a job early once its cooperative budget is used up).
const RUN_LIMIT: usize = 128;

/// The pool's queue and the reports back, shared by the pool tasks and the steering task.
struct Pool {
    queue: Mutex<Queue>,
    /// Told when a job is queued, or the pool closes.
    more: Notify,
    reports: mpsc::UnboundedSender<Report>,
}

/// The jobs waiting for a pool task, and how many pool tasks wait for a job.
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
    closed: bool,
}

/// A job: stop `len` plugins, from `pos` down its only dependencies.
#[derive(Clone, Copy)]
struct Job {
    pos: usize,
    len: usize,
}

/// What a pool task tells the steering task.
enum Report {
    /// It finished `job`, or left it, having stopped its first `finished` members.
    Done { job: Job, finished: usize },
    /// Pool task `number`, idle until then, took a job at `at`: the look at it that was
    /// dropped while it was idle is due again (its member opens after `at`).
    Took { number: usize, at: Instant },
}

/// Where a pool task is, shared by it and the steering task.
struct Carrier(Mutex<On>);

/// Where a pool task is.
struct On {
    /// The job it is on, if any; the member it is on (its index in the job), that member,
    /// and its attempt (none if it had nothing to stop).
    job: Option<Job>,
    member: usize,
    pos: usize,
    watched: Option<Watched>,
    /// Set by the steering task: the task stops where it is and takes no other job.
    halted: bool,
    /// Waiting for a job: the steering task does not look at it until it says it took one.
    idle: bool,
}

impl Carrier {
    fn lock(&self) -> MutexGuard<'_, On> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pool {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The one plugin that `pos` uses, if it uses exactly one (required or optional).
fn only_dependency(graph: &DependencyGraph, pos: usize) -> Option<usize> {
    match (graph.deps(pos), graph.optional_deps(pos)) {
        ([dep], []) | ([], [dep]) => Some(*dep),
        _ => None,
    }
}

/// `limit` after `now`, or an hour after it if that is past what an `Instant` holds (looked
/// at again then, as `Progress::deadline` does).
fn after(now: Instant, limit: Duration) -> Instant {
    now.checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(3600))
}

/// A pool task: takes jobs until the pool closes or the task is halted, and stops each job's
/// members in turn, each under its own span.
async fn pool_task(shared: Arc<Shared>, pool: Arc<Pool>, number: usize, carrier: Arc<Carrier>) {
    loop {
        let job = loop {
            {
                let mut queue = pool.queue();
                let mut on = carrier.lock();
                if queue.closed || on.halted {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    if std::mem::replace(&mut on.idle, false) {
                        let at = Instant::now();
                        if pool.reports.send(Report::Took { number, at }).is_err() {
                            return; // the wave is over
                        }
                    }
                    break job;
                }
                on.idle = true;
                queue.idle += 1;
            }
            pool.more.notified().await;
            pool.queue().idle -= 1;
        };
        let finished = run_job(&shared, &carrier, job).await;
        let Some(finished) = finished else {
            return; // halted: the steering task counted the job
        };
        if pool.reports.send(Report::Done { job, finished }).is_err() {
            return; // the wave is over
        }
        // Each job costs a unit of the task's budget, so a pool that is never short of
        // jobs still lets the worker run other tasks.
        tokio::task::coop::consume_budget().await;
    }
}

/// Stops the members of `job` in turn; how many it stopped, or none if halted (the steering
/// task then counts the job itself).
async fn run_job(shared: &Arc<Shared>, carrier: &Carrier, job: Job) -> Option<usize> {
    let mut pos = job.pos;
    for member in 0..job.len {
        if member > 0 {
            // A task that used up its budget would yield at the next member's first lock
            // and have tokio wake a parked worker to take it; the rest is queued anew.
            if !tokio::task::coop::has_budget_remaining() {
                return Some(member);
            }
            let Some(dep) = only_dependency(&shared.graph, pos) else {
                return Some(member); // not reached: a job is a line of only dependencies
            };
            pos = dep;
        }
        let (began, stop) = {
            let mut on = carrier.lock();
            if on.halted {
                return None;
            }
            // Read under the carrier's lock: a look that holds it sees the member open after
            // it, so no earlier than the look's `now` (the module's deadline invariant).
            let began = shared.stamp();
            let stop = shared.open_stop(pos, began);
            on.job = Some(job);
            on.member = member;
            on.pos = pos;
            on.watched = stop.as_ref().map(|stop| stop.attempt.watched());
            (began, stop)
        };
        if let Some(stop) = stop {
            // Its outcome is recorded by its attempt; a job goes on whatever it was.
            let _outcome = stop
                .run(began)
                .instrument(plugin_span(shared.name(pos), "stop"))
                .await;
        }
    }
    let mut on = carrier.lock();
    if on.halted {
        return None;
    }
    on.job = None;
    on.watched = None;
    Some(job.len)
}

/// A pool task's end, as the steering task watches it.
type Ended = Pin<Box<dyn Future<Output = (usize, Result<(), JoinError>)> + Send>>;

/// One pool task, as the steering task keeps it.
struct Member {
    carrier: Arc<Carrier>,
    task: AbortHandle,
    /// Whether it is still one of the pool's (not halted, not ended).
    alive: bool,
}

/// One stop of the whole set under way.
pub(super) struct StopWave<'a> {
    shared: &'a Arc<Shared>,
    /// Per plugin, the plugins that use it not yet done.
    waiting: Vec<usize>,
    /// Per plugin, whether it is done (stopped, failed, cut off, or nothing to stop).
    done: Vec<bool>,
    /// Plugins not done yet.
    left: usize,
    /// Plugins whose users are all done, in the order they became so, not yet queued.
    ready: VecDeque<usize>,
    pool: Arc<Pool>,
    reports: mpsc::UnboundedReceiver<Report>,
    /// The pool's tasks, by number, and their ends.
    members: Vec<Member>,
    alive: usize,
    ended: FuturesUnordered<Ended>,
    /// The next look at each pool task (by number), earliest first; one at a task that has
    /// ended is dropped when it comes up.
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The shortest limit of any plugin: a member opening after a look has its deadline no
    /// earlier than the look and this.
    shortest: Duration,
}

impl Drop for StopWave<'_> {
    /// Halts the pool: every task's member in progress has its attempt closed, and the tasks
    /// are aborted.
    fn drop(&mut self) {
        self.pool.queue().closed = true;
        for member in &mut self.members {
            let mut on = member.carrier.lock();
            on.halted = true;
            if let Some(watched) = &on.watched {
                self.shared.close_attempt(on.pos, watched.number);
            }
            drop(on);
            member.task.abort();
        }
        self.pool.more.notify_waiters();
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
        let shortest = (0..n)
            .map(|p| shared.limit_of(p, &shared.live(p)))
            .min()
            .unwrap_or(shared.hook_timeout);
        let (reports, receiver) = mpsc::unbounded_channel();
        Self {
            shared,
            waiting,
            done: vec![false; n],
            left: n,
            ready,
            pool: Arc::new(Pool {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    idle: 0,
                    closed: false,
                }),
                more: Notify::new(),
                reports,
            }),
            reports: receiver,
            members: Vec::new(),
            alive: 0,
            ended: FuturesUnordered::new(),
            deadlines: BinaryHeap::new(),
            shortest,
        }
    }

    /// Ends a wave cut short (at the shutdown deadline): the pool is halted (`Drop`); returns
    /// which plugins were done, the others being still stopping, or waiting to.
    pub(super) fn cut_short(mut self) -> Vec<bool> {
        std::mem::take(&mut self.done)
    }

    /// Runs the wave until every plugin is done. Dropped before that (at the shutdown
    /// deadline), it halts the pool.
    pub(super) async fn run(&mut self) {
        let far = || Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed_for = None;
        while self.left > 0 {
            self.queue_ready();
            if self.left == 0 {
                break;
            }
            let earliest = self.deadlines.peek().map(|Reverse((at, _))| *at);
            if earliest != armed_for {
                timer.as_mut().reset(earliest.unwrap_or_else(far));
                armed_for = earliest;
            }
            tokio::select! {
                biased;
                Some(report) = self.reports.recv() => {
                    self.reported(report);
                    // Every report in already, at once.
                    while let Ok(report) = self.reports.try_recv() {
                        self.reported(report);
                    }
                }
                Some((number, joined)) = self.ended.next() => self.member_ended(number, joined),
                () = timer.as_mut() => {
                    self.expire();
                    armed_for = self.deadlines.peek().map(|Reverse((at, _))| *at);
                    timer.as_mut().reset(armed_for.unwrap_or_else(far));
                }
            }
        }
        self.pool.queue().closed = true;
        self.pool.more.notify_waiters();
    }

    /// Queues a job for each ready plugin, wakes as many idle pool tasks, and grows the pool
    /// (up to `max_in_flight`) while queued jobs outnumber idle tasks.
    fn queue_ready(&mut self) {
        let jobs: Vec<Job> = std::mem::take(&mut self.ready)
            .into_iter()
            .map(|pos| Job {
                pos,
                len: self.run_from(pos),
            })
            .collect();
        let mut queue = self.pool.queue();
        let wake = jobs.len().min(queue.idle);
        queue.jobs.extend(jobs);
        let wanted = queue.jobs.len().saturating_sub(queue.idle);
        drop(queue);
        for _ in 0..wake {
            self.pool.more.notify_one();
        }
        let room = self.shared.max_in_flight.saturating_sub(self.alive);
        for _ in 0..wanted.min(room) {
            self.grow();
        }
    }

    /// Adds a task to the pool, with its first look filed.
    fn grow(&mut self) {
        let number = self.members.len();
        let carrier = Arc::new(Carrier(Mutex::new(On {
            job: None,
            member: 0,
            pos: 0,
            watched: None,
            halted: false,
            idle: false,
        })));
        let task = tokio::spawn(pool_task(
            self.shared.clone(),
            self.pool.clone(),
            number,
            carrier.clone(),
        ));
        let abort = task.abort_handle();
        self.ended
            .push(Box::pin(task.map(move |joined| (number, joined))));
        self.members.push(Member {
            carrier,
            task: abort,
            alive: true,
        });
        self.alive += 1;
        self.deadlines
            .push(Reverse((after(Instant::now(), self.shortest), number)));
    }

    /// How many plugins a job from `pos` stops: `pos`, then its only dependency while `pos`'s
    /// job is that one's last user left to stop, and so on.
    fn run_from(&self, pos: usize) -> usize {
        let (mut len, mut last) = (1, pos);
        while len < RUN_LIMIT {
            match only_dependency(&self.shared.graph, last) {
                Some(dep) if self.waiting[dep] == 1 && !self.done[dep] => {
                    (len, last) = (len + 1, dep);
                }
                _ => break,
            }
        }
        len
    }

    /// A pool task reports a job done up to its first `finished` members, or that it took
    /// a job after idling (its look is filed again).
    fn reported(&mut self, report: Report) {
        match report {
            Report::Done { job, finished } => {
                if !self.done[job.pos] {
                    self.finish_job(job.pos, finished);
                }
            }
            Report::Took { number, at } => {
                self.deadlines
                    .push(Reverse((after(at, self.shortest), number)));
            }
        }
    }

    /// Pool task `number` ended: halted by this task, or the pool closed; otherwise a panic
    /// that escaped it, or its abort by the runtime, is a failure of the member it was on.
    fn member_ended(&mut self, number: usize, joined: Result<(), JoinError>) {
        let member = &mut self.members[number];
        if !member.alive {
            return;
        }
        member.alive = false;
        self.alive -= 1;
        let carrier = member.carrier.clone();
        let mut on = carrier.lock();
        on.halted = true;
        let Some(job) = on.job.take() else {
            return;
        };
        if let (Err(error), Some(watched)) = (joined, &on.watched) {
            let failure = Failure::new(watched.progress.phase(), join_failure(error));
            self.shared.fail_attempt(on.pos, watched.number, &failure);
        }
        let finished = on.member + 1;
        drop(on);
        if !self.done[job.pos] {
            self.finish_job(job.pos, finished);
        }
    }

    /// The first `finished` members of the job from `pos` are done (at least one): the one
    /// after the last of them (if any, or the plugins it uses) may stop.
    fn finish_job(&mut self, pos: usize, finished: usize) {
        let mut last = pos;
        for _ in 1..finished {
            // Its only dependency was in the job: done, not queued.
            self.done[last] = true;
            self.left -= 1;
            let Some(dep) = only_dependency(&self.shared.graph, last) else {
                break; // not reached: a job is a line of only dependencies
            };
            self.waiting[dep] -= 1;
            last = dep;
        }
        self.finish(last);
    }

    /// Deals with every look due.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, number))) = self.deadlines.peek() {
            if at > now {
                return;
            }
            self.deadlines.pop();
            if self.members[number].alive {
                self.look_at(number, at, now);
            }
        }
    }

    /// A look at pool task `number` came up (for the deadline `at`): at the deadline of the
    /// member it is on, or at the earliest a member it opens after now can have. The next
    /// look is at the earlier of the two.
    fn look_at(&mut self, number: usize, at: Instant, now: Instant) {
        let carrier = self.members[number].carrier.clone();
        let mut on = carrier.lock();
        let soonest = after(now, self.shortest);
        if on.idle {
            return; // looked at again once it takes a job (`Report::Took`)
        }
        let (Some(job), Some(watched)) = (on.job, &on.watched) else {
            // Between jobs or members: what it opens next opens after now.
            self.deadlines.push(Reverse((soonest, number)));
            return;
        };
        let cut_off = match self
            .shared
            .at_deadline(on.pos, watched.number, &watched.progress, at)
        {
            AtDeadline::Moved(next) => {
                self.deadlines.push(Reverse((next.min(soonest), number)));
                return;
            }
            // Its own deadline was not past: the task goes on, or reports.
            AtDeadline::Finished { settled: false } => {
                self.deadlines.push(Reverse((soonest, number)));
                return;
            }
            // All that is left of the member is dropping what the plugin released: not
            // waited for; the task leaves the pool after it, and the rest are queued anew.
            AtDeadline::Finished { settled: true } => false,
            AtDeadline::CutOff(_recorded) => true,
        };
        on.halted = true;
        on.job = None;
        let finished = on.member + 1;
        drop(on);
        let member = &mut self.members[number];
        member.alive = false;
        self.alive -= 1;
        if cut_off {
            member.task.abort();
        }
        if !self.done[job.pos] {
            self.finish_job(job.pos, finished);
        }
    }

    /// `pos` is done: the plugins it uses may stop once their other users are done.
    fn finish(&mut self, pos: usize) {
        self.done[pos] = true;
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
