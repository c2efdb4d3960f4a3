//! A typed publish/subscribe bus.
//!
//! Any `Clone + Send + Sync + 'static` type is an event. Each subscription has its own bounded
//! queue, so a slow subscriber never stalls the publisher or the other subscribers.
//!
//! **Overflow policy:** when a subscriber's queue is full, the new event is dropped *for that
//! subscriber only* and counted; [`EventBus::dropped`] reports the count per owner, and the
//! manager shows it in each plugin's record.
//!
//! **Closing:** the manager closes a plugin's subscriptions when it leaves `enabled`. A closed
//! subscription returns `None` from [`Subscription::recv`] at once: events still queued in it
//! are discarded, not delivered late. A plugin subscribes again in `on_enable` if it wants to.
//!
//! **Request/reply:** a plugin can also *serve* a request type with [`EventBus::serve`] and
//! anyone can ask it with [`EventBus::request`], under a deadline. A server is a subscription
//! like the others: it has an owner, a bounded queue, and `close_owner` closes it, failing the
//! requests it has not answered. See [`crate::request`] for the rules.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::request::ServerTable;

/// The default number of events a subscription holds before it drops new ones.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// A typed publish/subscribe bus, cheap to clone (clones share the bus).
///
/// ```
/// use plugin_core::EventBus;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Joined(String);
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let bus = EventBus::new();
/// let mut sub = bus.subscribe::<Joined>("greeter");
/// assert_eq!(bus.publish(Joined("ada".into())), 1);
/// assert_eq!(sub.recv().await, Some(Joined("ada".into())));
/// # });
/// ```
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    capacity: usize,
    topics: Mutex<HashMap<TypeId, Vec<Subscriber>>>,
    dropped: Mutex<HashMap<String, Arc<AtomicU64>>>,
    servers: ServerTable,
}

