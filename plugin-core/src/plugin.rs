//! The `Plugin` trait every plugin implements, and `PluginType`, which `#[plugin]` adds.

use async_trait::async_trait;

use crate::context::Context;
use crate::descriptor::PluginDescriptor;
use crate::error::Result;

/// A unit of functionality the manager drives through a lifecycle.
///
/// Put `#[plugin(name = "...")]` on the type (it registers the plugin and makes the instance
/// with `Default`) and implement the hooks you need; every hook defaults to doing nothing.
///
/// ## Lifecycle
///
/// 1. The manager makes an instance (state `loaded`) once every dependency is `enabled`.
/// 2. [`setup`](Plugin::setup) acquires resources (`setup`).
/// 3. [`on_enable`](Plugin::on_enable) starts serving (`enabled`).
/// 4. [`on_disable`](Plugin::on_disable) stops serving (`disabled`); `on_enable` may follow again.
/// 5. [`teardown`](Plugin::teardown) releases everything (`torn_down`); a restart makes a fresh
///    instance.
///
/// Each hook runs in a tokio task under its own deadline, its panics caught. An error, a
/// panic or a timeout puts the plugin in `failed` and leaves every other plugin alone.
///
/// ## Examples
///
/// A plugin with no hooks at all:
///
/// ```
/// use plugin_core::prelude::*;
///
/// #[plugin(name = "probe")]
/// #[derive(Default)]
/// pub struct Probe;
///
/// #[async_trait]
/// impl Plugin for Probe {}
/// ```
///
/// A plugin that depends on another and keeps state:
///
/// ```
/// use plugin_core::prelude::*;
/// # #[plugin(name = "clock")]
/// # #[derive(Default)]
/// # pub struct Clock;
/// # #[async_trait]
/// # impl Plugin for Clock {}
///
/// #[plugin(name = "alarm", deps = [Clock])]
/// #[derive(Default)]
/// pub struct Alarm {
///     armed: bool,
/// }
///
/// #[async_trait]
/// impl Plugin for Alarm {
///     async fn setup(&mut self, ctx: &Context) -> Result<()> {
///         let _clock = ctx.dep::<Clock>()?; // declared above, so allowed
///         Ok(())
///     }
///
///     async fn on_enable(&mut self, _ctx: &Context) -> Result<()> {
///         self.armed = true;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Plugin`",
    label = "needs `impl Plugin for {Self}`",
    note = "add `#[async_trait] impl Plugin for {Self} {{}}`: every hook has a default"
)]
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Prepares the plugin: reads configuration, reaches dependencies, acquires resources.
    ///
    /// Subscribe to events and start background tasks in [`on_enable`](Plugin::on_enable):
    /// both end when the plugin leaves `enabled`, and `setup` does not run again on re-enable.
    async fn setup(&mut self, ctx: &Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Starts serving. Runs after `setup`, and again after each `on_disable` when re-enabled.
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Stops serving; the plugin may be enabled again later.
    async fn on_disable(&mut self, ctx: &Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Releases everything. The instance is dropped afterwards.
    async fn teardown(&mut self, ctx: &Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// The configuration changed while the plugin is enabled ([`Context::config`] already
    /// returns the new one). Return [`Reconfigured::Applied`] if the plugin took it in place;
    /// the default, [`Reconfigured::NeedsRestart`], makes the manager restart the plugin (and
    /// the plugins that depend on it) with the new configuration.
    async fn reconfigure(&mut self, ctx: &Context) -> Result<Reconfigured> {
        let _ = ctx;
        Ok(Reconfigured::NeedsRestart)
    }
}

/// What [`Plugin::reconfigure`] did with a new configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconfigured {
    /// The plugin applied it while running.
    Applied,
    /// The plugin needs a restart to apply it.
    NeedsRestart,
}

/// A plugin type registered with `#[plugin]`: its name and descriptor, known at compile time.
///
/// It cannot be implemented by hand (it is sealed); `#[plugin]` implements it. It is what lets
/// `deps = [Type]` be checked by the compiler and what [`Context::dep`] uses to find a
/// dependency by type.
///
/// ```compile_fail
/// use plugin_core::{Plugin, PluginDescriptor, PluginType, async_trait};
///
/// struct Fake;
/// #[async_trait]
/// impl Plugin for Fake {}
/// impl PluginType for Fake { // error: `Fake` is not a plugin: annotate it with `#[plugin]`
///     const NAME: &'static str = "fake";
///     const DEPTH: usize = 0;
///     fn descriptor() -> &'static PluginDescriptor { unimplemented!() }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugin: annotate it with `#[plugin]`",
    label = "not a plugin",
    note = "a dependency in `deps = [...]` must be a type that has `#[plugin(name = \"...\")]`"
)]
pub trait PluginType: Plugin + Sized + crate::__private::Sealed {
    /// The plugin's name, as given in `#[plugin(name = "...")]`.
    const NAME: &'static str;

    /// Length of the longest dependency chain below this plugin, counting itself.
    ///
    /// Computed from the dependencies' own `DEPTH`, so a cycle fails to compile.
    #[doc(hidden)]
    const DEPTH: usize;

    /// The registration record `#[plugin]` submitted for this type.
    #[must_use]
    fn descriptor() -> &'static PluginDescriptor;
}
