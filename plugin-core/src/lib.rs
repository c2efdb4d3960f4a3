//! The contract between plugins and the manager.
//!
//! A plugin is a crate that depends on `plugin-core` alone. It marks one type with
//! [`#[plugin]`](macro@plugin), implements [`Plugin`] for it, and is thereby registered at link
//! time; the `plugin-manager` crate finds it, orders it after its dependencies and drives it
//! through its lifecycle.
//!
//! ```
//! use plugin_core::prelude::*;
//!
//! /// Answers `!ping` with `pong`.
//! #[plugin(name = "ping")]
//! #[derive(Default)]
//! pub struct Ping {
//!     answered: u64,
//! }
//!
//! #[async_trait]
//! impl Plugin for Ping {
//!     async fn setup(&mut self, ctx: &Context) -> Result<()> {
//!         assert_eq!(ctx.name(), "ping");
//!         Ok(())
//!     }
//! }
//!
//! // Registered at link time, with the metadata of this crate's manifest:
//! let descriptor = plugin_core::registered().find(|d| d.name() == "ping").unwrap();
//! assert_eq!(descriptor.version(), env!("CARGO_PKG_VERSION"));
//! ```
//!
//! # The attribute
//!
//! `#[plugin(name = "...", deps = [Type, ...], optional = ["name", ...], new = path, timeout = "2s", config = Type)]`
//!
//! - `name` (required): lowercase ASCII letters, digits, `-` and `_`.
//! - `deps`: the plugin types this one needs, by path. The compiler checks that each exists and
//!   is a plugin; a dependency cycle inside one crate fails the build. (Cycles across crates
//!   cannot happen: a dependency named by type is a Cargo dependency, and Cargo refuses cyclic
//!   crate graphs.)
//! - `optional`: names of plugins this one uses if they are compiled in; they start first when
//!   present, and [`Context::is_enabled`] tells at run time.
//! - `new`: a constructor `fn() -> Self` or `fn() -> Result<Self, E>` instead of `Default`.
//! - `timeout`: the deadline of each hook of this plugin, in the duration grammar of `humantime`
//!   that the configuration file and the command line use too: `"500ms"`, `"2s"`, `"1m30s"`.
//! - `config`: the plugin's configuration type (`serde::Deserialize`); its section of the
//!   host's file is checked against it before the plugin starts and before a reload.
//!
//! # Layout
//!
//! The root and [`prelude`] hold what a plugin author uses; [`bus`] is the event bus and
//! request/reply; [`host`] holds what only whoever runs plugins needs (the manager, or a test
//! harness).

pub mod bus;
mod config;
mod context;
mod descriptor;
mod error;
pub mod host;
mod instance;
mod metadata;
mod plugin;

pub use async_trait::async_trait;
pub use bus::{
    EventBus, Request, RequestError, Requests, Responder, ServeError, Stamped, Subscription,
};
pub use config::{ConfigCheck, ConfigError, ConfigSection, ConfigSource, check_config};
pub use context::Context;
pub use descriptor::{PluginDescriptor, registered};
pub use error::{Error, Result};
pub use instance::{Dep, Hook, PluginInstance, PluginRef};
pub use metadata::{InvalidName, PluginMetadata, check_name};
pub use plugin::{Plugin, PluginType, Reconfigured};
pub use plugin_macros::plugin;
pub use tokio_util::sync::CancellationToken;

/// What a plugin crate needs: `use plugin_core::prelude::*;`.
pub mod prelude {
    pub use crate::{Context, Error, Plugin, Reconfigured, Result, async_trait, plugin};
}

/// Not public API. Used by code that `#[plugin]` generates.
#[doc(hidden)]
pub mod __private {
    pub use core::any::TypeId;
    pub use core::time::Duration;
    pub use inventory;

    pub use crate::{PluginDescriptor, PluginInstance, PluginType, Result, check_config};

    /// 1 + the deepest of `deps`: a plugin's `DEPTH`.
    pub const fn depth(deps: &[usize]) -> usize {
        let mut deepest = 0;
        let mut i = 0;
        while i < deps.len() {
            if deps[i] > deepest {
                deepest = deps[i];
            }
            i += 1;
        }
        deepest + 1
    }

    /// What a `new = path` constructor may return: the plugin, or a `Result` of it.
    #[diagnostic::on_unimplemented(
        message = "the constructor in `new = ...` returns `{Self}`, not `{P}` or `Result<{P}, E>`",
        label = "returns `{Self}`",
        note = "`new = path` names a `fn() -> {P}` or a `fn() -> Result<{P}, E>` whose `E` converts into `plugin_core::Error`"
    )]
    pub trait IntoPlugin<P> {
        /// The plugin, or the constructor's error.
        fn into_plugin(self) -> crate::Result<P>;
    }

    impl<P: crate::Plugin> IntoPlugin<P> for P {
        fn into_plugin(self) -> crate::Result<P> {
            Ok(self)
        }
    }

    impl<P: crate::Plugin, E: Into<crate::Error>> IntoPlugin<P> for Result<P, E> {
        fn into_plugin(self) -> crate::Result<P> {
            self.map_err(Into::into)
        }
    }

    /// How `#[plugin]` without `new = ...` makes the plugin: with `Default`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` has no `Default`: derive it or name a constructor with `new = ...`",
        label = "`#[plugin]` makes `{Self}` with `Default::default()`",
        note = "add `#[derive(Default)]` to `{Self}`, or write `#[plugin(name = \"...\", new = {Self}::new)]`"
    )]
    pub trait DefaultPlugin: Sized {
        /// `Default::default()`.
        fn make() -> Self;
    }

    impl<T: Default> DefaultPlugin for T {
        fn make() -> Self {
            T::default()
        }
    }

    /// A type `#[plugin(config = T)]` can use: anything serde can deserialize.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a plugin's configuration: it does not implement `serde::Deserialize`",
        label = "not deserializable",
        note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
    )]
    pub trait ConfigType: serde::de::DeserializeOwned {}

    impl<T: serde::de::DeserializeOwned> ConfigType for T {}

    /// The configuration check of `T`, for the descriptor.
    pub const fn config_check<T: ConfigType>() -> crate::ConfigCheck {
        crate::check_config::<T>
    }

    /// Wraps what a constructor returned into an instance.
    pub fn instantiate<P: crate::Plugin>(
        made: impl IntoPlugin<P>,
    ) -> crate::Result<PluginInstance> {
        made.into_plugin().map(PluginInstance::new)
    }
}
