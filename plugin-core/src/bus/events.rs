//! Publish/subscribe: one ring of recent events per event type, which each subscription reads
//! at its own pace through a cursor of its own.
//!
//! A publish writes the event once, into its type's ring, under that ring's lock; it wakes only
//! the subscriptions parked on an empty ring. A subscription copies what it has not read yet
//! out of the ring in batches (one read lock per batch) and hands the batch out without a lock.
//! A subscription that falls more than the ring's capacity behind has its cursor moved to the
//! oldest event the ring still holds, and the events it skipped are counted for its owner.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Poll, Waker};

use super::{Finish, for_each_isolated, lock, read, write};

/// The default number of events each event type keeps: a subscription that many behind loses
/// its oldest unread event at the next publish.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// Shards of the table of topics: publishers of types in different shards share no lock.
const SHARDS: usize = 16;

/// The most events a subscription copies out of its ring under one read lock.
const MAX_BATCH: usize = 256;

/// The topics of one bus, by event type.
///
/// A shard's lock is held to find a topic (read) or insert one (write); a publish holds its
/// shard's read lock and its topic's ring lock, so publishers of different types share no lock
/// unless their types fall in one shard, and then only the read side of its lock.
pub(super) struct Topics {
    capacity: usize,
    /// Boxed, so that the bus itself is not over-aligned.
    shards: Box<[Shard; SHARDS]>,
}

/// One shard of [`Topics`], on a cache line of its own so that publishers reading different
/// shards do not share a line.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    table: RwLock<HashMap<TypeId, Entry, BuildHasherDefault<TypeIdHasher>>>,
}

/// A topic in the table: as `Any`, to find it by its type, and as [`Detach`], to end its
/// subscriptions when the bus goes.
struct Entry {
    any: Arc<dyn Any + Send + Sync>,
    detach: Arc<dyn Detach>,
}

/// Hashes a [`TypeId`], which is a hash already, by taking what it writes.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not what `TypeId` writes today; any mixing does.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Ends a topic's subscriptions once their ring is drained: the bus is gone.
trait Detach: Send + Sync {
    fn detach(&self);
}

/// The events of one type and who waits for them.
struct Topic<E> {
    capacity: usize,
    ring: RwLock<Ring<E>>,
    /// Whether `parked` may hold a waker. Set under the ring's read lock and `parked`'s lock,
    /// read by a publisher under the ring's write lock, so a subscription that parks on an
    /// empty ring is either seen parked by the next publish or sees that publish.
    any_parked: AtomicBool,
    parked: Mutex<Vec<Parked>>,
}

/// A subscription waiting for the next event: its id and its waker.
struct Parked {
    id: u64,
    waker: Waker,
}

/// The last `capacity` events of a type (fewer until that many were published).
struct Ring<E> {
    /// Grows to the topic's capacity, then is overwritten in a circle.
    slots: Vec<Slot<E>>,
    /// Where the next event goes once `slots` is full: the slot of the oldest event.
    write_at: usize,
    /// The number of the next event published; events are numbered from 0 in each topic.
    tail: u64,
    /// Open subscriptions: a publish with none stores nothing.
    open: usize,
    /// The bus was dropped: no event will come.
    detached: bool,
    /// The id of the next subscription.
    next_id: u64,
    /// The cursor of each open subscription, by id: the slowest says what every one copied.
    cursors: Vec<(u64, Arc<AtomicU64>)>,
    /// The events before this one are let go: every open subscription copied them, was lapped
    /// past them or closed. It is the slowest cursor as of the last look (`release_read`), so
    /// that the ring keeps no copy nobody will read.
    released: u64,
    /// How many cursors were at `released` then and have not moved since: the subscription
    /// that moves the last of them looks for the slowest again. Set under the write lock,
    /// counted down under the read lock by each of them as it moves.
    at_released: AtomicUsize,
}

/// One event in a ring.
struct Slot<E> {
    /// The event's number.
    seq: u64,
    /// Taken out (dropped) once every open subscription has copied it (`Ring::release_read`).
    value: Option<Stamped<E>>,
}

