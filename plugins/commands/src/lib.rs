//! The command router: other plugins register `!name` commands with it, and it answers chat
//! lines that start with `!` by calling the right handler.
//!
//! A plugin that offers commands depends on [`Commands`] and registers them in `on_enable`:
//!
//! ```
//! use plugin_core::prelude::*;
//! use plugin_commands::Commands;
//!
//! #[plugin(name = "echo", deps = [Commands])]
//! #[derive(Default)]
//! pub struct Echo;
//!
//! #[async_trait]
//! impl Plugin for Echo {
//!     async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
//!         ctx.dep::<Commands>()?.register(ctx, "echo", "repeats what you say", |call| {
//!             Ok(call.args.to_owned())
//!         });
//!         Ok(())
//!     }
//! }
//! ```
//!
//! A command only answers while the plugin that registered it is enabled, so a disabled or
//! failed plugin's commands fall silent without any clean-up on its part.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};

use chat_api::ChatMessage;
use plugin_core::prelude::*;

/// What a command handler receives.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// Who typed the command.
    pub user: &'a str,
    /// The command's name, without `!`.
    pub command: &'a str,
    /// Everything after the name, trimmed.
    pub args: &'a str,
}

type Handler = Arc<dyn Fn(&Invocation<'_>) -> Result<String> + Send + Sync>;

/// A registered command, as listed by [`Commands::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// The name, without `!`.
    pub name: String,
    /// One line of help.
    pub help: String,
    /// The plugin that registered it.
    pub owner: String,
}

struct Command {
    info: CommandInfo,
    handler: Handler,
}

/// The command router plugin.
#[plugin(name = "commands")]
#[derive(Default)]
pub struct Commands {
    table: Arc<RwLock<BTreeMap<String, Command>>>,
}

impl Commands {
    /// Registers `!name` for the plugin that owns `ctx`, replacing an earlier one of that name.
    /// The handler's `Ok` text is the reply; an `Err` is shown as `!name failed: ...`.
    pub fn register(
        &self,
        ctx: &Context,
        name: &str,
        help: &str,
        handler: impl Fn(&Invocation<'_>) -> Result<String> + Send + Sync + 'static,
    ) {
        let info = CommandInfo {
            name: name.to_owned(),
            help: help.to_owned(),
            owner: ctx.name().to_owned(),
        };
        let command = Command {
            info,
            handler: Arc::new(handler),
        };
        self.write().insert(name.to_owned(), command);
    }

    /// Every registered command, by name.
    pub fn list(&self) -> Vec<CommandInfo> {
        self.table().list()
    }

    /// A cheap handle on the command table that can be kept, e.g. by a background task.
    pub fn table(&self) -> CommandTable {
        CommandTable {
            table: self.table.clone(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Command>> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Command>> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands")
            .field("commands", &self.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A shared view of the registered commands.
#[derive(Clone)]
pub struct CommandTable {
    table: Arc<RwLock<BTreeMap<String, Command>>>,
}

impl CommandTable {
    /// Every registered command, by name.
    pub fn list(&self) -> Vec<CommandInfo> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.values().map(|c| c.info.clone()).collect()
    }

    /// Runs the command in `message`, if it is one, on behalf of `ctx`'s plugin; returns the
    /// plugin that answers and its reply. Commands of plugins that are not enabled are treated as unknown. A handler that
    /// panics is reported in the reply and does not stop the router.
    pub fn dispatch(&self, ctx: &Context, message: &ChatMessage) -> Option<(String, String)> {
        let (name, args) = message.command()?;
        let (handler, owner) = {
            let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
            match table.get(name) {
                Some(c) => (c.handler.clone(), c.info.owner.clone()),
                None => {
                    let text = format!("unknown command `!{name}`: try `!help`");
                    return Some((ctx.name().to_owned(), text));
                }
            }
        };
        if owner != ctx.name() && !ctx.is_enabled(&owner) {
            let text = format!("`!{name}` is unavailable: plugin `{owner}` is not enabled");
            return Some((ctx.name().to_owned(), text));
        }
        let call = Invocation {
            user: &message.user,
            command: name,
            args,
        };
        // Handlers are plain functions of other plugins; one that panics must not take the
        // router (and every plugin depending on it) down with it.
        let text = match catch_unwind(AssertUnwindSafe(|| handler(&call))) {
            Ok(Ok(text)) => text,
            Ok(Err(error)) => format!("!{name} failed: {error}"),
            Err(_) => format!("!{name} failed: plugin `{owner}` panicked"),
        };
        Some((owner, text))
    }
}

impl fmt::Debug for CommandTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandTable").finish_non_exhaustive()
    }
}

#[async_trait]
impl Plugin for Commands {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let mut messages = ctx.subscribe::<ChatMessage>();
        let table = self.table();
        let router = ctx.clone();
        ctx.spawn(async move {
            while let Some(message) = messages.recv().await {
                if let Some((owner, reply)) = table.dispatch(&router, &message) {
                    message.reply_as(&owner, reply);
                }
            }
            Ok(())
        });
        Ok(())
    }
}
