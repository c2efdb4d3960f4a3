//! The feed of state changes an observer reads: [`StateChanges`], and the manager's side of
//! it, `ChangeFeed`.
//!
//! The manager sends every change to a buffer shared by all observers (tokio's broadcast
//! channel inside); this type is the framework's face of it, so that tokio's receiver and its
//! error types stay out of the public API. The manager counts the feeds held, so that while
//! nobody observes, a transition neither builds a change (nor copies the plugin's name) nor
//! takes the channel's lock, which every worker would otherwise share at every transition.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;
use tokio::sync::broadcast;

use crate::state::StateChange;

/// Every state change from the moment it was taken, from
/// [`PluginManager::state_changes`](crate::PluginManager::state_changes).
///
/// Each observer reads its own copy of each change. The feed buffers 1024 changes; an observer that falls further behind misses the oldest ones, and
/// [`recv`](Self::recv) says how many ([`StateChangesError::Lagged`]) before it goes on with
/// the oldest change still buffered. The records' histories keep what a feed missed.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::{PluginManager, PluginSpec, PluginState};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
///     .build()?;
/// let mut changes = manager.state_changes();
/// manager.start().await;
///
/// let first = changes.recv().await?;
/// assert_eq!((first.plugin.as_str(), first.to), ("noop", PluginState::Loaded));
/// let mut rest = Vec::new();
/// while let Some(change) = changes.try_recv()? {
///     rest.push(change.to);
/// }
/// assert_eq!(rest, [PluginState::Setup, PluginState::Enabled]);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "a feed that is not read only takes up a place in the manager's buffer"]
pub struct StateChanges {
    receiver: broadcast::Receiver<StateChange>,
    /// Counts this feed among the held ones while it lives.
    _held: Held,
}

/// The manager's side of the feed: the channel, and how many [`StateChanges`] are held.
pub(crate) struct ChangeFeed {
    sender: broadcast::Sender<StateChange>,
    held: Arc<AtomicUsize>,
}

impl ChangeFeed {
    /// A feed whose observers each buffer `capacity` changes.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
            held: Arc::default(),
        }
    }

    /// A new observer's feed, of every change sent from now on.
    pub(crate) fn subscribe(&self) -> StateChanges {
        // Counted before it subscribes: a change that finds no feed held was sent before
        // this one existed, so it misses nothing sent after.
        self.held.fetch_add(1, Ordering::SeqCst);
        let held = Held(self.held.clone());
        StateChanges {
            receiver: self.sender.subscribe(),
            _held: held,
        }
    }

    /// Whether any feed is held: if not, a change need not be built at all.
    pub(crate) fn observed(&self) -> bool {
        self.held.load(Ordering::SeqCst) > 0
    }

    /// Sends `change` to every feed held (a lagging one misses the oldest; see
    /// [`StateChanges`]).
    pub(crate) fn send(&self, change: StateChange) {
        // An error means every feed was dropped since `observed`: nobody to tell.
        let _ = self.sender.send(change);
    }
}

/// One held feed, counted from its subscription until it is dropped.
#[derive(Debug)]
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why [`StateChanges`] gave no change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StateChangesError {
    /// The observer fell so far behind that the oldest changes left the buffer before it read
    /// them; the next read returns the oldest change still buffered.
    #[error("the observer fell behind and missed {missed} state changes")]
    Lagged {
        /// How many changes it missed.
        missed: u64,
    },
    /// The manager is gone (every clone of it and its tasks), and every change was read.
    #[error("the manager is gone: no more state changes")]
    Closed,
}

impl StateChanges {
    /// Waits for the next change.
    ///
    /// # Errors
    ///
    /// [`StateChangesError::Lagged`] once after the observer missed changes (then reading goes
    /// on), [`StateChangesError::Closed`] when the manager is gone and nothing is left to read.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: when the future is dropped before it is ready (a `select!` that took
    /// another branch), no change is lost; the next call returns it.
    pub async fn recv(&mut self) -> Result<StateChange, StateChangesError> {
        self.receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(missed) => StateChangesError::Lagged { missed },
            broadcast::error::RecvError::Closed => StateChangesError::Closed,
        })
    }

    /// The next change if one is waiting, `None` if none is yet.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv): [`StateChangesError::Lagged`] after missed changes,
    /// [`StateChangesError::Closed`] when the manager is gone and nothing is left to read.
    pub fn try_recv(&mut self) -> Result<Option<StateChange>, StateChangesError> {
        match self.receiver.try_recv() {
            Ok(change) => Ok(Some(change)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Err(StateChangesError::Lagged { missed })
            }
            Err(broadcast::error::TryRecvError::Closed) => Err(StateChangesError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::PluginState;

    fn change(n: u64) -> StateChange {
        StateChange {
            plugin: format!("p{n}"),
            from: PluginState::Unloaded,
            to: PluginState::Loaded,
            cause: None,
            at: Duration::from_millis(n),
        }
    }

    #[tokio::test]
    async fn a_lagging_observer_is_told_how_many_it_missed_then_reads_on() {
        let sender = ChangeFeed::new(2);
        let mut feed = sender.subscribe();
        for n in 0..5 {
            sender.send(change(n));
        }
        assert_eq!(
            feed.recv().await,
            Err(StateChangesError::Lagged { missed: 3 })
        );
        assert_eq!(feed.recv().await.unwrap().plugin, "p3");
        assert_eq!(feed.try_recv().unwrap().unwrap().plugin, "p4");
        assert_eq!(feed.try_recv(), Ok(None));

        for n in 5..8 {
            sender.send(change(n));
        }
        assert_eq!(
            feed.try_recv(),
            Err(StateChangesError::Lagged { missed: 1 })
        );
        assert_eq!(feed.try_recv().unwrap().unwrap().plugin, "p6");
    }

    #[tokio::test]
    async fn the_feed_closes_with_its_sender_after_the_last_change() {
        let sender = ChangeFeed::new(4);
        let mut feed = sender.subscribe();
        sender.send(change(0));
        drop(sender);
        assert_eq!(feed.recv().await.unwrap().plugin, "p0");
        assert_eq!(feed.recv().await, Err(StateChangesError::Closed));
        assert_eq!(feed.try_recv(), Err(StateChangesError::Closed));
    }

    #[test]
    fn the_feed_counts_as_observed_while_held() {
        let sender = ChangeFeed::new(4);
        assert!(!sender.observed());
        let first = sender.subscribe();
        let second = sender.subscribe();
        assert!(sender.observed());
        drop(first);
        assert!(sender.observed());
        drop(second);
        assert!(!sender.observed());
    }
}