impl<E> Ring<E> {
    /// The number of the oldest event held.
    fn oldest(&self) -> u64 {
        self.tail - self.slots.len() as u64
    }

    /// Stores `stamped`; returns the event it overwrote, if the ring still held one, to be
    /// dropped by the caller once it holds no lock.
    fn push(&mut self, capacity: usize, stamped: Stamped<E>) -> Option<Stamped<E>> {
        let slot = Slot {
            seq: self.tail,
            value: Some(stamped),
        };
        self.tail += 1;
        if self.slots.len() < capacity {
            self.slots.push(slot);
            return None;
        }
        let old = std::mem::replace(&mut self.slots[self.write_at], slot);
        self.write_at += 1;
        if self.write_at == capacity {
            self.write_at = 0;
        }
        old.value
    }

    /// The events from number `from` (held: `oldest() <= from <= tail`) on, at most `max`,
    /// as the two runs of slots they occupy.
    fn from(&self, from: u64, max: usize) -> (&[Slot<E>], &[Slot<E>]) {
        let count = usize::try_from(self.tail - from).map_or(max, |n| n.min(max));
        let start = self.at(from);
        let first = count.min(self.slots.len() - start);
        (
            &self.slots[start..start + first],
            &self.slots[..count - first],
        )
    }

    /// The slot of event `seq` (held: `oldest() <= seq < tail`).
    fn at(&self, seq: u64) -> usize {
        // The slot of the oldest event, then `seq`'s.
        let oldest_at = if self.write_at < self.slots.len() {
            self.write_at
        } else {
            0
        };
        let skip = usize::try_from(seq - self.oldest()).expect("within the ring");
        let mut at = oldest_at + skip;
        if at >= self.slots.len() {
            at -= self.slots.len();
        }
        at
    }

    /// Lets go of the events every open subscription has copied: those before the slowest
    /// cursor, which becomes `released`; counts the cursors there (`at_released`).
    ///
    /// The events are moved into `bin`, for the caller to drop once it holds no lock: an
    /// event's `Drop` is user code, which may panic or publish, and the ring is consistent
    /// before it runs.
    fn release_read(&mut self, bin: &mut Vec<Stamped<E>>) {
        let (mut slowest, mut there) = (self.tail, 0);
        for (_, cursor) in &self.cursors {
            let at = cursor.load(Ordering::Relaxed);
            if at < slowest {
                (slowest, there) = (at, 1);
            } else if at == slowest {
                there += 1;
            }
        }
        debug_assert!(
            slowest >= self.released,
            "a cursor went back past the release point"
        );
        let from = self.released.max(self.oldest());
        self.released = self.released.max(slowest);
        *self.at_released.get_mut() = there;
        for seq in from..slowest {
            let at = self.at(seq);
            let slot = &mut self.slots[at];
            if slot.seq == seq {
                if std::mem::needs_drop::<E>() {
                    bin.extend(slot.value.take());
                } else {
                    // No user code runs: the sender's name is all there is to drop.
                    slot.value = None;
                }
            }
        }
    }

    /// Lets the events go (no subscription is open): a new one starts at `tail`. Returns
    /// them, for the caller to drop once it holds no lock.
    fn clear(&mut self) -> Vec<Slot<E>> {
        self.write_at = 0;
        self.released = self.tail;
        *self.at_released.get_mut() = 0;
        std::mem::take(&mut self.slots)
    }
}

