//! The public face of the manager: building it, starting and stopping the set, operator
//! requests and queries.
//!
//! Over 400 lines because it is the manager's whole public API, each method with its
//! documentation (errors, panics, cancel safety); the work is done in `lifecycle`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{ConfigError, EventBus, PluginDescriptor, PluginInstance, PluginRef, PluginType};

use crate::config::{PluginsConfig, ReloadError};
use crate::error::{GraphWarning, InvalidPluginSet, OperationError};
use crate::graph::DependencyGraph;
use crate::lifecycle::ConfigChange;
use crate::lifecycle::{Settings, Shared};
use crate::restart_policy::RestartPolicy;
use crate::spec::PluginSpec;
use crate::state::{PluginRecord, PluginState};
use crate::state_changes::StateChanges;

/// The deadline of each hook unless the host or the plugin sets another.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// How many plugins a start or shutdown of the whole set keeps in flight at once unless told
/// otherwise ([`ManagerBuilder::max_in_flight`]).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// How long [`PluginManager::shutdown`] waits for the whole set unless told otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a set of plugins: validates and orders it, drives every plugin through its lifecycle,
/// records what happens, and serves operator requests.
///
/// Cheap to clone; clones control the same plugins.
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::{PluginManager, PluginSpec, PluginState};
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let manager = PluginManager::builder()
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("b").with_deps(["a"])))
///     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("a")))
///     .build()
///     .unwrap();
/// manager.start().await;
/// assert_eq!(manager.start_order(), ["a", "b"]);
/// assert_eq!(manager.state("b"), Some(PluginState::Enabled));
///
/// manager.disable("b").await.unwrap();
/// assert_eq!(manager.enabled(), ["a"]);
///
/// manager.shutdown().await;
/// assert_eq!(manager.state("a"), Some(PluginState::TornDown));
/// # });
/// ```
#[derive(Clone)]
pub struct PluginManager {
    shared: Arc<Shared>,
}

impl PluginManager {
    /// A builder with no plugins yet.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// A manager over every plugin compiled into this binary, with default settings.
    ///
    /// # Errors
    ///
    /// An [`InvalidPluginSet`] with every problem of the registry: duplicate names, missing
    /// dependencies, cycles, invalid names, a selected plugin crate that registered nothing
    /// (see [`ManagerBuilder::registered`]).
    pub fn from_registry() -> Result<Self, InvalidPluginSet> {
        Self::builder().registered().build()
    }

    /// Starts every plugin that has not started, concurrently where dependencies allow.
    ///
    /// Never fails as a whole: a plugin that fails is recorded as `Failed` (and so are the
    /// plugins that need it); everything else starts. Look at [`PluginManager::records`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or on one built without the time driver (deadlines need it):
    /// build the runtime with `enable_time()` or `enable_all()` (`#[tokio::main]` does).
    pub async fn start(&self) {
        require_time_driver();
        let shared = self.shared.clone();
        run_on_runtime("start", async move { shared.start_all().await }).await;
    }

    /// Disables and tears down every plugin, dependents before their dependencies, within the
    /// shutdown deadline. Afterwards the manager refuses operator requests.
    pub async fn shutdown(&self) {
        let shared = self.shared.clone();
        run_on_runtime("shutdown", async move { shared.shutdown().await }).await;
    }

    /// Enables a disabled plugin, enabling its disabled dependencies first.
    ///
    /// # Errors
    ///
    /// [`OperationError::UnknownPlugin`] for no such plugin, `InvalidTransition` when its state
    /// cannot be enabled (enabled already, or failed or torn down: restart those),
    /// `DependencyUnavailable` when a dependency cannot be enabled, `Failed` when a hook of it
    /// or of a dependency failed on the way (that plugin is `failed` now), `ShuttingDown` once
    /// the manager shuts down.
    ///
    /// # Cancel safety
    ///
    /// The request runs in a task of the manager's: dropping the returned future (a caller's
    /// timeout, a `select!` that took another branch) does not cut a hook short; the request
    /// still runs to its end, and the records and state changes tell how it ended. The same
    /// holds for [`disable`](Self::disable), [`disable_cascade`](Self::disable_cascade),
    /// [`restart`](Self::restart) and [`reload_config`](Self::reload_config).
    pub async fn enable(&self, name: &str) -> Result<(), OperationError> {
        let (shared, name) = (self.shared.clone(), name.to_owned());
        to_completion("enable", async move { shared.enable(&name).await })
            .await
            .unwrap_or(Err(OperationError::ShuttingDown))
    }

