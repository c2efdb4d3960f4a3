//! Stdout, written by a thread of its own, so that a stdout nobody reads blocks that thread
//! and never the runtime: a shutdown signal is still heard while output waits.
//!
//! The chat waits for room ([`Output::say`], at most [`BACKLOG`] texts queued), so a reader
//! that falls behind slows the chat down instead of filling memory, and that wait can be
//! cancelled. The few texts of the shutdown go out without waiting ([`Output::say_now`]).
//! At the end, [`Output::finish`] waits a bounded time for the queue to be written.
//!
//! The writer takes every text that is queued when it wakes (up to [`BATCH`] bytes), in
//! order, and hands them to stdout in one write and one flush; a text counts against the
//! backlog until the write that carries it returned. So a chat that outpaces stdout costs
//! one system call per batch rather than one per text, and a chat that does not still has
//! each text on stdout as soon as the writer is free, not held back for company.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// How many texts the chat may have queued for stdout before it waits.
pub(crate) const BACKLOG: usize = 256;

/// The most bytes the writer gathers before it writes them (a longer text is written whole).
pub(crate) const BATCH: usize = 64 * 1024;

/// A handle on the stdout writer (clones share it); see the [module](self).
#[derive(Debug, Clone)]
pub(crate) struct Output {
    queue: mpsc::UnboundedSender<Item>,
    room: Arc<Semaphore>,
}

/// Resolves once the writer wrote everything queued before [`Output::finish`].
#[derive(Debug)]
pub(crate) struct Written(oneshot::Receiver<()>);

#[derive(Debug)]
enum Item {
    /// A text, and whether it counts against the backlog.
    Text(String, bool),
    /// The end: the writer writes what came before and stops.
    End,
}

impl Output {
    /// Starts the writer thread on stdout.
    pub(crate) fn stdout() -> std::io::Result<(Self, Written)> {
        Self::new(std::io::stdout())
    }

