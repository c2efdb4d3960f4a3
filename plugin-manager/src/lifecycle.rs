//! The state table and the operations that move plugins through their lifecycle.
//!
//! # Concurrency
//!
//! Each plugin has an *operation lock* (an async mutex) and a *live record* (a short-lived
//! sync mutex). An operation first takes the operation locks of every plugin it may touch or
//! whose state it relies on (the plugin, its dependencies and its dependents, transitively),
//! always in start order, so two operations never deadlock and operations on unrelated plugins
//! never wait for each other. The live record is only held to read or write a few fields, never
//! across an `.await`.
//!
//! Plugin code (constructor, hooks) always runs in a task of its own through
//! [`run_isolated`], under the plugin's deadline.
//!
//! This file holds the table and what moves one plugin (`transition`, `start_one`,
//! `stop_one`); the rest is split by what drives it:
//!
//! - `wavefront`: starting and shutting down the whole set;
//! - `operations`: the operator's enable, disable and restart;
//! - `supervision`: automatic restarts after a failure;
//! - `reload`: applying a new configuration file.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use plugin_core::{
    ConfigCheck, ConfigError, ConfigSection, Context, EventBus, Hook, PluginInstance,
    PluginMetadata,
};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod operations;
mod reload;
mod supervision;
mod wavefront;

pub use reload::{ConfigAction, ConfigChange};
use reload::{needs_switched_off, unknown_sections};

use crate::config::PluginsConfig;
use crate::error::OperationError;
use crate::graph::DependencyGraph;
use crate::host::ManagerHost;
use crate::restart_policy::RestartPolicy;
use crate::state::{
    Failure, FailureKind, HISTORY_LIMIT, Phase, PluginRecord, PluginState, StateChange,
};
use crate::task::{run_blocking_isolated, run_isolated, spawn_named};

type Factory = Arc<dyn Fn() -> plugin_core::Result<PluginInstance> + Send + Sync>;

/// A plugin as the builder hands it over.
pub(crate) type PluginParts = (PluginMetadata, Factory, Option<ConfigCheck>);

/// Everything the manager shares with its tasks and with plugin contexts.
pub(crate) struct Shared {
    pub(crate) graph: DependencyGraph,
    slots: Vec<Slot>,
    pub(crate) bus: EventBus,
    changes: broadcast::Sender<StateChange>,
    hook_timeout: Duration,
    shutdown_timeout: Duration,
    blocking_constructors: bool,
    created: Instant,
    shutting_down: AtomicBool,
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
    factory: Factory,
    config_check: Option<ConfigCheck>,
    operation: tokio::sync::Mutex<()>,
    live: Mutex<Live>,
}

/// The mutable part of a slot.
struct Live {
    state: PluginState,
    last_error: Option<Failure>,
    start_time: Option<Duration>,
    stop_time: Option<Duration>,
    history: VecDeque<StateChange>,
    instance: Option<PluginInstance>,
    context: Option<Context>,
    tasks: Vec<AbortHandle>,
    /// Counts instances, so a late report from an old instance's task is ignored.
    generation: u64,
    /// `on_enable` of a `Disabled` plugin is running: the state still reads `Disabled`, but the
    /// hook may start background tasks (found by tests/isolation.rs: a re-enabled plugin's
    /// `ctx.spawn` in `on_enable` was silently refused).
    enabling: bool,
    /// Cancelled when the plugin leaves `enabled`; replaced when it starts or is enabled again.
    cancellation: CancellationToken,
    policy: RestartPolicy,
    /// The policy the builder gave, which a configuration without `restart` falls back to.
    builder_policy: RestartPolicy,
    /// When the automatic restarts in the policy's window happened.
    restarts: VecDeque<Instant>,
    restart_count: u32,
    gave_up: Option<String>,
    /// The plugin's configuration section, handed to each new context.
    section: Arc<ConfigSection>,
    /// The configuration switches it on.
    configured_on: bool,
    /// What is wrong with its configuration: it cannot start until that is fixed.
    config_error: Option<ConfigError>,
    /// The configuration's hook deadline, over the plugin's own.
    timeout: Option<Duration>,
}

