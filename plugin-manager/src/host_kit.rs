//! What every application around the manager needs, so that its `main` is short: the
//! configuration file (found, loaded with file and line in every error, watched and applied
//! live), shutdown on Ctrl-C or `SIGTERM`, a graceful shutdown, the reports, and operator
//! commands.
//!
//! Available with the `host-kit` feature (on by default).
//!
//! A whole application, with every registered plugin:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use plugin_manager::host_kit::report::{Took, say, table};
//! use plugin_manager::host_kit::{self, Host, HostOptions};
//!
//! fn main() -> ExitCode {
//!     host_kit::init_tracing();
//!     // `--config PATH`, as the application's command line has it.
//!     let config = std::env::args_os().nth(2).map(Into::into);
//!     host_kit::block_on(async {
//!         let host = match Host::new(HostOptions::new("my-app").config(config)) {
//!             Ok(host) => host,
//!             Err(error) => {
//!                 eprintln!("my-app: {error}");
//!                 return ExitCode::from(2);
//!             }
//!         };
//!         say(&table("started:", &host.start().await, Took::Start));
//!         // Until Ctrl-C or SIGTERM, applying edits of the configuration file.
//!         host.serve_until(std::future::pending::<()>()).await;
//!         say(&table("stopped:", &host.shutdown().await, Took::Stop));
//!         ExitCode::SUCCESS
//!     })
//!     .unwrap_or(ExitCode::FAILURE)
//! }
//! ```
//!
//! A host with a loop of its own (reading commands, say) uses the parts instead of
//! [`Host::serve_until`]: a [`ConfigWatcher`] from [`Host::watch`], [`Host::reload_if_changed`]
//! when it fires, [`Host::answer`] for operator lines, [`ShutdownSignals`], and
//! [`report::change`] for the manager's [`state_changes`](PluginManager::state_changes) feed.
//!
//! Over 400 lines because `Host` and its options are documented here with examples; each of the
//! kit's parts has a file of its own below.

pub mod check;
pub mod config_file;
pub mod health;
pub mod operator;
pub mod report;
pub mod signals;
pub mod text;
pub mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use plugin_core::ConfigError;

pub use self::config_file::{ConfigFile, DEFAULT_PATH, Reload};
pub use self::signals::{ShutdownSignal, ShutdownSignals, shutdown_signal};
pub use self::watch::{ConfigWatcher, DEFAULT_SETTLE, WatchError};
use crate::config::PluginsConfig;
use crate::error::InvalidPluginSet;
use crate::manager::{
    DEFAULT_HOOK_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, ManagerBuilder, PluginManager,
};
use crate::state::{PluginRecord, StateChange};
use crate::state_changes::StateChangesError;

/// How a [`Host`] is set up.
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::host_kit::HostOptions;
///
/// let options = HostOptions::new("my-app")
///     .config(Some("my-app.toml".into()))
///     .hook_timeout(Duration::from_secs(5));
/// assert_eq!(options.name(), "my-app");
/// ```
#[derive(Debug, Clone)]
pub struct HostOptions {
    name: String,
    config: Option<PathBuf>,
    hook_timeout: Duration,
    shutdown_timeout: Duration,
    settle: Duration,
    max_config_size: u64,
}

impl HostOptions {
    /// Defaults for the application called `name` (which prefixes what the host prints to
    /// stderr): no `--config` (so [`DEFAULT_PATH`] if it exists), the manager's default
    /// deadlines, [`DEFAULT_SETTLE`] and [`PluginsConfig::MAX_SIZE`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            config: None,
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            settle: DEFAULT_SETTLE,
            max_config_size: PluginsConfig::MAX_SIZE,
        }
    }

    /// The configuration file the user named (`--config PATH`); `None` looks for
    /// [`DEFAULT_PATH`] in the current directory.
    #[must_use]
    pub fn config(mut self, path: Option<PathBuf>) -> Self {
        self.config = path;
        self
    }

    /// The deadline of every plugin hook, unless a plugin sets its own.
    #[must_use]
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// The deadline of the whole shutdown.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long the configuration file must stay quiet after an edit before it is applied.
    #[must_use]
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The size limit of the configuration file, in bytes.
    #[must_use]
    pub fn max_config_size(mut self, bytes: u64) -> Self {
        self.max_config_size = bytes;
        self
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Why a [`Host`] could not be set up. Its text is the whole message for the user, one
/// problem a line, with what came from the file or the plugins escaped
/// ([`text::escape`]), so that it can be printed as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The configuration file cannot be read or is not valid TOML.
    Config(ConfigError),
    /// The plugin set is invalid (duplicate names, missing dependencies, cycles).
    Plugins(InvalidPluginSet),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(error) => f.write_str(&text::escape(&error.to_string())),
            Self::Plugins(invalid) => {
                f.write_str("invalid plugin set")?;
                for error in &invalid.errors {
                    write!(f, "\n  - {}", text::escape(&error.to_string()))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(error) => Some(error),
            Self::Plugins(invalid) => Some(invalid),
        }
    }
}

