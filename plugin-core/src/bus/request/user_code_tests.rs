//! A question's `Drop`, a server's or requester's waker are code the bus does not know: the
//! servers' table runs none of them under its lock, and their panics leave the counts right.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::EventBus;

const LIMIT: Duration = Duration::from_secs(5);

/// A runtime with the time driver a request's deadline needs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A waker that panics at its first wake.
struct Panicking(AtomicUsize);

impl Wake for Panicking {
    fn wake(self: Arc<Self>) {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a waker panicked");
        }
    }
}

fn panicking() -> Waker {
    Waker::from(Arc::new(Panicking(AtomicUsize::new(0))))
}

/// Counters for a counted server: (served, unanswered).
fn counters() -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)))
}

fn counts(counters: &(Arc<AtomicU64>, Arc<AtomicU64>)) -> (u64, u64) {
    (
        counters.0.load(Ordering::SeqCst),
        counters.1.load(Ordering::SeqCst),
    )
}

#[test]
fn a_reply_whose_requesters_waker_panics_is_counted_served() {
    let runtime = runtime();
    let _on = runtime.enter();
    let bus = EventBus::new();
    let counted = counters();
    let mut requests = bus.serve::<u8, u8>("p").unwrap().counted(
        metrics::Counter::from_arc(counted.0.clone()),
        metrics::Counter::from_arc(counted.1.clone()),
    );
    let mut asking = pin!(bus.request::<u8, u8>(1, LIMIT));
    let waker = panicking();
    assert!(
        asking
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let request = requests.try_recv().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| request.reply(7))).is_err());
    let noop = &mut Context::from_waker(Waker::noop());
    assert_eq!(asking.poll(noop), Poll::Ready(Ok(7)));
    assert_eq!(counts(&counted), (1, 0), "delivered, so served");
}

/// A question whose drop panics while `armed`.
struct Bomb(bool);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0 {
            panic!("a question panicked as it was dropped");
        }
    }
}

#[test]
fn a_counted_servers_backlog_is_counted_even_if_a_questions_drop_panics() {
    let runtime = runtime();
    let _on = runtime.enter();
    let bus = EventBus::new();
    let counted = counters();
    let requests = bus.serve::<Bomb, u8>("p").unwrap().counted(
        metrics::Counter::from_arc(counted.0.clone()),
        metrics::Counter::from_arc(counted.1.clone()),
    );
    let noop = &mut Context::from_waker(Waker::noop());
    let mut asks: Vec<_> = [true, false, false]
        .map(|armed| Box::pin(bus.request::<Bomb, u8>(Bomb(armed), LIMIT)))
        .into();
    for ask in &mut asks {
        assert!(ask.as_mut().poll(noop).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| drop(requests))).is_err());
    assert_eq!(
        counts(&counted),
        (0, 3),
        "the whole backlog counted unanswered"
    );
}

/// A waker that asks the bus what an owner holds (which takes the servers' lock).
struct Asking(EventBus, mpsc::Sender<()>);

impl Wake for Asking {
    fn wake(self: Arc<Self>) {
        let _ = self.0.subscriptions_of("anyone");
        let _ = self.1.send(());
    }
}

#[test]
fn a_stale_server_is_dropped_after_the_servers_lock() {
    let (told, woken) = mpsc::channel();
    let guard = std::thread::spawn(move || {
        let bus = EventBus::new();
        let mut requests = bus.serve::<u8, u8>("old").unwrap();
        let waker = Waker::from(Arc::new(Asking(bus.clone(), told)));
        {
            let recv = pin!(requests.recv());
            assert!(recv.poll(&mut Context::from_waker(&waker)).is_pending());
        }
        // As `Requests::drop` marks it closed, before its receiver goes: the window in which
        // another `serve` prunes it, dropping the last sender, which wakes the receiver.
        requests.open.store(false, Ordering::Release);
        let _new = bus.serve::<u8, u8>("new").unwrap();
    });
    woken
        .recv_timeout(Duration::from_secs(60))
        .expect("the server's waker ran and returned: no lock was held");
    guard.join().unwrap();
}
