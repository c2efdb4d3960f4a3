//! The bot's chat loop: reads `user: text` lines, answers operator commands itself (through
//! the host kit) and hands everything else to the plugins as a [`ChatMessage`] event, then
//! prints their replies.
//!
//! A line is fully handled once every copy of its message is gone (see `chat-api`), so the
//! replies to a line are printed before the next line is read, without guessing how many
//! will come; a plugin that keeps a message too long is cut off by `--reply-timeout`.
//!
//! Every chat line gets an answer or a stated reason: the plugins' replies, an operator
//! command's answer, `(no plugin answered ...)`, `(ignored: ...)` for a line that is not
//! chat, or the note that a line over [`MAX_LINE`] was dropped. The state changes an
//! operator command caused are printed before its answer (`* dice: enabled -> disabled`,
//! then `ok: dice disabled`).
//!
//! Whatever came from the chat or a plugin is escaped and shortened before it is printed
//! (see `host_kit::text`).
//!
//! The loop runs as a task of the runtime, not in the future that [`run`]'s caller polls
//! (in the binary, `block_on`'s future on the main thread): a line then costs no park and
//! unpark of the main thread, since the plugin tasks the message wakes and the replies that
//! wake the loop stay on the runtime's workers (2-4x the lines per second, see
//! docs/benchmarks.md). What drives the plugins' lifecycles (operator commands, reloads) is
//! sent back to [`run`] and done there, in order, while the loop waits for it: a lifecycle
//! deadline is watched from outside the workers, so a constructor that blocks a worker is cut
//! off as before. Dropping [`run`] (the shutdown signal) aborts the loop's task.
//!
//! One thing a worker task cannot do that the main thread could: be polled while the worker
//! that last woke it is blocked (tokio does not steal a worker's most recently woken task).
//! A plugin that answers and then blocks its thread for good can so hold the chat until
//! the worker returns, instead of being cut off by `--reply-timeout`; signals, lifecycle
//! deadlines and the shutdown are not affected. A plugin that hangs without blocking its
//! thread (the `hang` of the chaos plugin) is cut off as before.

use std::borrow::Cow;
use std::time::Duration;

use chat_api::{ChatMessage, Replies, Reply};
use plugin_manager::host_kit::text::{echo, escape, indented};
use plugin_manager::host_kit::{ConfigWatcher, Host, Reload, operator, report};
use plugin_manager::{StateChange, StateChanges, StateChangesError};
use tokio::sync::{mpsc, oneshot};

use crate::input::{Line, LineReader, MAX_LINE};
use crate::output::Output;

/// Runs the chat until stdin ends (or cannot be read), applying edits of the configuration
/// file as they settle. The caller races it against the shutdown signals; when it is dropped,
/// so is the chat's task.
pub(crate) async fn run(host: &Host, out: &Output, reply_timeout: Duration) {
    let changes = host.manager().state_changes();
    // Without a file (or if watching fails) the loop just never hears of edits.
    let watcher = match host.watch() {
        Ok(watcher) => watcher,
        Err(error) => {
            out.say(format!(
                "config: {}; use !reload-config after editing",
                escape(&error.to_string())
            ))
            .await;
            None
        }
    };
    let (requests, mut jobs) = mpsc::channel(1);
    let chat = Chat {
        publish: {
            let bus = host.manager().bus().clone();
            Box::new(move |message| {
                bus.publish(message);
            })
        },
        out: out.clone(),
        changes,
        requests,
        reply_timeout,
        config_path: host
            .config_file()
            .map(|file| escape(&file.path().display().to_string()).into_owned()),
    };
    let lines = LineReader::new(tokio::io::BufReader::new(tokio::io::stdin()), MAX_LINE);
    out.say(format!(
        "chat: type `user: text` lines; {} control plugins",
        operator::HELP
    ))
    .await;
    let mut task = Aborted(tokio::spawn(chat.run(lines, watcher)));
    // The plugins' lifecycles are driven from here, never from the chat's task.
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Command {
                command,
                args,
                answer,
            } => {
                if let Some(command) = operator::Command::from_parts(&command, &args) {
                    let _ = answer.send(command.run(host.manager(), host.config_file()).await);
                }
            }
            Job::Reload { done } => {
                let _ = done.send(host.reload_if_changed().await);
            }
        }
    }
    // The jobs end with the chat's task: a panic there is one here.
    if let Err(error) = (&mut task.0).await
        && let Ok(panic) = error.try_into_panic()
    {
        std::panic::resume_unwind(panic);
    }
}

/// What the chat's task asks of the caller of [`run`]: the work that drives plugins' lifecycles.
#[derive(Debug)]
enum Job {
    /// Runs an operator command (by its parts, as `operator::Command::from_parts` takes them).
    Command {
        command: String,
        args: String,
        answer: oneshot::Sender<String>,
    },
    /// Reloads the configuration file if it changed.
    Reload {
        done: oneshot::Sender<Option<Reload>>,
    },
}

/// Aborts the task when dropped: when the signal wins over [`run`].
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The chat loop, run as a task of its own (see the module).
struct Chat {
    /// Publishes a message on the plugins' bus.
    publish: Box<dyn Fn(ChatMessage) + Send + Sync>,
    out: Output,
    changes: StateChanges,
    requests: mpsc::Sender<Job>,
    reply_timeout: Duration,
    /// The configuration file's path, escaped, if there is a file.
    config_path: Option<String>,
}

