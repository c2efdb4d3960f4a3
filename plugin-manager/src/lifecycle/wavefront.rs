//! Starting and stopping the whole set as wavefronts: a plugin starts as soon as its
//! dependencies are enabled (and one of the `max_in_flight` places is free) and is stopped once
//! every plugin that uses it is stopped, so independent plugins' hooks overlap. The bound on
//! plugins in flight keeps the working set of a huge set (its tasks, watchers, contexts) small
//! enough for the caches: 10,000 no-op plugins start and stop a sixth to a half faster with 256
//! places than with no bound (`docs/benchmarks.md`). The per-plugin drivers are polled by the one task that
//! runs the wavefront; the hooks they wait for run in tasks of their own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;
use tracing::Instrument;

use super::Shared;
use crate::state::{Failure, FailureKind, PluginState};

impl Shared {
    /// Starts every plugin that has not started yet, each as soon as its dependencies are
    /// enabled; a plugin whose required dependency failed becomes `Failed` without running.
    pub(crate) async fn start_all(self: &Arc<Self>) {
        let all: Vec<usize> = (0..self.graph.len()).collect();
        let _locks = self.lock_all(&all).await;
        if self.check_running().is_err() {
            return;
        }
        // Plugins the configuration switches off stay unloaded, and so do those that need them.
        let mut off = vec![false; all.len()];
        for &pos in &all {
            off[pos] =
                !self.live(pos).config.is_on() || self.graph.deps(pos).iter().any(|&dep| off[dep]);
        }
        let targets: Vec<bool> = all
            .iter()
            .map(|&p| !off[p] && self.state(p) == PluginState::Unloaded)
            .collect();
        let mut waiting: Vec<usize> = all
            .iter()
            .map(|&p| self.graph.deps(p).len() + self.graph.optional_deps(p).len())
            .collect();
        // The per-plugin drivers are polled here rather than spawned: they only wait for the
        // hook tasks they spawn, and keeping them on this task saves a task and its wake-ups
        // per plugin (ARCHITECTURE.md, "Cost model").
        let mut tasks = FuturesUnordered::new();
        let launch = |pos: usize, tasks: &mut FuturesUnordered<_>| {
            let span = tracing::info_span!("start", plugin = self.name(pos));
            tasks.push(async move { (pos, self.start_one(pos).await.is_ok()) }.instrument(span));
        };
        // A plugin that is not a target counts as done, successful if it is enabled.
        let mut finished: Vec<(usize, bool)> = all
            .iter()
            .filter(|&&pos| !targets[pos])
            .map(|&pos| (pos, self.state(pos) == PluginState::Enabled))
            .collect();
        let mut done = vec![false; all.len()];
        let window = self.max_in_flight;
        let mut ready = std::collections::VecDeque::new();
        for &pos in &all {
            if targets[pos] && waiting[pos] == 0 {
                ready.push_back(pos);
            }
        }
        loop {
            while let Some((pos, ok)) = finished.pop() {
                if std::mem::replace(&mut done[pos], true) {
                    continue;
                }
                for &user in self.graph.optional_dependents(pos) {
                    waiting[user] -= 1;
                    if waiting[user] == 0 && targets[user] && !done[user] {
                        ready.push_back(user);
                    }
                }
                for &user in self.graph.dependents(pos) {
                    if !targets[user] || done[user] {
                        continue;
                    }
                    if ok {
                        waiting[user] -= 1;
                        if waiting[user] == 0 {
                            ready.push_back(user);
                        }
                    } else if self.state(user) == PluginState::Unloaded {
                        self.fail(user, Failure::dependency_failed(self.name(pos)));
                        finished.push((user, false));
                    }
                }
            }
            while tasks.len() < window {
                let Some(pos) = ready.pop_front() else { break };
                launch(pos, &mut tasks);
            }
            match tasks.next().await {
                Some(outcome) => finished.push(outcome),
                None => break,
            }
        }
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
        let all: Vec<usize> = (0..self.graph.len()).collect();
        let n = all.len();
        let mut done = vec![false; n];
        let Ok(_locks) = tokio::time::timeout_at(deadline, self.lock_all(&all)).await else {
            self.abandon(&done);
            return;
        };
        let mut waiting: Vec<usize> = all
            .iter()
            .map(|&p| self.graph.dependents(p).len() + self.graph.optional_dependents(p).len())
            .collect();
        // Polled here, not spawned, as in `start_all`.
        let mut tasks = FuturesUnordered::new();
        let launch = |pos: usize, tasks: &mut FuturesUnordered<_>| {
            let span = tracing::info_span!("stop", plugin = self.name(pos));
            tasks.push(
                async move {
                    // Best effort: a failure is recorded in the plugin's record and never blocks.
                    let _ = self.stop_one(pos).await;
                    pos
                }
                .instrument(span),
            );
        };
        let window = self.max_in_flight;
        let mut ready = std::collections::VecDeque::new();
        for pos in (0..n).rev() {
            if waiting[pos] == 0 {
                ready.push_back(pos);
            }
        }
        let wavefront = async {
            loop {
                while tasks.len() < window {
                    let Some(pos) = ready.pop_front() else { break };
                    launch(pos, &mut tasks);
                }
                let Some(pos) = tasks.next().await else { break };
                done[pos] = true;
                for &dep in self
                    .graph
                    .deps(pos)
                    .iter()
                    .chain(self.graph.optional_deps(pos))
                {
                    waiting[dep] -= 1;
                    if waiting[dep] == 0 {
                        ready.push_back(dep);
                    }
                }
            }
        };
        if tokio::time::timeout_at(deadline, wavefront).await.is_err() {
            // Dropping the drivers aborts the hook tasks they were waiting for.
            drop(tasks);
            self.abandon(&done);
        }
    }

    /// Records every plugin not `done` that is still running as abandoned at the deadline,
    /// with or without its operation lock (the exception of invariant 2).
    pub(super) fn abandon(&self, done: &[bool]) {
        for (pos, _) in done.iter().enumerate().filter(|(_, done)| !**done) {
            let state = self.state(pos);
            if state.has_instance() {
                let kind = FailureKind::Abandoned(self.shutdown_timeout);
                self.fail(pos, Failure { phase: None, kind });
            }
        }
    }
}
