//! Request/reply over the [`EventBus`]: one plugin serves a request type, any code asks and
//! awaits the answer under a deadline.
//!
//! A *request type* is the pair `(Q, R)`: the question and the answer. At most one server
//! holds it at a time: [`EventBus::serve`] refuses a second one while the first is open
//! ([`ServeError::AlreadyServed`]) instead of silently shadowing it (plugins enable
//! concurrently, so "the newest wins" would pick a server by a race). Once the server closes,
//! another one may serve the type.
//!
//! A server is a bus subscription with an owner, like [`Subscription`](crate::Subscription):
//! its queue holds as many requests as a subscription holds events, and
//! [`EventBus::close_owner`] closes it.
//!
//! # How a request ends
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
//!   or panics). Closing fails every request the server has not answered yet, queued or in
//!   hand, without waiting for the deadline;
//! - [`TimedOut`](RequestError::TimedOut) when no answer came within the limit (on tokio's
//!   clock, so tests can pause it).
//!
//! # Concurrency
//!
//! A request travels in the server's bounded queue with a oneshot channel for its answer.
//! Dropping the oneshot sender is how "dropped" reaches the requester; that covers a request
//! dropped by the server and a queue dropped with requests in it. A server that is *closed*
//! may still be alive (a disabled plugin keeps its instance, and may keep its [`Requests`] in a
//! field), so its queue is not dropped: each server therefore also has a cancellation token,
//! fired by `close_owner`, that the requester waits on next to the answer. An answer sent
//! before the close wins over it.

use std::any::{TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, lock};

/// Why [`EventBus::request`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody serves this request type (no plugin called [`EventBus::serve`] for it, or its
    /// server is closed).
    #[error("no server for `{request}` requests")]
    NoServer {
        /// The request's type name.
        request: &'static str,
    },
    /// The server's queue was full; the request was not sent.
    #[error("the request queue of `{server}` is full: `{request}` request not sent")]
    QueueFull {
        /// The request's type name.
        request: &'static str,
        /// The owner of the server.
        server: String,
    },
    /// The server will not answer: it dropped the request, or was closed (disabled, failed,
    /// panicked) before answering.
    #[error("`{server}` dropped the `{request}` request without answering")]
    Dropped {
        /// The request's type name.
        request: &'static str,
        /// The owner of the server.
        server: String,
    },
    /// The asking context is detached ([`Context::detached`](crate::Context::detached)): no
    /// manager runs it, so no other plugin can serve it.
    #[error(
        "plugin `{plugin}` cannot ask for `{request}`: this context is detached (no manager \
         runs it), so no other plugin serves its requests; run the plugin under a manager, \
         e.g. `plugin_manager::testing::TestBed`"
    )]
    Detached {
        /// The request's type name.
        request: &'static str,
        /// The plugin that asked.
        plugin: String,
    },
    /// No answer came within the limit.
    #[error("`{server}` did not answer the `{request}` request within {after:?}")]
    TimedOut {
        /// The request's type name.
        request: &'static str,
        /// The owner of the server.
        server: String,
        /// The limit the caller gave.
        after: Duration,
    },
}

/// Why [`EventBus::serve`] refused to open a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Another server of this request type is open.
    #[error("`{owner}` already serves `{request}` requests")]
    AlreadyServed {
        /// The request's type name.
        request: &'static str,
        /// The owner of the open server.
        owner: String,
    },
}