impl<E> Topic<E> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ring: RwLock::new(Ring {
                slots: Vec::new(),
                write_at: 0,
                tail: 0,
                open: 0,
                detached: false,
                next_id: 0,
                cursors: Vec::new(),
                released: 0,
                at_released: AtomicUsize::new(0),
            }),
            any_parked: AtomicBool::new(false),
            parked: Mutex::new(Vec::new()),
        }
    }

    /// Stores `stamped` for every open subscription. Returns how many are open, whether any
    /// is parked (for the caller to take their wakers, [`Topic::take_parked`], and wake them
    /// once it holds no lock), and the event to drop once the caller holds no lock: `stamped`
    /// itself if none is open, else the one it overwrote if the ring still held it.
    fn publish(&self, stamped: Stamped<E>) -> Published<E> {
        let mut ring = write(&self.ring);
        if ring.open == 0 {
            return Published {
                open: 0,
                wake: false,
                unstored: Some(stamped),
            };
        }
        let unstored = ring.push(self.capacity, stamped);
        Published {
            open: ring.open,
            wake: self.any_parked.load(Ordering::Relaxed),
            unstored,
        }
    }

    /// Moves the wakers of every parked subscription into `into`, to be woken once the caller
    /// holds no lock (a waker may run code that publishes or subscribes).
    fn take_parked(&self, into: &mut Vec<Waker>) {
        let mut parked = lock(&self.parked);
        self.any_parked.store(false, Ordering::Relaxed);
        into.extend(parked.drain(..).map(|parked| parked.waker));
    }

    /// Wakes every parked subscription, holding no lock while it wakes them.
    fn wake_parked(&self) {
        let mut waking = Vec::new();
        self.take_parked(&mut waking);
        for_each_isolated(waking, Waker::wake);
    }

    /// Leaves `waker` to be woken by the next publish; called under the ring's read lock.
    fn park(&self, id: u64, waker: &Waker) {
        let mut parked = lock(&self.parked);
        match parked.iter_mut().find(|parked| parked.id == id) {
            Some(parked) => parked.waker.clone_from(waker),
            None => parked.push(Parked {
                id,
                waker: waker.clone(),
            }),
        }
        self.any_parked.store(true, Ordering::Relaxed);
    }

    /// Takes subscription `id`'s waker, if it is parked.
    fn unpark(&self, id: u64) -> Option<Waker> {
        let mut parked = lock(&self.parked);
        let at = parked.iter().position(|parked| parked.id == id)?;
        Some(parked.swap_remove(at).waker)
    }
}

impl<E: Send + Sync> Detach for Topic<E> {
    fn detach(&self) {
        write(&self.ring).detached = true;
        self.wake_parked();
    }
}

/// One subscription as the bus sees it: its place in its topic and its overflow count.
struct Member<E> {
    topic: Arc<Topic<E>>,
    id: u64,
    /// False once the owner is closed or the subscription dropped; changed under the ring's
    /// write lock.
    open: AtomicBool,
    /// The number of the next event it copies out of the ring; written by its receiver under
    /// the ring's read lock. Shared with the ring's list of cursors.
    cursor: Arc<AtomicU64>,
    /// Events it skipped because the ring had let them go; written by its receiver under the
    /// ring's read lock, and by closing under the write lock.
    skipped: AtomicU64,
}

thread_local! {
    /// The wakers a publish on this thread takes out of its topic, to wake once it holds no
    /// lock; kept empty between publishes, for its allocation (taken while in use: a publish
    /// from a waker finds none, and makes its own).
    static WAKING: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
}

/// What [`Topic::publish`] did.
struct Published<E> {
    open: usize,
    wake: bool,
    unstored: Option<Stamped<E>>,
}

/// A subscription as its owner's record sees it, whatever its event type.
pub(super) trait Owned: Send + Sync {
    /// Closes the subscription: its unread events are discarded. Returns what is left to do,
    /// waking its receiver and dropping what the ring let go, for the caller to run once it
    /// holds no lock.
    fn close(&self) -> Finish;
    fn is_open(&self) -> bool;
    /// Events dropped for it so far: skipped, and, while it is open, those the ring let go
    /// before it read them.
    fn dropped(&self) -> u64;
}

/// A closed subscription's receiver to wake and the events the ring let go as it closed (its
/// slots if it was the last subscription, else what every other one had copied): user code,
/// left for the caller to run once it holds no lock.
struct Closed<E> {
    waker: Option<Waker>,
    cleared: Vec<Slot<E>>,
    released: Vec<Stamped<E>>,
}