impl Chat {
    async fn run(
        mut self,
        mut lines: LineReader<tokio::io::BufReader<tokio::io::Stdin>>,
        mut watcher: Option<ConfigWatcher>,
    ) {
        loop {
            tokio::select! {
                line = lines.next() => match line {
                    Ok(Some(Line::Text(line))) => {
                        if !self.handle_line(&line).await {
                            break;
                        }
                    }
                    Ok(Some(Line::TooLong(bytes))) => {
                        self.out.say(format!(
                            "(line of {bytes} bytes is over the limit of {MAX_LINE}; ignored)"
                        ))
                        .await;
                    }
                    Ok(None) => break,
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        self.out.say(format!("stdin: {}", escape(&error.to_string()))).await;
                        break;
                    }
                },
                change = self.changes.recv() => print_change(&self.out, change).await,
                true = edited(watcher.as_mut()) => {
                    let (done, reloaded) = oneshot::channel();
                    if self.requests.send(Job::Reload { done }).await.is_err() {
                        break;
                    }
                    match reloaded.await {
                        Ok(Some(reload)) => self.say_reload(&reload).await,
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            }
            drain_changes(&self.out, &mut self.changes).await;
        }
    }

    /// Handles one line; `false` if the caller of [`run`] is gone.
    async fn handle_line(&mut self, line: &str) -> bool {
        let out = &self.out;
        let line = line.trim();
        if line.is_empty() {
            return true;
        }
        let Some((message, replies)) = ChatMessage::parse(line) else {
            out.say("(ignored: write `user: text`)").await;
            return true;
        };
        if let Some((command, args)) = message.command()
            && operator::Command::from_parts(command, args).is_some()
        {
            let (answer, answered) = oneshot::channel();
            let job = Job::Command {
                command: command.to_owned(),
                args: args.to_owned(),
                answer,
            };
            if self.requests.send(job).await.is_err() {
                return false;
            }
            let Ok(answer) = answered.await else {
                return false;
            };
            // What the command changed, then the confirmation.
            drain_changes(out, &mut self.changes).await;
            out.say(answer).await;
            return true;
        }
        let command = message.command().map(|(name, _)| echo(name).into_owned());
        (self.publish)(message);
        if !print_replies(out, replies, self.reply_timeout).await {
            out.say(match command {
                Some(name) => format!(
                    "(no plugin answered `!{name}`: the command is unknown or its plugin is not enabled)"
                ),
                None => "(no plugin answered)".to_owned(),
            })
            .await;
        }
        true
    }

    /// `config: PATH changed` and what the reload did.
    async fn say_reload(&self, reload: &Reload) {
        if let Some(path) = &self.config_path {
            self.out.say(format!("config: {path} changed")).await;
        }
        self.out.say(reload.to_string()).await;
    }
}

async fn edited(watcher: Option<&mut ConfigWatcher>) -> bool {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

/// Prints the replies as they come, until the message is handled or `limit` has passed;
/// whether there was any reply (or a timeout, which it says).
///
/// One timer for the whole line, not one per reply: each timer the line waits on is an
/// entry in the runtime's timer wheel, taken under its lock and removed again.
async fn print_replies(out: &Output, mut replies: Replies, limit: Duration) -> bool {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut answered = false;
    loop {
        // Replies first: one that is there counts even if the deadline has passed too.
        let reply = tokio::select! {
            biased;
            reply = replies.next() => Ok(reply),
            () = &mut deadline => Err(()),
        };
        match reply {
            Ok(Some(reply)) => {
                out.say(reply_line(&reply)).await;
                answered = true;
            }
            Ok(None) => return answered,
            Err(()) => {
                out.say("(some plugins did not finish answering in time)")
                    .await;
                return true;
            }
        }
    }
}

/// `[plugin] text` for `reply`, both parts made safe to print (`[bot]` for a reply from no
/// plugin): put together in one string, a line at a time, without `format!`'s machinery.
fn reply_line(reply: &Reply) -> String {
    let from = reply.from.as_deref().map_or(Cow::Borrowed("bot"), echo);
    let text = indented(&reply.text);
    let mut line = String::with_capacity(from.len() + text.len() + 3);
    line.push('[');
    line.push_str(&from);
    line.push_str("] ");
    line.push_str(&text);
    line
}

async fn print_change(out: &Output, change: Result<StateChange, StateChangesError>) {
    match change {
        Ok(change) => out.say(report::change(&change)).await,
        Err(StateChangesError::Lagged { missed }) => out.say(report::missed(missed)).await,
        Err(_closed) => {}
    }
}

/// Prints the changes that are waiting, e.g. those an operation made.
async fn drain_changes(out: &Output, changes: &mut StateChanges) {
    loop {
        match changes.try_recv() {
            Ok(Some(change)) => print_change(out, Ok(change)).await,
            Ok(None) | Err(StateChangesError::Closed) => break,
            Err(lagged) => print_change(out, Err(lagged)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(from: Option<&str>, text: &str) -> Reply {
        Reply {
            from: from.map(str::to_owned),
            text: text.to_owned(),
        }
    }

    #[test]
    fn a_reply_line_names_its_plugin_and_keeps_each_line_of_text_apart() {
        assert_eq!(
            reply_line(&reply(Some("dice"), "rolled 7\nlucky")),
            "[dice] rolled 7\n  lucky"
        );
        assert_eq!(reply_line(&reply(None, "hi")), "[bot] hi");
    }

    #[test]
    fn a_reply_line_prints_nothing_as_is_that_could_forge_a_line() {
        assert_eq!(
            reply_line(&reply(Some("x\n* dice"), "a\r\u{1b}[2J")),
            "[x\\n* dice] a\\r\\u{1b}[2J"
        );
        let long = "y".repeat(plugin_manager::host_kit::text::MAX_ECHO_CHARS + 1);
        let note = format!("… ({} bytes)] ", long.len());
        assert!(reply_line(&reply(Some(&long), "")).contains(&note));
    }
}
