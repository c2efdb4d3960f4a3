//! What only whoever runs the plugins needs: the manager, or a test harness standing in for
//! it. A plugin crate has no use for anything here.
//!
//! The manager implements [`Host`] and makes each plugin's [`Context`] with a
//! [`ContextHandle`], which it keeps: through the handle, and only through it, it changes the
//! plugin's configuration on a reload. The plugin sees the context alone, so it cannot change
//! its own configuration.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::config::ConfigSection;
use crate::context::Context;
use crate::error::Result;
use crate::instance::PluginInstance;
use crate::metadata::PluginMetadata;

pub use crate::config::line_of;

/// A plugin's background task, as [`Context::spawn`] hands it to the host.
pub type BackgroundTask = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// What a [`Context`] asks of whoever runs the plugins: the manager implements it.
///
/// A test can implement it to run a plugin's hooks without a manager.
pub trait Host: Send + Sync {
    /// The live instance of the plugin called `name`, if it is enabled.
    fn enabled_instance(&self, name: &str) -> Option<PluginInstance>;

    /// Runs `task` for `plugin` until the plugin leaves `enabled`; an error or panic in it
    /// fails the plugin.
    fn spawn(&self, plugin: &str, task: BackgroundTask);

    /// The token cancelled when `plugin` next leaves `enabled`.
    fn cancellation(&self, plugin: &str) -> CancellationToken {
        let _ = plugin;
        CancellationToken::new()
    }

    /// Whether this host runs no plugins at all, as [`NoHost`]: a [`Context`] then reports
    /// that it is detached instead of blaming a dependency's state or declaration.
    fn is_detached(&self) -> bool {
        false
    }
}

/// A host that knows no plugin and runs no task, for contexts built outside a manager
/// ([`Context::detached`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn enabled_instance(&self, _name: &str) -> Option<PluginInstance> {
        None
    }

    fn spawn(&self, _plugin: &str, task: BackgroundTask) {
        drop(task);
    }

    fn is_detached(&self) -> bool {
        true
    }
}

/// The manager's hold on a plugin's [`Context`]: it dereferences to the context handed to the
/// plugin's hooks, and it alone can change the plugin's configuration.
///
/// ```
/// use std::sync::Arc;
/// use plugin_core::host::{ContextHandle, NoHost};
/// use plugin_core::{ConfigSection, EventBus, PluginMetadata};
///
/// let handle = ContextHandle::new(
///     Arc::new(PluginMetadata::new("dice")),
///     EventBus::new(),
///     Arc::new(NoHost),
/// );
/// handle.set_config(ConfigSection::parse_toml("plugins.toml", 1, "max = 3").unwrap().into());
/// let ctx: &plugin_core::Context = &handle;
/// assert_eq!(ctx.config_section().values()["max"].as_integer(), Some(3));
/// ```
#[derive(Clone)]
pub struct ContextHandle {
    context: Context,
}

impl ContextHandle {
    /// A context for the plugin described by `metadata`, on `bus`, run by `host`, with an
    /// empty configuration section.
    pub fn new(metadata: Arc<PluginMetadata>, bus: EventBus, host: Arc<dyn Host>) -> Self {
        Self {
            context: Context::new(metadata, bus, host),
        }
    }

    /// The context the plugin's hooks receive.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Replaces the configuration section; the manager does this on a reload, before
    /// calling [`Plugin::reconfigure`](crate::Plugin::reconfigure).
    pub fn set_config(&self, section: Arc<ConfigSection>) {
        self.context.set_config(section);
    }
}

impl Deref for ContextHandle {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.context
    }
}

impl fmt::Debug for ContextHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextHandle").field(&self.context).finish()
    }
}
