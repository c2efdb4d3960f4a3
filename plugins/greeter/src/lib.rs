//! Greets people: answers "hello"/"hi", welcomes each user the first time they speak, and
//! offers `!seen` (how many messages each user sent). It reads chat directly from the bus.
//!
//! It also shows an optional dependency: it uses the `dice` plugin if the host was built with
//! it (`optional = ["dice"]`, by name, since this crate does not depend on `plugin-dice`), and
//! its welcome then suggests a roll. Without dice it welcomes all the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chat_api::ChatMessage;
use plugin_commands::Commands;
use plugin_core::prelude::*;

/// The greeter plugin. It keeps per-user message counts across messages.
#[plugin(name = "greeter", deps = [Commands], optional = ["dice"])]
#[derive(Debug, Default)]
pub struct Greeter {
    seen: Arc<Mutex<BTreeMap<String, u64>>>,
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
        let mut messages = ctx.subscribe::<ChatMessage>();
        let seen = self.seen.clone();
        let me = ctx.name().to_owned();
        // Asked at each welcome, not once here: dice may be disabled or enabled meanwhile.
        let plugins = ctx.clone();
        ctx.spawn(async move {
            while let Some(message) = messages.recv().await {
                let count = {
                    let mut seen = lock(&seen);
                    let count = seen.entry(message.user.clone()).or_insert(0);
                    *count += 1;
                    *count
                };
                if count == 1 {
                    let dice_enabled = plugins.is_enabled("dice");
                    message.reply_as(&me, welcome(&message.user, dice_enabled));
                } else if is_greeting(&message.text) {
                    message.reply_as(&me, format!("Hello again, {}!", message.user));
                }
            }
            Ok(())
        });
        let seen = self.seen.clone();
        ctx.dep::<Commands>()?
            .register(ctx, "seen", "messages per user", move |_| {
                let seen = lock(&seen);
                let lines: Vec<String> = seen.iter().map(|(u, n)| format!("{u}: {n}")).collect();
                Ok(lines.join("\n"))
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{is_greeting, welcome};

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