impl<E> Closed<E> {
    /// Wakes the receiver, then drops the events: a `Drop` that panics loses no wake-up.
    fn finish(self) {
        let Self {
            waker,
            cleared,
            released,
        } = self;
        if let Some(waker) = waker {
            waker.wake();
        }
        drop((cleared, released));
    }
}

impl<E> Member<E> {
    /// Closes the subscription; returns its receiver to wake and the events the ring let go,
    /// for the caller to [finish](Closed::finish) once it holds no lock.
    fn close(&self) -> Closed<E> {
        let (mut cleared, mut released) = (Vec::new(), Vec::new());
        let waker = {
            let mut ring = write(&self.topic.ring);
            if !self.open.swap(false, Ordering::Relaxed) {
                return Closed {
                    waker: None,
                    cleared,
                    released,
                };
            }
            // What the ring let go unread was dropped; what it still holds is discarded.
            let lost = ring
                .oldest()
                .saturating_sub(self.cursor.load(Ordering::Relaxed));
            self.skipped.fetch_add(lost, Ordering::Relaxed);
            // What it has not copied no longer waits for it.
            ring.cursors.retain(|(id, _)| *id != self.id);
            ring.open -= 1;
            if ring.open == 0 {
                cleared = ring.clear();
            } else {
                ring.release_read(&mut released);
            }
            self.topic.unpark(self.id)
        };
        Closed {
            waker,
            cleared,
            released,
        }
    }
}

impl<E: Send + Sync + 'static> Owned for Member<E> {
    fn close(&self) -> Finish {
        let closed = Member::close(self);
        Box::new(move || closed.finish())
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn dropped(&self) -> u64 {
        // The write lock: no receiver is moving its cursor meanwhile.
        let ring = write(&self.topic.ring);
        let skipped = self.skipped.load(Ordering::Relaxed);
        if self.open.load(Ordering::Relaxed) {
            skipped
                + ring
                    .oldest()
                    .saturating_sub(self.cursor.load(Ordering::Relaxed))
        } else {
            skipped
        }
    }
}

