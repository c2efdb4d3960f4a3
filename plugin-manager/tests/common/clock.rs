//! The tests' clock: the short hook deadline, and a guard that fails an await that would
//! otherwise hang.
//!
//! Every test runs on tokio's paused clock with a short [`HOOK_TIMEOUT`], so a hang (in a
//! plugin or, after a regression, in the manager) ends the test in virtual time instead of
//! stalling it.

use std::future::Future;
use std::time::Duration;

/// The deadline of every hook in these tests (virtual time).
pub(crate) const HOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`within`] waits, in virtual time, before calling an await a deadlock.
const DEADLOCK: Duration = Duration::from_secs(3600);

/// Awaits `future`, failing the test if it does not finish within an hour of virtual time
/// (which, on the paused clock, takes no real time): a deadlock fails instead of hanging.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(DEADLOCK, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish: deadlock or lost wake-up"),
    }
}
