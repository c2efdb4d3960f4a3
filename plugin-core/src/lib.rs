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
#[path = "private.rs"]
pub mod __private;
