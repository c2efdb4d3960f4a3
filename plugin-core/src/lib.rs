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
//! harness): the lifecycle's [`host::Hook`]s, [`host::ConfigCheck`], [`host::check_config`],
//! [`host::config_section`].
//!
//! # Runtime
//!
//! Plugins run on a [tokio](https://docs.rs/tokio) runtime, which needs its **time driver**:
//! hooks run under deadlines and [`EventBus::request`] waits under one. Build the runtime with
//! `enable_all()` (or at least `enable_time()`); `#[tokio::main]` and `#[tokio::test]` do.
//! Without it, [`EventBus::request`] and [`Context::request`] fail at once with
//! [`RequestError::NoTimeDriver`] rather than panicking. Publishing, subscribing and serving
//! need no runtime at all.
//!
//! ```
//! use std::time::Duration;
//! use plugin_core::{EventBus, RequestError};
//!
//! let no_timer = tokio::runtime::Builder::new_current_thread().build()?;
//! let bus = EventBus::new();
//! let _server = bus.serve::<u8, u8>("math")?;
//! let outcome = no_timer.block_on(bus.request::<u8, u8>(1, Duration::from_secs(1)));
//! assert!(matches!(outcome, Err(RequestError::NoTimeDriver { .. })));
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! # Public dependencies
//!
//! These crates' types appear in plugin-core's API, so a new major version of one is a breaking
//! change of plugin-core: toml 1.x ([`ConfigSection::values`]), serde 1.x (configuration
//! types), async-trait (the [`Plugin`] hooks). tokio 1.x is the runtime plugins run on (see
//! [Runtime](#runtime)), but none of its types is in the API: the locks of [`PluginRef`] hand
//! out plugin-core's own [`PluginReadGuard`] and [`PluginWriteGuard`]. tokio-util, which is
//! not 1.0, appears only in [`host`] (see its notes); a plugin uses plugin-core's own
//! [`Cancellation`].
//!
//! # Errors
//!
//! Every error type of this crate is `std::error::Error + Send + Sync + 'static` (or, for
//! [`Error`], converts into `Box<dyn std::error::Error + Send + Sync>`), so `?` works into
//! such a box (and, for all but [`Error`], into `anyhow::Error`):
//!
//! ```
//! use std::error::Error as StdError;
//! use plugin_core::{ConfigSection, EventBus, PluginMetadata};
//!
//! fn all_of_them() -> Result<(), Box<dyn StdError + Send + Sync>> {
//!     let section = ConfigSection::parse_toml("plugins.toml", 1, "max = 3")?; // ConfigError
//!     let _max: toml::Value = section.deserialize::<toml::Value>("dice")?;
//!     let _metadata = PluginMetadata::try_new("dice")?; // InvalidName
//!     let bus = EventBus::new();
//!     let _server = bus.serve::<u8, u8>("math")?; // ServeError
//!     let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//!     runtime.block_on(bus.request::<u8, u8>(1, std::time::Duration::ZERO)).or_else(
//!         |error| match error {
//!             plugin_core::RequestError::TimedOut { .. } => Ok(0),
//!             other => Err(other),
//!         },
//!     )?; // RequestError
//!     Err(plugin_core::Error::msg("a hook's error"))?; // plugin_core::Error
//!     Ok(())
//! }
//! assert_eq!(all_of_them().unwrap_err().to_string(), "a hook's error");
//! ```

pub mod bus;
mod cancel;
mod config;
mod context;
mod descriptor;
mod error;
mod health;
pub mod host;
mod instance;
mod metadata;
mod plugin;

pub use async_trait::async_trait;
pub use bus::{
    EventBus, Request, RequestError, Requests, Responder, ServeError, Stamped, Subscription,
};
pub use cancel::Cancellation;
pub use config::{ConfigError, ConfigSection, ConfigSource};
pub use context::Context;
pub use descriptor::{PluginDescriptor, registered};
pub use error::{Error, Result};
pub use health::{Health, HealthHandle};
pub use instance::{Dep, PluginInstance, PluginReadGuard, PluginRef, PluginWriteGuard};
pub use metadata::{InvalidName, PluginMetadata, check_name};
pub use plugin::{Plugin, PluginType, Reconfigured};
pub use plugin_macros::plugin;

/// What a plugin crate needs: `use plugin_core::prelude::*;`.
pub mod prelude {
    pub use crate::{Context, Error, Plugin, Reconfigured, Result, async_trait, plugin};
}

/// Not public API. Used by code that `#[plugin]` generates.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
