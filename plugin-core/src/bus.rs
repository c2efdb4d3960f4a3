//! The event bus: typed publish/subscribe, and request/reply between plugins.
//!
//! Any `Clone + Send + Sync + 'static` type is an event. Each event type has one ring holding
//! its last `capacity` events, and each subscription reads it at its own pace, so a slow
//! subscriber never stalls the publisher or the other subscribers.
//!
//! **Overflow policy:** a publish never waits and always stores the new event. A subscription
//! that has fallen `capacity` events behind loses its *oldest* unread event, for that
//! subscription only, and the loss is counted: [`EventBus::dropped`] reports the count per
//! owner at once (whether or not the subscription has read since), and the manager shows it in
//! each plugin's record. So a subscription holds at most `capacity` unread events, the newest
//! ones. [`Subscription::recv`] copies up to 256 of them out at once and returns them one at
//! a time; those in hand are its own and cannot be lost.
//!
//! **Locks:** a publish takes its type's ring lock (write) to store the event once, and wakes
//! only the subscriptions parked on an empty ring; a subscription takes the read lock once per
//! batch it copies. The types are found in a table of 16 shards, each behind its own read-write
//! lock, so publishers of different types share no lock unless their types share a shard, and
//! then only its read side. Each owner's record lists what it holds, so
//! [`EventBus::close_owner`] costs what the owner holds, not what the bus holds.
//!
//! **Memory:** a type's ring keeps an event alive until every open subscription has copied it,
//! been lapped past it or closed: the slowest open subscription holds at most `capacity`
//! events alive, and once all have read, the ring holds none (the subscription that was
//! last to read drops them). A publish with no open subscription stores nothing.
//!
//! **User code inside the bus:** an event's `Drop` runs with no lock of the bus held,
//! wherever the bus lets an event go (overwritten, released, discarded as a subscription
//! closes, or published with none open), and only once the ring is consistent: a `Drop` may
//! publish, even on its own type, and one that panics unwinds out of the call that let the
//! event go (`publish`, `recv`, `try_recv`, `close_owner`, the drop of a subscription) and
//! leaves the bus as it was. The same holds for the `Drop` of a question a server refused,
//! and for the wakers of tasks waiting in [`Subscription::recv`] or [`Requests::recv`]: each
//! is woken with no lock held, and the others are woken even if one panics (two exceptions: a
//! waker's `clone` and `drop` run under the ring's lock as a subscription parks, and when a
//! requester's waker panics as its server closes, the other requesters of that server may
//! learn of the close only at their deadline, since tokio-util's cancellation token stops
//! waking there). An event's `Clone` runs as a subscription copies events out of the ring,
//! under the ring's read lock: one that panics loses nothing (the events cloned before it
//! are delivered, the next read tries it again), but a `Clone` must not publish events of its
//! own type, which waits for that lock.
//!
//! **Order:** every subscription of a type reads that type's events in the order they were
//! published (one order for all publishers, the order of their publishes into the ring).
//!
//! **Closing:** the manager closes a plugin's subscriptions when it leaves `enabled`. A closed
//! subscription returns `None` from [`Subscription::recv`] at once: events it has not read
//! are discarded (not counted as dropped), not delivered late. A plugin subscribes again in `on_enable` if it wants to.
//!
//! **Senders:** every event is delivered with the name of the plugin that published it
//! ([`Subscription::recv_stamped`]). The bus stamps it from the [`Context`](crate::Context)
//! the event went through, so a plugin cannot publish under another plugin's name; what the
//! host publishes on the bus directly has no sender.
//!
//! # Request/reply
//!
//! A plugin can also *serve* a request type with [`EventBus::serve`] and anyone can ask it
//! with [`EventBus::request`], under a deadline. A *request type* is the pair `(Q, R)`: the
//! question and the answer. At most one server holds it at a time: a second one is refused
//! while the first is open ([`ServeError::AlreadyServed`]) instead of silently shadowing it
//! (plugins enable concurrently, so "the newest wins" would pick a server by a race). Once the
//! server closes, another one may serve the type.
//!
//! A server is a subscription with an owner like the others: its queue holds as many requests
//! as a subscription holds events, and [`EventBus::close_owner`] closes it.
//!
//! [`EventBus::request`] returns the answer, or a [`RequestError`]:
//! - [`NoServer`](RequestError::NoServer) at once when nobody serves the type;
//!   [`Context::request`](crate::Context::request) on a detached context says
//!   [`Detached`](RequestError::Detached) instead;
//! - [`QueueFull`](RequestError::QueueFull) at once when the server's queue is full (this is
//!   not counted in [`EventBus::dropped`]: the caller is told);
//! - [`Dropped`](RequestError::Dropped) as soon as the server drops the [`Request`] without
//!   answering, drops its [`Requests`] with the request still queued, or is closed by
//!   [`EventBus::close_owner`] (the manager does this when the plugin leaves `enabled`, fails
//!   or panics, for every plugin whose contexts opened a subscription or a server:
//!   [`Host::opens_on_bus`](crate::host::Host::opens_on_bus)). Closing fails every request
//!   the server has not answered yet, queued or in hand, without waiting for the deadline;
//! - [`TimedOut`](RequestError::TimedOut) when no answer came within the limit (on tokio's
//!   clock, so tests can pause it);
//! - [`NoTimeDriver`](RequestError::NoTimeDriver) at once, the request unsent, when the
//!   runtime has no time driver for the deadline (see [the crate notes](crate#runtime)).

