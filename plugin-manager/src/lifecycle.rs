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
//! [`run_isolated`], under the plugin's deadline. Start and shutdown are wavefronts: every
//! plugin whose dependencies (or, for shutdown, dependents) are done runs at once, so
//! independent plugins' hooks overlap.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use plugin_core::{
    ConfigCheck, ConfigError, ConfigSection, Context, EventBus, Hook, PluginInstance,
    PluginMetadata,
};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod reload;

pub use reload::{ConfigAction, ConfigChange};
use reload::{needs_switched_off, unknown_sections};

use crate::config::PluginsConfig;
use crate::error::OperationError;
use crate::graph::DependencyGraph;
use crate::host::ManagerHost;
use crate::state::{
    DisplayDuration, Failure, FailureKind, HISTORY_LIMIT, Phase, PluginRecord, PluginState,
    StateChange,
};
use crate::supervisor::RestartPolicy;
use crate::task::{run_isolated, spawn_named};

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

    /// Schedules an automatic restart of the failed `pos` if its policy allows one more.
    fn supervise(&self, pos: usize) {
        if self.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (delay, generation) = {
            let mut live = self.live(pos);
            let RestartPolicy::OnFailure(backoff) = live.policy else {
                return;
            };
            let now = Instant::now();
            while live
                .restarts
                .front()
                .is_some_and(|&at| now.duration_since(at) >= backoff.within)
            {
                live.restarts.pop_front();
            }
            let attempt = u32::try_from(live.restarts.len()).unwrap_or(u32::MAX);
            if attempt >= backoff.max_restarts {
                let note = format!(
                    "not restarted: {attempt} restarts within {} already",
                    DisplayDuration(backoff.within)
                );
                tracing::warn!(plugin = self.name(pos), "{note}");
                live.gave_up = Some(note);
                return;
            }
            live.restarts.push_back(now);
            live.gave_up = None;
            (backoff.delay(attempt), live.generation)
        };
        let shared = self.this.clone();
        let task = spawn_named(self.name(pos), "supervisor", async move {
            tokio::time::sleep(delay).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // A new failure is supervised again and counts against the window.
            shared.auto_restart(pos, generation).await;
        });
        let mut supervisors = self
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        supervisors.retain(|t| !t.is_finished());
        supervisors.push(task.abort_handle());
    }

    /// The token cancelled when `pos` next leaves `enabled`.
    pub(crate) fn cancellation(&self, pos: usize) -> CancellationToken {
        self.live(pos).cancellation.clone()
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
        let instance = match run_isolated(&name, Phase::Constructor, self.timeout(pos), {
            let blocking_pool = self.blocking_constructors;
            async move {
                if !blocking_pool {
                    return factory();
                }
                // A constructor is plain code, and one that blocks must not take a runtime
                // worker with it. Past the deadline the plugin fails; the thread is left
                // to finish on its own.
                match tokio::task::spawn_blocking(move || factory()).await {
                    Ok(made) => made,
                    // Re-raised in this task, so it is reported like any panic.
                    Err(error) => match error.try_into_panic() {
                        Ok(payload) => std::panic::resume_unwind(payload),
                        Err(_) => Err(plugin_core::Error::msg("the runtime is shutting down")),
                    },
                }
            }
        })
        .await
        {
            Ok(instance) => instance,
            Err(failure) => {
                self.fail(pos, failure.clone());
                return Err(failure);
            }
        };
        let context = Context::new(
            self.slots[pos].metadata.clone(),
            self.bus.clone(),
            Arc::new(ManagerHost {
                shared: Arc::downgrade(self),
            }),
        );
        context.set_config(section);
        {
            let mut live = self.live(pos);
            live.instance = Some(instance);
            live.context = Some(context);
            live.generation += 1;
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
        self.disable_one(pos).await?;
        match self.state(pos) {
            PluginState::Loaded | PluginState::Setup | PluginState::Disabled => {
                self.live(pos).cancellation.cancel();
                self.run_hook(pos, Hook::Teardown).await?;
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

    // ----- the whole set -------------------------------------------------------------------

    /// Starts every plugin that has not started yet, each as soon as its dependencies are
    /// enabled; a plugin whose required dependency failed becomes `Failed` without running.
    pub(crate) async fn start_all(self: &Arc<Self>) {
        let all: Vec<usize> = (0..self.graph.len()).collect();
        let _locks = self.lock_all(&all).await;
        if self.check_running().is_err() {
            return;
        }
        // Plugins the configuration switches off stay unloaded, and so do those that need them.
        let mut off = vec![false; all.len()];
        for &pos in &all {
            off[pos] =
                !self.live(pos).configured_on || self.graph.deps(pos).iter().any(|&dep| off[dep]);
        }
        let targets: Vec<bool> = all
            .iter()
            .map(|&p| !off[p] && self.state(p) == PluginState::Unloaded)
            .collect();
        let mut waiting: Vec<usize> = all
            .iter()
            .map(|&p| self.graph.deps(p).len() + self.graph.optional_deps(p).len())
            .collect();
        // The per-plugin drivers are polled here rather than spawned: they only wait for the
        // hook tasks they spawn, and keeping them on this task saves a task and its wake-ups
        // per plugin (see the cost model in DESIGN.md).
        let mut tasks = FuturesUnordered::new();
        let launch = |pos: usize, tasks: &mut FuturesUnordered<_>| {
            let span = tracing::info_span!("start", plugin = self.name(pos));
            tasks.push(async move { (pos, self.start_one(pos).await.is_ok()) }.instrument(span));
        };
        // A plugin that is not a target counts as done, successful if it is enabled.
        let mut finished: Vec<(usize, bool)> = all
            .iter()
            .filter(|&&pos| !targets[pos])
            .map(|&pos| (pos, self.state(pos) == PluginState::Enabled))
            .collect();
        let mut done = vec![false; all.len()];
        for &pos in &all {
            if targets[pos] && waiting[pos] == 0 {
                launch(pos, &mut tasks);
            }
        }
        loop {
            while let Some((pos, ok)) = finished.pop() {
                if std::mem::replace(&mut done[pos], true) {
                    continue;
                }
                for &user in self.graph.optional_dependents(pos) {
                    waiting[user] -= 1;
                    if waiting[user] == 0 && targets[user] && !done[user] {
                        launch(user, &mut tasks);
                    }
                }
                for &user in self.graph.dependents(pos) {
                    if !targets[user] || done[user] {
                        continue;
                    }
                    if ok {
                        waiting[user] -= 1;
                        if waiting[user] == 0 {
                            launch(user, &mut tasks);
                        }
                    } else if self.state(user) == PluginState::Unloaded {
                        self.fail(user, Failure::dependency_failed(self.name(pos)));
                        finished.push((user, false));
                    }
                }
            }
            match tasks.next().await {
                Some(outcome) => finished.push(outcome),
                None => break,
            }
        }
    }

    /// Stops every plugin, each once all plugins that use it are stopped, within the shutdown
    /// deadline; plugins still stopping then are abandoned and recorded as such.
    pub(crate) async fn shutdown(self: &Arc<Self>) {
        self.shutting_down.store(true, Ordering::Release);
        for task in self
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        // The deadline covers waiting for requests still in flight, too.
        let deadline = Instant::now() + self.shutdown_timeout;
        let all: Vec<usize> = (0..self.graph.len()).collect();
        let n = all.len();
        let mut done = vec![false; n];
        let Ok(_locks) = tokio::time::timeout_at(deadline, self.lock_all(&all)).await else {
            self.abandon(&done);
            return;
        };
        let mut waiting: Vec<usize> = all
            .iter()
            .map(|&p| self.graph.dependents(p).len() + self.graph.optional_dependents(p).len())
            .collect();
        // Polled here, not spawned, as in `start_all`.
        let mut tasks = FuturesUnordered::new();
        let launch = |pos: usize, tasks: &mut FuturesUnordered<_>| {
            let span = tracing::info_span!("stop", plugin = self.name(pos));
            tasks.push(
                async move {
                    // Best effort: a failure is recorded in the plugin's record and never blocks.
                    let _ = self.stop_one(pos).await;
                    pos
                }
                .instrument(span),
            );
        };
        for pos in (0..n).rev() {
            if waiting[pos] == 0 {
                launch(pos, &mut tasks);
            }
        }
        let wavefront = async {
            while let Some(pos) = tasks.next().await {
                done[pos] = true;
                for &dep in self
                    .graph
                    .deps(pos)
                    .iter()
                    .chain(self.graph.optional_deps(pos))
                {
                    waiting[dep] -= 1;
                    if waiting[dep] == 0 {
                        launch(dep, &mut tasks);
                    }
                }
            }
        };
        if tokio::time::timeout_at(deadline, wavefront).await.is_err() {
            // Dropping the drivers aborts the hook tasks they were waiting for.
            drop(tasks);
            self.abandon(&done);
        }
    }

    /// Records every plugin not `done` that is still running as abandoned at the deadline.
    fn abandon(&self, done: &[bool]) {
        for (pos, _) in done.iter().enumerate().filter(|(_, done)| !**done) {
            let state = self.state(pos);
            if !matches!(
                state,
                PluginState::TornDown | PluginState::Failed | PluginState::Unloaded
            ) {
                let kind = FailureKind::Abandoned(self.shutdown_timeout);
                self.fail(pos, Failure { phase: None, kind });
            }
        }
    }

    // ----- operator requests ------------------------------------------------------------------

    /// Enables `name`, first enabling any of its dependencies that are disabled.
    pub(crate) async fn enable(self: &Arc<Self>, name: &str) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let related = self.graph.deps_closure(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if !matches!(
            state,
            PluginState::Disabled | PluginState::Setup | PluginState::Unloaded
        ) {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: "enable",
            });
        }
        self.check_dependencies(pos, &related, "enable")?;
        for &p in &related {
            let outcome = match self.state(p) {
                // Its configuration changed while it was off: a fresh instance takes it.
                PluginState::Disabled | PluginState::Setup if self.config_stale(p) => {
                    match self.stop_one(p).await {
                        Ok(()) => self.start_one(p).await,
                        Err(failure) => Err(failure),
                    }
                }
                PluginState::Disabled | PluginState::Setup => self.enable_one(p).await,
                // Never started (switched off by the configuration): start it now.
                PluginState::Unloaded => self.start_one(p).await,
                _ => Ok(()),
            };
            outcome.map_err(|failure| self.failed(p, failure))?;
        }
        Ok(())
    }

    /// Every dependency of `pos` in `closure` must be running or able to be enabled.
    fn check_dependencies(
        &self,
        pos: usize,
        closure: &[usize],
        operation: &'static str,
    ) -> Result<(), OperationError> {
        for &dep in closure.iter().filter(|&&p| p != pos) {
            let state = self.state(dep);
            if !matches!(
                state,
                PluginState::Enabled
                    | PluginState::Disabled
                    | PluginState::Setup
                    | PluginState::Unloaded
            ) {
                return Err(OperationError::DependencyUnavailable {
                    plugin: self.name(pos).to_owned(),
                    dependency: self.name(dep).to_owned(),
                    state,
                    operation,
                });
            }
        }
        Ok(())
    }

    fn failed(&self, pos: usize, failure: Failure) -> OperationError {
        OperationError::Failed {
            plugin: self.name(pos).to_owned(),
            failure,
        }
    }

    /// Disables `name`; with `cascade`, disables the enabled plugins that need it first.
    pub(crate) async fn disable(
        self: &Arc<Self>,
        name: &str,
        cascade: bool,
    ) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let related = self.graph.dependents_closure(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if state != PluginState::Enabled {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: "disable",
            });
        }
        let dependents: Vec<usize> = related
            .iter()
            .copied()
            .filter(|&p| p != pos && self.state(p) == PluginState::Enabled)
            .collect();
        if !dependents.is_empty() && !cascade {
            return Err(OperationError::HasEnabledDependents {
                plugin: name.to_owned(),
                dependents: dependents
                    .iter()
                    .map(|&p| self.name(p).to_owned())
                    .collect(),
            });
        }
        let mut first_failure = None;
        for &p in related.iter().rev() {
            if let Err(failure) = self.disable_one(p).await {
                first_failure.get_or_insert_with(|| self.failed(p, failure));
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Restarts `name` with a fresh instance, then the plugins that need it.
    pub(crate) async fn restart(self: &Arc<Self>, name: &str) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let (deps, related) = self.restart_scope(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if matches!(state, PluginState::Unloaded | PluginState::Loaded) {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: "restart",
            });
        }
        self.check_dependencies(pos, &deps, "restart")?;
        // Dependencies that are merely disabled (or never started) are brought up first, as
        // for `enable`.
        for &p in deps.iter().filter(|&&p| p != pos) {
            let outcome = match self.state(p) {
                PluginState::Disabled | PluginState::Setup => self.enable_one(p).await,
                PluginState::Unloaded => self.start_one(p).await,
                _ => Ok(()),
            };
            outcome.map_err(|failure| self.failed(p, failure))?;
        }
        self.restart_locked(pos).await
    }

    /// The dependencies of `pos` (with it) and every plugin a restart of it locks.
    fn restart_scope(&self, pos: usize) -> (Vec<usize>, Vec<usize>) {
        let deps = self.graph.deps_closure(pos);
        let mut related: Vec<usize> = deps
            .iter()
            .chain(&self.graph.dependents_closure(pos))
            .copied()
            .collect();
        related.sort_unstable();
        related.dedup();
        (deps, related)
    }

    /// A restart the supervisor asked for: only if `pos` is still the failed instance it saw,
    /// is still switched on, and every dependency is enabled (it never overrides an operator).
    async fn auto_restart(self: &Arc<Self>, pos: usize, generation: u64) {
        let (deps, related) = self.restart_scope(pos);
        let _locks = self.lock_all(&related).await;
        if self.check_running().is_err() {
            return;
        }
        {
            let live = self.live(pos);
            if live.state != PluginState::Failed
                || live.generation != generation
                || !live.configured_on
            {
                return;
            }
        }
        if let Some(&dep) = deps
            .iter()
            .find(|&&d| d != pos && self.state(d) != PluginState::Enabled)
        {
            let state = self.state(dep);
            tracing::warn!(plugin = self.name(pos), dependency = self.name(dep), %state, "not restarted: a dependency is not enabled");
            return;
        }
        self.live(pos).restart_count += 1;
        if let Err(error) = self.restart_locked(pos).await {
            tracing::warn!(plugin = self.name(pos), %error, "automatic restart");
        }
    }

    /// Restarts `pos` and the plugins that ran on it, with every lock of its scope held and its
    /// dependencies enabled.
    async fn restart_locked(self: &Arc<Self>, pos: usize) -> Result<(), OperationError> {
        let dependents = self.graph.dependents_closure(pos);
        // The plugin itself, and the dependents that ran on it or failed for want of it.
        let affected: Vec<usize> = dependents
            .iter()
            .copied()
            .filter(|&p| {
                p == pos || {
                    let live = self.live(p);
                    live.state == PluginState::Enabled
                        || matches!(
                            live.last_error,
                            Some(Failure {
                                kind: FailureKind::DependencyFailed(_),
                                ..
                            })
                        ) && live.state == PluginState::Failed
                }
            })
            .collect();
        for &p in affected.iter().rev() {
            // Best effort: a failing `on_disable` or `teardown` leaves `Failed`, which a
            // restart accepts.
            let _ = self.stop_one(p).await;
        }
        let mut result = Ok(());
        for &p in &affected {
            let missing = self
                .graph
                .deps(p)
                .iter()
                .copied()
                .find(|&d| self.state(d) != PluginState::Enabled);
            let outcome = match missing {
                Some(dep) => {
                    let failure = Failure::dependency_failed(self.name(dep));
                    self.fail(p, failure.clone());
                    Err(failure)
                }
                None => self.start_one(p).await,
            };
            if let (Err(failure), true) = (outcome, p == pos) {
                result = Err(self.failed(p, failure));
            }
        }
        result
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
