//! `EventBus::close_owner` closes exactly what that owner holds, through its own record.

use std::time::Duration;

use plugin_core::{EventBus, RequestError};

#[derive(Clone, Debug, PartialEq)]
struct Ping(u32);

#[derive(Clone, Debug, PartialEq)]
struct Pong(u32);

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn closing_an_owner_closes_its_subscriptions_and_servers_only() {
    let bus = EventBus::with_capacity(8);
    let mut a_ping1 = bus.subscribe::<Ping>("a");
    let mut a_ping2 = bus.subscribe::<Ping>("a");
    let mut a_pong = bus.subscribe::<Pong>("a");
    let a_serves = bus.serve::<u32, u32>("a").unwrap();
    let mut b_ping = bus.subscribe::<Ping>("b");
    let mut b_pong = bus.subscribe::<Pong>("b");
    let mut b_serves = bus.serve::<u64, u64>("b").unwrap();
    // An owner whose name starts like another's is another owner.
    let mut ab_ping = bus.subscribe::<Ping>("ab");
    assert_eq!(bus.subscriptions_of("a"), 4);
    assert_eq!(bus.subscriptions_of("b"), 3);

    bus.publish(Ping(1));
    bus.close_owner("a");

    assert_eq!(bus.subscriptions_of("a"), 0);
    assert_eq!(bus.subscriptions_of("b"), 3);
    assert_eq!(bus.subscriptions_of("ab"), 1);
    for sub in [&a_ping1, &a_ping2] {
        assert!(!sub.is_open());
    }
    assert!(!a_pong.is_open());
    assert!(!a_serves.is_open());
    assert_eq!(a_ping1.recv().await, None, "the backlog is discarded");
    assert_eq!(a_ping2.try_recv(), None);
    assert_eq!(a_pong.recv().await, None);

    assert_eq!(bus.publish(Ping(2)), 2, "b and ab");
    assert_eq!(bus.publish(Pong(3)), 1, "b");
    assert_eq!(b_ping.recv().await, Some(Ping(1)));
    assert_eq!(b_ping.recv().await, Some(Ping(2)));
    assert_eq!(ab_ping.recv().await, Some(Ping(1)));
    assert_eq!(b_pong.recv().await, Some(Pong(3)));

    assert_eq!(
        bus.request::<u32, u32>(1, LIMIT).await,
        Err(RequestError::NoServer {
            request: std::any::type_name::<u32>()
        })
    );
    let asking = tokio::spawn({
        let bus = bus.clone();
        async move { bus.request::<u64, u64>(2, LIMIT).await }
    });
    let request = b_serves.recv().await.expect("b still serves");
    request.reply(4).unwrap();
    assert_eq!(asking.await.unwrap(), Ok(4));

    // The owner may subscribe and serve again; closing it again closes the new ones only.
    let mut again = bus.subscribe::<Ping>("a");
    let _serves_again = bus.serve::<u32, u32>("a").unwrap();
    assert_eq!(bus.subscriptions_of("a"), 2);
    assert_eq!(bus.publish(Ping(5)), 3);
    assert_eq!(again.recv().await, Some(Ping(5)));
    bus.close_owner("a");
    assert_eq!(again.recv().await, None);
    assert_eq!(bus.subscriptions_of("a"), 0);
    assert_eq!(bus.subscriptions_of("b"), 3);
}

#[tokio::test]
async fn a_waiting_receiver_wakes_with_none_when_its_owner_closes() {
    let bus = EventBus::new();
    let mut sub = bus.subscribe::<Ping>("a");
    let waiting = tokio::spawn(async move { sub.recv().await });
    tokio::task::yield_now().await;
    bus.close_owner("a");
    assert_eq!(waiting.await.unwrap(), None);
}

#[tokio::test]
async fn a_waiting_receiver_ends_when_the_bus_is_dropped() {
    let bus = EventBus::new();
    let mut sub = bus.subscribe::<Ping>("a");
    bus.publish(Ping(1));
    drop(bus);
    assert_eq!(
        sub.recv().await,
        Some(Ping(1)),
        "what was queued is still delivered"
    );
    assert_eq!(sub.recv().await, None);
}

