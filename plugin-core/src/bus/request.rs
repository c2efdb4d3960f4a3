//! Request/reply: the server of each request type, and the requests it receives.
//!
//! A request travels in the server's bounded queue with a oneshot channel for its answer.
//! Dropping the oneshot sender is how "dropped" reaches the requester; that covers a request
//! dropped by the server and a queue dropped with requests in it. A server that is *closed*
//! may still be alive (a disabled plugin keeps its instance, and may keep its [`Requests`] in a
//! field), so its queue is not dropped: each server therefore also has a cancellation token,
//! fired by `close_owner`, that the requester waits on next to the answer. An answer sent
//! before the close wins over it.
//!
//! A server opened through a plugin's `Context` counts, for its plugin, each request it takes
//! from its queue as answered or unanswered ([`ServeCounters`]): every request so taken ends
//! in exactly one of the two, when it is replied to or dropped. A request still queued when
//! the server is dropped is taken then, and so counts as unanswered too.
//!
//! Over 400 lines because request/reply's three types (the request, the responder and the
//! stream of requests) share their documented cancel-safety rules and are kept together.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Finish, for_each_isolated, lock};

/// Why [`EventBus::request`](crate::EventBus::request) got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody serves this request type (no plugin called [`EventBus::serve`](crate::EventBus::serve) for it, or its
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
    /// The request was not sent: the deadline needs tokio's time driver, and the runtime the
    /// request ran on has none (a runtime built without `enable_time()` / `enable_all()`), or
    /// the request did not run on a tokio runtime at all.
    #[error(
        "`{request}` request not sent: the runtime has no time driver, which its deadline \
         needs: build the runtime with `enable_time()` or `enable_all()` (`#[tokio::main]` and \
         `#[tokio::test]` do)"
    )]
    NoTimeDriver {
        /// The request's type name.
        request: &'static str,
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

/// Why [`EventBus::serve`](crate::EventBus::serve) refused to open a server.
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

/// The servers of one bus, by request type.
#[derive(Default)]
pub(super) struct Servers {
    table: Mutex<ServerTable>,
}

#[derive(Default)]
struct ServerTable {
    by_type: HashMap<TypeId, Server>,
    /// The request types each owner opened a server of, so that closing an owner looks at
    /// its own servers only. An entry may be stale (the type served by another owner since):
    /// the server at that key is checked; stale entries are swept when the owner's list
    /// would grow.
    by_owner: HashMap<Arc<str>, Vec<TypeId>>,
}

/// One server as the bus sees it.
struct Server {
    owner: Arc<str>,
    /// An `mpsc::Sender<Request<Q, R>>` for the key's `(Q, R)`.
    sender: Box<dyn Any + Send + Sync>,
    open: Arc<AtomicBool>,
    closed: CancellationToken,
}

impl Server {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) && !self.closed.is_cancelled()
    }
}

impl Servers {
    /// Opens the server of `(Q, R)` for `owner`, unless another one is open.
    pub(super) fn open<Q: Send + 'static, R: Send + 'static>(
        &self,
        owner: &str,
        capacity: usize,
    ) -> Result<Requests<Q, R>, ServeError> {
        let mut guard = lock(&self.table);
        let ServerTable { by_type, by_owner } = &mut *guard;
        let key = TypeId::of::<(Q, R)>();
        if let Some(open) = by_type.get(&key).filter(|s| s.is_open()) {
            return Err(ServeError::AlreadyServed {
                request: type_name::<Q>(),
                owner: open.owner.to_string(),
            });
        }
        let (sender, receiver) = mpsc::channel::<Request<Q, R>>(capacity);
        let open = Arc::new(AtomicBool::new(true));
        let closed = CancellationToken::new();
        let owner: Arc<str> = match by_owner.get_key_value(owner) {
            Some((name, _)) => name.clone(),
            None => owner.into(),
        };
        let keys = by_owner.entry(owner.clone()).or_default();
        if keys.len() == keys.capacity() {
            keys.retain(|key| {
                by_type
                    .get(key)
                    .is_some_and(|s| Arc::ptr_eq(&s.owner, &owner))
            });
        }
        keys.push(key);
        let stale = by_type.insert(
            key,
            Server {
                owner,
                sender: Box::new(sender),
                open: open.clone(),
                closed: closed.clone(),
            },
        );
        // A stale server's sender may be the last: dropped, it wakes its server's task (code
        // the bus does not know), so it goes once the lock is let go.
        drop(guard);
        drop(stale);
        Ok(Requests {
            receiver,
            open,
            closed,
            counters: None,
        })
    }