    /// Disables an enabled plugin; refused while enabled plugins depend on it.
    ///
    /// Cancel-safe: see [`enable`](Self::enable).
    ///
    /// # Errors
    ///
    /// [`OperationError::UnknownPlugin`] for no such plugin, `InvalidTransition` when it is not
    /// enabled, `HasEnabledDependents` while enabled plugins require it, `Failed` when its
    /// `on_disable` failed, `ShuttingDown` once the manager shuts down.
    pub async fn disable(&self, name: &str) -> Result<(), OperationError> {
        let (shared, name) = (self.shared.clone(), name.to_owned());
        to_completion("disable", async move { shared.disable(&name, false).await })
            .await
            .unwrap_or(Err(OperationError::ShuttingDown))
    }

    /// Disables an enabled plugin and, first, every enabled plugin that depends on it.
    ///
    /// Cancel-safe: see [`enable`](Self::enable).
    ///
    /// # Errors
    ///
    /// As [`disable`](Self::disable), without `HasEnabledDependents`; `Failed` names the plugin
    /// whose `on_disable` failed.
    pub async fn disable_cascade(&self, name: &str) -> Result<(), OperationError> {
        let (shared, name) = (self.shared.clone(), name.to_owned());
        to_completion("disable", async move { shared.disable(&name, true).await })
            .await
            .unwrap_or(Err(OperationError::ShuttingDown))
    }

    /// Tears a plugin down, makes a fresh instance and starts it; then does the same for the
    /// plugins that were running on it or had failed because it had.
    ///
    /// Cancel-safe: see [`enable`](Self::enable).
    ///
    /// # Errors
    ///
    /// [`OperationError::UnknownPlugin`] for no such plugin, `InvalidTransition` when it never
    /// started or is starting, `DependencyUnavailable` when a dependency cannot be enabled,
    /// `Failed` when a hook failed on the way (the plugin that failed is `failed` now),
    /// `ShuttingDown` once the manager shuts down.
    pub async fn restart(&self, name: &str) -> Result<(), OperationError> {
        let (shared, name) = (self.shared.clone(), name.to_owned());
        to_completion("restart", async move { shared.restart(&name).await })
            .await
            .unwrap_or(Err(OperationError::ShuttingDown))
    }

    /// The names of all plugins, in start order.
    pub fn start_order(&self) -> Vec<&str> {
        self.shared.graph.start_order()
    }

    /// The state of `name`, if there is such a plugin.
    pub fn state(&self, name: &str) -> Option<PluginState> {
        Some(self.shared.state(self.shared.graph.position(name)?))
    }

    /// A snapshot of the record of `name`.
    pub fn record(&self, name: &str) -> Option<PluginRecord> {
        Some(self.shared.record(self.shared.graph.position(name)?))
    }

    /// Snapshots of every record, in start order.
    pub fn records(&self) -> Vec<PluginRecord> {
        (0..self.shared.graph.len())
            .map(|p| self.shared.record(p))
            .collect()
    }

    /// The names of the enabled plugins, in start order.
    pub fn enabled(&self) -> Vec<String> {
        (0..self.shared.graph.len())
            .filter(|&p| self.shared.state(p) == PluginState::Enabled)
            .map(|p| self.shared.graph.name(p).to_owned())
            .collect()
    }

    /// The live instance of `name` (any state that has one), type-erased.
    pub fn instance(&self, name: &str) -> Option<PluginInstance> {
        self.shared.instance(self.shared.graph.position(name)?)
    }

    /// The live instance of the plugin type `P`, typed.
    pub fn get<P: PluginType>(&self) -> Option<PluginRef<P>> {
        self.get_named(P::NAME)
    }

