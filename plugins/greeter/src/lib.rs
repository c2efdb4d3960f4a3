//! Greets people: answers "hello"/"hi", welcomes each user the first time they speak, and
//! offers `!seen` (how many messages each user sent). It reads chat directly from the bus.
//!
//! It also shows an optional dependency: it uses the `dice` plugin if the host was built with
//! it (`optional = ["dice"]`, by name, since this crate does not depend on `plugin-dice`), and
//! its welcome then suggests a roll. Without dice it welcomes all the same.
//!
//! It remembers at most [`GreeterConfig::max_users`] users (section `[greeter]` of the host's
//! file), the ones who spoke most recently: a chat with more speakers than that does not
//! make it grow without end. A user it has forgotten is welcomed again when they come back.
//!
//! ```toml
//! [greeter]
//! max_users = 10000
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chat_api::ChatMessage;
use plugin_commands::Commands;
use plugin_core::prelude::*;

/// The greeter's configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GreeterConfig {
    /// How many users it remembers (at least 1); the one who spoke least recently is
    /// forgotten first. Default [`GreeterConfig::DEFAULT_MAX_USERS`].
    pub max_users: usize,
}

impl GreeterConfig {
    /// The default of [`GreeterConfig::max_users`]: some 2 MB of counts.
    pub const DEFAULT_MAX_USERS: usize = 10_000;
}

impl Default for GreeterConfig {
    fn default() -> Self {
        Self {
            max_users: Self::DEFAULT_MAX_USERS,
        }
    }
}

/// The greeter plugin. It keeps per-user message counts across messages.
#[plugin(name = "greeter", deps = [Commands], optional = ["dice"], config = GreeterConfig)]
#[derive(Debug, Default)]
pub struct Greeter {
    seen: Arc<Mutex<Seen>>,
}

impl Greeter {
    /// How many users it remembers now.
    pub fn remembered(&self) -> usize {
        lock(&self.seen).len()
    }
}

/// Message counts of the most recent users, at most `limit` of them.
#[derive(Debug, Default)]
struct Seen {
    /// Each user's count and the tick of their last message.
    users: HashMap<String, (u64, u64)>,
    /// Users by the tick of their last message: the first is the least recent.
    by_tick: BTreeMap<u64, String>,
    tick: u64,
    limit: usize,
}

impl Seen {
    /// Keeps at most `limit` users (at least 1) from now on, forgetting the least recent.
    fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
        self.evict();
    }

    /// Counts a message of `user`; returns their count, 1 for a user not remembered.
    fn count(&mut self, user: &str) -> u64 {
        self.tick += 1;
        let tick = self.tick;
        let count = match self.users.get_mut(user) {
            Some((count, last)) => {
                self.by_tick.remove(last);
                *count += 1;
                *last = tick;
                *count
            }
            None => {
                self.users.insert(user.to_owned(), (1, tick));
                1
            }
        };
        self.by_tick.insert(tick, user.to_owned());
        self.evict();
        count
    }

    fn evict(&mut self) {
        while self.users.len() > self.limit.max(1) {
            let Some((_, oldest)) = self.by_tick.pop_first() else {
                break;
            };
            self.users.remove(&oldest);
        }
    }

    fn len(&self) -> usize {
        self.users.len()
    }

    /// `user: count` lines, by name.
    fn report(&self) -> String {
        let sorted: BTreeMap<&str, u64> = self
            .users
            .iter()
            .map(|(user, (count, _))| (user.as_str(), *count))
            .collect();
        let lines: Vec<String> = sorted.iter().map(|(u, n)| format!("{u}: {n}")).collect();
        lines.join("\n")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `text` is a greeting.
pub fn is_greeting(text: &str) -> bool {
    let first = text
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("");
    ["hello", "hi", "hey", "howdy"].contains(&first.to_lowercase().as_str())
}

/// The welcome for `user`'s first message, with a hint to roll when dice can be rolled.
fn welcome(user: &str, dice_enabled: bool) -> String {
    if dice_enabled {
        format!("Welcome, {user}! Try `!roll 2d6`.")
    } else {
        format!("Welcome, {user}!")
    }
}

#[async_trait]
impl Plugin for Greeter {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let config: GreeterConfig = ctx.config()?;
        lock(&self.seen).set_limit(config.max_users);
        let mut messages = ctx.subscribe::<ChatMessage>();
        let seen = self.seen.clone();
        // Asked at each welcome, not once here: dice may be disabled or enabled meanwhile.
        let me = ctx.clone();
        ctx.spawn(async move {
            while let Some(message) = messages.recv().await {
                let count = lock(&seen).count(message.user());
                if count == 1 {
                    let dice_enabled = me.is_enabled("dice");
                    message.reply_as(&me, welcome(message.user(), dice_enabled));
                } else if is_greeting(message.text()) {
                    message.reply_as(&me, format!("Hello again, {}!", message.user()));
                }
            }
            Ok(())
        });
        let seen = self.seen.clone();
        ctx.dep::<Commands>()?
            .register(ctx, "seen", "messages per user", move |_| {
                Ok(lock(&seen).report())
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Seen, is_greeting, welcome};

    #[test]
    fn remembers_only_the_most_recent_users() {
        let mut seen = Seen::default();
        seen.set_limit(2);
        assert_eq!(seen.count("ada"), 1);
        assert_eq!(seen.count("bob"), 1);
        assert_eq!(seen.count("ada"), 2, "ada is now the most recent");
        assert_eq!(seen.count("eve"), 1, "bob, the least recent, is forgotten");
        assert_eq!(seen.len(), 2);
        assert_eq!(seen.report(), "ada: 2\neve: 1");
        assert_eq!(seen.count("bob"), 1, "a forgotten user starts over");
        assert_eq!(seen.report(), "bob: 1\neve: 1");
    }

    #[test]
    fn many_speakers_keep_the_map_at_its_limit() {
        let mut seen = Seen::default();
        seen.set_limit(1000);
        for i in 0..100_000 {
            seen.count(&format!("user{i}"));
        }
        assert_eq!(seen.len(), 1000);
        assert_eq!(seen.by_tick.len(), 1000);
        assert_eq!(seen.count("user99999"), 2);
        seen.set_limit(10);
        assert_eq!((seen.len(), seen.by_tick.len()), (10, 10));
    }

    #[test]
    fn greetings() {
        assert!(is_greeting("Hello there"));
        assert!(is_greeting("hi!"));
        assert!(!is_greeting("this is hi"));
        assert!(!is_greeting(""));
    }

    #[test]
    fn welcome_suggests_a_roll_only_with_dice() {
        assert_eq!(welcome("ada", true), "Welcome, ada! Try `!roll 2d6`.");
        assert_eq!(welcome("ada", false), "Welcome, ada!");
    }
}