impl Topics {
    /// No topics yet; each will hold the last `capacity` events of its type.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            shards: Default::default(),
        }
    }

    fn shard(&self, key: TypeId) -> &Shard {
        let mut hasher = TypeIdHasher::default();
        std::hash::Hash::hash(&key, &mut hasher);
        // The low bits pick the map's buckets; the shard takes others.
        let bits = usize::try_from(hasher.finish() >> 32).unwrap_or_default();
        &self.shards[bits % SHARDS]
    }

    /// The topic of `E`, made if it has none.
    fn topic<E: Clone + Send + Sync + 'static>(&self) -> Arc<Topic<E>> {
        let key = TypeId::of::<E>();
        let shard = self.shard(key);
        let found = read(&shard.table).get(&key).map(|entry| entry.any.clone());
        let any = match found {
            Some(topic) => topic,
            None => write(&shard.table)
                .entry(key)
                .or_insert_with(|| {
                    let topic = Arc::new(Topic::<E>::new(self.capacity));
                    Entry {
                        any: topic.clone(),
                        detach: topic,
                    }
                })
                .any
                .clone(),
        };
        any.downcast::<Topic<E>>()
            .unwrap_or_else(|_| unreachable!("a topic is keyed by its own type"))
    }

    /// Subscribes to `E` from the next event on. Returns the subscription and its entry for
    /// the owner's record.
    pub(super) fn subscribe<E: Clone + Send + Sync + 'static>(
        &self,
    ) -> (Subscription<E>, Arc<dyn Owned>) {
        let topic = self.topic::<E>();
        let (id, next, cursor) = {
            let mut ring = write(&topic.ring);
            ring.open += 1;
            ring.next_id += 1;
            let (id, next) = (ring.next_id, ring.tail);
            let cursor = Arc::new(AtomicU64::new(next));
            ring.cursors.push((id, cursor.clone()));
            if ring.open == 1 {
                ring.released = next;
            }
            if next == ring.released {
                *ring.at_released.get_mut() += 1;
            }
            (id, next, cursor)
        };
        let member = Arc::new(Member {
            topic,
            id,
            open: AtomicBool::new(true),
            cursor,
            skipped: AtomicU64::new(0),
        });
        let subscription = Subscription {
            member: member.clone(),
            copy: |batch, slots| {
                for slot in slots {
                    if let Some(value) = &slot.value {
                        batch.push_back(value.clone());
                    }
                }
            },
            next,
            batch: VecDeque::new(),
            streak: 0,
            bin: Vec::new(),
        };
        (subscription, member)
    }

    /// Stores `event`, stamped with `sender`, for every open subscription of `E`; returns how
    /// many there are.
    pub(super) fn publish<E: Clone + Send + Sync + 'static>(
        &self,
        sender: Option<&Arc<str>>,
        event: E,
    ) -> usize {
        let key = TypeId::of::<E>();
        let table = read(&self.shard(key).table);
        let Some(entry) = table.get(&key) else {
            return 0;
        };
        let topic = entry
            .any
            .downcast_ref::<Topic<E>>()
            .expect("a topic is keyed by its own type");
        let published = topic.publish(Stamped {
            sender: sender.cloned(),
            event,
        });
        // A waker, and an event's `Drop`, are code the bus does not know: they may publish or
        // subscribe, so they run with no lock held.
        let mut waking = Vec::new();
        if published.wake {
            // A publish from a thread-local's destructor may find `WAKING` gone: it makes its
            // own list.
            waking = WAKING.try_with(Cell::take).unwrap_or_default();
            topic.take_parked(&mut waking);
        }
        drop(table);
        if published.wake {
            // Every receiver is woken even if a waker panics, and the event dropped.
            for_each_isolated(waking.drain(..), Waker::wake);
            let _gone = WAKING.try_with(|spare| spare.set(waking));
        }
        drop(published.unstored);
        published.open
    }

    /// How many event types have a topic.
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| read(&shard.table).len())
            .sum()
    }
}

impl Drop for Topics {
    fn drop(&mut self) {
        let entries = self.shards.iter_mut().flat_map(|shard| {
            let table = shard.table.get_mut();
            table
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
        });
        // Every topic is detached, and its receivers woken, even if a waker panics.
        for_each_isolated(entries, |entry| entry.detach.detach());
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
    member: Arc<Member<E>>,
    /// Appends clones of events to a batch (made where `E: Clone` is known, so that the
    /// subscription's methods need no bound).
    copy: CopyOut<E>,
    /// The number of the next event to copy out of the ring (the member's cursor, kept here
    /// too to read it without an atomic).
    next: u64,
    /// Events copied out of the ring in one go, returned one by one without a lock.
    batch: VecDeque<Stamped<E>>,
    /// Events `recv` returned since it last yielded (see [`YIELD_EVERY`]).
    streak: u32,
    /// The events this subscription's last release let go, dropped once it holds no lock;
    /// kept empty between releases, for its allocation.
    bin: Vec<Stamped<E>>,
}

/// Appends clones of the events of some slots to a batch.
type CopyOut<E> = fn(&mut VecDeque<Stamped<E>>, &[Slot<E>]);

/// After this many events in a row, [`Subscription::recv`] yields once to the runtime before
/// the next, as tokio's own channels do under its cooperative budget, so a task that always
/// finds an event ready still lets the other tasks of its thread run.
const YIELD_EVERY: u32 = 128;

impl<E> Subscription<E> {
    /// The next event, or `None` once the subscription is closed (its backlog is discarded).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is taken from the subscription only when the future returns it, so
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

    /// The next event if one is unread now.
    pub fn try_recv(&mut self) -> Option<E> {
        self.try_recv_stamped().map(Stamped::into_event)
    }

    /// The next event with its sender, if one is unread now.
    pub fn try_recv_stamped(&mut self) -> Option<Stamped<E>> {
        match self.take(None) {
            Taken::Event(stamped) => Some(stamped),
            Taken::Ended | Taken::Empty => None,
        }
    }