/// One subscription as the bus sees it: its owner, its typed sender, its open flag.
struct Subscriber {
    owner: Arc<str>,
    /// An `mpsc::Sender<E>` for the topic's `E`.
    sender: Box<dyn Any + Send + Sync>,
    open: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl EventBus {
    /// A bus whose subscriptions each hold [`DEFAULT_QUEUE_CAPACITY`] events.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A bus whose subscriptions each hold `capacity` events (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(BusInner {
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
                dropped: Mutex::new(HashMap::new()),
                servers: ServerTable::default(),
            }),
        }
    }

    /// Subscribes `owner` (a plugin name, or e.g. `"host"`) to events of type `E`.
    pub fn subscribe<E: Clone + Send + Sync + 'static>(&self, owner: &str) -> Subscription<E> {
        let (sender, receiver) = mpsc::channel::<E>(self.inner.capacity);
        let open = Arc::new(AtomicBool::new(true));
        let dropped = self.drop_counter(owner);
        let subscriber = Subscriber {
            owner: owner.into(),
            sender: Box::new(sender),
            open: open.clone(),
            dropped,
        };
        lock(&self.inner.topics)
            .entry(TypeId::of::<E>())
            .or_default()
            .push(subscriber);
        Subscription { receiver, open }
    }

    /// Sends a clone of `event` to every open subscription of its type; returns how many
    /// queued it. A full queue drops the event for that subscriber and counts it.
    pub fn publish<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        let mut topics = lock(&self.inner.topics);
        let Some(subscribers) = topics.get_mut(&TypeId::of::<E>()) else {
            return 0;
        };
        let mut delivered = 0;
        subscribers.retain(|sub| {
            if !sub.open.load(Ordering::Acquire) {
                return false;
            }
            let sender = sub
                .sender
                .downcast_ref::<mpsc::Sender<E>>()
                .expect("a topic only holds senders of its own type");
            match sender.try_send(event.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        delivered
    }

    /// Closes every subscription `owner` holds; their queued events are discarded. Its
    /// servers close too: the requests they have not answered fail with
    /// [`RequestError::Dropped`](crate::RequestError::Dropped).
    pub fn close_owner(&self, owner: &str) {
        self.inner.servers.close_owner(owner);
        for subscribers in lock(&self.inner.topics).values_mut() {
            subscribers.retain(|sub| {
                if &*sub.owner == owner {
                    sub.open.store(false, Ordering::Release);
                    false
                } else {
                    true
                }
            });
        }
    }

    /// How many events were dropped for `owner` because its queues were full.
    pub fn dropped(&self, owner: &str) -> u64 {
        lock(&self.inner.dropped)
            .get(owner)
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }

    /// How many open subscriptions `owner` holds, servers included.
    pub fn subscriptions_of(&self, owner: &str) -> usize {
        let events = lock(&self.inner.topics)
            .values()
            .flatten()
            .filter(|sub| &*sub.owner == owner && sub.open.load(Ordering::Acquire))
            .count();
        events + self.inner.servers.count_of(owner)
    }

    /// How many events or requests one queue holds.
    pub(crate) fn capacity(&self) -> usize {
        self.inner.capacity
    }

    pub(crate) fn servers(&self) -> &ServerTable {
        &self.inner.servers
    }

    fn drop_counter(&self, owner: &str) -> Arc<AtomicU64> {
        lock(&self.inner.dropped)
            .entry(owner.to_owned())
            .or_default()
            .clone()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("capacity", &self.inner.capacity)
            .field("topics", &lock(&self.inner.topics).len())
            .field("servers", &self.inner.servers.len())
            .finish()
    }
}

/// The receiving end of a subscription to events of type `E`.
pub struct Subscription<E> {
    receiver: mpsc::Receiver<E>,
    open: Arc<AtomicBool>,
}

impl<E> Subscription<E> {
    /// The next event, or `None` once the subscription is closed (its backlog is discarded).
    pub async fn recv(&mut self) -> Option<E> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        let event = self.receiver.recv().await?;
        self.open.load(Ordering::Acquire).then_some(event)
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<E> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        self.receiver.try_recv().ok()
    }

    /// Whether the bus still delivers to this subscription.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        // The bus prunes it on the next publish (its sender then reports `Closed`).
        self.open.store(false, Ordering::Release);
    }
}

impl<E> fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("event", &std::any::type_name::<E>())
            .field("open", &self.is_open())
            .finish()
    }
}

/// Locks a mutex that no code path can leave inconsistent: nothing panics while holding it,
/// and the data is plain collections, so a poisoned lock is taken as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Ping(u32);

    #[tokio::test]
    async fn full_queue_drops_for_that_subscriber_only_and_counts() {
        let bus = EventBus::with_capacity(2);
        let mut slow = bus.subscribe::<Ping>("slow");
        let mut fast = bus.subscribe::<Ping>("fast");
        for i in 0..2 {
            assert_eq!(bus.publish(Ping(i)), 2);
            assert_eq!(fast.recv().await, Some(Ping(i)));
        }
        assert_eq!(bus.publish(Ping(2)), 1, "slow is full, fast is not");
        assert_eq!(bus.dropped("slow"), 1);
        assert_eq!(bus.dropped("fast"), 0);
        assert_eq!(slow.recv().await, Some(Ping(0)));
        assert_eq!(fast.recv().await, Some(Ping(2)));
    }

    #[tokio::test]
    async fn closing_an_owner_discards_its_backlog() {
        let bus = EventBus::new();
        let mut sub = bus.subscribe::<Ping>("p");
        bus.publish(Ping(1));
        bus.close_owner("p");
        assert_eq!(sub.recv().await, None);
        assert_eq!(bus.publish(Ping(2)), 0);
        assert_eq!(bus.subscriptions_of("p"), 0);
    }

    #[tokio::test]
    async fn dropped_subscription_is_pruned() {
        let bus = EventBus::new();
        drop(bus.subscribe::<Ping>("p"));
        assert_eq!(bus.publish(Ping(1)), 0);
        assert_eq!(bus.subscriptions_of("p"), 0);
    }
}
