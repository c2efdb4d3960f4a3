//! Stdout, written by a thread of its own, so that a stdout nobody reads blocks that thread
//! and never the runtime: a shutdown signal is still heard while output waits.
//!
//! The chat waits for room ([`Output::say`], at most [`BACKLOG`] texts queued), so a reader
//! that falls behind slows the chat down instead of filling memory, and that wait can be
//! cancelled. The few texts of the shutdown go out without waiting ([`Output::say_now`]).
//! At the end, [`Output::finish`] waits a bounded time for the queue to be written.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// How many texts the chat may have queued for stdout before it waits.
pub(crate) const BACKLOG: usize = 256;

/// The stdout writer; see the [module](self).
#[derive(Debug)]
pub(crate) struct Output {
    queue: mpsc::UnboundedSender<(String, bool)>,
    room: Arc<Semaphore>,
    written: oneshot::Receiver<()>,
}

impl Output {
    /// Starts the writer thread.
    pub(crate) fn stdout() -> std::io::Result<Self> {
        let (queue, mut texts) = mpsc::unbounded_channel::<(String, bool)>();
        let room = Arc::new(Semaphore::new(BACKLOG));
        let (done, written) = oneshot::channel();
        let freed = room.clone();
        std::thread::Builder::new()
            .name("stdout".to_owned())
            .spawn(move || {
                let mut out = std::io::stdout();
                while let Some((text, counted)) = texts.blocking_recv() {
                    // A closed stdout (the reader went away) is not worth a panic.
                    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
                    if counted {
                        freed.add_permits(1);
                    }
                }
                let _ = done.send(());
            })?;
        Ok(Self {
            queue,
            room,
            written,
        })
    }

    /// Queues `text` (a newline follows it), waiting while [`BACKLOG`] texts are queued.
    pub(crate) async fn say(&self, text: impl Into<String>) {
        // The semaphore is never closed.
        if let Ok(permit) = self.room.acquire().await {
            permit.forget();
        }
        let _ = self.queue.send((text.into(), true));
    }

    /// Queues `text` without waiting, beyond the backlog: for the few texts of the shutdown.
    pub(crate) fn say_now(&self, text: impl Into<String>) {
        let _ = self.queue.send((text.into(), false));
    }

    /// Closes the queue and waits until everything in it is written, for at most `limit`;
    /// `false` if stdout did not take it all in time.
    pub(crate) async fn finish(self, limit: Duration) -> bool {
        drop(self.queue);
        tokio::time::timeout(limit, self.written).await.is_ok()
    }
}
