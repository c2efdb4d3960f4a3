//! The table of plugins and the operations that move them through their lifecycle.
//!
//! # Concurrency
//!
//! Each plugin has an *operation lock* (an async mutex) and a *live record* (a short-lived
//! sync mutex), and the set has a *set lock* (an async read-write lock). An operation on some
//! plugins takes the set lock shared, then the operation locks of every plugin it may touch or
//! whose state it relies on (the plugin, its dependencies and its dependents, transitively),
//! always in start order, so two operations never deadlock and operations on unrelated plugins
//! never wait for each other; one on every plugin (the start and the shutdown of the set, a
//! reload's change of the records) takes the set lock alone, exclusively. The live record is
//! only held to read or write a few fields, never across an `.await`. Reloads are serialized by
//! a lock of their own, taken before the set lock. ARCHITECTURE.md, "Lock invariants", numbers
//! these rules; comments here refer to them by number.
//!
//! Plugin code always runs in a task of its own, under the plugin's deadline: a start or a stop
//! in one task per plugin (`driver`: each piece under `catch_unwind`, the deadline kept by the
//! caller), a single hook of an operation or `reconfigure` through
//! [`run_isolated`](crate::task::run_isolated).
//!
//! # Layout
//!
//! A plugin's live record ([`Live`]) is its state and history (`history`: its last changes,
//! the first few in place) plus three parts, each with its own file, methods and invariants:
//!
//! - `instance`: the running instance, its context and background tasks;
//! - `supervision`: its restart policy, the restarts made, and whether and when to restart;
//! - `configuration`: its section of the configuration file, on or off, and its deadline.
//!
//! What moves one plugin (`transition`, `start_one`, `stop_one`) is in `plugin`, the plugin
//! task and its deadline in `driver`, the stamps their times are kept in in `clock`; the rest
//! is split by what drives it:
//!
//! - `wavefront`: starting and shutting down the whole set; `start_wave`: the start's
//!   bookkeeping, with no task steering it; `stop_wave`: the shutdown's, steered by one task;
//! - `operations`: the operator's enable, disable and restart;
//! - `supervision`: automatic restarts after a failure;
//! - `reload`: applying a new configuration file;
//! - `host`: the manager's side of a plugin's `Context` (lookups, background tasks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use plugin_core::host::ConfigCheck;
use plugin_core::{ConfigError, EventBus, Health, PluginInstance, PluginMetadata};
use tokio::task::AbortHandle;
use tokio::time::Instant;

mod clock;
mod configuration;
mod driver;
mod history;
mod host;
mod instance;
mod operations;
mod plugin;
mod reload;
mod start_wave;
mod stop_wave;
mod supervision;
mod wavefront;

use clock::{Stamp, StartStamps};
use configuration::Configuration;
use history::History;
use instance::Instance;
pub use reload::{ConfigAction, ConfigChange};
use reload::{needs_switched_off, unknown_sections};
use supervision::Supervision;

use crate::config::PluginsConfig;
use crate::error::OperationError;
use crate::graph::DependencyGraph;
use crate::restart_policy::RestartPolicy;
use crate::spec::{Factory, PluginParts};
use crate::state::{Failure, PluginRecord, PluginState, StateChange};
use crate::state_changes::{ChangeFeed, StateChanges};
use crate::telemetry::PluginTelemetry;

/// Everything the manager shares with its tasks and with plugin contexts.
pub(crate) struct Shared {
    pub(crate) graph: DependencyGraph,
    slots: Vec<Slot>,
    pub(crate) bus: EventBus,
    changes: ChangeFeed,
    hook_timeout: Duration,
    shutdown_timeout: Duration,
    blocking_constructors: bool,
    /// Whether the manager's own metrics are on (`ManagerBuilder::metrics`).
    metrics: bool,
    /// At most this many plugins in their start or stop at once in a wavefront.
    max_in_flight: usize,
    /// The builder's restart policy for plugins it names none for, and those it names
    /// (`Shared::builder_policy`).
    default_policy: RestartPolicy,
    policies: HashMap<String, RestartPolicy>,
    created: Instant,
    shutting_down: AtomicBool,
    /// Serializes reloads (invariant 5).
    reloading: tokio::sync::Mutex<()>,
    /// Taken by every operation before any operation lock (invariant 1): shared by one that
    /// then takes the operation locks of the plugins it touches, exclusively by one that
    /// touches every plugin, which takes no operation lock (10,000 of them taken and let go,
    /// each on a line of its own slot, cost a start of the whole set 3-10% of its time).
    whole_set: tokio::sync::RwLock<()>,
    /// Pending automatic restarts, aborted at shutdown.
    supervisors: Mutex<Vec<AbortHandle>>,
    /// This very `Shared`, for tasks the manager starts from `&self` methods.
    this: Weak<Shared>,
    /// Sections of the configuration given at build time that name no plugin.
    pub(crate) unknown_sections: Vec<ConfigError>,
}

