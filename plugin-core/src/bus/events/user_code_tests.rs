//! An event's `Drop` and `Clone`, and a waiting receiver's waker, are code the bus does not
//! know: the ring runs `Drop` and wakers with no lock held, so that they may panic, publish or
//! subscribe, and stays consistent when `Clone` or `Drop` panics.

use std::any::TypeId;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use super::{Stamped, Taken};
use crate::EventBus;
use crate::bus::write;

/// An event whose drop panics while `armed` is set, once.
#[derive(Clone)]
struct Fragile {
    id: Arc<u64>,
    armed: Arc<AtomicBool>,
}

impl Drop for Fragile {
    fn drop(&mut self) {
        if self.armed.swap(false, Ordering::Relaxed) {
            panic!("event {} panicked as it was dropped", self.id);
        }
    }
}

#[test]
fn a_panic_in_an_events_drop_leaves_the_ring_releasing_later_events() {
    let armed = Arc::new(AtomicBool::new(false));
    let fragile = |id| Fragile {
        id: Arc::new(id),
        armed: armed.clone(),
    };
    let bus = EventBus::with_capacity(8);
    let mut first = bus.subscribe::<Fragile>("first");
    let mut last = bus.subscribe::<Fragile>("last");
    bus.publish(fragile(0));
    drop(first.try_recv());
    armed.store(true, Ordering::Relaxed);
    // The last to copy event 0 lets the ring's copy go, and that drop panics.
    let copied = catch_unwind(AssertUnwindSafe(|| last.try_recv().map(|e| *e.id)));
    assert!(copied.is_err(), "the ring's copy of event 0 panicked");
    assert!(!armed.load(Ordering::Relaxed), "one panic only");
    for id in 1..20 {
        let event = fragile(id);
        let counted = event.id.clone();
        bus.publish(event);
        for subscription in [&mut first, &mut last] {
            let got = subscription.try_recv().map(|event| *event.id);
            // `last` still holds event 0 in hand from the batch the panic cut short.
            if got == Some(0) {
                assert_eq!(subscription.try_recv().map(|e| *e.id), Some(id));
            } else {
                assert_eq!(got, Some(id));
            }
        }
        assert_eq!(
            Arc::strong_count(&counted),
            1,
            "event {id}: both subscriptions copied and dropped it, the ring let it go"
        );
    }
}

/// An event whose drop publishes another of its type, on the same bus.
#[derive(Clone)]
struct Echo {
    bus: Option<EventBus>,
    echoes: Arc<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.take() {
            bus.publish(Echo {
                bus: None,
                echoes: self.echoes.clone(),
            });
        }
    }
}

/// Runs `body` on its own thread; a deadlock fails the test instead of hanging it.
fn within_a_minute(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the body finished: no lock was held while an event was dropped");
}

#[test]
fn an_events_drop_may_publish_on_its_own_topic_wherever_the_ring_lets_it_go() {
    within_a_minute(|| {
        let bus = EventBus::with_capacity(1);
        let echoes = Arc::new(());
        let echo = || Echo {
            bus: Some(bus.clone()),
            echoes: echoes.clone(),
        };
        // Published with no subscription: the event is dropped at once.
        assert_eq!(bus.publish(echo()), 0);
        let mut reader = bus.subscribe::<Echo>("reader");
        let mut other = bus.subscribe::<Echo>("other");
        // Overwritten unread in a ring of one.
        bus.publish(echo());
        bus.publish(echo());
        // Let go once both copied it (the copies hold no bus: they drop quietly).
        let copies: Vec<Echo> = [&mut reader, &mut other]
            .into_iter()
            .filter_map(|subscription| subscription.try_recv())
            .map(|mut copy| {
                copy.bus = None;
                copy
            })
            .collect();
        assert_eq!(copies.len(), 2);
        // Discarded as the last subscription closes.
        bus.publish(echo());
        drop(other);
        drop(reader);
        drop(copies);
        // Every event made was dropped: only `echoes` itself is left.
        drop(bus);
        assert_eq!(Arc::strong_count(&echoes), 1);
    });
}

/// An event whose `Clone` panics for the event numbered as `panics_at` says, once.
struct Flaky {
    number: u64,
    panics_at: Arc<AtomicU64>,
    /// Counts the copies alive.
    alive: Arc<()>,
}

impl Flaky {
    fn new(number: u64, panics_at: &Arc<AtomicU64>) -> Self {
        Self {
            number,
            panics_at: panics_at.clone(),
            alive: Arc::new(()),
        }
    }
}

impl Clone for Flaky {
    fn clone(&self) -> Self {
        let (on, off) = (Ordering::Relaxed, Ordering::Relaxed);
        if self
            .panics_at
            .compare_exchange(self.number, u64::MAX, on, off)
            .is_ok()
        {
            panic!("event {} panicked as it was cloned", self.number);
        }
        Self {
            number: self.number,
            panics_at: self.panics_at.clone(),
            alive: self.alive.clone(),
        }
    }
}

/// The numbers `subscription` reads until it finds nothing.
fn numbers(subscription: &mut crate::Subscription<Flaky>) -> Vec<u64> {
    std::iter::from_fn(|| subscription.try_recv().map(|event| event.number)).collect()
}

