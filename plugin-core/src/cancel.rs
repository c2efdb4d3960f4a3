//! The token a plugin's background work watches to stop in time.

use std::fmt;
use std::future::Future;

/// Tells a plugin's background work that it should stop: [`Context::cancellation`] hands one
/// out, cancelled when the plugin next leaves `enabled`.
///
/// It is plugin-core's own type (a thin wrapper), so that the contract does not change with
/// the version of the crate that implements it. Clones share the token.
///
/// ```
/// use plugin_core::Cancellation;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let stop = Cancellation::new();
/// let child = stop.child();
/// assert!(!child.is_cancelled());
/// stop.cancel();
/// child.cancelled().await; // ready at once: the parent was cancelled
/// assert!(child.is_cancelled());
/// # });
/// ```
///
/// [`Context::cancellation`]: crate::Context::cancellation
#[derive(Clone, Default)]
pub struct Cancellation {
    token: tokio_util::sync::CancellationToken,
}

impl Cancellation {
    /// A token that is not cancelled.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a token of the host's (see [`host::CancellationToken`](crate::host::CancellationToken)).
    pub(crate) fn from_token(token: tokio_util::sync::CancellationToken) -> Self {
        Self { token }
    }

    /// Cancels this token and its children; it stays cancelled.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether this token (or a parent of it) was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits until this token is cancelled; ready at once if it already is.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing, and a new call waits again.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.token.cancelled()
    }

    /// Like [`Cancellation::cancelled`], but owning a clone of the token, so the future can be
    /// moved into a task.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, like [`Cancellation::cancelled`].
    pub fn cancelled_owned(self) -> impl Future<Output = ()> + Send + 'static {
        self.token.cancelled_owned()
    }

    /// A token cancelled with this one, which can also be cancelled on its own without
    /// touching this one: e.g. to stop one task of a plugin early.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
        }
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