mod events;
mod request;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub use events::{DEFAULT_QUEUE_CAPACITY, Stamped, Subscription};
pub use request::{Request, RequestError, Requests, Responder, ServeError};

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
    topics: events::Topics,
    /// What each owner holds, so that closing it is proportional to that, and its drop count.
    owners: Mutex<HashMap<String, Owner>>,
    servers: request::Servers,
}

/// One owner's record: its subscriptions, and the drop count of those it no longer holds.
#[derive(Default)]
struct Owner {
    /// Events dropped for the subscriptions pruned from the list (kept after it closes).
    retired: u64,
    /// Its subscriptions; those closed or dropped are pruned when the list would grow.
    subscriptions: Vec<Arc<dyn events::Owned>>,
}

impl EventBus {
    /// A bus whose event types each keep their last [`DEFAULT_QUEUE_CAPACITY`] events.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A bus whose event types each keep their last `capacity` events (at least 1): how far
    /// a subscription may fall behind before it loses its oldest unread ones.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(BusInner {
                capacity: capacity.max(1),
                topics: events::Topics::new(capacity.max(1)),
                owners: Mutex::new(HashMap::new()),
                servers: request::Servers::default(),
            }),
        }
    }

    /// Subscribes `owner` (a plugin name, or e.g. `"host"`) to events of type `E`.
    pub fn subscribe<E: Clone + Send + Sync + 'static>(&self, owner: &str) -> Subscription<E> {
        let mut owners = lock(&self.inner.owners);
        let record = match owners.get_mut(owner) {
            Some(record) => record,
            None => owners.entry(owner.to_owned()).or_default(),
        };
        let (subscription, owned) = self.inner.topics.subscribe::<E>();
        let Owner {
            retired,
            subscriptions: list,
        } = record;
        if list.len() == list.capacity() {
            // Amortised: the list is swept only when it would grow; a closed subscription's
            // count no longer changes.
            list.retain(|sub| {
                let open = sub.is_open();
                if !open {
                    *retired += sub.dropped();
                }
                open
            });
        }
        list.push(owned);
        subscription
    }

    /// Stores `event` for every open subscription of its type, with no sender; returns how
    /// many there are. A subscription already `capacity` events behind loses its oldest
    /// unread one, counted for its owner (see [the module notes](crate::bus)).
    pub fn publish<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        self.inner.topics.publish(None, event)
    }

    /// [`EventBus::publish`] stamped with `sender`; only a [`Context`](crate::Context) calls
    /// it, with its own plugin's name.
    pub(crate) fn publish_from<E: Clone + Send + Sync + 'static>(
        &self,
        sender: &Arc<str>,
        event: E,
    ) -> usize {
        self.inner.topics.publish(Some(sender), event)
    }

    /// Closes every subscription `owner` holds; the events they have not read are discarded. Its
    /// servers close too: the requests they have not answered fail with
    /// [`RequestError::Dropped`].
    pub fn close_owner(&self, owner: &str) {
        // Every server and subscription is closed in its record first; what that leaves to
        // do runs after, with no lock held (wakers and events' `Drop`: user code, which may
        // use the bus), all of it even if a part panics.
        let mut finish = self.inner.servers.close_owner(owner);
        {
            // Closed under the owners' lock, so that `dropped` never sees a subscription
            // neither in the list nor in `retired`.
            let mut owners = lock(&self.inner.owners);
            if let Some(record) = owners.get_mut(owner) {
                for sub in std::mem::take(&mut record.subscriptions) {
                    finish.push(sub.close());
                    record.retired += sub.dropped();
                }
            }
        }
        for_each_isolated(finish, |finish| finish());
    }

    /// How many events were dropped for `owner`: those its subscriptions had fallen too far
    /// behind to read (see [the module notes](crate::bus)), counted as they leave the ring,
    /// read since or not, and kept after the owner closes.
    #[must_use]
    pub fn dropped(&self, owner: &str) -> u64 {
        lock(&self.inner.owners).get(owner).map_or(0, |record| {
            record.retired
                + record
                    .subscriptions
                    .iter()
                    .map(|sub| sub.dropped())
                    .sum::<u64>()
        })
    }

    /// How many open subscriptions `owner` holds, servers included.
    #[must_use]
    pub fn subscriptions_of(&self, owner: &str) -> usize {
        let subscriptions = lock(&self.inner.owners).get(owner).map_or(0, |record| {
            record
                .subscriptions
                .iter()
                .filter(|sub| sub.is_open())
                .count()
        });
        subscriptions + self.inner.servers.count_of(owner)
    }

    /// Opens the server of requests `Q` answered with `R`, owned by `owner`.
    ///
    /// The server closes when it is dropped or when [`EventBus::close_owner`] closes `owner`.
    ///
    /// # Errors
    ///
    /// [`ServeError::AlreadyServed`] if another server of `(Q, R)` is open (see
    /// [the module notes](crate::bus)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_core::{EventBus, RequestError};
    ///
    /// struct Square(u64);
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = EventBus::new();
    /// let mut requests = bus.serve::<Square, u64>("math")?;
    /// tokio::spawn(async move {
    ///     while let Some(request) = requests.recv().await {
    ///         let n = request.payload().0;
    ///         let _ = request.reply(n * n); // `Err(answer)` if the requester gave up
    ///     }
    /// });
    /// let limit = Duration::from_secs(1);
    /// assert_eq!(bus.request::<Square, u64>(Square(7), limit).await, Ok(49));
    ///
    /// // A second server of the same type is refused while the first is open.
    /// assert!(bus.serve::<Square, u64>("other").is_err());
    /// // Closing the owner (the manager does it when the plugin leaves `enabled`) frees it.
    /// bus.close_owner("math");
    /// assert_eq!(
    ///     bus.request::<Square, u64>(Square(2), limit).await,
    ///     Err(RequestError::NoServer { request: std::any::type_name::<Square>() })
    /// );
    /// assert!(bus.serve::<Square, u64>("other").is_ok());
    /// # Ok::<(), plugin_core::ServeError>(())
    /// # }).unwrap();
    /// ```
    pub fn serve<Q, R>(&self, owner: &str) -> Result<Requests<Q, R>, ServeError>
    where
        Q: Send + 'static,
        R: Send + 'static,
    {
        self.inner.servers.open(owner, self.inner.capacity)
    }

    /// Sends `query` to the server of `(Q, R)` and waits at most `timeout` for its answer.
    ///
    /// The request is sent when the returned future is first polled.
    ///
    /// # Errors
    ///
    /// Fails at once if there is no server or its queue is full, as soon as the server drops
    /// the request or is closed, or at the deadline; see [`RequestError`]. On a runtime
    /// without a time driver, it fails at once with [`RequestError::NoTimeDriver`] instead of
    /// panicking (see [the crate notes](crate#runtime)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future withdraws the request ([`Request::is_waiting`] turns
    /// false, and [`Requests::recv`] skips it if still queued); an answer the server sends
    /// afterwards comes back to it as the `Err` of [`Request::reply`].
    pub async fn request<Q, R>(&self, query: Q, timeout: Duration) -> Result<R, RequestError>
    where
        Q: Send + 'static,
        R: Send + 'static,
    {
        self.inner.servers.ask(query, timeout).await
    }

    /// Whether `self` and `other` are the same bus (clones of one another).
    pub(crate) fn is_same(&self, other: &EventBus) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
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
            .field("topics", &self.inner.topics.len())
            .field("servers", &self.inner.servers.len())
            .finish()
    }
}

/// What is left of closing a subscription or a server once its lock is let go: waking the
/// tasks that wait on it, dropping the events it let go.
type Finish = Box<dyn FnOnce() + Send>;

/// Runs `each` on every item, on all of them even if one panics (a waker, an event's `Drop`:
/// user code), then goes on with the first panic, if any.
fn for_each_isolated<T>(items: impl IntoIterator<Item = T>, mut each: impl FnMut(T)) {
    let mut first_panic = None;
    for item in items {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| each(item)));
        if let Err(panic) = ran {
            first_panic.get_or_insert(panic);
        }
    }
    if let Some(panic) = first_panic {
        std::panic::resume_unwind(panic);
    }
}

/// Locks a mutex that no code path can leave inconsistent: nothing panics while holding it,
/// and the data is plain collections, so a poisoned lock is taken as is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for a read-write lock, read side.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for a read-write lock, write side.
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