    /// Sends `query` to the server of `(Q, R)` and waits at most `timeout` for its answer.
    pub(super) async fn ask<Q: Send + 'static, R: Send + 'static>(
        &self,
        query: Q,
        timeout: Duration,
    ) -> Result<R, RequestError> {
        let request = type_name::<Q>();
        if !time_driver_available() {
            return Err(RequestError::NoTimeDriver { request });
        }
        let (reply, mut answer) = oneshot::channel();
        let (server, closed) = self.send(Request {
            payload: query,
            reply,
            tally: Tally::default(),
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

    /// Queues `request` at its server; returns the server's owner and close token.
    fn send<Q: Send + 'static, R: Send + 'static>(
        &self,
        request: Request<Q, R>,
    ) -> Result<(String, CancellationToken), RequestError> {
        let name = type_name::<Q>();
        let mut guard = lock(&self.table);
        let table = &mut guard.by_type;
        let key = TypeId::of::<(Q, R)>();
        let no_server = RequestError::NoServer { request: name };
        let Some(server) = table.get(&key) else {
            return Err(no_server);
        };
        if !server.is_open() {
            // Dropped once the lock is let go, as in `open`.
            let stale = table.remove(&key);
            drop(guard);
            drop(stale);
            return Err(no_server);
        }
        let sender = server
            .sender
            .downcast_ref::<mpsc::Sender<Request<Q, R>>>()
            .expect("a server slot only holds senders of its own type")
            .clone();
        let (owner, closed) = (server.owner.clone(), server.closed.clone());
        // Sent once the table's lock is let go: a send wakes the server's task, and a waker,
        // like a refused question's `Drop`, is code the bus does not know.
        drop(guard);
        match sender.try_send(request) {
            Ok(()) => Ok((owner.to_string(), closed)),
            Err(mpsc::error::TrySendError::Full(_refused)) => Err(RequestError::QueueFull {
                request: name,
                server: owner.to_string(),
            }),
            // Its `Requests` was dropped, which marked it closed: the next request or serve
            // of the type prunes it.
            Err(mpsc::error::TrySendError::Closed(_refused)) => Err(no_server),
        }
    }

    /// Closes the servers of `owner`: their unanswered requests fail with `Dropped`. Returns
    /// what is left to do once the caller holds no lock: telling the requesters, dropping the
    /// senders (both wake tasks).
    pub(super) fn close_owner(&self, owner: &str) -> Vec<Finish> {
        let mut guard = lock(&self.table);
        let ServerTable { by_type, by_owner } = &mut *guard;
        let Some((name, keys)) = by_owner.remove_entry(owner) else {
            return Vec::new();
        };
        let mut closed: Vec<Finish> = Vec::new();
        for key in keys {
            if by_type
                .get(&key)
                .is_some_and(|server| Arc::ptr_eq(&server.owner, &name))
            {
                let server = by_type.remove(&key).expect("just found");
                server.open.store(false, Ordering::Release);
                closed.push(Box::new(move || {
                    // The whole server is moved in (a closure naming one field would take
                    // only that one), so that its sender, too, drops here.
                    let Server { closed, sender, .. } = server;
                    closed.cancel();
                    drop(sender);
                }));
            }
        }
        closed
    }

    /// How many open servers `owner` holds.
    pub(super) fn count_of(&self, owner: &str) -> usize {
        let table = lock(&self.table);
        let Some((name, keys)) = table.by_owner.get_key_value(owner) else {
            return 0;
        };
        keys.iter()
            .filter(|key| {
                table
                    .by_type
                    .get(key)
                    .is_some_and(|s| Arc::ptr_eq(&s.owner, name) && s.is_open())
            })
            .count()
    }

    /// How many request types have a server entry (open or not yet pruned).
    pub(super) fn len(&self) -> usize {
        lock(&self.table).by_type.len()
    }
}

/// Whether the code runs on a tokio runtime with its time driver, which
/// [`tokio::time::timeout`] needs (it panics without): a timer made and dropped at once is the
/// only way tokio offers to find out. Without one, tokio's panic message is printed (by the
/// panic hook) before the request fails with [`RequestError::NoTimeDriver`].
fn time_driver_available() -> bool {
    // Outside a runtime, making a timer panics too ("there is no reactor running").
    std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO))).is_ok()
}

/// The receiving end of a server: yields the requests sent to it.
///
/// Made by [`EventBus::serve`](crate::EventBus::serve). Dropping it closes the server; the requests still queued then
/// fail with [`RequestError::Dropped`].
#[must_use = "the server closes when its `Requests` is dropped"]
pub struct Requests<Q, R> {
    receiver: mpsc::Receiver<Request<Q, R>>,
    open: Arc<AtomicBool>,
    closed: CancellationToken,
    /// Where the requests taken from the queue are counted, for a server a plugin opened.
    counters: Option<Arc<ServeCounters>>,
}

/// The serving side of a plugin's request counters, labelled `plugin="NAME"`:
/// `plugin_requests_served_total` (answered: the reply reached the requester) and
/// `plugin_requests_unanswered_total` (dropped without a reply, given up by the requester
/// before the answer came, whether the server had taken it yet or not, or left in the queue
/// when the server closed).
#[derive(Debug)]
struct ServeCounters {
    served: metrics::Counter,
    unanswered: metrics::Counter,
}

