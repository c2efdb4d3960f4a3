//! Shared helpers of the integration tests: a plugin whose behaviour each test scripts, a
//! [`Lab`] that records what the plugins did, and helpers for the state-change feed.
//!
//! Every test runs on tokio's paused clock with a short [`HOOK_TIMEOUT`], so a hang (in a
//! plugin or, after a regression, in the manager) ends the test in virtual time instead of
//! stalling it.

// Each test file is its own crate and uses a different part of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use plugin_core::{Context, Error, Hook, Plugin, PluginInstance, PluginMetadata, Result};
use plugin_manager::{
    Failure, FailureKind, Phase, PluginManager, PluginSpec, PluginState, StateChange,
};
use tokio::sync::{Barrier, broadcast, watch};

/// The deadline of every hook in these tests (virtual time).
pub(crate) const HOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`within`] waits, in virtual time, before calling an await a deadlock.
const DEADLOCK: Duration = Duration::from_secs(3600);

/// What a scripted plugin does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Returns an error.
    Error,
    /// Panics.
    Panic,
    /// Never returns.
    Hang,
}

/// The error text a scripted plugin returns from `phase`.
pub(crate) fn error_text(plugin: &str, phase: Phase) -> String {
    format!("{plugin}: {phase} broke on purpose")
}

/// The panic message of a scripted plugin panicking in `phase`.
pub(crate) fn panic_text(plugin: &str, phase: Phase) -> String {
    format!("{plugin}: {phase} exploded on purpose")
}

/// The failure the manager must record when `plugin` shows `fault` in `phase`.
pub(crate) fn expected_failure(plugin: &str, phase: Phase, fault: Fault) -> Failure {
    let kind = match fault {
        Fault::Error => FailureKind::Error(error_text(plugin, phase)),
        Fault::Panic => FailureKind::Panic(panic_text(plugin, phase)),
        Fault::Hang => FailureKind::Timeout(HOOK_TIMEOUT),
    };
    Failure::new(phase, kind)
}

/// The failure of a plugin that was not started, or was stopped, because `dependency` failed.
pub(crate) fn dependency_failed(dependency: &str) -> Failure {
    Failure::dependency_failed(dependency)
}

/// Awaits `future`, failing the test if it does not finish within an hour of virtual time
/// (which, on the paused clock, takes no real time): a deadlock fails instead of hanging.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(DEADLOCK, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish: deadlock or lost wake-up"),
    }
}

/// A manager over `specs` with the tests' short hook deadline.
pub(crate) fn manager(specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .plugins(specs)
        .build()
        .expect("a valid plugin set")
}

/// A manager over `specs`, started.
pub(crate) async fn started(specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    let manager = manager(specs);
    within("start", manager.start()).await;
    manager
}

// ----- the state-change feed ----------------------------------------------------------------

/// Every change already queued on `feed`.
pub(crate) fn drain(feed: &mut broadcast::Receiver<StateChange>) -> Vec<StateChange> {
    let mut changes = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(change) => changes.push(change),
            Err(broadcast::error::TryRecvError::Empty) => return changes,
            Err(error) => panic!("state-change feed: {error}"),
        }
    }
}

/// Waits for the first change on `feed` that `matches`.
pub(crate) async fn wait_for(
    feed: &mut broadcast::Receiver<StateChange>,
    what: &str,
    matches: impl Fn(&StateChange) -> bool,
) -> StateChange {
    within(what, async {
        loop {
            let change = feed.recv().await.expect("the state-change feed is open");
            if matches(&change) {
                return change;
            }
        }
    })
    .await
}

/// The changes as `(plugin, new state)`, in feed order.
pub(crate) fn moves(changes: &[StateChange]) -> Vec<(String, PluginState)> {
    changes.iter().map(|c| (c.plugin.clone(), c.to)).collect()
}

/// The states `plugin` entered, in feed order.
pub(crate) fn trail(changes: &[StateChange], plugin: &str) -> Vec<PluginState> {
    changes
        .iter()
        .filter(|c| c.plugin == plugin)
        .map(|c| c.to)
        .collect()
}