    /// Whether the bus still delivers to this subscription.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.member.open.load(Ordering::Acquire)
    }

    /// The next event: from the batch in hand, else the next batch is copied out of the ring;
    /// when there is nothing to copy, `waker` (if any) is left to be woken by the next event.
    fn take(&mut self, waker: Option<&Waker>) -> Taken<E> {
        if !self.is_open() {
            self.batch.clear();
            return Taken::Ended;
        }
        if let Some(stamped) = self.batch.pop_front() {
            return Taken::Event(stamped);
        }
        let member = &*self.member;
        let topic = &*member.topic;
        let ring = read(&topic.ring);
        if !member.open.load(Ordering::Relaxed) {
            return Taken::Ended;
        }
        let mut copied = Ok(());
        let was = self.next;
        let oldest = ring.oldest();
        if self.next < oldest {
            // Lapped: the ring let these go before they were read.
            member
                .skipped
                .fetch_add(oldest - self.next, Ordering::Relaxed);
            self.next = oldest;
        }
        let taken = if self.next == ring.tail {
            if !ring.detached
                && let Some(waker) = waker
            {
                topic.park(member.id, waker);
            }
            false
        } else {
            let (first, second) = ring.from(self.next, MAX_BATCH);
            let before = self.batch.len();
            let (copy, batch) = (self.copy, &mut self.batch);
            // An event's `Clone` is user code: if it panics, the events cloned before it are
            // kept and counted as read, and the cursor is stored, before the panic goes on.
            copied = catch_unwind(AssertUnwindSafe(|| {
                copy(batch, first);
                copy(batch, second);
            }));
            self.next += match copied {
                Ok(()) => (first.len() + second.len()) as u64,
                // Every slot from the cursor on holds its event (only those before the
                // slowest cursor are let go): one slot read per event cloned.
                Err(_) => (self.batch.len() - before) as u64,
            };
            self.batch.len() > before
        };
        member.cursor.store(self.next, Ordering::Relaxed);
        // The last cursor to leave the release point looks for the slowest one again, and
        // the ring lets go of what every subscription has copied.
        let last_to_move = self.next != was
            && was == ring.released
            && ring.at_released.fetch_sub(1, Ordering::AcqRel) == 1;
        let detached = ring.detached;
        drop(ring);
        if last_to_move {
            write(&topic.ring).release_read(&mut self.bin);
            // With no lock held: a panic here leaves the ring consistent, and the rest of the
            // bin is dropped as the panic unwinds.
            self.bin.clear();
        }
        if let Err(panic) = copied {
            resume_unwind(panic);
        }
        if taken {
            Taken::Event(self.batch.pop_front().expect("the batch is not empty"))
        } else if detached {
            Taken::Ended
        } else {
            Taken::Empty
        }
    }
}

enum Taken<E> {
    Event(Stamped<E>),
    Empty,
    Ended,
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        self.member.close().finish();
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
    use std::collections::VecDeque;
    use std::sync::Arc;

    use super::MAX_BATCH;
    use crate::EventBus;

    #[derive(Clone, Debug, PartialEq)]
    struct Ping(u32);

