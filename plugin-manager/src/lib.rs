//! Runs the plugins registered with `plugin-core`.
//!
//! The manager collects every plugin compiled into the binary (or plugins given in code),
//! validates the set (duplicate names, missing dependencies, cycles), orders it by
//! dependencies (ties broken by name, never by link order) and drives each plugin through
//! `setup`, `on_enable`, `on_disable` and `teardown`, each hook run in a tokio task under its
//! own deadline and `catch_unwind` (a plugin's start, or a line of stops, shares one task). An
//! error, a panic or a hang in one plugin makes that plugin `Failed` and leaves the others
//! alone; plugins that need a failed plugin are not started.
//!
//! # Runtime
//!
//! The manager runs on a multi-thread or current-thread [tokio](https://docs.rs/tokio)
//! runtime **with its time driver** (`enable_all()`, or at least `enable_time()`; what
//! `#[tokio::main]` and `#[tokio::test]` build): every hook and the shutdown run under
//! deadlines. Call [`PluginManager::start`] inside that runtime; outside any runtime it
//! panics. Requests between plugins check the time driver themselves and fail with
//! [`RequestError::NoTimeDriver`](plugin_core::RequestError::NoTimeDriver) without one.
//!
//! # Errors
//!
//! Every error type of this crate ([`InvalidPluginSet`], [`OperationError`],
//! [`ReloadError`], [`GraphError`], [`PluginsConfig::load`]'s
//! [`ConfigError`](plugin_core::ConfigError)) is `std::error::Error + Send + Sync + 'static`,
//! so `?` carries it into a `Box<dyn Error + Send + Sync>` or an `anyhow::Error`:
//!
//! ```
//! use plugin_manager::{PluginManager, PluginsConfig};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let config = PluginsConfig::parse("plugins.toml", "")?; // ConfigError
//!     let manager = PluginManager::builder().config(config).build()?; // InvalidPluginSet
//!     manager.start().await;
//!     let refused = manager.enable("nothing-called-that").await; // OperationError
//!     assert!(refused.is_err());
//!     manager.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! # Public dependencies
//!
//! The manager's API shows no tokio type: the feed of state changes is [`StateChanges`], with
//! its own [`StateChangesError`], and [`PluginManager::get`] hands out plugin-core's
//! [`PluginRef`](plugin_core::PluginRef). What it shows of other crates is plugin-core's
//! (toml 1.x in configuration sections; see plugin-core's notes) and serde 1.x (`Serialize` on
//! the record types), so a new major version of one of those is a breaking change of
//! plugin-manager too.
//!
//! An application around the manager finds what every host needs in [`host_kit`]: the
//! configuration file (loaded, watched and applied live), shutdown on Ctrl-C or `SIGTERM`,
//! the reports and operator commands. It is behind the `host-kit` Cargo feature, on by
//! default; without it the crate does not depend on `notify`, `serde_json`,
//! `tracing-subscriber` or tokio's signal handling.
//!
//! ```
//! use plugin_core::{Plugin, PluginMetadata, async_trait};
//! use plugin_manager::{FailureKind, PluginManager, PluginSpec, PluginState};
//!
//! #[derive(Default)]
//! struct Fine;
//! #[async_trait]
//! impl Plugin for Fine {}
//!
//! #[derive(Default)]
//! struct Broken;
//! #[async_trait]
//! impl Plugin for Broken {
//!     async fn setup(&mut self, _: &plugin_core::Context) -> plugin_core::Result<()> {
//!         panic!("no config")
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let manager = PluginManager::builder()
//!     .plugin(PluginSpec::with_default::<Broken>(PluginMetadata::new("broken")))
//!     .plugin(PluginSpec::with_default::<Fine>(PluginMetadata::new("needs-broken").with_deps(["broken"])))
//!     .plugin(PluginSpec::with_default::<Fine>(PluginMetadata::new("fine")))
//!     .build()
//!     .unwrap();
//! manager.start().await;
//!
//! let broken = manager.record("broken").unwrap();
//! assert_eq!(broken.state, PluginState::Failed);
//! assert_eq!(broken.last_error.unwrap().to_string(), "setup panicked: no config");
//! assert_eq!(
//!     manager.record("needs-broken").unwrap().last_error.unwrap().kind,
//!     FailureKind::DependencyFailed("broken".into())
//! );
//! assert_eq!(manager.enabled(), ["fine"]);
//! # });
//! ```

pub mod check;
mod config;
mod error;
mod graph;
#[cfg(feature = "host-kit")]
pub mod host_kit;
mod lifecycle;
mod linking;
mod manager;
mod restart_policy;
mod spec;
mod state;
mod state_changes;
mod task;
mod telemetry;
pub mod testing;
mod timings;

pub use config::{PluginSettings, PluginsConfig, ReloadError};
pub use error::{GraphError, GraphWarning, InvalidPluginSet, Operation, OperationError};
pub use graph::{DependencyGraph, GraphFormat, GraphView, NodeMark};
pub use lifecycle::{ConfigAction, ConfigChange};
pub use manager::{
    DEFAULT_HOOK_TIMEOUT, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SHUTDOWN_TIMEOUT, ManagerBuilder,
    PluginManager,
};
#[doc(inline)]
#[doc = include_str!("../docs/linking.md")]
pub use plugin_macros::link_plugins;
pub use restart_policy::{Backoff, RestartPolicy};
pub use spec::PluginSpec;
pub use state::{
    Failure, FailureKind, HISTORY_LIMIT, Phase, PluginRecord, PluginState, StateChange,
};
pub use state_changes::{StateChanges, StateChangesError};
pub use timings::{HookTimings, critical_chain};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The examples of `docs/dependencies-and-events.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/dependencies-and-events.md")]
struct DocsDependenciesAndEventsDoctests;

/// The examples of `docs/supervision.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/supervision.md")]
struct DocsSupervisionDoctests;

/// The examples of `docs/configuration.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/configuration.md")]
struct DocsConfigurationDoctests;

/// The examples of `docs/operating.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/operating.md")]
struct DocsOperatingDoctests;

/// Not public API. Used by code that [`link_plugins!`] generates.
#[doc(hidden)]
pub mod __private {
    pub use inventory;

    pub use crate::linking::{LinkLine, SelectedCrate};
}

/// The manager's most used items: `use plugin_manager::prelude::*;`.
pub mod prelude {
    pub use crate::{OperationError, PluginManager, PluginRecord, PluginSpec, PluginState};
}