/// Where in `changes` `plugin` first entered `state`.
pub(crate) fn index_of(changes: &[StateChange], plugin: &str, state: PluginState) -> usize {
    changes
        .iter()
        .position(|c| c.plugin == plugin && c.to == state)
        .unwrap_or_else(|| panic!("`{plugin}` never entered {state}: {:?}", moves(changes)))
}

// ----- the lab ------------------------------------------------------------------------------

/// Records what scripted plugins did, across all their instances.
#[derive(Clone, Default)]
pub(crate) struct Lab {
    inner: Arc<Mutex<LabInner>>,
    hangs: Probe,
}

#[derive(Default)]
struct LabInner {
    calls: Vec<Call>,
    made: HashMap<String, u32>,
}

/// One hook call: which plugin, which of its instances (1 for the first), which hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) plugin: String,
    pub(crate) instance: u32,
    pub(crate) hook: Hook,
}

impl Lab {
    /// Starts scripting a plugin called `name` that, unless told otherwise, does nothing.
    pub(crate) fn plugin(&self, name: &str) -> Script {
        Script {
            lab: self.clone(),
            metadata: PluginMetadata::new(name),
            plan: Plan {
                fault: None,
                faulty_instances: u32::MAX,
                spared_calls: 0,
                delays: Vec::new(),
                barriers: Vec::new(),
                background: Vec::new(),
                constructor_gate: None,
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, LabInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every hook call so far, in the order they began.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The hooks `plugin` began, in order, over all its instances.
    pub(crate) fn hooks_of(&self, plugin: &str) -> Vec<Hook> {
        self.calls_of(plugin).into_iter().map(|c| c.hook).collect()
    }

    /// The hook calls of `plugin`, in order.
    pub(crate) fn calls_of(&self, plugin: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.plugin == plugin)
            .cloned()
            .collect()
    }

    /// How many times the constructor of `plugin` was called.
    pub(crate) fn instances_made(&self, plugin: &str) -> u32 {
        self.lock().made.get(plugin).copied().unwrap_or(0)
    }

    /// Counts the hooks that hung ([`Fault::Hang`]): started, and dropped (cancelled).
    pub(crate) fn hangs(&self) -> &Probe {
        &self.hangs
    }

    fn record(&self, plugin: &str, instance: u32, hook: Hook) {
        self.lock().calls.push(Call {
            plugin: plugin.to_owned(),
            instance,
            hook,
        });
    }

    fn next_instance(&self, plugin: &str) -> u32 {
        let mut inner = self.lock();
        let count = inner.made.entry(plugin.to_owned()).or_default();
        *count += 1;
        *count
    }
}

/// Counts futures that started and futures that were dropped, to observe cancellation
/// without looking at the clock.
#[derive(Clone)]
pub(crate) struct Probe {
    started: Arc<watch::Sender<u32>>,
    dropped: Arc<watch::Sender<u32>>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            started: Arc::new(watch::channel(0).0),
            dropped: Arc::new(watch::channel(0).0),
        }
    }
}

impl Probe {
    /// Counts a start now and a drop when the returned guard is dropped.
    pub(crate) fn enter(&self) -> ProbeGuard {
        self.started.send_modify(|n| *n += 1);
        ProbeGuard {
            dropped: self.dropped.clone(),
        }
    }

    /// How many started.
    pub(crate) fn started(&self) -> u32 {
        *self.started.borrow()
    }

    /// How many were dropped.
    pub(crate) fn dropped(&self) -> u32 {
        *self.dropped.borrow()
    }

    /// Waits until `n` have started.
    pub(crate) async fn wait_started(&self, n: u32) {
        let mut rx = self.started.subscribe();
        within("probe start", rx.wait_for(|&s| s >= n))
            .await
            .expect("the probe lives");
    }

    /// Waits until `n` have been dropped.
    pub(crate) async fn wait_dropped(&self, n: u32) {
        let mut rx = self.dropped.subscribe();
        within("probe drop", rx.wait_for(|&d| d >= n))
            .await
            .expect("the probe lives");
    }
}

/// Counts a drop on its [`Probe`] when dropped.
pub(crate) struct ProbeGuard {
    dropped: Arc<watch::Sender<u32>>,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.dropped.send_modify(|n| *n += 1);
    }
}

