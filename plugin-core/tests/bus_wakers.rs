//! A waiting receiver's waker is code the bus does not know: the bus wakes it with no lock
//! held, wakes every other receiver even if one waker panics, and keeps its records whole.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use plugin_core::EventBus;

#[derive(Clone, Debug, PartialEq)]
struct Ping(u32);
#[derive(Clone, Debug, PartialEq)]
struct Other;

fn within_a_minute(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the body finished: no lock was held as a waker ran");
}

/// Parks `sub`'s `recv` with `waker` (the future is dropped; the waker stays parked).
fn park(sub: &mut plugin_core::Subscription<Ping>, waker: &Waker) {
    let recv = pin!(sub.recv());
    assert!(recv.poll(&mut Context::from_waker(waker)).is_pending());
}

struct Subscribing(EventBus);
impl Wake for Subscribing {
    fn wake(self: Arc<Self>) {
        drop(self.0.subscribe::<Other>("someone"));
    }
}

/// `close_owner` wakes each receiver once the owners' lock is let go.
#[test]
fn a_waker_woken_as_its_owner_closes_may_subscribe() {
    within_a_minute(|| {
        let bus = EventBus::new();
        let mut sub = bus.subscribe::<Ping>("a");
        park(&mut sub, &Waker::from(Arc::new(Subscribing(bus.clone()))));
        bus.close_owner("a"); // the waker subscribes: it takes the owners' lock
    });
}

struct Panicking;
impl Wake for Panicking {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}
struct Counting(AtomicUsize);
impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that panics as its owner closes: the owner's other subscriptions are closed too.
#[test]
fn a_panicking_waker_leaves_none_of_its_owners_subscriptions_open() {
    let bus = EventBus::new();
    let mut first = bus.subscribe::<Ping>("a");
    let mut second = bus.subscribe::<Ping>("a");
    park(&mut first, &Waker::from(Arc::new(Panicking)));
    let closed = catch_unwind(AssertUnwindSafe(|| bus.close_owner("a")));
    assert!(closed.is_err());
    assert!(!first.is_open());
    assert_eq!(bus.subscriptions_of("a"), 0);
    assert!(!second.is_open(), "closed with the rest of a's record");
    let _ = second.try_recv();
}

/// A waker that panics in a publish: the other parked receivers are woken all the same (they
/// are no longer parked, so a wake-up lost there would be lost for good).
#[test]
fn a_panicking_waker_loses_no_other_receivers_wake_up() {
    let bus = EventBus::new();
    let mut first = bus.subscribe::<Ping>("a");
    let mut second = bus.subscribe::<Ping>("b");
    let wakes = Arc::new(Counting(AtomicUsize::new(0)));
    park(&mut first, &Waker::from(Arc::new(Panicking)));
    park(&mut second, &Waker::from(wakes.clone()));
    assert!(catch_unwind(AssertUnwindSafe(|| bus.publish(Ping(1)))).is_err());
    bus.publish(Ping(2));
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "second was woken by the first publish"
    );
    let _ = (first.try_recv(), second.try_recv());
}

/// A publish from a thread-local's destructor, once the bus's own thread-locals are gone.
#[test]
fn a_publish_from_a_thread_locals_destructor_wakes_the_parked() {
    type Held = (
        EventBus,
        plugin_core::Subscription<Ping>,
        mpsc::Sender<bool>,
    );
    struct OnExit(Option<Held>);
    impl Drop for OnExit {
        fn drop(&mut self) {
            if let Some((bus, sub, told)) = self.0.take() {
                let ok = catch_unwind(AssertUnwindSafe(|| bus.publish(Ping(2)))).is_ok();
                drop(sub);
                let _ = told.send(ok);
            }
        }
    }
    thread_local! {
        static ON_EXIT: std::cell::RefCell<OnExit> = const { std::cell::RefCell::new(OnExit(None)) };
    }
    let (told, ok) = mpsc::channel();
    std::thread::spawn(move || {
        let bus = EventBus::new();
        let mut sub = bus.subscribe::<Ping>("a");
        let waker = Waker::from(Arc::new(Counting(AtomicUsize::new(0))));
        ON_EXIT.with(|_| {}); // registered first, so destroyed after WAKING
        park(&mut sub, &waker);
        bus.publish(Ping(1)); // first use of WAKING on this thread
        assert_eq!(sub.try_recv(), Some(Ping(1)));
        park(&mut sub, &waker);
        ON_EXIT.with(|slot| slot.borrow_mut().0 = Some((bus, sub, told)));
    })
    .join()
    .unwrap();
    assert!(
        ok.recv().unwrap(),
        "publish panicked in a thread-local destructor"
    );
}

