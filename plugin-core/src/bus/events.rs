//! Publish/subscribe: the subscriptions of each event type, and their receiving ends.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Poll, Waker};

use super::{lock, read, write};

/// The default number of events a subscription holds before it drops new ones.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The topics of one bus, by event type.
///
/// The map's lock is held only to find or insert a topic; each topic has its own lock, held
/// only to read or swap its list of subscribers, and a publish delivers with no lock of the
/// bus held (each subscriber's queue has a lock of its own, held to push one event).
#[derive(Default)]
pub(super) struct Topics {
    /// An `Arc<Topic<E>>` for each key's `E`.
    table: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// The subscribers of one event type: a snapshot, swapped whole on subscribe and on pruning,
/// so that a publish only clones an `Arc` under the topic's lock.
struct Topic<E> {
    feeds: RwLock<Arc<[Arc<Feed<E>>]>>,
}

/// What the bus holds of one subscription: the sending end of its queue.
struct Feed<E> {
    queue: Arc<Queue<E>>,
    dropped: Arc<AtomicU64>,
}

/// The queue of one subscription, shared by its [`Feed`] and its [`Subscription`].
struct Queue<E> {
    /// False once the owner is closed or the subscription dropped.
    open: AtomicBool,
    capacity: usize,
    /// How many events the subscription took out in its last batch and has not yet returned:
    /// they still count against `capacity`.
    in_hand: AtomicUsize,
    state: Mutex<QueueState<E>>,
}

struct QueueState<E> {
    events: VecDeque<Stamped<E>>,
    /// The receiver waiting for an event, if it waits.
    waker: Option<Waker>,
    /// The bus no longer holds this queue (it was pruned, or the bus dropped).
    detached: bool,
}

/// A subscription as its owner's record sees it, whatever its event type.
pub(super) trait Owned: Send + Sync {
    /// Closes the subscription: its queued events are discarded, its receiver woken.
    fn close(&self);
    fn is_open(&self) -> bool;
    /// Drops the closed subscriptions from the topic's list.
    fn prune_topic(&self);
    /// The topic, to prune each topic once.
    fn topic_id(&self) -> *const ();
}

/// A subscription in its owner's record: its queue and its topic.
struct OwnedFeed<E> {
    queue: Arc<Queue<E>>,
    topic: Arc<Topic<E>>,
}

impl<E: Send + Sync + 'static> Owned for OwnedFeed<E> {
    fn close(&self) {
        self.queue.close();
    }

    fn is_open(&self) -> bool {
        self.queue.open.load(Ordering::Acquire)
    }

    fn prune_topic(&self) {
        self.topic.prune();
    }

    fn topic_id(&self) -> *const () {
        Arc::as_ptr(&self.topic).cast()
    }
}