/// How one request taken from a counted server ends: answered or not, counted once.
#[derive(Debug, Default)]
struct Tally {
    counters: Option<Arc<ServeCounters>>,
}

impl Tally {
    fn settle(mut self, answered: bool) {
        if let Some(counters) = self.counters.take() {
            let counter = if answered {
                &counters.served
            } else {
                &counters.unanswered
            };
            counter.increment(1);
        }
    }
}

/// A request dropped before it was replied to was not answered.
impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(counters) = self.counters.take() {
            counters.unanswered.increment(1);
        }
    }
}

impl<Q, R> Requests<Q, R> {
    /// The same server, counting each request it takes as `served` (answered) or
    /// `unanswered` (see [`ServeCounters`]).
    pub(crate) fn counted(
        mut self,
        served: metrics::Counter,
        unanswered: metrics::Counter,
    ) -> Self {
        self.counters = Some(Arc::new(ServeCounters { served, unanswered }));
        self
    }

    /// `request`, just taken from the queue, counted as this server's.
    fn taken(&self, mut request: Request<Q, R>) -> Request<Q, R> {
        request.tally.counters.clone_from(&self.counters);
        request
    }

    /// The next request whose requester still waits, or `None` once the server is closed (its
    /// backlog is then discarded: those requesters got [`RequestError::Dropped`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a request is taken from the queue only when the future returns it, so
    /// dropping the future (e.g. in `tokio::select!`) loses none.
    pub async fn recv(&mut self) -> Option<Request<Q, R>> {
        loop {
            if self.closed.is_cancelled() {
                return None;
            }
            let request = self.receiver.recv().await?;
            let request = self.taken(request);
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
            let request = self.taken(request);
            if request.is_waiting() {
                return Some(request);
            }
        }
    }

    /// Whether the bus still sends requests here.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) && !self.closed.is_cancelled()
    }
}

impl<Q, R> Drop for Requests<Q, R> {
    fn drop(&mut self) {
        // The bus prunes the entry at the next `serve` or `request` of this type. Requests
        // already handed out stay answerable.
        self.open.store(false, Ordering::Release);
        if self.counters.is_some() {
            // The backlog is dropped unanswered: count it now, not when the queue goes, each
            // request even if a question's `Drop` panics.
            self.receiver.close();
            let backlog: Vec<_> = std::iter::from_fn(|| self.receiver.try_recv().ok()).collect();
            for_each_isolated(backlog, |request| drop(self.taken(request)));
        }
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
    tally: Tally,
}

/// The answering half of a [`Request`] whose payload was taken with [`Request::into_parts`]:
/// a request whose question is gone, answered with the same [`reply`](Request::reply).
pub type Responder<R> = Request<(), R>;

impl<Q, R> Request<Q, R> {
    /// The question.
    #[must_use]
    pub fn payload(&self) -> &Q {
        &self.payload
    }

    /// Answers the requester.
    ///
    /// # Errors
    ///
    /// Hands `answer` back when the requester no longer waits (it timed out, or dropped its
    /// future), like tokio's `oneshot::Sender::send`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use plugin_core::EventBus;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = EventBus::new();
    /// let mut requests = bus.serve::<u32, u32>("math")?;
    /// let mut asking = Box::pin(bus.request::<u32, u32>(6, Duration::from_secs(1)));
    /// // Polled once, the request is sent...
    /// tokio::select! { biased; _ = &mut asking => unreachable!(), () = std::future::ready(()) => {} }
    /// let request = requests.try_recv().expect("sent");
    /// // ...then the requester gives up, and the answer comes back.
    /// drop(asking);
    /// assert_eq!(request.reply(36), Err(36));
    /// # Ok::<(), plugin_core::ServeError>(())
    /// # }).unwrap();
    /// ```
    pub fn reply(self, answer: R) -> Result<(), R> {
        let Self { reply, tally, .. } = self;
        // The send wakes the requester once the answer is in: a waker that panics there
        // (code the bus does not know) leaves the request served.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reply.send(answer))) {
            Ok(sent) => {
                tally.settle(sent.is_ok());
                sent
            }
            Err(panic) => {
                tally.settle(true);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Whether the requester still waits for the answer.
    #[must_use]
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
    /// let mut requests = bus.serve::<String, usize>("len")?;
    /// tokio::spawn(async move {
    ///     while let Some(request) = requests.recv().await {
    ///         let (text, responder) = request.into_parts(); // `text` is owned
    ///         let _ = responder.reply(text.len()); // `Err` if the requester gave up
    ///     }
    /// });
    /// let answer = bus.request::<String, usize>("four".to_owned(), Duration::from_secs(1));
    /// assert_eq!(answer.await, Ok(4));
    /// # Ok::<(), plugin_core::ServeError>(())
    /// # }).unwrap();
    /// ```
    pub fn into_parts(self) -> (Q, Responder<R>) {
        let responder = Request {
            payload: (),
            reply: self.reply,
            tally: self.tally,
        };
        (self.payload, responder)
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

#[cfg(test)]
mod user_code_tests;