impl EventBus {
    /// Opens the server of requests `Q` answered with `R`, owned by `owner`.
    ///
    /// Fails if another server of `(Q, R)` is open (see [the module notes](crate::request)).
    /// The server closes when it is dropped or when [`EventBus::close_owner`] closes `owner`.
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
    ///         request.reply(n * n);
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
        let mut servers = lock(&self.servers().table);
        let key = TypeId::of::<(Q, R)>();
        if let Some(open) = servers.get(&key).filter(|s| s.is_open()) {
            return Err(ServeError::AlreadyServed {
                request: type_name::<Q>(),
                owner: open.owner.to_string(),
            });
        }
        let (sender, receiver) = mpsc::channel::<Request<Q, R>>(self.capacity());
        let open = Arc::new(AtomicBool::new(true));
        let closed = CancellationToken::new();
        servers.insert(
            key,
            Server {
                owner: owner.into(),
                sender: Box::new(sender),
                open: open.clone(),
                closed: closed.clone(),
            },
        );
        Ok(Requests {
            receiver,
            open,
            closed,
        })
    }

    /// Sends `query` to the server of `(Q, R)` and waits at most `timeout` for its answer.
    ///
    /// Fails at once if there is no server or its queue is full, as soon as the server drops
    /// the request or is closed, or at the deadline; see [`RequestError`]. The request is sent
    /// when the returned future is first polled; dropping the future withdraws it
    /// ([`Request::is_waiting`] turns false, and [`Requests::recv`] skips it if still queued).
    pub async fn request<Q, R>(&self, query: Q, timeout: Duration) -> Result<R, RequestError>
    where
        Q: Send + 'static,
        R: Send + 'static,
    {
        let request = type_name::<Q>();
        let (reply, mut answer) = oneshot::channel();
        let (server, closed) = self.servers().send(Request {
            payload: query,
            reply,
        })?;
        let mut on_close = pin!(closed.cancelled());
        let outcome = poll_fn(|cx| {
            if let Poll::Ready(result) = Pin::new(&mut answer).poll(cx) {
                return Poll::Ready(result.ok());
            }
            if on_close.as_mut().poll(cx).is_ready() {
                // An answer sent just before the close still counts.
                return Poll::Ready(answer.try_recv().ok());
            }
            Poll::Pending
        });
        match tokio::time::timeout(timeout, outcome).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(RequestError::Dropped { request, server }),
            Err(_elapsed) => Err(RequestError::TimedOut {
                request,
                server,
                after: timeout,
            }),
        }
    }
}

/// The servers of one bus, by request type.
#[derive(Default)]
pub(crate) struct ServerTable {
    table: std::sync::Mutex<HashMap<TypeId, Server>>,
}

/// One server as the bus sees it.
struct Server {
    owner: Arc<str>,
    /// An `mpsc::Sender<Request<Q, R>>` for the key's `(Q, R)`.
    sender: Box<dyn std::any::Any + Send + Sync>,
    open: Arc<AtomicBool>,
    closed: CancellationToken,
}

impl Server {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) && !self.closed.is_cancelled()
    }
}

impl ServerTable {
    /// Queues `request` at its server; returns the server's owner and close token.
    fn send<Q: Send + 'static, R: Send + 'static>(
        &self,
        request: Request<Q, R>,
    ) -> Result<(String, CancellationToken), RequestError> {
        let name = type_name::<Q>();
        let mut table = lock(&self.table);
        let key = TypeId::of::<(Q, R)>();
        let no_server = RequestError::NoServer { request: name };
        let Some(server) = table.get(&key) else {
            return Err(no_server);
        };
        if !server.is_open() {
            table.remove(&key);
            return Err(no_server);
        }
        let sender = server
            .sender
            .downcast_ref::<mpsc::Sender<Request<Q, R>>>()
            .expect("a server slot only holds senders of its own type");
        match sender.try_send(request) {
            Ok(()) => Ok((server.owner.to_string(), server.closed.clone())),
            Err(mpsc::error::TrySendError::Full(_)) => Err(RequestError::QueueFull {
                request: name,
                server: server.owner.to_string(),
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                table.remove(&key);
                Err(no_server)
            }
        }
    }

    /// Closes the servers of `owner`: their unanswered requests fail with `Dropped`.
    pub(crate) fn close_owner(&self, owner: &str) {
        lock(&self.table).retain(|_, server| {
            if &*server.owner == owner {
                server.open.store(false, Ordering::Release);
                server.closed.cancel();
                false
            } else {
                true
            }
        });
    }

    /// How many open servers `owner` holds.
    pub(crate) fn count_of(&self, owner: &str) -> usize {
        lock(&self.table)
            .values()
            .filter(|server| &*server.owner == owner && server.is_open())
            .count()
    }

    /// How many request types have a server entry (open or not yet pruned).
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).len()
    }
}