/// A one-shot signal a test fires to make a background task go on.
#[derive(Clone)]
pub(crate) struct Trigger(Arc<watch::Sender<bool>>);

impl Default for Trigger {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Trigger {
    /// Lets every waiter go on, now and later.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }

    async fn fired(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|&fired| fired).await;
    }
}

/// A gate that blocks a constructor's thread (synchronously, as a constructor is a plain `fn`)
/// until the test opens it; [`Gate::entered`] counts the constructors that reached it.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    entered: Probe,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// How long, in real time, a constructor waits before giving up with a panic. Only a
    /// safety net: a manager that blocks on the constructor keeps the test from ever opening
    /// the gate, and the test should then fail, not hang. A passing test opens it at once.
    const SAFETY_NET: Duration = Duration::from_secs(10);

    /// Counts the constructors that reached the gate (started) and passed it (dropped).
    pub(crate) fn entered(&self) -> &Probe {
        &self.entered
    }

    /// Lets every waiting constructor, and every later one, through.
    pub(crate) fn open(&self) {
        let (open, opened) = &*self.open;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        opened.notify_all();
    }

    fn pass(&self, plugin: &str) {
        let _guard = self.entered.enter();
        let (open, opened) = &*self.open;
        let guard = open.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, waited) = opened
            .wait_timeout_while(guard, Self::SAFETY_NET, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !waited.timed_out(),
            "{plugin}: the constructor blocked the runtime for {:?} of real time: the manager \
             never got to abandon it at its deadline",
            Self::SAFETY_NET
        );
    }
}

// ----- the scripted plugin ------------------------------------------------------------------

/// A plugin under construction: its metadata and what it will do.
pub(crate) struct Script {
    lab: Lab,
    metadata: PluginMetadata,
    plan: Plan,
}

struct Plan {
    fault: Option<(Phase, Fault)>,
    /// The fault strikes in instances `1..=faulty_instances`.
    faulty_instances: u32,
    /// The first `spared_calls` calls of the faulty hook on each instance succeed.
    spared_calls: u32,
    delays: Vec<(Hook, Duration)>,
    barriers: Vec<(Hook, Arc<Barrier>)>,
    background: Vec<Background>,
    /// The constructor waits at this gate (synchronously) before doing anything else.
    constructor_gate: Option<Gate>,
}

/// A task the plugin starts with `ctx.spawn` in `on_enable`.
enum Background {
    /// Waits for the trigger, then shows the fault.
    Fails(Trigger, Fault),
    /// Runs until cancelled, reporting to the probe.
    Runs(Probe),
    /// Shows the fault at once in every instance whose number is a multiple of `every`, and
    /// ends with `Ok` at once in the others.
    FailsAtOnce { every: u32, fault: Fault },
}

impl Script {
    /// Sets the required dependencies.
    pub(crate) fn deps<const N: usize>(mut self, deps: [&str; N]) -> Self {
        self.metadata = self.metadata.with_deps(deps);
        self
    }

    /// Sets the required dependencies, from a slice.
    pub(crate) fn deps_slice(mut self, deps: &[&str]) -> Self {
        self.metadata = self.metadata.with_deps(deps.iter().copied());
        self
    }

    /// Sets the optional dependencies.
    pub(crate) fn optional_deps<const N: usize>(mut self, deps: [&str; N]) -> Self {
        self.metadata = self.metadata.with_optional_deps(deps);
        self
    }