    #[tokio::test]
    async fn a_lapped_subscriber_loses_its_oldest_alone_and_they_are_counted() {
        let bus = EventBus::with_capacity(2);
        let mut slow = bus.subscribe::<Ping>("slow");
        let mut fast = bus.subscribe::<Ping>("fast");
        for i in 0..2 {
            assert_eq!(bus.publish(Ping(i)), 2);
            assert_eq!(fast.recv().await, Some(Ping(i)));
        }
        assert_eq!(bus.publish(Ping(2)), 2, "both still subscribed");
        assert_eq!(
            bus.dropped("slow"),
            1,
            "ping 0 left the ring unread by slow"
        );
        assert_eq!(bus.dropped("fast"), 0);
        assert_eq!(slow.recv().await, Some(Ping(1)));
        assert_eq!(slow.recv().await, Some(Ping(2)));
        assert_eq!(fast.recv().await, Some(Ping(2)));
        assert_eq!(bus.dropped("slow"), 1, "counted once, read or not");
        assert_eq!(slow.try_recv(), None);
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
        assert_eq!(bus.dropped("p"), 0, "discarded is not dropped");
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

    #[tokio::test]
    async fn a_subscription_ends_after_its_backlog_once_the_bus_is_dropped() {
        let bus = EventBus::new();
        let mut sub = bus.subscribe::<Ping>("p");
        bus.publish(Ping(1));
        drop(bus);
        assert_eq!(sub.recv().await, Some(Ping(1)));
        assert_eq!(sub.recv().await, None);
    }

    #[test]
    fn the_ring_lets_an_event_go_once_every_subscriber_copied_it_or_closed() {
        let bus = EventBus::with_capacity(8);
        let mut a = bus.subscribe::<Arc<u32>>("a");
        let mut b = bus.subscribe::<Arc<u32>>("b");
        let event = Arc::new(7_u32);
        bus.publish(event.clone());
        assert_eq!(Arc::strong_count(&event), 2, "ours and the ring's");
        drop(a.try_recv());
        assert_eq!(Arc::strong_count(&event), 2, "b has still to read it");
        let kept = b.try_recv();
        assert_eq!(
            Arc::strong_count(&event),
            2,
            "ours and b's copy: the ring let it go"
        );
        drop(kept);
        // Unread by `b`: closing it lets the event go too.
        bus.publish(event.clone());
        drop(a.try_recv());
        assert_eq!(Arc::strong_count(&event), 2);
        drop(b);
        assert_eq!(Arc::strong_count(&event), 1);
    }

    #[test]
    fn the_ring_wraps_and_batches_span_its_end() {
        let bus = EventBus::with_capacity(3);
        let mut sub = bus.subscribe::<Ping>("p");
        let mut expected = Vec::new();
        let mut got = Vec::new();
        // Publishing 1, 2 or 3 at a time walks the ring's start over every slot.
        for (round, burst) in [1, 2, 3, 2, 3, 1, 3, 3, 2].into_iter().enumerate() {
            for i in 0..burst {
                let ping = Ping(u32::try_from(round * 10 + i).unwrap());
                bus.publish(ping.clone());
                expected.push(ping);
            }
            while let Some(ping) = sub.try_recv() {
                got.push(ping);
            }
        }
        assert_eq!(got, expected);
        assert_eq!(bus.dropped("p"), 0);
    }

    #[test]
    fn a_subscriber_of_a_type_that_had_none_starts_at_the_next_event() {
        let bus = EventBus::with_capacity(4);
        let first = bus.subscribe::<Ping>("a");
        bus.publish(Ping(1));
        drop(first);
        assert_eq!(bus.publish(Ping(2)), 0, "nobody subscribed: nothing stored");
        let mut second = bus.subscribe::<Ping>("b");
        assert_eq!(second.try_recv(), None);
        for i in 3..9 {
            bus.publish(Ping(i));
        }
        let got: Vec<_> = std::iter::from_fn(|| second.try_recv()).collect();
        assert_eq!(got, [Ping(5), Ping(6), Ping(7), Ping(8)]);
        assert_eq!(bus.dropped("b"), 2);
        assert_eq!(bus.dropped("a"), 0);
    }

    /// A model of what the ring must still hold: event `seq` is held while it is within the
    /// ring's last `capacity` events and some open subscription has not copied it yet.
    struct Model {
        capacity: u64,
        /// Events stored (published with a subscription open), and since the last clear.
        tail: u64,
        since_clear: u64,
        /// Per open subscription: its cursor and the events of its batch in hand.
        subs: Vec<(u64, VecDeque<u64>)>,
    }

    impl Model {
        fn oldest(&self) -> u64 {
            self.tail - self.since_clear.min(self.capacity)
        }

        fn held(&self, seq: u64) -> bool {
            let slowest = self.subs.iter().map(|(cursor, _)| *cursor).min();
            seq >= self.oldest() && seq < self.tail && slowest.is_some_and(|c| seq >= c)
        }

        fn in_hand(&self, seq: u64) -> usize {
            self.subs
                .iter()
                .map(|(_, batch)| batch.iter().filter(|&&s| s == seq).count())
                .sum()
        }

        /// `try_recv` on subscription `k`: what it returns.
        fn recv(&mut self, k: usize) -> Option<u64> {
            let oldest = self.oldest();
            let (cursor, batch) = &mut self.subs[k];
            if let Some(seq) = batch.pop_front() {
                return Some(seq);
            }
            *cursor = (*cursor).max(oldest);
            let end = self.tail.min(*cursor + MAX_BATCH as u64);
            batch.extend(*cursor..end);
            *cursor = end;
            batch.pop_front()
        }
    }

    #[test]
    fn the_ring_holds_exactly_what_an_open_subscription_has_still_to_copy() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for round in 0..200 {
            let capacity = 1 + next(5);
            let bus = EventBus::with_capacity(usize::try_from(capacity).unwrap());
            let mut model = Model {
                capacity,
                tail: 0,
                since_clear: 0,
                subs: Vec::new(),
            };
            let mut subs: Vec<crate::Subscription<Arc<u64>>> = Vec::new();
            let mut events: Vec<Arc<u64>> = Vec::new();
            for step in 0..60 {
                match next(10) {
                    0..=3 => {
                        let event = Arc::new(model.tail);
                        if bus.publish(event.clone()) > 0 {
                            events.push(event);
                            model.tail += 1;
                            model.since_clear += 1;
                        }
                    }
                    4..=7 if !subs.is_empty() => {
                        let k = usize::try_from(next(subs.len() as u64)).unwrap();
                        let got = subs[k].try_recv().map(|event| *event);
                        assert_eq!(got, model.recv(k), "round {round} step {step}: recv {k}");
                    }
                    8 if !subs.is_empty() => {
                        let k = usize::try_from(next(subs.len() as u64)).unwrap();
                        drop(subs.remove(k));
                        model.subs.remove(k);
                        if model.subs.is_empty() {
                            model.since_clear = 0;
                        }
                    }
                    _ if subs.len() < 4 => {
                        subs.push(bus.subscribe::<Arc<u64>>(&format!("s{step}")));
                        model.subs.push((model.tail, VecDeque::new()));
                    }
                    _ => {}
                }
                for (seq, event) in (0_u64..).zip(&events) {
                    let expected = 1 + usize::from(model.held(seq)) + model.in_hand(seq);
                    assert_eq!(
                        Arc::strong_count(event),
                        expected,
                        "round {round} step {step}: copies of event {seq}"
                    );
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_on_other_threads_get_every_event_and_the_ring_keeps_none_after() {
        const EVENTS: u64 = 20_000;
        let bus = EventBus::with_capacity(usize::try_from(EVENTS).unwrap());
        let readers: Vec<_> = (0..4)
            .map(|i| {
                let mut sub = bus.subscribe::<Arc<u64>>(&format!("s{i}"));
                tokio::spawn(async move {
                    for expected in 0..EVENTS {
                        let event = sub.recv().await.expect("the bus is open");
                        assert_eq!(*event, expected, "in order, none lost");
                    }
                    sub
                })
            })
            .collect();
        let events: Vec<Arc<u64>> = (0..EVENTS).map(Arc::new).collect();
        for event in &events {
            assert_eq!(bus.publish(event.clone()), 4);
            if **event % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let mut subs = Vec::new();
        for reader in readers {
            subs.push(reader.await.expect("a reader"));
        }
        assert_eq!(bus.dropped("s0"), 0);
        // Every subscription has read every event (and is still open): the ring keeps none.
        let kept = events.iter().filter(|e| Arc::strong_count(e) > 1).count();
        assert_eq!(
            kept, 0,
            "events the ring still holds after every subscriber read them"
        );
        drop(subs);
    }
}

#[cfg(test)]
mod user_code_tests;
