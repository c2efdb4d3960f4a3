//! Restart policies: whether and how soon a failed plugin is brought back, with exponential
//! backoff and a limit on restarts in a time window, as OTP supervisors and systemd do. The
//! supervision itself (scheduling and running the restarts) is in `lifecycle/supervision.rs`.

use std::fmt;
use std::time::Duration;

use crate::state::DisplayDuration;

/// What the manager does when a plugin fails through its own fault (an error, panic or
/// timeout in its code; not when a dependency failed).
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::{Backoff, RestartPolicy};
///
/// let policy = RestartPolicy::OnFailure(
///     Backoff::default()
///         .with_max_restarts(5)
///         .with_window(Duration::from_secs(60)),
/// );
/// assert_eq!(policy.to_string(), "on failure, at most 5 restarts in 1m, backoff 100ms to 10s");
/// ```
///
/// More policies may come, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Leave it `failed` (the default); an operator may restart it.
    #[default]
    Never,
    /// Restart it after a delay that doubles with each restart in the window.
    OnFailure(Backoff),
}

/// How often and how soon a failed plugin is restarted.
///
/// Start from [`Backoff::default`] and change what differs with the `with_*` methods; the
/// fields can be read, and more may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// At most this many automatic restarts within [`Backoff::within`]; past that the plugin
    /// stays `failed` and its record says why.
    pub max_restarts: u32,
    /// The sliding window the restarts are counted in.
    pub within: Duration,
    /// The delay before the first restart; each further restart in the window doubles it.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 3 restarts in 60 s, waiting 100 ms, then 200 ms, then 400 ms (at most 10 s).
    fn default() -> Self {
        Self {
            max_restarts: 3,
            within: Duration::from_secs(60),
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The same backoff, allowing at most `max_restarts` automatic restarts in the window.
    #[must_use]
    pub const fn with_max_restarts(mut self, max_restarts: u32) -> Self {
        self.max_restarts = max_restarts;
        self
    }

    /// The same backoff, counting restarts in a sliding window of `within`.
    #[must_use]
    pub const fn with_window(mut self, within: Duration) -> Self {
        self.within = within;
        self
    }

    /// The same backoff, waiting `initial` before the first restart.
    #[must_use]
    pub const fn with_initial_delay(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The same backoff, never waiting longer than `max`.
    #[must_use]
    pub const fn with_max_delay(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// The delay before restart number `attempt` (0 for the first) in the window.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let backoff = plugin_manager::Backoff::default();
    /// assert_eq!(backoff.delay(0), Duration::from_millis(100));
    /// assert_eq!(backoff.delay(2), Duration::from_millis(400));
    /// assert_eq!(backoff.delay(30), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::Never => f.write_str("never"),
            RestartPolicy::OnFailure(b) => write!(
                f,
                "on failure, at most {} restarts in {}, backoff {} to {}",
                b.max_restarts,
                DisplayDuration(b.within),
                DisplayDuration(b.initial),
                DisplayDuration(b.max)
            ),
        }
    }
}