    /// The live instance of `name` as a `P`, for plugins assembled in code.
    pub fn get_named<P: Send + Sync + 'static>(&self, name: &str) -> Option<PluginRef<P>> {
        self.instance(name)?.downcast::<P>()
    }

    /// Problems of the configuration given at build time that belong to no plugin (sections
    /// naming unknown plugins). Problems of a plugin's own section make that plugin fail.
    pub fn config_problems(&self) -> &[ConfigError] {
        &self.shared.unknown_sections
    }

    /// What is odd about the set without keeping it from running: optional dependencies that
    /// name no plugin, with the closest name (see [`DependencyGraph::warnings`]). Each was
    /// also logged as a `tracing` warning when the manager was built.
    pub fn warnings(&self) -> &[GraphWarning] {
        self.shared.graph.warnings()
    }

    /// Applies a new configuration: checks the whole file first (unknown plugins, invalid
    /// sections, a plugin left on while a dependency is switched off) and, if anything is
    /// wrong, changes nothing and returns every problem. Otherwise: plugins switched off are
    /// disabled (their dependents first), plugins whose section changed get it through
    /// `reconfigure` or are restarted, plugins switched on are enabled.
    ///
    /// Cancel-safe: see [`enable`](Self::enable).
    ///
    /// # Errors
    ///
    /// A [`ReloadError`] with every problem of the file; nothing was changed then.
    pub async fn reload_config(
        &self,
        config: PluginsConfig,
    ) -> Result<Vec<ConfigChange>, ReloadError> {
        let shared = self.shared.clone();
        to_completion("reload", async move { shared.reload(config).await })
            .await
            .unwrap_or_else(|| {
                Err(vec![ConfigError::new(
                    "the runtime is shutting down: the reload did not finish",
                )])
            })
            .map_err(ReloadError::from)
    }

    /// The event bus shared with every plugin; the host publishes and subscribes here.
    pub fn bus(&self) -> &EventBus {
        &self.shared.bus
    }

    /// A feed of every state change from now on (not the plugins' events: those are on
    /// [`PluginManager::bus`]).
    ///
    /// The feed buffers 1024 changes; an observer that falls further behind is told how many
    /// it missed ([`StateChangesError::Lagged`](crate::StateChangesError::Lagged)), and the
    /// records' histories keep them.
    pub fn state_changes(&self) -> StateChanges {
        self.shared.subscribe_changes()
    }

    /// The feed of state changes, under its old name.
    #[deprecated(note = "it returns state changes, not events: use `state_changes`")]
    pub fn subscribe(&self) -> StateChanges {
        self.state_changes()
    }
}

/// Runs a wavefront in a task of its own. The caller may be outside the runtime's workers
/// (`block_on`, as in `#[tokio::main]`), and waking a thread parked in `block_on` at every
/// step of a long dependency chain costs a system call each time; on a worker, the hook tasks
/// the wavefront spawns and wakes mostly stay on that worker.
async fn run_on_runtime(what: &str, wavefront: impl Future<Output = ()> + Send + 'static) {
    if let Err(error) = crate::task::spawn_manager(what, wavefront).await {
        // The wavefront runs no plugin code itself (that runs in nested tasks), so this is a
        // bug of the manager or a runtime shutting down; report it rather than panic.
        tracing::error!(%error, "plugin {what} stopped");
    }
}

/// Runs an operator request in a task of its own, so that it finishes whatever its caller
/// does (the task is not aborted when the caller drops this future). `None` when the runtime
/// shut down under it.
async fn to_completion<T: Send + 'static>(
    what: &str,
    request: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    match crate::task::spawn_manager(what, request).await {
        Ok(outcome) => Some(outcome),
        Err(error) if error.is_panic() => {
            // The request runs no plugin code itself (hooks run in nested tasks): a panic here
            // is a bug of the manager, and hiding it would hide the bug.
            std::panic::resume_unwind(error.into_panic())
        }
        Err(_cancelled) => None,
    }
}

/// Panics with what to do when the current runtime cannot keep deadlines: without a time
/// driver tokio panics at the first timer, deep inside a wavefront, and every plugin would be
/// left `Unloaded` with no word of why.
fn require_time_driver() {
    const NEEDED: &str = "plugin_manager: the manager needs a tokio runtime with the time \
                          driver: build it with `enable_time()` or `enable_all()` (as \
                          `#[tokio::main]` does)";
    assert!(
        tokio::runtime::Handle::try_current().is_ok(),
        "{NEEDED}; there is no runtime here"
    );
    let timer = std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO)));
    assert!(timer.is_ok(), "{NEEDED}");
}