    /// Sets the plugin's own hook deadline.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.metadata = self.metadata.with_timeout(timeout);
        self
    }

    /// Shows `fault` in `phase` (the constructor or a hook; see [`Script::background_fails`]).
    pub(crate) fn fails(mut self, phase: Phase, fault: Fault) -> Self {
        assert!(
            matches!(phase, Phase::Constructor | Phase::Hook(_)),
            "use `background_fails` for background tasks"
        );
        assert!(
            !(phase == Phase::Constructor && fault == Fault::Hang),
            "a constructor is a synchronous function: it cannot hang in a way a runtime can stop"
        );
        self.plan.fault = Some((phase, fault));
        self
    }

    /// Limits the fault to the first instance, so that a restart succeeds.
    pub(crate) fn only_first_instance(mut self) -> Self {
        self.plan.faulty_instances = 1;
        self
    }

    /// Lets the first `calls` calls of the faulty hook on each instance succeed.
    pub(crate) fn sparing(mut self, calls: u32) -> Self {
        self.plan.spared_calls = calls;
        self
    }

    /// Makes `hook` take `delay` (on tokio's clock) before doing anything else.
    pub(crate) fn delay(mut self, hook: Hook, delay: Duration) -> Self {
        self.plan.delays.push((hook, delay));
        self
    }

    /// Makes `hook` wait on `barrier` before doing anything else.
    pub(crate) fn waits(mut self, hook: Hook, barrier: Arc<Barrier>) -> Self {
        self.plan.barriers.push((hook, barrier));
        self
    }

    /// Makes `on_enable` start a background task that shows `fault` once `trigger` fires.
    pub(crate) fn background_fails(mut self, trigger: &Trigger, fault: Fault) -> Self {
        self.plan
            .background
            .push(Background::Fails(trigger.clone(), fault));
        self
    }

    /// Makes `on_enable` start a background task that runs until cancelled, counted by `probe`.
    pub(crate) fn background_runs(mut self, probe: &Probe) -> Self {
        self.plan.background.push(Background::Runs(probe.clone()));
        self
    }

    /// Makes `on_enable` start a background task that shows `fault` at once in every
    /// `every`-th instance (every instance for 1); in the other instances the task
    /// ends at once with `Ok`. No task is left running, so a test can wait for quiescence.
    pub(crate) fn background_fails_at_once(mut self, every: u32, fault: Fault) -> Self {
        assert!(every > 0, "`every` counts instances from 1");
        assert!(
            fault != Fault::Hang,
            "a task that fails at once cannot hang; use `background_fails`"
        );
        self.plan
            .background
            .push(Background::FailsAtOnce { every, fault });
        self
    }

    /// Makes the constructor block its thread at `gate` until the test opens it: a
    /// synchronous hang, which only a manager that runs constructors off the runtime's
    /// threads can survive.
    pub(crate) fn constructor_blocks(mut self, gate: &Gate) -> Self {
        self.plan.constructor_gate = Some(gate.clone());
        self
    }

    /// The finished spec.
    pub(crate) fn spec(self) -> PluginSpec {
        let Script {
            lab,
            metadata,
            plan,
        } = self;
        let plan = Arc::new(plan);
        let name = metadata.name.clone();
        PluginSpec::new(metadata, move || {
            let instance = lab.next_instance(&name);
            let plugin = Scripted {
                name: name.clone(),
                instance,
                faulty_hook_calls: 0,
                plan: plan.clone(),
                lab: lab.clone(),
            };
            if let Some(gate) = &plugin.plan.constructor_gate {
                gate.pass(&name);
            }
            match plugin.fault_in(Phase::Constructor) {
                None => Ok(PluginInstance::new(plugin)),
                Some(Fault::Error) => Err(Error::msg(error_text(&name, Phase::Constructor))),
                Some(Fault::Panic) => panic!("{}", panic_text(&name, Phase::Constructor)),
                Some(Fault::Hang) => unreachable!("refused by `Script::fails`"),
            }
        })
    }
}

/// The plugin every test uses; what it does is set by its [`Script`].
pub(crate) struct Scripted {
    name: String,
    instance: u32,
    faulty_hook_calls: u32,
    plan: Arc<Plan>,
    lab: Lab,
}

impl Scripted {
    /// Which instance this is: 1 for the first one the factory made, 2 for the next, ...
    pub(crate) fn instance(&self) -> u32 {
        self.instance
    }

    fn fault_in(&self, phase: Phase) -> Option<Fault> {
        match self.plan.fault {
            Some((at, fault)) if at == phase && self.instance <= self.plan.faulty_instances => {
                Some(fault)
            }
            _ => None,
        }
    }