/// One plugin's place in the table.
struct Slot {
    metadata: Arc<PluginMetadata>,
    /// Its metrics' handles.
    telemetry: PluginTelemetry,
    factory: Factory,
    /// Set while a constructor of the plugin runs. One cut off at its deadline cannot be
    /// stopped (it is plain code on a thread) and keeps it set until it returns; until then
    /// the plugin is not constructed again, so it holds at most one thread, however often it
    /// is restarted.
    constructing: AtomicBool,
    config_check: Option<ConfigCheck>,
    /// Set (for good) once a context of the plugin opened a subscription or a server: only
    /// then does leaving the running states close what it opened (`Shared::announce`).
    on_bus: AtomicBool,
    /// Held by every operation on some plugins that touches this one or relies on its state
    /// (invariant 1); an operation on every plugin holds the set lock instead.
    /// `futures`' mutex, not tokio's: taken and let go with one atomic each when nobody
    /// waits, where tokio's release takes a lock of its own every time (an operation takes
    /// those of a whole closure of dependencies or dependents, one after another).
    operation: futures_util::lock::Mutex<()>,
    /// Never held across an `.await` (invariant 3).
    live: Mutex<Live>,
}

/// The locks an operation holds (invariant 1), let go when dropped.
enum Locks<'a> {
    /// The set lock, exclusively: every plugin.
    Set {
        _set: tokio::sync::RwLockWriteGuard<'a, ()>,
    },
    /// The set lock shared, and the operation locks of some plugins.
    Plugins {
        _plugins: Vec<futures_util::lock::MutexGuard<'a, ()>>,
        _set: tokio::sync::RwLockReadGuard<'a, ()>,
    },
}

/// The mutable part of a slot: where the plugin is and has been, and its three parts.
///
/// # Invariants
///
/// - `state` changes only through `Shared::transition`, along an edge of
///   [`PluginState::can_go_to`], with the change appended to `history`.
/// - `instance` holds no instance while `!state.has_instance()`, except in `start_one`
///   between installing a fresh instance and entering `Loaded`, under the operation lock (or
///   the set lock, exclusively).
struct Live {
    state: PluginState,
    /// Boxed: most plugins never fail, and each plugin's slot is 32 bytes smaller for it.
    last_error: Option<Box<Failure>>,
    /// The clock's reads of the last start that finished: its length and its pieces'
    /// (`HookTimings`).
    last_start: Option<StartStamps>,
    stop_time: Option<Duration>,
    /// What the current instance last reported of its health (healthy until it says).
    health: Health,
    /// The last [`HISTORY_LIMIT`](crate::HISTORY_LIMIT) changes, oldest first.
    history: History,
    /// The number of the plugin task's attempt that may move the plugin (`driver`).
    attempt: u64,
    instance: Instance,
    supervision: Supervision,
    config: Configuration,
}

/// One change of a plugin's state as its history keeps it: a [`StateChange`] without the
/// plugin's name, which is added when the change is sent or read (most changes never are).
#[derive(Clone)]
struct Transition {
    from: PluginState,
    to: PluginState,
    /// Boxed: most changes have none, and a history entry stays small (24 bytes, not 64).
    cause: Option<Box<Failure>>,
    /// A stamp, not a `Duration` (8 bytes, not 16): made a `Duration` when read.
    at: Stamp,
}

impl Transition {
    fn named(self, plugin: &str) -> StateChange {
        StateChange {
            plugin: plugin.to_owned(),
            from: self.from,
            to: self.to,
            cause: self.cause.map(|cause| *cause),
            at: self.at.since_creation(),
        }
    }
}

