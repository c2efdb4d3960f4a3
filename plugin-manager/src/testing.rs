//! A test harness for plugin authors: run one plugin with what it needs, drive it, watch it.
//!
//! A [`TestBed`] names the plugins under test; it adds the closure of their required
//! dependencies from the registry (the plugins linked into the test binary), takes their
//! configuration from a TOML string and lets the test replace any of them by an instance it
//! built. [`TestBed::start`] runs them under a real [`PluginManager`](crate::PluginManager) and returns a
//! [`RunningBed`], which waits for a plugin's state or for the next event of a type, each
//! under a deadline on tokio's clock and driven by the manager's state-change feed or the
//! event bus: no polling, no sleeps. Tests may therefore run on the paused clock
//! (`#[tokio::test(start_paused = true)]`), where a deadline that is missed costs no real
//! time.
//!
//! ```
//! use std::time::Duration;
//! use plugin_core::prelude::*;
//! use plugin_manager::testing::TestBed;
//! use plugin_manager::PluginState;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Ready(u32);
//!
//! /// Announces its configured number once enabled.
//! #[plugin(name = "announcer", config = Settings)]
//! #[derive(Default)]
//! struct Announcer;
//!
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     number: u32,
//! }
//!
//! #[async_trait]
//! impl Plugin for Announcer {
//!     async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
//!         let settings: Settings = ctx.config()?;
//!         let announcer = ctx.clone();
//!         ctx.spawn(async move {
//!             announcer.publish(Ready(settings.number));
//!             Ok(())
//!         });
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let bed = TestBed::new()
//!     .plugin::<Announcer>()
//!     .config_toml("[announcer]\nnumber = 7\n")?;
//! // Subscribed before anything runs: the event cannot be missed.
//! let mut ready = bed.events::<Ready>();
//! let bed = bed.start().await?;
//! assert_eq!(bed.state("announcer"), Some(PluginState::Enabled));
//! assert_eq!(ready.next(Duration::from_secs(1)).await?, Ready(7));
//!
//! // Nothing else comes: the deadline passes on the paused clock, in no real time.
//! let error = ready.next(Duration::from_secs(5)).await.unwrap_err();
//! assert!(error.to_string().starts_with("timed out after 5s waiting for"), "{error}");
//! bed.shutdown().await;
//! # Ok::<(), plugin_manager::testing::TestBedError>(())
//! # }).unwrap();
//! ```
//!
//! # Which plugins run
//!
//! Exactly the plugins named ([`TestBed::plugin`], [`TestBed::plugin_named`], [`TestBed::spec`],
//! [`TestBed::replace`]) and the closure of their required dependencies (`deps`). Optional
//! dependencies run only when the test names them too, or asks for every registered one with
//! [`TestBed::with_optional_deps`]: which crates a test binary links is the test's choice, so
//! the set under test stays what the test says.
//!
//! A dependency is looked up, in order, among the specs the test gave and then in the registry.
//! A plugin crate is linked into a test binary only if the test refers to it; when a lookup
//! finds nothing, the error names the crate to refer to (`use plugin_commands as _;`).
//!
//! The harness is split by what each part is for: [`TestBed`] (`bed.rs`) assembles the set,
//! [`RunningBed`] (`running.rs`) drives and watches it, [`Events`] and [`within`]
//! (`events.rs`) wait for things, and [`TestBedError`] (`error.rs`) says what went wrong.

mod bed;
mod error;
mod events;
mod running;

pub use bed::TestBed;
pub use error::TestBedError;
pub use events::{Events, within};
pub use running::RunningBed;

/// The file name that errors in a configuration given by [`TestBed::config_toml`] show.
pub const CONFIG_PATH: &str = "test.toml";
