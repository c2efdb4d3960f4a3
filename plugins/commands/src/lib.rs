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
//!         })?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! A command only answers while the plugin that registered it is enabled, so a disabled or
//! failed plugin's commands fall silent without any clean-up on its part.
//!
//! A command belongs to the plugin that registered it first: another plugin registering the
//! same name is refused ([`RegisterError::Taken`]), and replies carry the owner's name taken
//! from its context, so no plugin can answer for another.

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
    /// The owner's context: replies are stamped with its name.
    owner: Context,
    handler: Handler,
}

/// Why [`Commands::register`] refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another plugin registered the name first.
    Taken {
        /// The command's name, without `!`.
        command: String,
        /// The plugin that holds it.
        owner: String,
        /// The plugin that asked for it.
        plugin: String,
    },
    /// The context given is not one the router's manager handed out (e.g. a detached
    /// context made up with a plugin's name).
    ForeignContext {
        /// The command's name, without `!`.
        command: String,
        /// The name the context gives.
        plugin: String,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Taken {
                command,
                owner,
                plugin,
            } => write!(
                f,
                "plugin `{plugin}` cannot register `!{command}`: plugin `{owner}` registered it \
                 first"
            ),
            RegisterError::ForeignContext { command, plugin } => write!(
                f,
                "`!{command}` not registered: the context of `{plugin}` does not come from the \
                 manager that runs the router"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

/// The command router plugin.
#[plugin(name = "commands")]
#[derive(Default)]
pub struct Commands {
    table: Arc<RwLock<BTreeMap<String, Command>>>,
    /// The router's own context, from `on_enable`: registrations must come from its siblings.
    router: Option<Context>,
}

impl Commands {
    /// Registers `!name` for the plugin that owns `ctx`. The handler's `Ok` text is the
    /// reply, sent under that plugin's name; an `Err` is shown as `!name failed: ...`.
    ///
    /// The same plugin may register a name again (after a restart, say), replacing its
    /// handler; another plugin's name is refused with [`RegisterError::Taken`], naming both.
    pub fn register(
        &self,
        ctx: &Context,
        name: &str,
        help: &str,
        handler: impl Fn(&Invocation<'_>) -> Result<String> + Send + Sync + 'static,
    ) -> std::result::Result<(), RegisterError> {
        if let Some(router) = &self.router
            && !router.is_sibling_of(ctx)
        {
            return Err(RegisterError::ForeignContext {
                command: name.to_owned(),
                plugin: ctx.name().to_owned(),
            });
        }
        let mut table = self.write();
        if let Some(taken) = table.get(name)
            && taken.info.owner != ctx.name()
        {
            return Err(RegisterError::Taken {
                command: name.to_owned(),
                owner: taken.info.owner.clone(),
                plugin: ctx.name().to_owned(),
            });
        }
        let info = CommandInfo {
            name: name.to_owned(),
            help: help.to_owned(),
            owner: ctx.name().to_owned(),
        };
        let command = Command {
            info,
            owner: ctx.clone(),
            handler: Arc::new(handler),
        };
        table.insert(name.to_owned(), command);
        Ok(())
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
    /// context of the plugin that answers (the owner's, as it registered) and its reply. A
    /// command whose plugin is not enabled is answered by the router as unavailable. A handler
    /// that panics is reported in the reply and does not stop the router.
    pub fn dispatch(&self, ctx: &Context, message: &ChatMessage) -> Option<(Context, String)> {
        let (name, args) = message.command()?;
        let (handler, owner_ctx) = {
            let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
            match table.get(name) {
                Some(c) => (c.handler.clone(), c.owner.clone()),
                None => {
                    let text = format!("unknown command `!{name}`: try `!help`");
                    return Some((ctx.clone(), text));
                }
            }
        };
        let owner = owner_ctx.name();
        if owner != ctx.name() && !ctx.is_enabled(owner) {
            let text = format!("`!{name}` is unavailable: plugin `{owner}` is not enabled");
            return Some((ctx.clone(), text));
        }
        let call = Invocation {
            user: message.user(),
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
        Some((owner_ctx, text))
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
        self.router = Some(ctx.clone());
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
