//! Waiting under a deadline on tokio's clock: a subscription to events ([`Events`]) and any
//! other future ([`within`]).

use std::any::type_name;
use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use plugin_core::{EventBus, Subscription};

use super::TestBedError;

/// The owner of the test's own subscriptions on the bus: not a valid plugin name, so the
/// manager never closes it.
const TEST_OWNER: &str = "test bed";

/// The test's subscription to events of type `E`, from [`TestBed::events`](super::TestBed::events) or
/// [`RunningBed::events`](super::RunningBed::events).
pub struct Events<E> {
    subscription: Subscription<E>,
}

impl<E: Clone + Send + Sync + 'static> Events<E> {
    pub(super) fn new(bus: &EventBus) -> Self {
        Self {
            subscription: bus.subscribe(TEST_OWNER),
        }
    }

    /// The next event, waiting at most `timeout` on tokio's clock.
    ///
    /// # Errors
    ///
    /// [`TestBedError::Timeout`] when no event came in time, [`TestBedError::EventsClosed`]
    /// when the bus closed the subscription.
    pub async fn next(&mut self, timeout: Duration) -> Result<E, TestBedError> {
        self.next_matching(timeout, |_| true).await
    }

    /// The next event for which `wanted` is true, skipping the others, waiting at most
    /// `timeout` in all.
    ///
    /// # Errors
    ///
    /// As [`next`](Self::next).
    pub async fn next_matching(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&E) -> bool,
    ) -> Result<E, TestBedError> {
        let awaited = format!("an event of type `{}`", type_name::<E>());
        let mut skipped = 0_usize;
        let found = within(timeout, &awaited, async {
            while let Some(event) = self.subscription.recv().await {
                if wanted(&event) {
                    return Some(event);
                }
                skipped += 1;
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(TestBedError::EventsClosed {
                event: type_name::<E>(),
            }),
            Err(TestBedError::Timeout { awaited, after, .. }) if skipped > 0 => {
                Err(TestBedError::Timeout {
                    awaited,
                    after,
                    detail: Some(format!("{skipped} others came")),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// The next event if one is queued now.
    pub fn try_next(&mut self) -> Option<E> {
        self.subscription.try_recv()
    }
}

impl<E> fmt::Debug for Events<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("event", &type_name::<E>())
            .finish_non_exhaustive()
    }
}

/// Awaits `future` for at most `limit` on tokio's clock; on timeout the error says it was
/// `awaited`. For what the harness does not wait for itself, e.g. a reply.
///
/// # Errors
///
/// [`TestBedError::Timeout`] when `future` is not done within `limit`.
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::testing::within;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// assert_eq!(within(Duration::from_secs(1), "an answer", async { 42 }).await.unwrap(), 42);
/// let error = within(Duration::from_secs(1), "a reply to `!roll`", std::future::pending::<()>())
///     .await
///     .unwrap_err();
/// assert_eq!(error.to_string(), "timed out after 1s waiting for a reply to `!roll`");
/// # });
/// ```
pub async fn within<F: IntoFuture>(
    limit: Duration,
    awaited: &str,
    future: F,
) -> Result<F::Output, TestBedError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| TestBedError::Timeout {
            awaited: awaited.to_owned(),
            after: limit,
            detail: None,
        })
}