#[tokio::test]
async fn drop_counts_outlive_the_close_and_dropped_subscriptions_leave_the_record() {
    let bus = EventBus::with_capacity(1);
    let _full = bus.subscribe::<Ping>("a");
    bus.publish(Ping(1));
    bus.publish(Ping(2));
    assert_eq!(bus.dropped("a"), 1);
    // Many subscriptions dropped at once do not pile up in the owner's record.
    for _ in 0..100 {
        drop(bus.subscribe::<Pong>("a"));
    }
    assert_eq!(bus.subscriptions_of("a"), 1);
    bus.close_owner("a");
    assert_eq!(bus.dropped("a"), 1);
    assert_eq!(bus.subscriptions_of("a"), 0);
}

#[tokio::test]
async fn events_taken_in_hand_cannot_be_lost_and_the_unread_rest_is_bounded() {
    let bus = EventBus::with_capacity(3);
    let mut sub = bus.subscribe::<Ping>("a");
    for i in 0..3 {
        assert_eq!(bus.publish(Ping(i)), 1);
    }
    // The first recv copies all three out of the ring: the two still in hand are its own.
    assert_eq!(sub.recv().await, Some(Ping(0)));
    for i in 3..6 {
        assert_eq!(bus.publish(Ping(i)), 1, "a publish always stores");
    }
    assert_eq!(bus.dropped("a"), 0, "1 and 2 in hand, 3 to 5 in the ring");
    for i in 1..6 {
        assert_eq!(sub.recv().await, Some(Ping(i)));
    }
    // Unread, only the newest 3 are kept: 6 and 7 are dropped, counted before any read.
    for i in 6..11 {
        bus.publish(Ping(i));
    }
    assert_eq!(bus.dropped("a"), 2);
    for i in 8..11 {
        assert_eq!(sub.recv().await, Some(Ping(i)));
    }
    assert_eq!(sub.try_recv(), None);
    assert_eq!(bus.dropped("a"), 2);
}

/// An event whose drop asks the bus for an owner's drop count, as user code may.
#[derive(Clone)]
struct AsksOnDrop(EventBus);

impl Drop for AsksOnDrop {
    fn drop(&mut self) {
        assert_eq!(self.0.dropped("someone else"), 0);
    }
}

#[test]
fn an_event_discarded_as_its_owner_closes_drops_with_no_lock_of_the_bus_held() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let bus = EventBus::new();
        let subscription = bus.subscribe::<AsksOnDrop>("p");
        bus.publish(AsksOnDrop(bus.clone()));
        // The ring's only copy, unread, is discarded here, and its drop asks the bus.
        bus.close_owner("p");
        assert!(!subscription.is_open());
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("close_owner returned: it held no lock as the event dropped");
}

/// An event whose drop panics while `armed` is set, once.
#[derive(Clone)]
struct Bomb(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0.swap(false, std::sync::atomic::Ordering::Relaxed) {
            panic!("a bomb went off as it was dropped");
        }
    }
}

#[test]
fn a_panic_in_a_discarded_events_drop_leaves_none_of_the_owners_subscriptions_open() {
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bus = EventBus::new();
    let bombs = bus.subscribe::<Bomb>("p");
    let mut pings = bus.subscribe::<Ping>("p");
    bus.publish(Bomb(armed.clone()));
    bus.publish(Ping(1));
    armed.store(true, std::sync::atomic::Ordering::Relaxed);
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bus.close_owner("p")));
    assert!(closed.is_err(), "the discarded bomb's drop panicked");
    assert!(
        !bombs.is_open() && !pings.is_open(),
        "both closed before any drop ran"
    );
    assert_eq!(
        bus.publish(Ping(2)),
        0,
        "nobody subscribes to pings any more"
    );
    assert_eq!(pings.try_recv(), None);
    assert_eq!(
        bus.dropped("p"),
        0,
        "discarded as it closed, not dropped for it"
    );
}