struct Serving(EventBus);
impl Wake for Serving {
    fn wake(self: Arc<Self>) {
        drop(self.0.serve::<Other, ()>("someone"));
    }
}

/// Closing an owner tells its servers (waking a server's waiting `recv`) once the servers'
/// lock is let go.
#[test]
fn a_servers_waker_woken_as_its_owner_closes_may_serve() {
    within_a_minute(|| {
        let bus = EventBus::new();
        let mut requests = bus.serve::<Ping, ()>("a").unwrap();
        let waker = Waker::from(Arc::new(Serving(bus.clone())));
        {
            let recv = pin!(requests.recv());
            assert!(recv.poll(&mut Context::from_waker(&waker)).is_pending());
        }
        bus.close_owner("a");
    });
}

struct Asking(EventBus);
impl Wake for Asking {
    fn wake(self: Arc<Self>) {
        assert_eq!(self.0.subscriptions_of("a"), 1, "its server");
    }
}

/// A request wakes the server's waiting `recv` once the servers' lock is let go.
#[test]
fn a_servers_waker_woken_by_a_request_may_use_the_bus() {
    within_a_minute(|| {
        let bus = EventBus::new();
        let mut requests = bus.serve::<Ping, ()>("a").unwrap();
        let waker = Waker::from(Arc::new(Asking(bus.clone())));
        {
            let recv = pin!(requests.recv());
            assert!(recv.poll(&mut Context::from_waker(&waker)).is_pending());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // A request needs the time driver, for its deadline.
        let _on = runtime.enter();
        let asking = pin!(bus.request::<Ping, ()>(Ping(1), Duration::from_secs(5)));
        let noop = Waker::noop();
        assert!(asking.poll(&mut Context::from_waker(noop)).is_pending());
        assert_eq!(
            requests.try_recv().map(|r| r.payload().clone()),
            Some(Ping(1))
        );
    });
}

/// A runtime with the time driver a request's deadline needs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Polls `future` once with `waker`.
fn poll_with<F: Future>(
    future: std::pin::Pin<&mut F>,
    waker: &Waker,
) -> std::task::Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// A requester's waker that panics as its server's owner closes: the owner's subscriptions
/// are closed all the same.
#[test]
fn a_panicking_requesters_waker_leaves_none_of_the_owners_subscriptions_open() {
    let runtime = runtime();
    let _on = runtime.enter();
    let bus = EventBus::new();
    let _requests = bus.serve::<u8, u8>("p").unwrap();
    let subscription = bus.subscribe::<Ping>("p");
    let mut asking = pin!(bus.request::<u8, u8>(1, Duration::from_secs(5)));
    assert!(poll_with(asking.as_mut(), &Waker::from(Arc::new(Panicking))).is_pending());
    let closed = catch_unwind(AssertUnwindSafe(|| bus.close_owner("p")));
    assert!(closed.is_err(), "the requester's waker panicked");
    assert!(!subscription.is_open());
    assert_eq!(bus.subscriptions_of("p"), 0);
}

/// Counts its wakes, and panics at each.
struct CountingPanics(AtomicUsize);
impl Wake for CountingPanics {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a waker panics");
    }
}

/// Dropping the bus ends every topic: a waker that panics there leaves the others woken.
#[test]
fn a_panicking_waker_as_the_bus_drops_leaves_every_other_receiver_woken() {
    let bus = EventBus::new();
    let mut pings = bus.subscribe::<Ping>("a");
    let mut others = bus.subscribe::<Other>("b");
    // Both panic: whichever topic ends first, the other's receiver must be woken too.
    let wakes = Arc::new(CountingPanics(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    park(&mut pings, &waker);
    {
        let recv = pin!(others.recv());
        assert!(poll_with(recv, &waker).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| drop(bus))).is_err());
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        2,
        "both receivers were woken"
    );
    assert_eq!(others.try_recv(), None);
}
