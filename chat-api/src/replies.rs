//! The replies to one message: a queue that every copy of the message answers into and the
//! host reads, which ends once every copy is gone.
//!
//! One allocation per message, and none per reply beyond the queue's growth: the host makes a
//! message for every line it reads, and a tokio `mpsc` channel made two there, one of them a
//! block of 32 reply slots (about 1,500 instructions a message, a tenth of a line's work).
//! Copies are counted as they are cloned and dropped; nothing but the queue, the count and
//! the host's waker is kept under the lock, and the waker is woken after it is let go.

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
    /// Copies of the message alive (each holds a [`ReplySender`]).
    senders: usize,
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

/// What a copy of a message answers with; counted as copies are made and dropped.
pub(crate) struct ReplySender {
    queue: Arc<Queue>,
}

/// A new queue: the sender for the first copy of the message, and the host's end.
pub(crate) fn queue() -> (ReplySender, Replies) {
    let queue = Arc::new(Queue {
        state: Mutex::new(State {
            replies: VecDeque::new(),
            senders: 1,
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

impl Clone for ReplySender {
    fn clone(&self) -> Self {
        self.queue.state().senders += 1;
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl Drop for ReplySender {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.senders -= 1;
        let waker = (state.senders == 0).then(|| state.waker.take()).flatten();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for ReplySender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplySender").finish_non_exhaustive()
    }
}

/// The replies to one message; ends once every copy of the message is gone.
pub struct Replies {
    queue: Arc<Queue>,
}

impl Replies {
    /// The next reply, or `None` when the message is fully handled: every copy is gone and
    /// every reply was read.
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
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
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
            .field("copies", &state.senders)
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
    fn replies_come_in_order_and_end_once_every_copy_is_gone() {
        let (first, mut replies) = queue();
        let second = first.clone();
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        first.send(reply("a"));
        second.send(reply("b"));
        drop(first);
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("a"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("b"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Pending, "a copy is alive");
        drop(second);
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_waiting_host_is_woken_by_a_reply_and_by_the_last_copy_going() {
        let (sender, mut replies) = queue();
        let copy = sender.clone();
        let (counter, waker) = counting();
        let wakes = || counter.0.load(Ordering::SeqCst);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(replies.poll_next(&mut cx), Poll::Pending);
        sender.send(reply("a"));
        assert_eq!(wakes(), 1, "woken by the reply");
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(Some(reply("a"))));
        assert_eq!(replies.poll_next(&mut cx), Poll::Pending);
        drop(sender);
        assert_eq!(wakes(), 1, "a copy is left: no wake-up");
        drop(copy);
        assert_eq!(wakes(), 2, "woken by the last copy going");
        assert_eq!(replies.poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn replies_after_the_host_let_go_are_dropped() {
        let (sender, replies) = queue();
        sender.send(reply("kept until the host lets go"));
        drop(replies);
        sender.send(reply("dropped"));
        assert!(sender.queue.state().replies.is_empty());
    }

    #[tokio::test]
    async fn a_host_task_reads_replies_sent_from_other_tasks() {
        let (sender, mut replies) = queue();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let sender = sender.clone();
                tokio::spawn(async move { sender.send(reply(&i.to_string())) })
            })
            .collect();
        drop(sender);
        let mut texts = Vec::new();
        while let Some(reply) = replies.next().await {
            texts.push(reply.text);
        }
        for task in tasks {
            task.await.expect("a sending task");
        }
        texts.sort();
        assert_eq!(texts, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    }
}
