//! Supervision: bringing a plugin that failed through its own fault back, as its
//! [`RestartPolicy`] says: after a delay that doubles with each restart in the policy's window,
//! and never past its limit, nor over an operator's or the configuration's decision.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use tokio::time::Instant;

use super::Shared;
use crate::restart_policy::RestartPolicy;
use crate::state::{DisplayDuration, PluginState};
use crate::task::spawn_named;

impl Shared {
    /// Schedules an automatic restart of the failed `pos` if its policy allows one more.
    pub(super) fn supervise(&self, pos: usize) {
        if self.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (delay, generation) = {
            let mut live = self.live(pos);
            let RestartPolicy::OnFailure(backoff) = live.policy else {
                return;
            };
            let now = Instant::now();
            while live
                .restarts
                .front()
                .is_some_and(|&at| now.duration_since(at) >= backoff.within)
            {
                live.restarts.pop_front();
            }
            let attempt = u32::try_from(live.restarts.len()).unwrap_or(u32::MAX);
            if attempt >= backoff.max_restarts {
                let note = format!(
                    "not restarted: {attempt} restarts within {} already",
                    DisplayDuration(backoff.within)
                );
                tracing::warn!(plugin = self.name(pos), "{note}");
                live.gave_up = Some(note);
                return;
            }
            live.restarts.push_back(now);
            live.gave_up = None;
            (backoff.delay(attempt), live.generation)
        };
        let shared = self.this.clone();
        let task = spawn_named(self.name(pos), "supervisor", async move {
            tokio::time::sleep(delay).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // A new failure is supervised again and counts against the window.
            shared.auto_restart(pos, generation).await;
        });
        let mut supervisors = self
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        supervisors.retain(|t| !t.is_finished());
        supervisors.push(task.abort_handle());
    }

    /// A restart the supervisor asked for: only if `pos` is still the failed instance it saw,
    /// is still switched on, and every dependency is enabled (it never overrides an operator).
    pub(super) async fn auto_restart(self: &Arc<Self>, pos: usize, generation: u64) {
        let (deps, related) = self.restart_scope(pos);
        let _locks = self.lock_all(&related).await;
        if self.check_running().is_err() {
            return;
        }
        {
            let live = self.live(pos);
            if live.state != PluginState::Failed
                || live.generation != generation
                || !live.configured_on
            {
                return;
            }
        }
        if let Some(&dep) = deps
            .iter()
            .find(|&&d| d != pos && self.state(d) != PluginState::Enabled)
        {
            let state = self.state(dep);
            tracing::warn!(plugin = self.name(pos), dependency = self.name(dep), %state, "not restarted: a dependency is not enabled");
            return;
        }
        self.live(pos).restart_count += 1;
        if let Err(error) = self.restart_locked(pos).await {
            tracing::warn!(plugin = self.name(pos), %error, "automatic restart");
        }
    }
}
