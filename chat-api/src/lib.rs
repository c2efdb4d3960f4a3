//! The demo chat bot's message types, shared by the host and its plugins.
//!
//! This is not a plugin: it is the vocabulary the bot's plugins and host speak over the event
//! bus. The host publishes a [`ChatMessage`] for each line it reads; any plugin may answer
//! with [`ChatMessage::reply`]. Every copy of the message shares its reply queue, so the
//! host knows a message is fully handled once every copy is gone: each subscriber either
//! handled it or dropped it.
//!
//! ```
//! use chat_api::ChatMessage;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (message, mut replies) = ChatMessage::new("ada", "hello");
//! let copy = message.clone(); // what a subscriber receives
//! drop(message);
//! copy.reply("Hello, ada!");
//! drop(copy);
//! assert_eq!(replies.next().await.unwrap().text, "Hello, ada!");
//! assert!(replies.next().await.is_none(), "every copy is gone: the message is handled");
//! # });
//! ```

mod replies;

use std::fmt;
use std::sync::Arc;

pub use replies::Replies;
use replies::ReplySender;

/// One line of chat: who said what.
///
/// Cheap to copy: the bus gives every subscriber a copy, and the copies share one allocation
/// (the speaker, the text and the reply queue); the message is handled once the last copy is
/// gone.
#[derive(Clone)]
pub struct ChatMessage {
    said: Arc<Said>,
}

/// What a message and all its copies share.
struct Said {
    /// The speaker, then the text, in one string.
    line: String,
    /// Where the speaker ends in `line`.
    user_end: usize,
    replies: ReplySender,
}

impl ChatMessage {
    /// A message and the stream of replies to it.
    pub fn new(user: impl AsRef<str>, text: impl AsRef<str>) -> (Self, Replies) {
        let (user, text) = (user.as_ref(), text.as_ref());
        let mut line = String::with_capacity(user.len() + text.len());
        line.push_str(user);
        line.push_str(text);
        let (sender, replies) = replies::queue();
        let said = Said {
            line,
            user_end: user.len(),
            replies: sender,
        };
        (
            Self {
                said: Arc::new(said),
            },
            replies,
        )
    }

    /// The speaker.
    ///
    /// ```
    /// let (message, _replies) = chat_api::ChatMessage::new("ada", "hello");
    /// assert_eq!(message.user(), "ada");
    /// ```
    pub fn user(&self) -> &str {
        &self.said.line[..self.said.user_end]
    }

    /// What they said.
    ///
    /// ```
    /// let (message, _replies) = chat_api::ChatMessage::new("ada", "hello");
    /// assert_eq!(message.text(), "hello");
    /// ```
    pub fn text(&self) -> &str {
        &self.said.line[self.said.user_end..]
    }

    /// Parses a chat line of the form `user: text`.
    ///
    /// ```
    /// let (message, _replies) = chat_api::ChatMessage::parse("ada: !roll 2d6").unwrap();
    /// assert_eq!((message.user(), message.text()), ("ada", "!roll 2d6"));
    /// assert!(chat_api::ChatMessage::parse("no speaker here").is_none());
    /// ```
    pub fn parse(line: &str) -> Option<(Self, Replies)> {
        let (user, text) = line.split_once(':')?;
        let (user, text) = (user.trim(), text.trim());
        if user.is_empty() || user.contains(char::is_whitespace) {
            return None;
        }
        Some(Self::new(user, text))
    }

    /// Answers this message. Replies after the host stopped listening are dropped.
    pub fn reply(&self, text: impl Into<String>) {
        let reply = Reply {
            from: None,
            text: text.into(),
        };
        self.said.replies.send(reply);
    }

    /// Answers this message as the plugin whose context `ctx` is: the reply's
    /// [`from`](Reply::from) is that context's name, so a plugin cannot answer under another
    /// plugin's name. A detached context (anyone can make one, with any name) answers for no
    /// plugin: its reply has no `from`.
    pub fn reply_as(&self, ctx: &plugin_core::Context, text: impl Into<String>) {
        let reply = Reply {
            from: (!ctx.is_detached()).then(|| ctx.name().to_owned()),
            text: text.into(),
        };
        self.said.replies.send(reply);
    }

    /// If the text is a command (`!name args`), its name and arguments.
    ///
    /// ```
    /// let (message, _) = chat_api::ChatMessage::new("ada", "!roll  2d6 ");
    /// assert_eq!(message.command(), Some(("roll", "2d6")));
    /// ```
    pub fn command(&self) -> Option<(&str, &str)> {
        let rest = self.text().strip_prefix('!')?;
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (!name.is_empty()).then(|| (name, args.trim()))
    }
}

impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessage")
            .field("user", &self.user())
            .field("text", &self.text())
            .finish_non_exhaustive()
    }
}

/// Something the bot says in answer to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The plugin that answered, from the context it answered with
    /// ([`ChatMessage::reply_as`]); `None` for [`ChatMessage::reply`].
    pub from: Option<String>,
    /// The answer.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_replies_end_once_every_copy_is_gone_wherever_they_went() {
        let (message, mut replies) = ChatMessage::new("ada", "hello");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let copy = message.clone();
                tokio::spawn(async move { copy.reply(i.to_string()) })
            })
            .collect();
        drop(message);
        let mut texts = Vec::new();
        while let Some(reply) = replies.next().await {
            texts.push(reply.text);
        }
        for task in tasks {
            task.await.expect("a replying task");
        }
        texts.sort();
        assert_eq!(texts, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    }

    #[test]
    fn a_copy_shows_the_same_speaker_and_text() {
        let (message, _replies) = ChatMessage::new("ada", "!roll 2d6");
        let copy = message.clone();
        assert_eq!((copy.user(), copy.text()), ("ada", "!roll 2d6"));
        assert_eq!(
            format!("{copy:?}"),
            r#"ChatMessage { user: "ada", text: "!roll 2d6", .. }"#
        );
    }
}
