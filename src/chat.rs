//! The bot's chat loop: reads `user: text` lines, answers operator commands itself (through
//! the host kit) and hands everything else to the plugins as a [`ChatMessage`] event, then
//! prints their replies.
//!
//! A line is fully handled once every copy of its message is gone (see `chat-api`), so the
//! replies to a line are printed before the next line is read, without guessing how many
//! will come; a plugin that keeps a message too long is cut off by `--reply-timeout`.
//! State changes an operation caused are printed right after its answer.

use std::time::Duration;

use chat_api::{ChatMessage, Replies};
use plugin_manager::StateChange;
use plugin_manager::host_kit::report::say;
use plugin_manager::host_kit::{self, ConfigWatcher, Host, operator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast::{self, error::RecvError};

/// Runs the chat until stdin ends or a shutdown signal; applies edits of the configuration
/// file as they settle.
pub(crate) async fn run(host: &Host, reply_timeout: Duration) {
    let mut changes = host.manager().subscribe();
    // Without a file (or if watching fails) the loop just never hears of edits.
    let mut watcher = host.watch().unwrap_or_else(|error| {
        say(&format!(
            "config: {error}; use !reload-config after editing"
        ));
        None
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let shutdown = host_kit::shutdown_signal();
    tokio::pin!(shutdown);
    say(&format!(
        "chat: type `user: text` lines; {} control plugins",
        operator::HELP
    ));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                // A shutdown signal also cuts short a request that waits on slow plugins.
                Ok(Some(line)) => tokio::select! {
                    () = handle_line(host, &line, reply_timeout) => {}
                    _ = &mut shutdown => break,
                },
                Ok(None) => break,
                Err(error) => {
                    say(&format!("stdin: {error}"));
                    break;
                }
            },
            change = changes.recv() => host_kit::print_change(change),
            true = edited(watcher.as_mut()) => {
                if let Some(reload) = host.reload_if_changed().await {
                    host.say_reload(&reload);
                }
            }
            _ = &mut shutdown => break,
        }
        drain_changes(&mut changes);
    }
}

async fn edited(watcher: Option<&mut ConfigWatcher>) -> bool {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

async fn handle_line(host: &Host, line: &str, reply_timeout: Duration) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let Some((message, replies)) = ChatMessage::parse(line) else {
        say("(ignored: write `user: text`)");
        return;
    };
    if let Some((command, args)) = message.command()
        && let Some(command) = operator::Command::from_parts(command, args)
    {
        say(&command.run(host.manager(), host.config_file()).await);
        return;
    }
    host.manager().bus().publish(message);
    print_replies(replies, reply_timeout).await;
}

async fn print_replies(mut replies: Replies, limit: Duration) {
    let collect = async {
        while let Some(reply) = replies.next().await {
            let from = reply.from.as_deref().unwrap_or("bot");
            let mut lines = reply.text.lines();
            say(&format!("[{from}] {}", lines.next().unwrap_or("")));
            for more in lines {
                say(&format!("  {more}"));
            }
        }
    };
    if tokio::time::timeout(limit, collect).await.is_err() {
        say("(some plugins did not finish answering in time)");
    }
}

/// Prints the changes an operation made, right after its answer.
fn drain_changes(changes: &mut broadcast::Receiver<StateChange>) {
    loop {
        match changes.try_recv() {
            Ok(change) => host_kit::print_change(Ok(change)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                host_kit::print_change(Err(RecvError::Lagged(missed)));
            }
            Err(_) => break,
        }
    }
}