    /// Starts the writer thread on `sink`.
    pub(crate) fn new(mut sink: impl Write + Send + 'static) -> std::io::Result<(Self, Written)> {
        let (queue, mut texts) = mpsc::unbounded_channel::<Item>();
        let room = Arc::new(Semaphore::new(BACKLOG));
        let (done, written) = oneshot::channel();
        let freed = room.clone();
        std::thread::Builder::new()
            .name("stdout".to_owned())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let mut ended = false;
                while let Some(first) = texts.blocking_recv() {
                    let mut counted = 0;
                    let mut next = Some(first);
                    while let Some(item) = next.take() {
                        let Item::Text(text, is_counted) = item else {
                            ended = true;
                            break;
                        };
                        batch.extend_from_slice(text.as_bytes());
                        batch.push(b'\n');
                        counted += usize::from(is_counted);
                        if batch.len() < BATCH {
                            next = texts.try_recv().ok();
                        }
                    }
                    // A closed stdout (the reader went away) is not worth a panic.
                    if !batch.is_empty() {
                        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
                    }
                    batch.clear();
                    if batch.capacity() > BATCH {
                        batch.shrink_to(BATCH);
                    }
                    freed.add_permits(counted);
                    if ended {
                        break;
                    }
                }
                let _ = done.send(());
            })?;
        Ok((Self { queue, room }, Written(written)))
    }

    /// Queues `text` (a newline follows it), waiting while [`BACKLOG`] texts are queued.
    pub(crate) async fn say(&self, text: impl Into<String>) {
        // The semaphore is never closed.
        if let Ok(permit) = self.room.acquire().await {
            permit.forget();
        }
        let _ = self.queue.send(Item::Text(text.into(), true));
    }

    /// Queues `text` without waiting, beyond the backlog: for the few texts of the shutdown.
    pub(crate) fn say_now(&self, text: impl Into<String>) {
        let _ = self.queue.send(Item::Text(text.into(), false));
    }

    /// Ends the output (texts queued after this, through any clone, are not written) and
    /// waits until everything before it is written, for at most `limit`; `false` if stdout
    /// did not take it all in time.
    pub(crate) async fn finish(self, written: Written, limit: Duration) -> bool {
        let _ = self.queue.send(Item::End);
        tokio::time::timeout(limit, written.0).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;
    use std::pin::pin;
    use std::sync::{Mutex, PoisonError, mpsc as std_mpsc};
    use std::task::{Context, Waker};

    use super::*;

    /// A sink that records each write and flush, and whose first write waits for a go-ahead
    /// (after saying that it started), so that a test can queue texts while stdout is busy.
    struct Held {
        log: Arc<Mutex<Vec<Event>>>,
        started: Option<std_mpsc::Sender<()>>,
        go: Option<std_mpsc::Receiver<()>>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        Write(String),
        Flush,
    }

    impl Write for Held {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let (Some(started), Some(go)) = (self.started.take(), self.go.take()) {
                let _ = started.send(());
                let _ = go.recv();
            }
            let text = String::from_utf8(bytes.to_vec()).expect("UTF-8");
            self.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Event::Write(text));
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Event::Flush);
            Ok(())
        }
    }

    /// An output on a held sink, with the sink's log and the channels that hold and release
    /// its first write.
    struct Rig {
        out: Output,
        written: Written,
        log: Arc<Mutex<Vec<Event>>>,
        started: std_mpsc::Receiver<()>,
        release: std_mpsc::Sender<()>,
    }

    fn held() -> Rig {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (started, has_started) = std_mpsc::channel();
        let (release, go) = std_mpsc::channel();
        let sink = Held {
            log: log.clone(),
            started: Some(started),
            go: Some(go),
        };
        let (out, written) = Output::new(sink).expect("the writer thread starts");
        Rig {
            out,
            written,
            log,
            started: has_started,
            release,
        }
    }

    /// Whether `future` is pending when polled once (outside tokio's cooperative budget, so
    /// that only the future itself decides).
    fn pending_once(future: impl std::future::Future) -> bool {
        let mut future = pin!(tokio::task::unconstrained(future));
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    }

    #[tokio::test]
    async fn texts_queued_while_stdout_is_busy_go_out_together_in_order() {
        let Rig {
            out,
            written,
            log,
            started,
            release,
        } = held();
        out.say("first").await;
        started.recv().expect("the writer takes the first text");
        for n in 0..100 {
            out.say(format!("line {n}")).await;
        }
        out.say_now("last");
        release.send(()).expect("the writer waits");
        assert!(out.finish(written, Duration::from_secs(600)).await);

        let log = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let rest: String = std::iter::once(String::new())
            .chain((0..100).map(|n| format!("line {n}\n")))
            .chain(["last\n".to_owned()])
            .collect();
        // The first text alone (it was all there was), then everything queued meanwhile in
        // one write; a flush after each write.
        assert_eq!(
            log,
            [
                Event::Write("first\n".to_owned()),
                Event::Flush,
                Event::Write(rest),
                Event::Flush
            ]
        );
    }

    #[tokio::test]
    async fn the_backlog_counts_texts_until_their_write_returned() {
        let Rig {
            out,
            written,
            log,
            started,
            release,
        } = held();
        out.say("first").await;
        started.recv().expect("the writer takes the first text");
        // The first text is being written: it still counts, so BACKLOG - 1 more fit.
        for n in 1..BACKLOG {
            assert!(!pending_once(out.say(format!("{n}"))), "text {n} waited");
        }
        assert!(pending_once(out.say("one too many")), "the backlog is full");
        // Texts of the shutdown do not wait.
        out.say_now("shutting down");
        release.send(()).expect("the writer waits");
        assert!(out.finish(written, Duration::from_secs(600)).await);

        let written: String = log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|event| match event {
                Event::Write(text) => Some(text.as_str()),
                Event::Flush => None,
            })
            .collect();
        let expected: String = std::iter::once("first\n".to_owned())
            .chain((1..BACKLOG).map(|n| format!("{n}\n")))
            .chain(["shutting down\n".to_owned()])
            .collect();
        assert_eq!(written, expected, "the text that waited was never queued");
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_size_and_the_rest_follows() {
        let Rig {
            out,
            written,
            log,
            started,
            release,
        } = held();
        out.say("first").await;
        started.recv().expect("the writer takes the first text");
        let big = "x".repeat(BATCH / 4);
        for _ in 0..8 {
            out.say(big.clone()).await;
        }
        release.send(()).expect("the writer waits");
        assert!(out.finish(written, Duration::from_secs(600)).await);

        let log = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let writes: Vec<&String> = log
            .iter()
            .filter_map(|event| match event {
                Event::Write(text) => Some(text),
                Event::Flush => None,
            })
            .collect();
        // "first", then 8 quarter-batches (each with its newline) in batches of at most
        // BATCH bytes plus the text that crossed the limit.
        assert_eq!(writes[0], "first\n");
        assert_eq!(writes.len(), 1 + 2, "{:?}", writes.iter().map(|w| w.len()));
        for write in &writes[1..] {
            assert_eq!(write.len(), 4 * (big.len() + 1));
        }
    }

    #[tokio::test]
    async fn finish_ends_the_output_while_clones_live_on() {
        let Rig {
            out,
            written,
            log,
            started,
            release,
        } = held();
        let clone = out.clone();
        clone.say("from the clone").await;
        started.recv().expect("the writer takes the first text");
        out.say_now("last");
        release.send(()).expect("the writer waits");
        // The clone still holds the queue open; the end comes through it all the same.
        assert!(out.finish(written, Duration::from_secs(600)).await);
        clone.say_now("too late");
        clone.say("too late as well").await;
        let log = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(
            log,
            [
                Event::Write("from the clone\n".to_owned()),
                Event::Flush,
                Event::Write("last\n".to_owned()),
                Event::Flush
            ]
        );
    }
}
