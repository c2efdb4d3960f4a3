//! Publish/subscribe: the subscriptions of each event type, and their receiving ends.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::lock;

/// The default number of events a subscription holds before it drops new ones.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The subscriptions of one bus, by event type.
#[derive(Default)]
pub(super) struct Topics {
    table: Mutex<HashMap<TypeId, Vec<Subscriber>>>,
}

/// One subscription as the bus sees it: its owner, its typed sender, its open flag.
struct Subscriber {
    owner: Arc<str>,
    /// An `mpsc::Sender<Stamped<E>>` for the topic's `E`.
    sender: Box<dyn Any + Send + Sync>,
    open: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl Topics {
    /// Subscribes `owner` to `E` with a queue of `capacity`; drops are counted in `dropped`.
    pub(super) fn subscribe<E: Clone + Send + Sync + 'static>(
        &self,
        owner: &str,
        capacity: usize,
        dropped: Arc<AtomicU64>,
    ) -> Subscription<E> {
        let (sender, receiver) = mpsc::channel::<Stamped<E>>(capacity);
        let open = Arc::new(AtomicBool::new(true));
        let subscriber = Subscriber {
            owner: owner.into(),
            sender: Box::new(sender),
            open: open.clone(),
            dropped,
        };
        lock(&self.table)
            .entry(TypeId::of::<E>())
            .or_default()
            .push(subscriber);
        Subscription { receiver, open }
    }

    /// Queues a clone of `event`, stamped with `sender`, at every open subscriber of `E`.
    pub(super) fn publish<E: Clone + Send + Sync + 'static>(
        &self,
        sender: Option<&Arc<str>>,
        event: E,
    ) -> usize {
        let mut table = lock(&self.table);
        let Some(subscribers) = table.get_mut(&TypeId::of::<E>()) else {
            return 0;
        };
        let mut delivered = 0;
        subscribers.retain(|sub| {
            if !sub.open.load(Ordering::Acquire) {
                return false;
            }
            let queue = sub
                .sender
                .downcast_ref::<mpsc::Sender<Stamped<E>>>()
                .expect("a topic only holds senders of its own type");
            let stamped = Stamped {
                sender: sender.cloned(),
                event: event.clone(),
            };
            match queue.try_send(stamped) {
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

    /// Closes every subscription of `owner`.
    pub(super) fn close_owner(&self, owner: &str) {
        for subscribers in lock(&self.table).values_mut() {
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

    /// How many open subscriptions `owner` holds.
    pub(super) fn count_of(&self, owner: &str) -> usize {
        lock(&self.table)
            .values()
            .flatten()
            .filter(|sub| &*sub.owner == owner && sub.open.load(Ordering::Acquire))
            .count()
    }

    /// How many event types have subscribers.
    pub(super) fn len(&self) -> usize {
        lock(&self.table).len()
    }
}

/// An event with the plugin that published it, from [`Subscription::recv_stamped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped<E> {
    sender: Option<Arc<str>>,
    event: E,
}

impl<E> Stamped<E> {
    /// The plugin that published the event, as its context named it; `None` when the host
    /// published it on the bus directly.
    #[must_use]
    pub fn sender(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// The event.
    #[must_use]
    pub fn event(&self) -> &E {
        &self.event
    }

    /// The event, taken out.
    #[must_use]
    pub fn into_event(self) -> E {
        self.event
    }
}

/// The receiving end of a subscription to events of type `E`.
#[must_use = "a dropped subscription receives nothing"]
pub struct Subscription<E> {
    receiver: mpsc::Receiver<Stamped<E>>,
    open: Arc<AtomicBool>,
}

impl<E> Subscription<E> {
    /// The next event, or `None` once the subscription is closed (its backlog is discarded).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is taken from the queue only when the future returns it, so
    /// dropping the future (e.g. in `tokio::select!`) loses none. The same holds for
    /// [`Subscription::recv_stamped`].
    pub async fn recv(&mut self) -> Option<E> {
        self.recv_stamped().await.map(Stamped::into_event)
    }

    /// The next event with its sender, or `None` once the subscription is closed.
    ///
    /// ```
    /// use plugin_core::{Context, PluginMetadata};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let ctx = Context::detached(PluginMetadata::new("dice"));
    /// let mut rolls = ctx.subscribe::<u32>();
    /// ctx.publish(6_u32);
    /// let roll = rolls.recv_stamped().await.unwrap();
    /// assert_eq!((roll.sender(), *roll.event()), (Some("dice"), 6));
    /// # });
    /// ```
    pub async fn recv_stamped(&mut self) -> Option<Stamped<E>> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        let stamped = self.receiver.recv().await?;
        self.open.load(Ordering::Acquire).then_some(stamped)
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<E> {
        self.try_recv_stamped().map(Stamped::into_event)
    }

    /// The next event with its sender, if one is queued now.
    pub fn try_recv_stamped(&mut self) -> Option<Stamped<E>> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        self.receiver.try_recv().ok()
    }

    /// Whether the bus still delivers to this subscription.
    #[must_use]
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

#[cfg(test)]
mod tests {
    use crate::EventBus;

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

    #[tokio::test]
    async fn what_the_host_publishes_has_no_sender() {
        let bus = EventBus::new();
        let mut sub = bus.subscribe::<Ping>("p");
        bus.publish(Ping(1));
        let stamped = sub.recv_stamped().await.unwrap();
        assert_eq!((stamped.sender(), stamped.event()), (None, &Ping(1)));
    }
}