/// How [`Host::serve_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served<T> {
    /// The caller's future finished, with this output.
    Finished(T),
    /// A shutdown signal came first.
    Signalled(ShutdownSignal),
}

/// A manager with its configuration file: starts the plugins, applies edits of the file
/// while they run, answers operator commands and shuts them down.
///
/// Methods take `&self`, so a host's own loop can use several at once.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::host_kit::{Host, HostOptions, Served};
/// use plugin_manager::{PluginManager, PluginSpec, PluginState};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("app.toml");
/// std::fs::write(&path, "[noop]\ngreeting = \"hi\"\n").unwrap();
///
/// let plugins = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")));
/// let host = Host::with_builder(plugins, HostOptions::new("app").config(Some(path))).unwrap();
/// let started = host.start().await;
/// assert_eq!(started[0].config_source.to_string(), format!("{}:1", dir.path().join("app.toml").display()));
///
/// let answer = host.answer("!disable noop").await;
/// assert_eq!(answer.as_deref(), Some("ok: noop disabled"));
///
/// assert_eq!(host.serve_until(async { 7 }).await, Served::Finished(7));
/// let stopped = host.shutdown().await;
/// assert_eq!(stopped[0].state, PluginState::TornDown);
/// # });
/// ```
#[derive(Debug)]
pub struct Host {
    manager: PluginManager,
    config: Option<ConfigFile>,
    options: HostOptions,
}

impl Host {
    /// A host over every plugin compiled into the program; see [`Host::with_builder`].
    ///
    /// # Errors
    ///
    /// As [`Host::with_builder`].
    pub fn new(options: HostOptions) -> Result<Self, HostError> {
        Self::with_builder(PluginManager::builder().registered(), options)
    }

    /// A host over the plugins of `builder`: locates the configuration file
    /// ([`ConfigFile::locate`]), loads it, and builds the manager with it and with the
    /// deadlines of `options` (which replace the builder's). Runs no plugin code yet.
    ///
    /// The file is read here, on the calling thread: once, before anything runs, and bounded
    /// by the size limit. Later reads happen on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// [`HostError::Config`] when the configuration file cannot be read or parsed,
    /// [`HostError::Plugins`] when the plugin set is invalid (duplicate names, missing
    /// dependencies, cycles).
    pub fn with_builder(builder: ManagerBuilder, options: HostOptions) -> Result<Self, HostError> {
        let config = ConfigFile::locate(options.config.clone())
            .map(|file| file.with_max_size(options.max_config_size));
        let plugins_config = match &config {
            Some(file) => file.load().map_err(HostError::Config)?,
            None => PluginsConfig::empty(),
        };
        let manager = builder
            .config(plugins_config)
            .hook_timeout(options.hook_timeout)
            .shutdown_timeout(options.shutdown_timeout)
            .build()
            .map_err(HostError::Plugins)?;
        Ok(Self {
            manager,
            config,
            options,
        })
    }

    /// The manager.
    pub fn manager(&self) -> &PluginManager {
        &self.manager
    }

    /// The configuration file, if there is one.
    pub fn config_file(&self) -> Option<&ConfigFile> {
        self.config.as_ref()
    }

    /// The options the host was made with.
    pub fn options(&self) -> &HostOptions {
        &self.options
    }

    /// Prints the configuration's problems that belong to no plugin to stderr
    /// (`NAME: configuration: ...`), and each optional dependency that names no plugin but is
    /// a near miss of one (`NAME: warning: ... did you mean ...`), starts every plugin and
    /// returns the records, in start order.
    pub async fn start(&self) -> Vec<PluginRecord> {
        for problem in self.manager.config_problems() {
            eprintln!(
                "{}: configuration: {}",
                self.options.name,
                text::escape(&problem.to_string())
            );
        }
        // An optional dependency that is absent is normal (it may be left out of this build);
        // one that is a near miss of a plugin that is present is almost surely a typo.
        for warning in self.manager.warnings() {
            let crate::GraphWarning::UnknownOptionalDependency {
                suggestion: Some(_),
                ..
            } = warning
            else {
                continue;
            };
            eprintln!(
                "{}: warning: {}",
                self.options.name,
                text::escape(&warning.to_string())
            );
        }
        self.manager.start().await;
        self.manager.records()
    }

    /// Whether the host is ready to serve: every plugin the configuration switches on is
    /// enabled and not unhealthy (see [`health::readiness`]).
    pub fn ready(&self) -> health::Readiness {
        health::readiness(&self.manager.records())
    }

    /// Shuts every plugin down (see [`PluginManager::shutdown`]) and returns the records in
    /// stop order: dependents before their dependencies.
    pub async fn shutdown(&self) -> Vec<PluginRecord> {
        self.manager.shutdown().await;
        let mut records = self.manager.records();
        records.reverse();
        records
    }

