//! What only whoever runs the plugins needs: the manager, or a test harness standing in for
//! it. A plugin crate has no use for anything here.
//!
//! The manager implements [`Host`] and makes each plugin's [`Context`] with a
//! [`ContextHandle`], which it keeps: through the handle, and only through it, it changes the
//! plugin's configuration on a reload. The plugin sees the context alone, so it cannot change
//! its own configuration.
//!
//! Here too are the lifecycle's [`Hook`]s, the [`ConfigCheck`] of a plugin's configuration
//! type and [`config_section`] to build a [`ConfigSection`] from a parsed file.
//!
//! # Third-party types
//!
//! [`Host::cancellation`] returns tokio-util's token, re-exported as [`CancellationToken`]:
//! tokio-util is not 1.0 yet, so a tokio-util upgrade that changes it is a breaking change of
//! plugin-core's *host* API only (released as a new minor version while plugin-core is 0.x).
//! A plugin never sees it: [`Context::cancellation`] wraps it in plugin-core's own
//! [`Cancellation`](crate::Cancellation).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use crate::bus::EventBus;
use crate::config::{ConfigSection, ConfigSource};
use crate::context::Context;
use crate::error::Result;
use crate::instance::PluginInstance;
use crate::metadata::PluginMetadata;

pub use crate::config::{ConfigCheck, check_config, line_of};
pub use crate::instance::Hook;
/// tokio-util's cancellation token, which [`Host::cancellation`] returns (see
/// [the module notes](self#third-party-types)).
pub use tokio_util::sync::CancellationToken;

/// A section from `source` with these keys; `lines` gives the line of each key (the manager
/// builds one per plugin from the parsed file).
///
/// ```
/// use std::collections::BTreeMap;
/// use plugin_core::ConfigSource;
/// use plugin_core::host::config_section;
///
/// let mut values = toml::Table::new();
/// values.insert("max".into(), toml::Value::Integer(3));
/// let source = ConfigSource::File { path: "plugins.toml".into(), line: 1 };
/// let section = config_section(source, values, BTreeMap::from([("max".into(), 2)]));
/// assert_eq!(section.values()["max"].as_integer(), Some(3));
/// ```
#[must_use]
pub fn config_section(
    source: ConfigSource,
    values: toml::Table,
    lines: BTreeMap<String, usize>,
) -> ConfigSection {
    ConfigSection::new(source, values, lines)
}

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

    /// `plugin` reported `health` through [`Context::health`] (a change from its last report);
    /// the default ignores it.
    fn report_health(&self, plugin: &str, health: crate::Health) {
        let _ = (plugin, health);
    }

    /// `plugin` is about to open a subscription or a server through its [`Context`]: what a
    /// host that closes a plugin's subscriptions when it stops
    /// ([`EventBus::close_owner`](crate::EventBus::close_owner)) needs to know, so that it
    /// need not close anything for a plugin that never opened any. The default ignores it.
    fn opens_on_bus(&self, plugin: &str) {
        let _ = plugin;
    }

    /// Whether this host runs no plugins at all, as [`NoHost`]: a [`Context`] then reports
    /// that it is detached instead of blaming a dependency's state or declaration.
    fn is_detached(&self) -> bool {
        false
    }
}

/// A shared host: every call goes to the host inside, the defaulted ones too.
impl<H: Host + ?Sized> Host for Arc<H> {
    fn enabled_instance(&self, name: &str) -> Option<PluginInstance> {
        (**self).enabled_instance(name)
    }

    fn spawn(&self, plugin: &str, task: BackgroundTask) {
        (**self).spawn(plugin, task);
    }

    fn cancellation(&self, plugin: &str) -> CancellationToken {
        (**self).cancellation(plugin)
    }

    fn report_health(&self, plugin: &str, health: crate::Health) {
        (**self).report_health(plugin, health);
    }

    fn opens_on_bus(&self, plugin: &str) {
        (**self).opens_on_bus(plugin);
    }

    fn is_detached(&self) -> bool {
        (**self).is_detached()
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
/// handle.set_config(ConfigSection::parse_toml("plugins.toml", 1, "max = 3")?.into());
/// let ctx: &plugin_core::Context = &handle;
/// assert_eq!(ctx.config_section().values()["max"].as_integer(), Some(3));
/// # Ok::<(), plugin_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ContextHandle {
    context: Context,
}

impl ContextHandle {
    /// A context for the plugin described by `metadata`, on `bus`, run by `host`, with an
    /// empty configuration section.
    #[must_use]
    pub fn new(metadata: Arc<PluginMetadata>, bus: EventBus, host: Arc<dyn Host>) -> Self {
        Self::with_config(metadata, bus, host, Arc::default())
    }

    /// [`ContextHandle::new`] with `section` as its configuration from the start (what a
    /// manager starting a plugin does, without making an empty section first), and `host`
    /// of any type: it is kept in the context's own allocation, so a host made for each
    /// context (the manager's names the plugin and its instance) costs no allocation of its
    /// own. An `Arc<H>` is a host too, for one shared by many contexts.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use plugin_core::host::{ContextHandle, NoHost};
    /// use plugin_core::{ConfigSection, EventBus, PluginMetadata};
    ///
    /// let section = ConfigSection::parse_toml("plugins.toml", 1, "max = 3")?;
    /// let handle = ContextHandle::with_config(
    ///     Arc::new(PluginMetadata::new("dice")),
    ///     EventBus::new(),
    ///     NoHost,
    ///     Arc::new(section),
    /// );
    /// assert_eq!(handle.config_section().values()["max"].as_integer(), Some(3));
    /// # Ok::<(), plugin_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_config<H: Host + 'static>(
        metadata: Arc<PluginMetadata>,
        bus: EventBus,
        host: H,
        section: Arc<ConfigSection>,
    ) -> Self {
        Self {
            context: Context::new(metadata, bus, host, section),
        }
    }

    /// The context the plugin's hooks receive.
    #[must_use]
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