    async fn run(&mut self, hook: Hook, ctx: &Context) -> Result<()> {
        self.lab.record(&self.name, self.instance, hook);
        for (_, delay) in self.plan.delays.iter().filter(|(h, _)| *h == hook) {
            tokio::time::sleep(*delay).await;
        }
        for (_, barrier) in self.plan.barriers.iter().filter(|(h, _)| *h == hook) {
            barrier.wait().await;
        }
        if hook == Hook::Enable {
            for background in &self.plan.background {
                match background {
                    Background::Fails(trigger, fault) => {
                        let (trigger, fault) = (trigger.clone(), *fault);
                        let (lab, name) = (self.lab.clone(), self.name.clone());
                        ctx.spawn(async move {
                            trigger.fired().await;
                            strike(&lab, &name, Phase::Background, fault).await
                        });
                    }
                    Background::Runs(probe) => {
                        let probe = probe.clone();
                        ctx.spawn(async move {
                            let _guard = probe.enter();
                            std::future::pending::<()>().await;
                            Ok(())
                        });
                    }
                    Background::FailsAtOnce { every, fault } => {
                        let strikes = self.instance.is_multiple_of(*every);
                        let (fault, lab, name) = (*fault, self.lab.clone(), self.name.clone());
                        ctx.spawn(async move {
                            if strikes {
                                strike(&lab, &name, Phase::Background, fault).await
                            } else {
                                Ok(())
                            }
                        });
                    }
                }
            }
        }
        let fault = self.fault_in(Phase::Hook(hook));
        if fault.is_some() {
            self.faulty_hook_calls += 1;
        }
        match fault.filter(|_| self.faulty_hook_calls > self.plan.spared_calls) {
            Some(fault) => strike(&self.lab, &self.name, Phase::Hook(hook), fault).await,
            None => Ok(()),
        }
    }
}

async fn strike(lab: &Lab, plugin: &str, phase: Phase, fault: Fault) -> Result<()> {
    match fault {
        Fault::Error => Err(Error::msg(error_text(plugin, phase))),
        Fault::Panic => panic!("{}", panic_text(plugin, phase)),
        Fault::Hang => {
            let _guard = lab.hangs.enter();
            std::future::pending().await
        }
    }
}

#[plugin_core::async_trait]
impl Plugin for Scripted {
    async fn setup(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Setup, ctx).await
    }

    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Enable, ctx).await
    }

    async fn on_disable(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Disable, ctx).await
    }

    async fn teardown(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Teardown, ctx).await
    }
}

// ----- snapshots ----------------------------------------------------------------------------

/// Everything a refused request must leave as it was: every record, every live instance,
/// every hook call.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    records: Vec<RecordView>,
    calls: Vec<Call>,
}

#[derive(Debug, PartialEq)]
struct RecordView {
    name: String,
    state: PluginState,
    last_error: Option<Failure>,
    start_time: Option<Duration>,
    history: Vec<StateChange>,
    /// Which instance is live, if any.
    instance: Option<u32>,
}

/// Takes a [`Snapshot`] of `manager`.
pub(crate) async fn snapshot(manager: &PluginManager, lab: &Lab) -> Snapshot {
    let mut records = Vec::new();
    for record in manager.records() {
        let instance = match manager.get_named::<Scripted>(&record.name) {
            Some(plugin) => Some(within("read", plugin.read()).await.instance()),
            None => None,
        };
        records.push(RecordView {
            name: record.name,
            state: record.state,
            last_error: record.last_error,
            start_time: record.start_time,
            history: record.history,
            instance,
        });
    }
    Snapshot {
        records,
        calls: lab.calls(),
    }
}

/// Which instance of `plugin` is live.
pub(crate) async fn live_instance(manager: &PluginManager, plugin: &str) -> Option<u32> {
    let plugin = manager.get_named::<Scripted>(plugin)?;
    Some(within("read", plugin.read()).await.instance())
}

/// The state of `plugin`, which must exist.
pub(crate) fn state(manager: &PluginManager, plugin: &str) -> PluginState {
    manager
        .state(plugin)
        .unwrap_or_else(|| panic!("no plugin `{plugin}`"))
}

/// The last error of `plugin`, which must exist.
pub(crate) fn last_error(manager: &PluginManager, plugin: &str) -> Option<Failure> {
    manager
        .record(plugin)
        .unwrap_or_else(|| panic!("no plugin `{plugin}`"))
        .last_error
}
