//! The replies to one message: a queue that the message's copies answer into and the host
//! reads, which ends once the message (the last of its copies, which share the sender) is gone.
//!
//! One allocation per message, and none per reply beyond the queue's growth: the host makes a
//! message for every line it reads, and a tokio `mpsc` channel made two there, one of them a
//! block of 32 reply slots (about 1,500 instructions a message, a tenth of a line's work).
//! Nothing but the queue, two flags and the host's waker is kept under the lock; a waker is
//! woken, and a replaced one dropped, only after the lock is let go (a waker's drop may run
//! code that reaches the queue again).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Reply;

/// The queue of one message, shared by its copies and the host's [`Replies`].
struct Queue {
    state: Mutex<State>,
}

struct State {
    replies: VecDeque<Reply>,
    /// Set while the [`ReplySender`] (the message) is alive.
    open: bool,
    /// Set once the host let go of its [`Replies`]: replies are dropped, not kept.
    closed: bool,
    /// The host's task waiting in [`Replies::next`], if any.
    waker: Option<Waker>,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // Only plain data is changed under the lock, so a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a message answers with; its copies share it, and it goes with the last of them.
pub(crate) struct ReplySender {
    queue: Arc<Queue>,
}

/// A new queue: the message's end and the host's.
pub(crate) fn queue() -> (ReplySender, Replies) {
    let queue = Arc::new(Queue {
        state: Mutex::new(State {
            replies: VecDeque::new(),
            open: true,
            closed: false,
            waker: None,
        }),
    });
    (
        ReplySender {
            queue: queue.clone(),
        },
        Replies { queue },
    )
}

impl ReplySender {
    /// Queues `reply` and wakes the host; drops it if the host stopped listening.
    pub(crate) fn send(&self, reply: Reply) {
        let mut state = self.queue.state();
        if state.closed {
            drop(state);
            drop(reply);
            return;
        }
        state.replies.push_back(reply);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for ReplySender {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.open = false;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The replies to one message; ends once every copy of the message is gone.
pub struct Replies {
    queue: Arc<Queue>,
}

impl Replies {
    /// The next reply, or `None` when the message is fully handled: every copy of it is gone
    /// and every reply was read.
    ///
    /// Cancel-safe: a reply is taken only by the call that returns it.
    pub async fn next(&mut self) -> Option<Reply> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Reply>> {
        let mut state = self.queue.state();
        if let Some(reply) = state.replies.pop_front() {
            return Poll::Ready(Some(reply));
        }
        if !state.open {
            return Poll::Ready(None);
        }
        // A stale waker (the future moved to another task) is dropped once the lock is let
        // go: its drop may run code that reaches this queue (drop the message, say).
        let stale = match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => None,
            waker => waker.replace(cx.waker().clone()),
        };
        drop(state);
        drop(stale);
        Poll::Pending
    }
}

impl Drop for Replies {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.closed = true;
        let unread = std::mem::take(&mut state.replies);
        let waker = state.waker.take();
        drop(state);
        drop((unread, waker));
    }
}

impl fmt::Debug for Replies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.queue.state();
        f.debug_struct("Replies")
            .field("queued", &state.replies.len())
            .field("open", &state.open)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    fn reply(text: &str) -> Reply {
        Reply {
            from: None,
            text: text.to_owned(),
        }
    }

    /// A waker that counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    #[test]
    fn replies_come_in_order_and_end_once_the_sender_is_gone() {
        let (sender, mut replies) = queue();
        let (counter, waker) = counting();
        let wakes = || counter.0.load(Ordering::SeqCst);
        let mut cx = Context::from_waker(&waker);
        sender.send(reply("a"));
        sender.send(reply("b"));
        assert_eq!(wakes(), 0, "nobody waited");
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("a"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("b"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Pending);
        sender.send(reply("c"));
        assert_eq!(wakes(), 1, "woken by the reply");
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("c"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Pending);
        drop(sender);
        assert_eq!(wakes(), 2, "woken by the sender going");
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn replies_sent_before_the_sender_went_are_read_before_the_end() {
        let (sender, mut replies) = queue();
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        sender.send(reply("last words"));
        drop(sender);
        assert_eq!(
            replies.poll_next(&mut cx),
            Poll::Ready(Some(reply("last words")))
        );
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(None));
    }

    /// A waker that holds the message's sender: dropping the waker drops the message.
    struct HoldsSender {
        _sender: ReplySender,
    }

    impl Wake for HoldsSender {
        fn wake(self: Arc<Self>) {}
    }

    /// The host's future polled by one task, then by another: the first task's waker, which
    /// the queue holds, is replaced, and its drop (the message going, here) takes the queue's
    /// lock. Runs on a thread of its own, so that a deadlock fails the test instead of
    /// hanging it.
    #[test]
    fn a_stale_waker_is_dropped_outside_the_lock() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (sender, mut replies) = queue();
            let first = Waker::from(Arc::new(HoldsSender { _sender: sender }));
            assert_eq!(
                replies.poll_next(&mut Context::from_waker(&first)),
                Poll::Pending
            );
            drop(first); // the queue's clone is the last: it holds the sender
            let polled = replies.poll_next(&mut Context::from_waker(Waker::noop()));
            let _ = done.send(polled);
        });
        let polled = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("no deadlock: the stale waker is dropped once the lock is let go");
        assert_eq!(
            polled,
            Poll::Pending,
            "the message went after this poll looked"
        );
    }

    #[test]
    fn replies_after_the_host_let_go_are_dropped() {
        let (sender, replies) = queue();
        sender.send(reply("kept until the host lets go"));
        drop(replies);
        sender.send(reply("dropped"));
        assert!(sender.queue.state().replies.is_empty());
    }
}
