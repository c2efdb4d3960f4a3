//! The demo chat bot's message types, shared by the host and its plugins.
//!
//! This is not a plugin: it is the vocabulary the bot's plugins and host speak over the event
//! bus. The host publishes a [`ChatMessage`] for each line it reads; any plugin may answer
//! with [`ChatMessage::reply`]. Every copy of the message carries the reply channel, so the
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

pub use replies::Replies;
use replies::ReplySender;

/// One line of chat: who said what.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    /// The speaker.
    pub user: String,
    /// What they said.
    pub text: String,
    replies: ReplySender,
}

impl ChatMessage {
    /// A message and the stream of replies to it.
    pub fn new(user: impl Into<String>, text: impl Into<String>) -> (Self, Replies) {
        let (sender, replies) = replies::queue();
        let message = Self {
            user: user.into(),
            text: text.into(),
            replies: sender,
        };
        (message, replies)
    }

    /// Parses a chat line of the form `user: text`.
    ///
    /// ```
    /// let (message, _replies) = chat_api::ChatMessage::parse("ada: !roll 2d6").unwrap();
    /// assert_eq!((message.user.as_str(), message.text.as_str()), ("ada", "!roll 2d6"));
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
        self.replies.send(reply);
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
        self.replies.send(reply);
    }

    /// If the text is a command (`!name args`), its name and arguments.
    ///
    /// ```
    /// let (message, _) = chat_api::ChatMessage::new("ada", "!roll  2d6 ");
    /// assert_eq!(message.command(), Some(("roll", "2d6")));
    /// ```
    pub fn command(&self) -> Option<(&str, &str)> {
        let rest = self.text.strip_prefix('!')?;
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (!name.is_empty()).then(|| (name, args.trim()))
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
