//! Supervision: bringing a plugin that failed through its own fault back, as its
//! [`RestartPolicy`] says: after a delay that doubles with each restart in the policy's window,
//! and never past its limit, nor over an operator's or the configuration's decision.
//!
//! Whether and when is [`decide`], a pure function of the policy, the restarts already made
//! and the time; [`Supervision`] keeps what it needs; `Shared::supervise` schedules the restart
//! and `Shared::auto_restart` makes it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use plugin_core::host::Hook;
use tokio::time::Instant;

use super::Shared;
use crate::restart_policy::RestartPolicy;
use crate::state::{DisplayDuration, Failure, FailureKind, Phase, PluginState};
use crate::task::spawn_named;

/// What a policy says after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The policy never restarts.
    Never,
    /// Restart after `delay`; this is restart number `attempt` (0 for the first) in the window.
    RestartAfter { delay: Duration, attempt: u32 },
    /// The window already holds the most restarts the policy allows.
    GiveUp { restarts: u32, within: Duration },
}

/// Whether and when `policy` restarts a plugin that failed `now`, given when its earlier
/// automatic restarts happened (oldest first).
pub(super) fn decide(policy: RestartPolicy, restarts: &VecDeque<Instant>, now: Instant) -> Verdict {
    let RestartPolicy::OnFailure(backoff) = policy else {
        return Verdict::Never;
    };
    let recent = restarts
        .iter()
        .filter(|&&at| now.duration_since(at) < backoff.within)
        .count();
    let attempt = u32::try_from(recent).unwrap_or(u32::MAX);
    if attempt >= backoff.max_restarts {
        Verdict::GiveUp {
            restarts: attempt,
            within: backoff.within,
        }
    } else {
        Verdict::RestartAfter {
            delay: backoff.delay(attempt),
            attempt,
        }
    }
}

/// Whether a failure is the plugin's own fault while it was starting or running, which its
/// policy answers; failing to stop is recorded, not supervised (it was being stopped anyway),
/// and neither is a failure of a dependency, the configuration or the shutdown deadline. A
/// plugin that reported itself unhealthy (`fail_when_unhealthy`) failed through its own fault.
pub(super) fn is_supervised(failure: &Failure) -> bool {
    let own = failure.phase.is_some() || matches!(failure.kind, FailureKind::Unhealthy(_));
    own && !matches!(
        failure.phase,
        Some(Phase::Hook(Hook::Disable | Hook::Teardown))
    )
}

/// One plugin's supervision: its policy and the restarts made under it.
pub(super) struct Supervision {
    /// The policy in force: the configuration's, else the builder's (which the manager keeps
    /// once for all plugins, `Shared::builder_policy`, not in each).
    policy: RestartPolicy,
    /// Made when the policy is first asked about a failure. Boxed: most plugins never fail,
    /// and each plugin's slot is 48 bytes smaller for it (the slots of thousands are written
    /// at build and read again at their start).
    record: Option<Box<Record>>,
}

/// What the failures of one plugin left under its policy.
///
/// # Invariants
///
/// - `restarts` is in time order and holds only restarts scheduled under `decide`'s
///   `RestartAfter`; entries older than the policy's window are dropped when it is next asked.
/// - `gave_up` is set exactly when the last verdict was `GiveUp`.
#[derive(Default)]
struct Record {
    restarts: VecDeque<Instant>,
    restart_count: u32,
    gave_up: Option<String>,
}

impl Supervision {
    /// Supervision under `policy`: the configuration's, else the builder's.
    pub(super) fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            record: None,
        }
    }

    /// The policy in force.
    pub(super) fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// How many automatic restarts were made.
    pub(super) fn restart_count(&self) -> u32 {
        self.record
            .as_ref()
            .map_or(0, |record| record.restart_count)
    }

    /// Why the last failure was not restarted, if the limit was reached.
    pub(super) fn gave_up(&self) -> Option<&String> {
        self.record.as_ref()?.gave_up.as_ref()
    }

    /// Takes `policy`, a new configuration's (the caller falls back to the builder's where the
    /// file names none); whether it changed.
    pub(super) fn reconfigure(&mut self, policy: RestartPolicy) -> bool {
        std::mem::replace(&mut self.policy, policy) != policy
    }

    /// Asks the policy about a failure `now` and keeps the answer: a restart counts against
    /// the window, a refusal is noted for the record.
    pub(super) fn after_failure(&mut self, now: Instant) -> Verdict {
        let record = self.record.get_or_insert_with(Box::default);
        let verdict = decide(self.policy, &record.restarts, now);
        match verdict {
            Verdict::Never => {}
            Verdict::RestartAfter { .. } => {
                if let RestartPolicy::OnFailure(backoff) = self.policy {
                    while record
                        .restarts
                        .front()
                        .is_some_and(|&at| now.duration_since(at) >= backoff.within)
                    {
                        record.restarts.pop_front();
                    }
                }
                record.restarts.push_back(now);
                record.gave_up = None;
            }
            Verdict::GiveUp { restarts, within } => {
                record.gave_up = Some(format!(
                    "not restarted: {restarts} restarts within {} already",
                    DisplayDuration(within)
                ));
            }
        }
        verdict
    }

    /// Counts an automatic restart that is about to be made.
    pub(super) fn count_restart(&mut self) {
        self.record.get_or_insert_with(Box::default).restart_count += 1;
    }
}