/// The receiving end of a server: yields the requests sent to it.
///
/// Made by [`EventBus::serve`]. Dropping it closes the server; the requests still queued then
/// fail with [`RequestError::Dropped`].
pub struct Requests<Q, R> {
    receiver: mpsc::Receiver<Request<Q, R>>,
    open: Arc<AtomicBool>,
    closed: CancellationToken,
}

impl<Q, R> Requests<Q, R> {
    /// The next request whose requester still waits, or `None` once the server is closed (its
    /// backlog is then discarded: those requesters got [`RequestError::Dropped`]).
    pub async fn recv(&mut self) -> Option<Request<Q, R>> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            let request = self.receiver.recv().await?;
            if self.closed.is_cancelled() {
                return None;
            }
            if request.is_waiting() {
                return Some(request);
            }
        }
    }

    /// The next request whose requester still waits, if one is queued now.
    pub fn try_recv(&mut self) -> Option<Request<Q, R>> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            let request = self.receiver.try_recv().ok()?;
            if request.is_waiting() {
                return Some(request);
            }
        }
    }

    /// Whether the bus still sends requests here.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) && !self.closed.is_cancelled()
    }
}

impl<Q, R> Drop for Requests<Q, R> {
    fn drop(&mut self) {
        // The bus prunes the entry at the next `serve` or `request` of this type. Requests
        // already handed out stay answerable.
        self.open.store(false, Ordering::Release);
    }
}

impl<Q, R> fmt::Debug for Requests<Q, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requests")
            .field("request", &type_name::<Q>())
            .field("reply", &type_name::<R>())
            .field("open", &self.is_open())
            .finish()
    }
}

/// One request: the question, and the means to answer it once.
///
/// Dropping it unanswered fails the requester with [`RequestError::Dropped`] at once.
pub struct Request<Q, R> {
    payload: Q,
    reply: oneshot::Sender<R>,
}

impl<Q, R> Request<Q, R> {
    /// The question.
    pub fn payload(&self) -> &Q {
        &self.payload
    }

    /// Answers; returns whether the requester was still waiting (it may have timed out).
    pub fn reply(self, answer: R) -> bool {
        self.reply.send(answer).is_ok()
    }

    /// Whether the requester still waits for the answer.
    pub fn is_waiting(&self) -> bool {
        !self.reply.is_closed()
    }

    /// The question, taken out, and the means to answer it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use plugin_core::EventBus;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = EventBus::new();
    /// let mut requests = bus.serve::<String, usize>("len").unwrap();
    /// tokio::spawn(async move {
    ///     while let Some(request) = requests.recv().await {
    ///         let (text, responder) = request.into_parts(); // `text` is owned
    ///         responder.reply(text.len());
    ///     }
    /// });
    /// let answer = bus.request::<String, usize>("four".to_owned(), Duration::from_secs(1));
    /// assert_eq!(answer.await, Ok(4));
    /// # });
    /// ```
    pub fn into_parts(self) -> (Q, Responder<R>) {
        (self.payload, Responder { reply: self.reply })
    }
}

impl<Q, R> fmt::Debug for Request<Q, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("request", &type_name::<Q>())
            .field("reply", &type_name::<R>())
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// The answering half of a [`Request`] whose payload was taken with [`Request::into_parts`].
pub struct Responder<R> {
    reply: oneshot::Sender<R>,
}

impl<R> Responder<R> {
    /// Answers; returns whether the requester was still waiting (it may have timed out).
    pub fn reply(self, answer: R) -> bool {
        self.reply.send(answer).is_ok()
    }

    /// Whether the requester still waits for the answer.
    pub fn is_waiting(&self) -> bool {
        !self.reply.is_closed()
    }
}

impl<R> fmt::Debug for Responder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("reply", &type_name::<R>())
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(request.reply(20));
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
        requests.try_recv().unwrap().reply(7);
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
}