    /// Answers `line` if it is an operator command (see [`operator`]); `None` otherwise.
    pub async fn answer(&self, line: &str) -> Option<String> {
        operator::answer(&self.manager, self.config.as_ref(), line).await
    }

    /// Starts watching the configuration file, debounced by the options' settle delay;
    /// `Ok(None)` when there is no file.
    ///
    /// # Errors
    ///
    /// A [`WatchError`] when the file system watcher cannot be created or cannot watch the
    /// file's folder.
    pub fn watch(&self) -> Result<Option<ConfigWatcher>, WatchError> {
        self.config
            .as_ref()
            .map(|file| Ok(file.watch()?.with_settle(self.options.settle)))
            .transpose()
    }

    /// Applies the configuration file again if its text changed (see
    /// [`ConfigFile::reload_if_changed`]); `None` when it did not, or there is no file.
    pub async fn reload_if_changed(&self) -> Option<Reload> {
        self.config.as_ref()?.reload_if_changed(&self.manager).await
    }

    /// Runs until `until` finishes or a shutdown signal comes, whichever is first, applying
    /// edits of the configuration file as they settle. Prints to stdout, as
    /// [`report::say`] does: each state change ([`report::change`]), and for each edit
    /// `config: PATH changed` and what the reload did. The plugins keep running; call
    /// [`Host::shutdown`] next.
    ///
    /// If the file cannot be watched, says so on stderr and runs without live reload.
    pub async fn serve_until<F: Future>(&self, until: F) -> Served<F::Output> {
        let mut changes = self.manager.state_changes();
        let mut watcher = self.watch().unwrap_or_else(|error| {
            eprintln!(
                "{}: config: {error}; edits are not applied while running",
                self.options.name
            );
            None
        });
        let mut signals = ShutdownSignals::new()
            .inspect_err(|error| {
                eprintln!(
                    "{}: cannot listen for shutdown signals: {error}",
                    self.options.name
                );
            })
            .ok();
        let mut until = std::pin::pin!(until);
        loop {
            tokio::select! {
                output = &mut until => return Served::Finished(output),
                Some(signal) = next_signal(signals.as_mut()) => return Served::Signalled(signal),
                change = changes.recv() => print_change(change),
                true = edited(watcher.as_mut()) => {
                    if let Some(reload) = self.reload_if_changed().await {
                        self.say_reload(&reload);
                    }
                }
            }
        }
    }

    /// Prints `config: PATH changed` and what the reload did, as [`Host::serve_until`] does
    /// after an edit.
    pub fn say_reload(&self, reload: &Reload) {
        if let Some(file) = &self.config {
            report::say(&format!(
                "config: {} changed",
                text::escape(&file.path().display().to_string())
            ));
        }
        report::say(&reload.to_string());
    }
}

async fn next_signal(signals: Option<&mut ShutdownSignals>) -> Option<ShutdownSignal> {
    match signals {
        Some(signals) => Some(signals.recv().await),
        None => std::future::pending().await,
    }
}

async fn edited(watcher: Option<&mut ConfigWatcher>) -> bool {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

/// Prints what one read of the manager's [`state_changes`](PluginManager::state_changes)
/// feed gave: the change's line, or how many were missed (nothing once the feed closed).
pub fn print_change(change: Result<StateChange, StateChangesError>) {
    match change {
        Ok(change) => report::say(&report::change(&change)),
        Err(StateChangesError::Lagged { missed }) => report::say(&report::missed(missed)),
        Err(_closed) => {}
    }
}

/// Runs `main` to completion on a new multi-thread tokio runtime, then leaves without
/// waiting for the runtime's blocking threads.
///
/// A plugin constructor that never returned still occupies a blocking-pool thread after the
/// shutdown abandoned it; waiting for it (what dropping a runtime does) would hang the exit.
/// Fails only if the runtime cannot be created.
///
/// # Errors
///
/// The I/O error of creating the runtime.
///
/// ```
/// assert_eq!(plugin_manager::host_kit::block_on(async { 1 + 1 }).unwrap(), 2);
/// ```
pub fn block_on<F: Future>(main: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = runtime.block_on(main);
    runtime.shutdown_background();
    Ok(output)
}

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (default: errors only). Does
/// nothing if the program already set a subscriber.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

/// Parses a deadline given on a command line, such as `5s` or `500ms`; refuses zero. The
/// error is a sentence for the user.
///
/// # Errors
///
/// A sentence for the user when `text` is not a duration, or is zero.
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::host_kit::parse_deadline;
///
/// assert_eq!(parse_deadline("500ms"), Ok(Duration::from_millis(500)));
/// assert!(parse_deadline("0s").is_err());
/// assert!(parse_deadline("soon").unwrap_err().contains("write e.g. `5s`"));
/// ```
pub fn parse_deadline(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. `5s` or `500ms`"))?;
    if duration.is_zero() {
        return Err("a deadline must be longer than zero".to_owned());
    }
    Ok(duration)
}