impl Shared {
    /// Schedules an automatic restart of the failed `pos` if its policy allows one more.
    pub(super) fn supervise(&self, pos: usize) {
        if self.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (verdict, generation) = {
            let mut live = self.live(pos);
            let verdict = live.supervision.after_failure(Instant::now());
            if let (Verdict::GiveUp { .. }, Some(note)) = (verdict, live.supervision.gave_up()) {
                tracing::warn!(plugin = self.name(pos), "{note}");
            }
            (verdict, live.instance.generation())
        };
        let Verdict::RestartAfter { delay, .. } = verdict else {
            return;
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
                || !live.instance.is(generation)
                || !live.config.is_on()
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
        self.live(pos).supervision.count_restart();
        self.telemetry(pos).restarted();
        if let Err(error) = self.restart_locked(pos).await {
            tracing::warn!(plugin = self.name(pos), %error, "automatic restart");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart_policy::Backoff;

    fn policy(max_restarts: u32) -> RestartPolicy {
        RestartPolicy::OnFailure(Backoff {
            max_restarts,
            within: Duration::from_secs(60),
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        })
    }

    #[test]
    fn never_means_never() {
        let now = Instant::now();
        assert_eq!(
            decide(RestartPolicy::Never, &VecDeque::new(), now),
            Verdict::Never
        );
    }

    #[test]
    fn the_delay_doubles_with_each_restart_in_the_window() {
        let t0 = Instant::now();
        let mut restarts = VecDeque::new();
        for (attempt, ms) in [(0, 100), (1, 200), (2, 400)] {
            let now = t0 + Duration::from_secs(attempt.into());
            assert_eq!(
                decide(policy(5), &restarts, now),
                Verdict::RestartAfter {
                    delay: Duration::from_millis(ms),
                    attempt
                }
            );
            restarts.push_back(now);
        }
    }

    #[test]
    fn the_limit_counts_only_the_window() {
        let t0 = Instant::now();
        let restarts: VecDeque<Instant> = [t0, t0 + Duration::from_secs(30)].into();
        let within = Duration::from_secs(60);
        assert_eq!(
            decide(policy(2), &restarts, t0 + Duration::from_secs(59)),
            Verdict::GiveUp {
                restarts: 2,
                within
            }
        );
        // The first restart has left the window: one more is allowed, at the second delay.
        assert_eq!(
            decide(policy(2), &restarts, t0 + within),
            Verdict::RestartAfter {
                delay: Duration::from_millis(200),
                attempt: 1
            }
        );
    }

    #[test]
    fn supervision_keeps_the_window_and_the_note() {
        let t0 = Instant::now();
        let mut supervision = Supervision::new(policy(1));
        assert!(matches!(
            supervision.after_failure(t0),
            Verdict::RestartAfter { attempt: 0, .. }
        ));
        assert_eq!(supervision.gave_up(), None);
        assert!(matches!(
            supervision.after_failure(t0 + Duration::from_secs(1)),
            Verdict::GiveUp { restarts: 1, .. }
        ));
        assert_eq!(
            supervision.gave_up().map(String::as_str),
            Some("not restarted: 1 restarts within 1m already")
        );
        // A new configuration's policy, told apart from the same one again.
        assert!(supervision.reconfigure(RestartPolicy::Never));
        assert_eq!(supervision.policy(), RestartPolicy::Never);
        assert!(!supervision.reconfigure(RestartPolicy::Never));
    }

    #[test]
    fn only_own_faults_while_running_are_supervised() {
        use crate::state::FailureKind;
        let error = || FailureKind::Error("x".into());
        assert!(is_supervised(&Failure::new(
            Phase::Hook(Hook::Setup),
            error()
        )));
        assert!(is_supervised(&Failure::new(Phase::Background, error())));
        assert!(!is_supervised(&Failure::new(
            Phase::Hook(Hook::Teardown),
            error()
        )));
        assert!(!is_supervised(&Failure::dependency_failed("a")));
    }
}
