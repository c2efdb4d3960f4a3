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

use std::time::Duration;

use chat_api::{ChatMessage, Replies};
use plugin_manager::StateChange;
use plugin_manager::host_kit::text::{echo, escape, indented};
use plugin_manager::host_kit::{ConfigWatcher, Host, Reload, operator, report};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::input::{Line, LineReader, MAX_LINE};
use crate::output::Output;

/// Runs the chat until stdin ends (or cannot be read), applying edits of the configuration
/// file as they settle. The caller races it against the shutdown signals.
pub(crate) async fn run(host: &Host, out: &Output, reply_timeout: Duration) {
    let mut changes = host.manager().state_changes();
    // Without a file (or if watching fails) the loop just never hears of edits.
    let mut watcher = match host.watch() {
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
    let mut lines = LineReader::new(tokio::io::BufReader::new(tokio::io::stdin()), MAX_LINE);
    out.say(format!(
        "chat: type `user: text` lines; {} control plugins",
        operator::HELP
    ))
    .await;
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Ok(Some(Line::Text(line))) => {
                    handle_line(host, out, &mut changes, &line, reply_timeout).await;
                }
                Ok(Some(Line::TooLong(bytes))) => {
                    out.say(format!(
                        "(line of {bytes} bytes is over the limit of {MAX_LINE}; ignored)"
                    ))
                    .await;
                }
                Ok(None) => break,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    out.say(format!("stdin: {}", escape(&error.to_string()))).await;
                    break;
                }
            },
            change = changes.recv() => print_change(out, change).await,
            true = edited(watcher.as_mut()) => {
                if let Some(reload) = host.reload_if_changed().await {
                    say_reload(host, out, &reload).await;
                }
            }
        }
        drain_changes(out, &mut changes).await;
    }
}

async fn edited(watcher: Option<&mut ConfigWatcher>) -> bool {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

async fn handle_line(
    host: &Host,
    out: &Output,
    changes: &mut broadcast::Receiver<StateChange>,
    line: &str,
    reply_timeout: Duration,
) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let Some((message, replies)) = ChatMessage::parse(line) else {
        out.say("(ignored: write `user: text`)").await;
        return;
    };
    if let Some((command, args)) = message.command()
        && let Some(command) = operator::Command::from_parts(command, args)
    {
        let answer = command.run(host.manager(), host.config_file()).await;
        // What the command changed, then the confirmation.
        drain_changes(out, changes).await;
        out.say(answer).await;
        return;
    }
    let command = message.command().map(|(name, _)| echo(name));
    host.manager().bus().publish(message);
    if !print_replies(out, replies, reply_timeout).await {
        out.say(match command {
            Some(name) => format!(
                "(no plugin answered `!{name}`: the command is unknown or its plugin is not enabled)"
            ),
            None => "(no plugin answered)".to_owned(),
        })
        .await;
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
                let from = reply.from.as_deref().map_or_else(|| "bot".to_owned(), echo);
                out.say(format!("[{from}] {}", indented(&reply.text))).await;
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

async fn print_change(out: &Output, change: Result<StateChange, RecvError>) {
    match change {
        Ok(change) => out.say(report::change(&change)).await,
        Err(RecvError::Lagged(missed)) => out.say(report::missed(missed)).await,
        Err(RecvError::Closed) => {}
    }
}

/// Prints the changes that are waiting, e.g. those an operation made.
async fn drain_changes(out: &Output, changes: &mut broadcast::Receiver<StateChange>) {
    loop {
        match changes.try_recv() {
            Ok(change) => print_change(out, Ok(change)).await,
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                print_change(out, Err(RecvError::Lagged(missed))).await;
            }
            Err(_) => break,
        }
    }
}

/// `config: PATH changed` and what the reload did.
async fn say_reload(host: &Host, out: &Output, reload: &Reload) {
    if let Some(file) = host.config_file() {
        out.say(format!(
            "config: {} changed",
            escape(&file.path().display().to_string())
        ))
        .await;
    }
    out.say(reload.to_string()).await;
}
