//! The bot's chat loop: reads `user: text` lines, handles operator commands itself and hands
//! everything else to the plugins as a [`ChatMessage`] event, then prints their replies.
//!
//! A line is fully handled once every copy of its message is gone (see `chat-api`), so the
//! replies to a line are printed before the next line is read, without guessing how many
//! will come; a plugin that keeps a message too long is cut off by `--reply-timeout`.

use std::time::Duration;

use chat_api::{ChatMessage, Replies};
use plugin_manager::PluginManager;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use crate::config_file::ConfigFile;
use crate::report::{self, Took};
use crate::say;

/// How long the configuration file must stay unchanged after an edit before it is reloaded.
const SETTLE: Duration = Duration::from_millis(200);

/// Runs the chat until stdin ends or Ctrl-C; applies changes to the configuration file.
pub(crate) async fn run(
    manager: &PluginManager,
    reply_timeout: Duration,
    mut config: Option<ConfigFile>,
) {
    let mut changes = manager.subscribe();
    // Without a file (or if watching fails) the loop just never hears of edits.
    let (_watcher, mut edits) = match config.as_ref().map(ConfigFile::watch) {
        Some(Ok((watcher, edits))) => (Some(watcher), edits),
        Some(Err(error)) => {
            say(&format!(
                "config: {error}; use !reload-config after editing"
            ));
            (None, mpsc::channel(1).1)
        }
        None => (None, mpsc::channel(1).1),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut settle = std::pin::pin!(None::<tokio::time::Sleep>);
    say(
        "chat: type `user: text` lines; `!plugins`, `!enable NAME`, `!disable NAME [--cascade]`, `!restart NAME`, `!reload-config` control plugins",
    );
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                // Ctrl-C also cuts short a request that waits on slow plugins.
                Ok(Some(line)) => tokio::select! {
                    () = handle_line(manager, &line, reply_timeout, &mut config) => {}
                    _ = &mut ctrl_c => break,
                },
                Ok(None) => break,
                Err(error) => {
                    say(&format!("stdin: {error}"));
                    break;
                }
            },
            change = changes.recv() => print_change(change),
            // An editor's save can be several writes; reload once they have stopped.
            Some(()) = edits.recv() => settle.set(Some(tokio::time::sleep(SETTLE))),
            () = async { settle.as_mut().as_pin_mut().expect("guarded").await }, if settle.is_some() => {
                settle.set(None);
                if let Some(file) = config.as_mut().filter(|file| file.changed()) {
                    say(&format!("config: {} changed", file.path().display()));
                    say(&reload(manager, file).await);
                }
            }
            _ = &mut ctrl_c => break,
        }
        drain_changes(&mut changes);
    }
}

async fn handle_line(
    manager: &PluginManager,
    line: &str,
    reply_timeout: Duration,
    config: &mut Option<ConfigFile>,
) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let Some((message, replies)) = ChatMessage::parse(line) else {
        say("(ignored: write `user: text`)");
        return;
    };
    if message
        .command()
        .is_some_and(|(command, _)| command == "reload-config")
    {
        let answer = match config {
            Some(file) => reload(manager, file).await,
            None => format!(
                "config: no configuration file (give --config PATH or create {})",
                crate::config_file::DEFAULT_PATH
            ),
        };
        say(&answer);
        return;
    }
    if let Some((command, args)) = message.command()
        && let Some(answer) = operator(manager, command, args).await
    {
        say(&answer);
        return;
    }
    manager.bus().publish(message);
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

/// Answers an operator command, or `None` if `command` is not one (then it goes to plugins).
async fn operator(manager: &PluginManager, command: &str, args: &str) -> Option<String> {
    let mut words = args.split_whitespace();
    let name = words.next();
    let cascade = words.any(|w| w == "--cascade");
    let outcome = match (command, name) {
        ("plugins", _) => return Some(report::table("plugins:", &manager.records(), Took::Start)),
        ("enable" | "disable" | "restart", None) => {
            return Some(format!("usage: !{command} NAME"));
        }
        ("enable", Some(name)) => manager
            .enable(name)
            .await
            .map(|()| format!("{name} enabled")),
        ("disable", Some(name)) if cascade => manager
            .disable_cascade(name)
            .await
            .map(|()| format!("{name} disabled")),
        ("disable", Some(name)) => manager
            .disable(name)
            .await
            .map(|()| format!("{name} disabled")),
        ("restart", Some(name)) => manager
            .restart(name)
            .await
            .map(|()| format!("{name} restarted")),
        _ => return None,
    };
    Some(match outcome {
        Ok(done) => format!("ok: {done}"),
        Err(error) => format!("error: {error}"),
    })
}

/// Reloads the file and applies it; the answer says what changed or why nothing did.
async fn reload(manager: &PluginManager, file: &mut ConfigFile) -> String {
    let config = match file.load() {
        Ok(config) => config,
        Err(error) => return format!("config: reload refused, nothing changed: {error}"),
    };
    match manager.reload_config(config).await {
        Ok(changes) if changes.is_empty() => "config: reloaded; nothing to change".to_owned(),
        Ok(changes) => {
            let lines: Vec<String> = changes.iter().map(|c| format!("  - {c}")).collect();
            format!("config: reloaded\n{}", lines.join("\n"))
        }
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
            format!(
                "config: reload refused, nothing changed:\n{}",
                lines.join("\n")
            )
        }
    }
}

fn print_change(change: Result<plugin_manager::StateChange, RecvError>) {
    match change {
        Ok(change) => say(&report::change(&change)),
        Err(RecvError::Lagged(missed)) => say(&format!("* ({missed} state changes not shown)")),
        Err(RecvError::Closed) => {}
    }
}

/// Prints the changes an operation made, right after its answer.
fn drain_changes(changes: &mut broadcast::Receiver<plugin_manager::StateChange>) {
    loop {
        match changes.try_recv() {
            Ok(change) => print_change(Ok(change)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                print_change(Err(RecvError::Lagged(missed)));
            }
            Err(_) => break,
        }
    }
}