impl Live {
    /// Whether the plugin is `Failed` because a dependency failed (not by its own fault).
    fn failed_for_dependency(&self) -> bool {
        self.state == PluginState::Failed
            && matches!(
                self.last_error.as_deref(),
                Some(Failure {
                    kind: crate::state::FailureKind::DependencyFailed(_),
                    ..
                })
            )
    }
}

/// The policy the builder named for `name` in `policies`, else its `default`.
fn builder_policy(
    policies: &HashMap<String, RestartPolicy>,
    default: RestartPolicy,
    name: &str,
) -> RestartPolicy {
    policies.get(name).copied().unwrap_or(default)
}

impl Drop for Shared {
    /// Tasks the manager owns do not outlive it: plugins' background work and pending
    /// automatic restarts are aborted when the last handle to the manager goes.
    fn drop(&mut self) {
        let supervisors = self
            .supervisors
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for task in supervisors.drain(..) {
            task.abort();
        }
        for slot in &mut self.slots {
            let live = slot.live.get_mut().unwrap_or_else(PoisonError::into_inner);
            live.instance.stop_tasks();
        }
    }
}

/// Settings the builder passes down.
pub(crate) struct Settings {
    pub(crate) hook_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) bus: EventBus,
    pub(crate) default_policy: RestartPolicy,
    pub(crate) policies: HashMap<String, RestartPolicy>,
    pub(crate) config: PluginsConfig,
    pub(crate) blocking_constructors: bool,
    pub(crate) metrics: bool,
    pub(crate) max_in_flight: usize,
}