#[test]
fn a_panic_in_an_events_clone_delivers_every_event_once() {
    let panics_at = Arc::new(AtomicU64::new(u64::MAX));
    let bus = EventBus::new();
    let mut subscription = bus.subscribe::<Flaky>("reader");
    for number in 0..3 {
        bus.publish(Flaky::new(number, &panics_at));
    }
    panics_at.store(1, Ordering::Relaxed);
    let read = catch_unwind(AssertUnwindSafe(|| subscription.try_recv()));
    assert!(read.is_err(), "the clone of event 1 panicked");
    // Event 0, cloned before the panic, is still delivered; none comes twice.
    assert_eq!(numbers(&mut subscription), [0, 1, 2]);
}

#[test]
fn a_panic_in_the_clone_of_a_lapped_subscription_leaves_the_ring_releasing() {
    let panics_at = Arc::new(AtomicU64::new(u64::MAX));
    let bus = EventBus::with_capacity(2);
    let mut lapped = bus.subscribe::<Flaky>("lapped");
    let mut other = bus.subscribe::<Flaky>("other");
    let events: Vec<Flaky> = (0..4).map(|n| Flaky::new(n, &panics_at)).collect();
    let alive: Vec<Arc<()>> = events.iter().map(|event| event.alive.clone()).collect();
    for event in events {
        bus.publish(event);
    }
    // Both are lapped (a ring of 2, 4 events); the first copy after the lap panics.
    panics_at.store(2, Ordering::Relaxed);
    let read = catch_unwind(AssertUnwindSafe(|| lapped.try_recv()));
    assert!(read.is_err(), "the clone of event 2 panicked");
    assert_eq!(numbers(&mut lapped), [2, 3]);
    assert_eq!(numbers(&mut other), [2, 3]);
    let held: Vec<usize> = alive.iter().map(Arc::strong_count).collect();
    assert_eq!(
        held,
        [1, 1, 1, 1],
        "both read every event held: the ring keeps no copy"
    );
}

/// A waker that counts its wakes.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_panic_in_an_events_drop_as_its_subscription_closes_loses_no_wake_up() {
    let armed = Arc::new(AtomicBool::new(false));
    let bus = EventBus::new();
    let mut subscription = bus.subscribe::<Fragile>("p");
    let wakes = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    assert!(
        matches!(subscription.take(Some(&waker)), Taken::Empty),
        "parked"
    );
    // A publish races the close, replayed by hand: the event is stored under the write lock,
    // the close discards it (its drop panics) before the publish wakes anyone.
    let topic = bus.inner.topics.topic::<Fragile>();
    let event = Fragile {
        id: Arc::new(0),
        armed: armed.clone(),
    };
    let overwritten = write(&topic.ring).push(
        topic.capacity,
        Stamped {
            sender: None,
            event,
        },
    );
    assert!(overwritten.is_none());
    armed.store(true, Ordering::Relaxed);
    let closed = catch_unwind(AssertUnwindSafe(|| bus.close_owner("p")));
    assert!(closed.is_err(), "the discarded event's drop panicked");
    topic.wake_parked(); // the publish's wake: nobody is parked any more
    assert_eq!(
        wakes.0.load(Ordering::Relaxed),
        1,
        "the closed receiver was woken"
    );
    assert!(subscription.try_recv().is_none());
}

/// Marks a type for [`a_waker_may_subscribe_to_a_new_type_of_the_same_shard`].
#[derive(Clone)]
struct Kind<const K: usize>;

#[derive(Clone)]
struct Ping;

/// A waker that subscribes to `subscribe`'s type on `bus`.
struct Subscribing {
    bus: EventBus,
    subscribe: fn(&EventBus),
}

impl Wake for Subscribing {
    fn wake(self: Arc<Self>) {
        (self.subscribe)(&self.bus);
    }
}

/// A type of the shard `Ping` is in, other than `Ping`: its subscription (a new topic) takes
/// that shard's write lock.
fn a_type_of_pings_shard(bus: &EventBus) -> fn(&EventBus) {
    let shard: *const super::Shard = bus.inner.topics.shard(TypeId::of::<Ping>());
    macro_rules! row {
        ($row:literal: $($k:literal)*) => {$(
            let found = bus.inner.topics.shard(TypeId::of::<Kind<{ $row * 16 + $k }>>());
            if std::ptr::eq(found, shard) {
                return |bus| drop(bus.subscribe::<Kind<{ $row * 16 + $k }>>("waker"));
            }
        )*};
    }
    macro_rules! rows {
        ($($row:literal)*) => {$( row!($row: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15); )*};
    }
    rows!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    panic!(
        "none of 256 types shares Ping's shard (of {})",
        super::SHARDS
    )
}

#[test]
fn a_waker_may_subscribe_to_a_new_type_of_the_same_shard() {
    within_a_minute(|| {
        let bus = EventBus::new();
        let subscribe = a_type_of_pings_shard(&bus);
        let waker = Waker::from(Arc::new(Subscribing {
            bus: bus.clone(),
            subscribe,
        }));
        let mut subscription = bus.subscribe::<Ping>("p");
        let mut recv = pin!(subscription.recv());
        let parked = recv.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(parked.is_pending());
        // Returns: the waker's subscription took the shard's write lock as it woke.
        assert_eq!(bus.publish(Ping), 1);
    });
}
