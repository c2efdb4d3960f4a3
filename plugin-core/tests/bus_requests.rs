//! Request/reply over the bus: answers, refusals, drops, closes and deadlines, through the
//! public API only.

use std::any::type_name;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use plugin_core::{EventBus, RequestError, ServeError};

#[derive(Debug, PartialEq)]
struct Ask(u32);

const LIMIT: Duration = Duration::from_secs(5);

fn request_name() -> &'static str {
    type_name::<Ask>()
}

#[tokio::test]
async fn answered() {
    let bus = EventBus::new();
    let mut requests = bus.serve::<Ask, u32>("s").unwrap();
    let asking = bus.request::<Ask, u32>(Ask(2), LIMIT);
    let mut asking = pin!(asking);
    // The first poll queues the request.
    assert!(futures_poll(asking.as_mut()).is_pending());
    let request = requests.try_recv().unwrap();
    assert_eq!(request.payload(), &Ask(2));
    assert_eq!(request.reply(20), Ok(()));
    assert_eq!(asking.await, Ok(20));
}

#[tokio::test]
async fn no_server_and_a_second_server_is_refused() {
    let bus = EventBus::new();
    assert_eq!(
        bus.request::<Ask, u32>(Ask(1), LIMIT).await,
        Err(RequestError::NoServer {
            request: request_name()
        })
    );
    let first = bus.serve::<Ask, u32>("a").unwrap();
    assert_eq!(
        bus.serve::<Ask, u32>("b").unwrap_err(),
        ServeError::AlreadyServed {
            request: request_name(),
            owner: "a".into()
        }
    );
    // Another answer type is another request type.
    let _other = bus.serve::<Ask, String>("b").unwrap();
    drop(first);
    let _second = bus.serve::<Ask, u32>("b").unwrap();
    assert_eq!(bus.subscriptions_of("b"), 2);
}

#[tokio::test]
async fn a_dropped_request_fails_at_once() {
    let bus = EventBus::new();
    let mut requests = bus.serve::<Ask, u32>("s").unwrap();
    let mut asking = pin!(bus.request::<Ask, u32>(Ask(1), LIMIT));
    assert!(futures_poll(asking.as_mut()).is_pending());
    drop(requests.try_recv().unwrap());
    assert_eq!(
        asking.await,
        Err(RequestError::Dropped {
            request: request_name(),
            server: "s".into()
        })
    );
}

#[tokio::test]
async fn closing_the_owner_fails_queued_requests_and_closes_the_server() {
    let bus = EventBus::new();
    let mut requests = bus.serve::<Ask, u32>("s").unwrap();
    let mut asking = pin!(bus.request::<Ask, u32>(Ask(1), LIMIT));
    assert!(futures_poll(asking.as_mut()).is_pending());
    bus.close_owner("s");
    // The queue is still alive (held here), yet the requester is told now.
    assert!(matches!(asking.await, Err(RequestError::Dropped { .. })));
    assert!(!requests.is_open());
    assert!(requests.recv().await.is_none());
    assert_eq!(bus.subscriptions_of("s"), 0);
}

#[tokio::test]
async fn an_answer_given_before_the_close_still_arrives() {
    let bus = EventBus::new();
    let mut requests = bus.serve::<Ask, u32>("s").unwrap();
    let mut asking = pin!(bus.request::<Ask, u32>(Ask(1), LIMIT));
    assert!(futures_poll(asking.as_mut()).is_pending());
    assert_eq!(requests.try_recv().unwrap().reply(7), Ok(()));
    bus.close_owner("s");
    assert_eq!(asking.await, Ok(7));
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let bus = EventBus::with_capacity(1);
    let _requests = bus.serve::<Ask, u32>("s").unwrap();
    let mut first = pin!(bus.request::<Ask, u32>(Ask(1), LIMIT));
    assert!(futures_poll(first.as_mut()).is_pending());
    assert_eq!(
        bus.request::<Ask, u32>(Ask(2), LIMIT).await,
        Err(RequestError::QueueFull {
            request: request_name(),
            server: "s".into()
        })
    );
    assert_eq!(
        bus.dropped("s"),
        0,
        "the caller was told; nothing dropped silently"
    );
}

#[tokio::test]
async fn times_out_and_the_server_skips_the_abandoned_request() {
    let bus = EventBus::new();
    let mut requests = bus.serve::<Ask, u32>("s").unwrap();
    // A zero limit expires at the first poll: no clock needed (the manager's tests time a
    // real limit on the paused clock).
    assert_eq!(
        bus.request::<Ask, u32>(Ask(1), Duration::ZERO).await,
        Err(RequestError::TimedOut {
            request: request_name(),
            server: "s".into(),
            after: Duration::ZERO
        })
    );
    assert!(
        requests.try_recv().is_none(),
        "nobody waits for it any more"
    );
}

/// Polls `future` once with a no-op waker.
fn futures_poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// A question whose drop asks the bus what its server holds, as user code may.
struct AsksOnDrop(Option<EventBus>);

impl Drop for AsksOnDrop {
    fn drop(&mut self) {
        if let Some(bus) = self.0.take() {
            assert_eq!(bus.subscriptions_of("s"), 1, "the server it was refused by");
        }
    }
}

#[test]
fn a_refused_question_drops_with_no_lock_of_the_bus_held() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            // A queue of one request, taken by the first.
            let bus = EventBus::with_capacity(1);
            let _requests = bus.serve::<AsksOnDrop, ()>("s").unwrap();
            let mut first = pin!(bus.request::<AsksOnDrop, ()>(AsksOnDrop(None), LIMIT));
            assert!(futures_poll(first.as_mut()).is_pending());
            let nosy = AsksOnDrop(Some(bus.clone()));
            let refused = bus.request::<AsksOnDrop, ()>(nosy, LIMIT).await;
            assert!(matches!(refused, Err(RequestError::QueueFull { .. })));
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the refusal returned: the question dropped with no lock held");
}