impl Shared {
    pub(crate) fn new(
        graph: DependencyGraph,
        plugins: Vec<PluginParts>,
        settings: Settings,
    ) -> Arc<Self> {
        let mut plugins: Vec<Option<PluginParts>> = plugins.into_iter().map(Some).collect();
        let slots = (0..graph.len())
            .map(|pos| {
                let parts = plugins[graph.source_index(pos)]
                    .take()
                    .expect("the graph maps each plugin to one position");
                let name = &parts.metadata.name;
                let configured_policy = settings.config.plugin(name).and_then(|c| c.restart);
                let policy = configured_policy.unwrap_or_else(|| {
                    builder_policy(&settings.policies, settings.default_policy, name)
                });
                let live = Live {
                    state: PluginState::Unloaded,
                    last_error: None,
                    last_start: None,
                    stop_time: None,
                    health: Health::Healthy,
                    history: History::new(),
                    attempt: 0,
                    instance: Instance::new(),
                    supervision: Supervision::new(policy),
                    config: Configuration::from_file(&settings.config, name, parts.config_check),
                };
                Slot {
                    config_check: parts.config_check,
                    live: Mutex::new(live),
                    telemetry: PluginTelemetry::new(&parts.metadata.name, settings.metrics),
                    metadata: parts.metadata,
                    factory: parts.factory,
                    constructing: AtomicBool::new(false),
                    on_bus: AtomicBool::new(false),
                    operation: futures_util::lock::Mutex::new(()),
                }
            })
            .collect();
        let mut unknown_sections = unknown_sections(&graph, &settings.config);
        unknown_sections.extend(needs_switched_off(&graph, &settings.config));
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            unknown_sections,
            supervisors: Mutex::new(Vec::new()),
            reloading: tokio::sync::Mutex::new(()),
            whole_set: tokio::sync::RwLock::new(()),
            graph,
            slots,
            bus: settings.bus,
            changes: ChangeFeed::new(1024),
            hook_timeout: settings.hook_timeout,
            shutdown_timeout: settings.shutdown_timeout,
            blocking_constructors: settings.blocking_constructors,
            max_in_flight: settings.max_in_flight,
            metrics: settings.metrics,
            default_policy: settings.default_policy,
            policies: settings.policies,
            created: Instant::now(),
            shutting_down: AtomicBool::new(false),
        })
    }

    // ----- reading -------------------------------------------------------------------------

    /// The restart policy the builder gave `name`: what a configuration without `restart`
    /// falls back to.
    fn builder_policy(&self, name: &str) -> RestartPolicy {
        builder_policy(&self.policies, self.default_policy, name)
    }

    fn live(&self, pos: usize) -> MutexGuard<'_, Live> {
        self.slots[pos]
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state(&self, pos: usize) -> PluginState {
        self.live(pos).state
    }

    pub(crate) fn instance(&self, pos: usize) -> Option<PluginInstance> {
        self.live(pos).instance.plugin()
    }

    pub(crate) fn enabled_instance(&self, name: &str) -> Option<PluginInstance> {
        let pos = self.graph.position(name)?;
        let live = self.live(pos);
        (live.state == PluginState::Enabled)
            .then(|| live.instance.plugin())
            .flatten()
    }

    pub(crate) fn record(&self, pos: usize) -> PluginRecord {
        let meta = &self.slots[pos].metadata;
        let live = self.live(pos);
        PluginRecord {
            name: meta.name.clone(),
            version: meta.version.clone(),
            description: meta.description.clone(),
            crate_name: meta.crate_name.clone(),
            deps: meta.deps.clone(),
            optional_deps: meta.optional_deps.clone(),
            state: live.state,
            last_error: live.last_error.as_deref().cloned(),
            start_time: live.last_start.map(|start| start.took()),
            stop_time: live.stop_time,
            timings: live
                .last_start
                .map(|start| start.timings())
                .unwrap_or_default(),
            health: live.health.clone(),
            dropped_events: self.bus.dropped(&meta.name),
            config_source: live.config.section().source().clone(),
            configured_on: live.config.is_on(),
            restart_policy: live.supervision.policy(),
            restart_count: live.supervision.restart_count(),
            gave_up: live.supervision.gave_up().cloned(),
            history: live
                .history
                .iter()
                .map(|t| t.clone().named(&meta.name))
                .collect(),
        }
    }

    pub(crate) fn subscribe_changes(&self) -> StateChanges {
        self.changes.subscribe()
    }

    fn name(&self, pos: usize) -> &str {
        &self.slots[pos].metadata.name
    }

    /// The plugin's metrics.
    fn telemetry(&self, pos: usize) -> &PluginTelemetry {
        &self.slots[pos].telemetry
    }

    /// The deadline of the hooks of `pos`: the configuration's, the plugin's, the manager's.
    fn timeout(&self, pos: usize) -> Duration {
        self.live(pos)
            .config
            .deadline(self.slots[pos].metadata.timeout, self.hook_timeout)
    }

    pub(crate) fn position(&self, name: &str) -> Result<usize, OperationError> {
        self.graph
            .position(name)
            .ok_or_else(|| OperationError::UnknownPlugin {
                name: name.to_owned(),
            })
    }

    // ----- locking -------------------------------------------------------------------------

    /// Takes the set lock shared, then the operation locks of `positions`, which must be
    /// sorted ascending (invariant 1).
    async fn lock_all(&self, positions: &[usize]) -> Locks<'_> {
        debug_assert!(positions.is_sorted(), "operation locks in start order");
        // Mostly free: taken at once, with no waiter queued.
        let set = match self.whole_set.try_read() {
            Ok(guard) => guard,
            Err(_taken) => self.whole_set.read().await,
        };
        let mut plugins = Vec::with_capacity(positions.len());
        for &pos in positions {
            let operation = &self.slots[pos].operation;
            plugins.push(match operation.try_lock() {
                Some(guard) => guard,
                None => operation.lock().await,
            });
        }
        Locks::Plugins {
            _plugins: plugins,
            _set: set,
        }
    }

    /// Takes the set lock exclusively, for an operation on every plugin (invariant 1): it
    /// waits for the operations under way, and every other waits for it.
    async fn lock_set(&self) -> Locks<'_> {
        let set = match self.whole_set.try_write() {
            Ok(guard) => guard,
            Err(_taken) => self.whole_set.write().await,
        };
        Locks::Set { _set: set }
    }

    /// Refuses operations once shutdown began; checked after the locks are taken (invariant 7).
    fn check_running(&self) -> Result<(), OperationError> {
        if self.shutting_down.load(Ordering::Acquire) {
            Err(OperationError::ShuttingDown)
        } else {
            Ok(())
        }
    }
}