impl<E> Queue<E> {
    fn close(&self) {
        self.open.store(false, Ordering::Release);
        let waker = {
            let mut state = lock(&self.state);
            state.events.clear();
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<E> Drop for Feed<E> {
    fn drop(&mut self) {
        // The last snapshot holding it is gone: no event will come; a waiting receiver ends.
        let waker = {
            let mut state = lock(&self.queue.state);
            state.detached = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

enum Push {
    Queued,
    Full,
    Closed,
}

impl<E> Feed<E> {
    fn push(&self, stamped: Stamped<E>) -> Push {
        let queue = &*self.queue;
        if !queue.open.load(Ordering::Acquire) {
            return Push::Closed;
        }
        let waker = {
            let mut state = lock(&queue.state);
            let held = state.events.len() + queue.in_hand.load(Ordering::Acquire);
            if held >= queue.capacity {
                return Push::Full;
            }
            state.events.push_back(stamped);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Push::Queued
    }
}

impl<E> Topic<E> {
    fn new() -> Self {
        Self {
            feeds: RwLock::new(Arc::from(Vec::new())),
        }
    }

    /// Drops the closed subscriptions from the list.
    fn prune(&self) {
        let mut feeds = write(&self.feeds);
        if feeds
            .iter()
            .any(|feed| !feed.queue.open.load(Ordering::Acquire))
        {
            let open: Vec<_> = feeds
                .iter()
                .filter(|feed| feed.queue.open.load(Ordering::Acquire))
                .cloned()
                .collect();
            *feeds = Arc::from(open);
        }
    }
}

impl Topics {
    /// The topic of `E`, made if it has none.
    fn topic<E: Clone + Send + Sync + 'static>(&self) -> Arc<Topic<E>> {
        let key = TypeId::of::<E>();
        let found = read(&self.table).get(&key).cloned();
        let any = match found {
            Some(topic) => topic,
            None => write(&self.table)
                .entry(key)
                .or_insert_with(|| Arc::new(Topic::<E>::new()))
                .clone(),
        };
        any.downcast::<Topic<E>>()
            .unwrap_or_else(|_| unreachable!("a topic is keyed by its own type"))
    }

    /// Subscribes to `E` with a queue of `capacity`; drops are counted in `dropped`. Returns
    /// the subscription and its entry for the owner's record.
    pub(super) fn subscribe<E: Clone + Send + Sync + 'static>(
        &self,
        capacity: usize,
        dropped: Arc<AtomicU64>,
    ) -> (Subscription<E>, Arc<dyn Owned>) {
        let queue = Arc::new(Queue {
            open: AtomicBool::new(true),
            capacity,
            in_hand: AtomicUsize::new(0),
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                waker: None,
                detached: false,
            }),
        });
        let topic = self.topic::<E>();
        {
            let mut feeds = write(&topic.feeds);
            let mut list: Vec<_> = feeds
                .iter()
                .filter(|feed| feed.queue.open.load(Ordering::Acquire))
                .cloned()
                .collect();
            list.push(Arc::new(Feed {
                queue: queue.clone(),
                dropped,
            }));
            *feeds = Arc::from(list);
        }
        let owned = Arc::new(OwnedFeed {
            queue: queue.clone(),
            topic,
        });
        let subscription = Subscription {
            queue,
            batch: VecDeque::new(),
            streak: 0,
        };
        (subscription, owned)
    }

    /// Queues a clone of `event`, stamped with `sender`, at every open subscriber of `E`.
    pub(super) fn publish<E: Clone + Send + Sync + 'static>(
        &self,
        sender: Option<&Arc<str>>,
        event: E,
    ) -> usize {
        let (topic, feeds) = {
            let table = read(&self.table);
            let Some(any) = table.get(&TypeId::of::<E>()) else {
                return 0;
            };
            let topic = any
                .downcast_ref::<Topic<E>>()
                .expect("a topic is keyed by its own type");
            let feeds = read(&topic.feeds).clone();
            (any.clone(), feeds)
        };
        let mut delivered = 0;
        let mut closed = false;
        for feed in feeds.iter() {
            let stamped = Stamped {
                sender: sender.cloned(),
                event: event.clone(),
            };
            match feed.push(stamped) {
                Push::Queued => delivered += 1,
                Push::Full => {
                    feed.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Push::Closed => closed = true,
            }
        }
        drop(feeds);
        if closed {
            topic
                .downcast_ref::<Topic<E>>()
                .expect("a topic is keyed by its own type")
                .prune();
        }
        delivered
    }

    /// How many event types have a topic.
    pub(super) fn len(&self) -> usize {
        read(&self.table).len()
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
    queue: Arc<Queue<E>>,
    /// Events taken out of the queue in one go, returned one by one without a lock.
    batch: VecDeque<Stamped<E>>,
    /// Events `recv` returned since it last yielded (see [`YIELD_EVERY`]).
    streak: u32,
}

/// After this many events in a row, [`Subscription::recv`] yields once to the runtime before
/// the next, as tokio's own channels do under its cooperative budget, so a task that always
/// finds an event ready still lets the other tasks of its thread run.
const YIELD_EVERY: u32 = 128;

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
        poll_fn(|cx| {
            if self.streak >= YIELD_EVERY {
                self.streak = 0;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match self.take(Some(cx.waker())) {
                Taken::Event(stamped) => {
                    self.streak += 1;
                    Poll::Ready(Some(stamped))
                }
                Taken::Ended => Poll::Ready(None),
                Taken::Empty => {
                    self.streak = 0;
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<E> {
        self.try_recv_stamped().map(Stamped::into_event)
    }

    /// The next event with its sender, if one is queued now.
    pub fn try_recv_stamped(&mut self) -> Option<Stamped<E>> {
        match self.take(None) {
            Taken::Event(stamped) => Some(stamped),
            Taken::Ended | Taken::Empty => None,
        }
    }

    /// Whether the bus still delivers to this subscription.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.queue.open.load(Ordering::Acquire)
    }

    /// The next event: from the batch in hand, else the whole queue is taken as the next
    /// batch; when it is empty, `waker` (if any) is left to be woken by the next event.
    fn take(&mut self, waker: Option<&Waker>) -> Taken<E> {
        if !self.is_open() {
            self.batch.clear();
            return Taken::Ended;
        }
        if let Some(stamped) = self.batch.pop_front() {
            self.queue
                .in_hand
                .store(self.batch.len(), Ordering::Release);
            return Taken::Event(stamped);
        }
        let mut state = lock(&self.queue.state);
        if state.events.is_empty() {
            if state.detached {
                return Taken::Ended;
            }
            if let Some(waker) = waker {
                match &mut state.waker {
                    Some(old) => old.clone_from(waker),
                    slot @ None => *slot = Some(waker.clone()),
                }
            }
            return Taken::Empty;
        }
        std::mem::swap(&mut self.batch, &mut state.events);
        let stamped = self.batch.pop_front().expect("the batch is not empty");
        self.queue
            .in_hand
            .store(self.batch.len(), Ordering::Release);
        drop(state);
        Taken::Event(stamped)
    }
}

enum Taken<E> {
    Event(Stamped<E>),
    Empty,
    Ended,
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        // The bus prunes it on the next publish of its type.
        self.queue.open.store(false, Ordering::Release);
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