/// Each plugin with its state, in start order.
impl fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let states =
            (0..self.shared.graph.len()).map(|p| (self.shared.graph.name(p), self.shared.state(p)));
        f.debug_struct("PluginManager")
            .field("plugins", &DebugMap(states))
            .finish_non_exhaustive()
    }
}

/// Formats pairs as a map without collecting them.
struct DebugMap<I>(I);

impl<K: fmt::Debug, V: fmt::Debug, I: Iterator<Item = (K, V)> + Clone> fmt::Debug for DebugMap<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.clone()).finish()
    }
}

/// Assembles a [`PluginManager`]: which plugins, and the deadlines.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()`"]
pub struct ManagerBuilder {
    specs: Vec<PluginSpec>,
    hook_timeout: Duration,
    shutdown_timeout: Duration,
    bus: Option<EventBus>,
    default_policy: RestartPolicy,
    policies: HashMap<String, RestartPolicy>,
    config: PluginsConfig,
    blocking_constructors: bool,
    metrics: bool,
    max_in_flight: usize,
    registry_checked: bool,
}

impl Default for ManagerBuilder {
    fn default() -> Self {
        Self {
            specs: Vec::new(),
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            bus: None,
            default_policy: RestartPolicy::Never,
            policies: HashMap::new(),
            config: PluginsConfig::empty(),
            blocking_constructors: true,
            metrics: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            registry_checked: false,
        }
    }
}

impl ManagerBuilder {
    /// Adds every plugin compiled into this binary.
    ///
    /// [`build`](Self::build) then also checks the registry against what
    /// [`link_plugins!`](crate::link_plugins) says the application selected: a selected plugin
    /// crate that registered no plugin is refused by name
    /// ([`GraphError::NothingRegistered`](crate::GraphError::NothingRegistered)), and so is an
    /// empty registry in a program without `link_plugins!()`
    /// ([`GraphError::NotLinked`](crate::GraphError::NotLinked)).
    pub fn registered(mut self) -> Self {
        self.registry_checked = true;
        self.descriptors(plugin_core::registered())
    }

    /// Adds registered plugins chosen by the caller.
    pub fn descriptors(
        mut self,
        descriptors: impl IntoIterator<Item = &'static PluginDescriptor>,
    ) -> Self {
        self.specs
            .extend(descriptors.into_iter().map(PluginSpec::from_descriptor));
        self
    }

