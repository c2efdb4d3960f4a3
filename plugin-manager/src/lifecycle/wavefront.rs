//! Starting and stopping the whole set as wavefronts: a plugin starts as soon as its
//! dependencies are enabled (and one of the `max_in_flight` places is free) and is stopped once
//! every plugin that uses it is stopped, so independent plugins' hooks overlap. The bound on
//! plugins in flight keeps the working set of a huge set (its tasks, contexts) small enough for
//! the caches (`docs/benchmarks.md`).
//!
//! The two waves are driven differently, each the faster way as measured
//! (`docs/benchmarks.md`, "Design choices"):
//!
//! - **Start**: no task steers it (`start_wave`): each plugin task, as it ends, launches the
//!   plugins that were waiting for it, and one timer keeps the deadlines of the whole wave.
//! - **Stop**: one task steers it (`stop_wave`), counting and keeping the deadlines with one
//!   timer, while a pool of stop tasks (at most `max_in_flight`) takes the queued jobs: a
//!   plugin, then its only dependency if it was that one's last user, and so on. Stops
//!   launched from the ending stops themselves, on both workers at once, were slower: the
//!   instances and contexts they drop contend for the allocator.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use tokio::time::Instant;

use super::Shared;
use super::start_wave::StartWave;
use super::stop_wave::StopWave;
use crate::state::{Failure, FailureKind, PluginState};

impl Shared {
    /// Starts every plugin that has not started yet, each as soon as its dependencies are
    /// enabled; a plugin whose required dependency failed becomes `Failed` without running.
    pub(crate) async fn start_all(self: &Arc<Self>) {
        let _locks = self.lock_set().await;
        if self.check_running().is_err() {
            return;
        }
        // Plugins the configuration switches off stay unloaded, and so do those that need them;
        // the others start if they have not yet. One look at each live record, in start order
        // (dependencies first).
        let n = self.graph.len();
        let mut off = vec![false; n];
        let targets: Box<[bool]> = (0..n)
            .map(|pos| {
                let (on, state) = {
                    let live = self.live(pos);
                    (live.config.is_on(), live.state)
                };
                off[pos] = !on || self.graph.deps(pos).iter().any(|&dep| off[dep]);
                !off[pos] && state == PluginState::Unloaded
            })
            .collect();
        let waiting = (0..n).map(|p| self.graph.deps(p).len() + self.graph.optional_deps(p).len());
        StartWave::run(self, waiting, targets).await;
    }

    /// Stops every plugin, each once all plugins that use it are stopped, within the shutdown
    /// deadline; plugins still stopping then are abandoned and recorded as such.
    pub(crate) async fn shutdown(self: &Arc<Self>) {
        self.shutting_down.store(true, Ordering::Release);
        for task in self
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        // The deadline covers waiting for requests still in flight, too.
        let deadline = Instant::now() + self.shutdown_timeout;
        let Ok(_locks) = tokio::time::timeout_at(deadline, self.lock_set()).await else {
            self.abandon(&vec![false; self.graph.len()]);
            return;
        };
        let mut wave = StopWave::new(self);
        if tokio::time::timeout_at(deadline, wave.run()).await.is_err() {
            let done = wave.cut_short();
            self.abandon(&done);
        }
    }

    /// Records every plugin not `done` that has an instance as abandoned at the deadline, with
    /// or without its locks (the exception of invariant 2), and closes the attempt of every
    /// plugin not `done`: a task still in its start or stop changes nothing after that.
    pub(super) fn abandon(&self, done: &[bool]) {
        for (pos, _) in done.iter().enumerate().filter(|(_, done)| !**done) {
            let kind = FailureKind::Abandoned(self.shutdown_timeout);
            self.abandon_one(pos, Failure { phase: None, kind });
        }
    }
}