impl Live {
    fn new(policy: RestartPolicy) -> Self {
        Self {
            state: PluginState::Unloaded,
            last_error: None,
            start_time: None,
            stop_time: None,
            history: VecDeque::new(),
            instance: None,
            context: None,
            tasks: Vec::new(),
            generation: 0,
            enabling: false,
            cancellation: CancellationToken::new(),
            policy,
            builder_policy: policy,
            restarts: VecDeque::new(),
            restart_count: 0,
            gave_up: None,
            section: Arc::new(ConfigSection::default()),
            configured_on: true,
            config_error: None,
            timeout: None,
        }
    }
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
            live.cancellation.cancel();
            for task in live.tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// Drops a plugin instance in a task of its own: its `Drop` is plugin code, and one that
/// panics must not unwind into the manager or the caller of an operator request.
fn release(plugin: &str, instance: Option<PluginInstance>, context: Option<Context>) {
    if instance.is_some() || context.is_some() {
        drop(spawn_named(plugin, "drop", async move {
            drop(context);
            drop(instance);
        }));
    }
}

/// Runs a plugin's configuration check, if it declared a configuration type.
fn check_section(
    check: Option<ConfigCheck>,
    section: &ConfigSection,
    plugin: &str,
) -> Result<(), ConfigError> {
    check.map_or(Ok(()), |check| check(section, plugin))
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
                let (metadata, factory, config_check) = plugins[graph.source_index(pos)]
                    .take()
                    .expect("the graph maps each plugin to one position");
                let configured = settings.config.plugin(&metadata.name);
                let builder_policy = settings
                    .policies
                    .get(&metadata.name)
                    .copied()
                    .unwrap_or(settings.default_policy);
                let policy = configured.and_then(|c| c.restart).unwrap_or(builder_policy);
                let section = settings.config.section_of(&metadata.name);
                let config_error = configured
                    .and_then(|c| c.problem.clone())
                    .or_else(|| check_section(config_check, &section, &metadata.name).err());
                Slot {
                    config_check,
                    live: Mutex::new(Live {
                        section,
                        configured_on: configured.is_none_or(|c| c.enabled),
                        config_error,
                        timeout: configured.and_then(|c| c.timeout),
                        policy,
                        ..Live::new(builder_policy)
                    }),
                    metadata: Arc::new(metadata),
                    factory,
                    operation: tokio::sync::Mutex::new(()),
                }
            })
            .collect();
        let mut unknown_sections = unknown_sections(&graph, &settings.config);
        unknown_sections.extend(needs_switched_off(&graph, &settings.config));
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            unknown_sections,
            supervisors: Mutex::new(Vec::new()),
            graph,
            slots,
            bus: settings.bus,
            changes: broadcast::channel(1024).0,
            hook_timeout: settings.hook_timeout,
            shutdown_timeout: settings.shutdown_timeout,
            blocking_constructors: settings.blocking_constructors,
            created: Instant::now(),
            shutting_down: AtomicBool::new(false),
        })
    }

    // ----- reading -------------------------------------------------------------------------

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
        self.live(pos).instance.clone()
    }

    pub(crate) fn enabled_instance(&self, name: &str) -> Option<PluginInstance> {
        let pos = self.graph.position(name)?;
        let live = self.live(pos);
        (live.state == PluginState::Enabled)
            .then(|| live.instance.clone())
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
            last_error: live.last_error.clone(),
            start_time: live.start_time,
            stop_time: live.stop_time,
            dropped_events: self.bus.dropped(&meta.name),
            config_source: live.section.source().clone(),
            configured_on: live.configured_on,
            restart_policy: live.policy,
            restart_count: live.restart_count,
            gave_up: live.gave_up.clone(),
            history: live.history.iter().cloned().collect(),
        }
    }

    pub(crate) fn subscribe_changes(&self) -> broadcast::Receiver<StateChange> {
        self.changes.subscribe()
    }

    fn name(&self, pos: usize) -> &str {
        &self.slots[pos].metadata.name
    }

    fn timeout(&self, pos: usize) -> Duration {
        self.live(pos)
            .timeout
            .or(self.slots[pos].metadata.timeout)
            .unwrap_or(self.hook_timeout)
    }

    pub(crate) fn position(&self, name: &str) -> Result<usize, OperationError> {
        self.graph
            .position(name)
            .ok_or_else(|| OperationError::UnknownPlugin {
                name: name.to_owned(),
            })
    }

    // ----- writing -------------------------------------------------------------------------

    /// Moves `pos` to `to`, recording why; leaving the running states stops its background
    /// tasks and closes its subscriptions.
    fn transition(&self, pos: usize, to: PluginState, cause: Option<Failure>) {
        let name = self.name(pos);
        let change = {
            let mut live = self.live(pos);
            let from = live.state;
            // A failed plugin that fails again the same way (a restart that could not get
            // further) changes nothing worth a record; a new cause is recorded.
            if from == PluginState::Failed && to == PluginState::Failed && cause == live.last_error
            {
                return;
            }
            live.state = to;
            if let Some(failure) = &cause {
                live.last_error = Some(failure.clone());
            }
            if matches!(
                to,
                PluginState::Disabled | PluginState::TornDown | PluginState::Failed
            ) {
                live.cancellation.cancel();
                for task in live.tasks.drain(..) {
                    task.abort();
                }
            }
            if matches!(to, PluginState::TornDown | PluginState::Failed) {
                release(name, live.instance.take(), live.context.take());
            }
            let change = StateChange {
                plugin: name.to_owned(),
                from,
                to,
                cause,
                at: self.created.elapsed(),
            };
            if live.history.len() == HISTORY_LIMIT {
                live.history.pop_front();
            }
            live.history.push_back(change.clone());
            change
        };
        if matches!(
            to,
            PluginState::Disabled | PluginState::TornDown | PluginState::Failed
        ) {
            self.bus.close_owner(name);
        }
        match &change.cause {
            Some(cause) => {
                tracing::warn!(plugin = name, from = %change.from, to = %to, %cause, "plugin state")
            }
            None => tracing::debug!(plugin = name, from = %change.from, to = %to, "plugin state"),
        }
        // No observer is fine; a lagging one misses changes (see `subscribe_changes`).
        let _ = self.changes.send(change);
    }

    fn fail(&self, pos: usize, failure: Failure) {
        // Failing to stop is recorded, not supervised: the plugin was being stopped anyway.
        let own_fault = failure.phase.is_some()
            && !matches!(
                failure.phase,
                Some(Phase::Hook(Hook::Disable | Hook::Teardown))
            );
        self.transition(pos, PluginState::Failed, Some(failure));
        if own_fault {
            self.supervise(pos);
        }
    }

    /// The token cancelled when `pos` next leaves `enabled`.
    pub(crate) fn cancellation(&self, pos: usize, generation: u64) -> CancellationToken {
        let live = self.live(pos);
        if live.generation == generation {
            live.cancellation.clone()
        } else {
            // An old instance's context: whatever it starts is already over.
            let token = CancellationToken::new();
            token.cancel();
            token
        }
    }

    /// Gives `pos` a fresh cancellation token if the last one was used.
    fn renew_cancellation(&self, pos: usize) {
        let mut live = self.live(pos);
        if live.cancellation.is_cancelled() {
            live.cancellation = CancellationToken::new();
        }
    }

    /// Takes the operation locks of `positions` (sorted ascending).
    async fn lock_all(&self, positions: &[usize]) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut guards = Vec::with_capacity(positions.len());
        for &pos in positions {
            guards.push(self.slots[pos].operation.lock().await);
        }
        guards
    }

    fn check_running(&self) -> Result<(), OperationError> {
        if self.shutting_down.load(Ordering::Acquire) {
            Err(OperationError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    // ----- one plugin ------------------------------------------------------------------------

    /// Runs one hook of `pos` in its own task; a failure moves the plugin to `Failed`.
    async fn run_hook(&self, pos: usize, hook: Hook) -> Result<(), Failure> {
        let (instance, context) = {
            let live = self.live(pos);
            match (live.instance.clone(), live.context.clone()) {
                (Some(instance), Some(context)) => (instance, context),
                _ => return Ok(()),
            }
        };
        let outcome = run_isolated(
            self.name(pos),
            Phase::Hook(hook),
            self.timeout(pos),
            async move { instance.run_hook(hook, &context).await },
        )
        .await;
        if let Err(failure) = &outcome {
            self.fail(pos, failure.clone());
        }
        outcome
    }

    /// Makes a fresh instance of `pos`, then runs `setup` and `on_enable`.
    async fn start_one(self: &Arc<Self>, pos: usize) -> Result<(), Failure> {
        let (config_error, section) = {
            let live = self.live(pos);
            (live.config_error.clone(), live.section.clone())
        };
        if let Some(error) = config_error {
            let failure = Failure {
                phase: None,
                kind: FailureKind::Config(error.to_string()),
            };
            self.fail(pos, failure.clone());
            return Err(failure);
        }
        let name = self.name(pos).to_owned();
        let began = Instant::now();
        let factory = self.slots[pos].factory.clone();
        let limit = self.timeout(pos);
        let made = if self.blocking_constructors {
            run_blocking_isolated(Phase::Constructor, limit, move || factory()).await
        } else {
            run_isolated(&name, Phase::Constructor, limit, async move { factory() }).await
        };
        let instance = match made {
            Ok(instance) => instance,
            Err(failure) => {
                self.fail(pos, failure.clone());
                return Err(failure);
            }
        };
        let generation = self.live(pos).generation + 1;
        let context = Context::new(
            self.slots[pos].metadata.clone(),
            self.bus.clone(),
            Arc::new(ManagerHost {
                shared: Arc::downgrade(self),
                generation,
            }),
        );
        context.set_config(section);
        {
            let mut live = self.live(pos);
            live.instance = Some(instance);
            live.context = Some(context);
            live.generation = generation;
        }
        self.renew_cancellation(pos);
        self.transition(pos, PluginState::Loaded, None);
        self.run_hook(pos, Hook::Setup).await?;
        self.transition(pos, PluginState::Setup, None);
        self.run_hook(pos, Hook::Enable).await?;
        self.live(pos).start_time = Some(began.elapsed());
        self.transition(pos, PluginState::Enabled, None);
        Ok(())
    }

    /// Whether the instance of `pos` was set up with a section the configuration has replaced.
    fn config_stale(&self, pos: usize) -> bool {
        let live = self.live(pos);
        live.context
            .as_ref()
            .is_some_and(|ctx| ctx.config_section().values() != live.section.values())
    }

    /// Runs `on_enable` of a `Disabled` (or `Setup`) plugin and marks it `Enabled`.
    async fn enable_one(&self, pos: usize) -> Result<(), Failure> {
        self.renew_cancellation(pos);
        self.live(pos).enabling = true;
        let outcome = self.run_hook(pos, Hook::Enable).await;
        self.live(pos).enabling = false;
        outcome?;
        self.transition(pos, PluginState::Enabled, None);
        Ok(())
    }

    /// Runs `on_disable` if `pos` is enabled.
    async fn disable_one(&self, pos: usize) -> Result<(), Failure> {
        if self.state(pos) == PluginState::Enabled {
            // Background tasks watching the token wind down while `on_disable` runs.
            self.live(pos).cancellation.cancel();
            self.run_hook(pos, Hook::Disable).await?;
            self.transition(pos, PluginState::Disabled, None);
        }
        Ok(())
    }

    /// Disables `pos` if enabled, then tears it down; a failed plugin just loses its instance.
    async fn stop_one(&self, pos: usize) -> Result<(), Failure> {
        let began = Instant::now();
        self.disable_one(pos).await?;
        match self.state(pos) {
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => {
                self.live(pos).cancellation.cancel();
                self.run_hook(pos, Hook::Teardown).await?;
                self.live(pos).stop_time = Some(began.elapsed());
                self.transition(pos, PluginState::TornDown, None);
            }
            PluginState::Failed => {
                let (instance, context) = {
                    let mut live = self.live(pos);
                    (live.instance.take(), live.context.take())
                };
                release(self.name(pos), instance, context);
            }
            PluginState::Unloaded | PluginState::Enabled | PluginState::TornDown => {}
        }
        Ok(())
    }

    // ----- background tasks -------------------------------------------------------------------

    /// The current generation of `pos` if it may start background tasks now.
    pub(crate) fn accepting_tasks(&self, pos: usize) -> Option<u64> {
        let live = self.live(pos);
        (matches!(
            live.state,
            PluginState::Loaded | PluginState::Setup | PluginState::Enabled
        ) || live.state == PluginState::Disabled && live.enabling)
            .then_some(live.generation)
    }

    pub(crate) fn track_task(&self, pos: usize, generation: u64, task: AbortHandle) {
        let mut live = self.live(pos);
        if live.generation == generation
            && (live.state != PluginState::Disabled || live.enabling)
            && !matches!(live.state, PluginState::TornDown | PluginState::Failed)
        {
            live.tasks.retain(|t| !t.is_finished());
            live.tasks.push(task);
        } else {
            task.abort();
        }
    }

    /// A background task of `pos` failed: the plugin fails, and the enabled plugins that need
    /// it are stopped and fail with "dependency failed".
    pub(crate) async fn background_failed(
        self: &Arc<Self>,
        pos: usize,
        generation: u64,
        failure: Failure,
    ) {
        let dependents = self.graph.dependents_closure(pos);
        let _locks = self.lock_all(&dependents).await;
        {
            let live = self.live(pos);
            if live.generation != generation
                || !matches!(
                    live.state,
                    PluginState::Loaded | PluginState::Setup | PluginState::Enabled
                )
            {
                return; // an old instance, or already stopped: nothing to report
            }
        }
        self.fail_with_dependents(pos, &dependents, failure).await;
    }

    /// Fails `pos` and stops (best effort) then fails every running plugin in `dependents`.
    async fn fail_with_dependents(&self, pos: usize, dependents: &[usize], failure: Failure) {
        for &p in dependents.iter().rev().filter(|&&p| p != pos) {
            if matches!(
                self.state(p),
                PluginState::Failed | PluginState::Unloaded | PluginState::TornDown
            ) {
                continue;
            }
            let _ = self.stop_one(p).await;
            let cause = self
                .graph
                .deps(p)
                .iter()
                .copied()
                .find(|d| dependents.contains(d))
                .unwrap_or(pos);
            self.fail(p, Failure::dependency_failed(self.name(cause)));
        }
        self.fail(pos, failure);
    }
}