    /// Adds one plugin.
    pub fn plugin(mut self, spec: PluginSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// Adds plugins.
    pub fn plugins(mut self, specs: impl IntoIterator<Item = PluginSpec>) -> Self {
        if self.specs.is_empty() {
            // A `Vec` given first is kept as it is, not copied.
            self.specs = specs.into_iter().collect();
        } else {
            self.specs.extend(specs);
        }
        self
    }

    /// The deadline of every hook and constructor, unless a plugin sets its own.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero: no hook could ever finish (the configuration file refuses a zero
    /// deadline too).
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "a hook deadline must be longer than zero"
        );
        self.hook_timeout = timeout;
        self
    }

    /// The deadline of the whole shutdown.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "a shutdown deadline must be longer than zero"
        );
        self.shutdown_timeout = timeout;
        self
    }

    /// The restart policy of every plugin that has none of its own (default: never).
    pub fn default_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.default_policy = policy;
        self
    }

    /// The restart policy of the plugin called `name`.
    pub fn restart_policy(mut self, name: impl Into<String>, policy: RestartPolicy) -> Self {
        self.policies.insert(name.into(), policy);
        self
    }

    /// The configuration file: which plugins are on, their deadlines, restart policies and
    /// own settings. A section that is invalid makes its plugin fail at start (the others
    /// start); a section naming no plugin is reported by [`PluginManager::config_problems`].
    pub fn config(mut self, config: PluginsConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs every constructor in place on a runtime worker, without the guard of the default.
    ///
    /// By default a constructor runs in place on a worker only while another worker stays free
    /// of constructors, and waits briefly for that; once the constructors in place have run
    /// past 2 ms, or on a current-thread runtime, the next ones go to tokio's blocking pool.
    /// So a constructor that blocks is cut off at its deadline and can take at most the workers
    /// beyond the first. This option drops the guard, at the price that constructors which block
    /// can stall every worker, and with them the deadline that would cut them off. On a
    /// multi-thread runtime it gains nothing measurable with thousands of trivial constructors
    /// (`docs/benchmarks.md`); on a current-thread runtime, where the guard sends every
    /// constructor to the blocking pool, it saves each a hop to another thread and back.
    pub fn inline_constructors(mut self) -> Self {
        self.blocking_constructors = false;
        self
    }

    /// Reports each plugin's state, health, hook durations and automatic restarts through the
    /// [`metrics`] facade, each series labelled `plugin="NAME"` (the list is in
    /// `docs/operating.md`); install the recorder (an exporter) before the manager starts.
    ///
    /// Off by default: the facade cannot tell whether a recorder is installed, and registering
    /// a plugin's series costs about as much as the rest of its start (a key with its labels
    /// built, hashed and dropped for each of about ten series; 10,000 plugins start about a
    /// third slower, see `docs/benchmarks.md`), recorder or not. The events and requests each
    /// plugin's `Context` counts are reported either way, registered when the first one flows.
    ///
    /// ```
    /// use plugin_manager::PluginManager;
    ///
    /// let manager = PluginManager::builder().metrics().build()?;
    /// # Ok::<(), plugin_manager::InvalidPluginSet>(())
    /// ```
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// At most `places` plugins in their start (or stop) at once when [`PluginManager::start`]
    /// or [`PluginManager::shutdown`] runs the whole set; a plugin whose dependencies are ready
    /// waits for a place. Default [`DEFAULT_MAX_IN_FLIGHT`]; at least 1.
    ///
    /// The bound keeps the working set of thousands of plugins small enough for the caches
    /// (10,000 no-op plugins start and stop a sixth to a half faster than with no bound, see
    /// `docs/benchmarks.md`). Raise it for sets with more independent plugins than that whose
    /// hooks take long (each waiting on the network, say), which then all overlap.
    ///
    /// ```
    /// use plugin_manager::PluginManager;
    ///
    /// let manager = PluginManager::builder().max_in_flight(1024).build()?;
    /// # Ok::<(), plugin_manager::InvalidPluginSet>(())
    /// ```
    pub fn max_in_flight(mut self, places: usize) -> Self {
        self.max_in_flight = places.max(1);
        self
    }

    /// The event bus to use (e.g. with another queue capacity).
    pub fn bus(mut self, bus: EventBus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Validates the set (duplicate names, missing dependencies, cycles) and orders it.
    ///
    /// # Errors
    ///
    /// An [`InvalidPluginSet`] with every problem at once: duplicate names, missing dependencies,
    /// cycles, invalid names and, after [`registered`](Self::registered), selected crates that
    /// registered nothing.
    pub fn build(self) -> Result<PluginManager, InvalidPluginSet> {
        let mut errors = if self.registry_checked {
            crate::linking::check(plugin_core::registered())
        } else {
            Vec::new()
        };
        // Parts first: each plugin's metadata goes into its `Arc` here, in the order given,
        // and what the manager then moves around to order them is small.
        let plugins: Vec<_> = self.specs.into_iter().map(PluginSpec::into_parts).collect();
        let graph = match DependencyGraph::of_shared(&plugins, |p| &p.metadata) {
            Ok(graph) if errors.is_empty() => graph,
            Ok(_) => return Err(InvalidPluginSet { errors }),
            Err(graph_errors) => {
                errors.extend(graph_errors);
                return Err(InvalidPluginSet { errors });
            }
        };
        for warning in graph.warnings() {
            tracing::warn!("{warning}");
        }
        let settings = Settings {
            hook_timeout: self.hook_timeout,
            shutdown_timeout: self.shutdown_timeout,
            bus: self.bus.unwrap_or_default(),
            default_policy: self.default_policy,
            policies: self.policies,
            config: self.config,
            blocking_constructors: self.blocking_constructors,
            metrics: self.metrics,
            max_in_flight: self.max_in_flight,
        };
        Ok(PluginManager {
            shared: Shared::new(graph, plugins, settings),
        })
    }
}
