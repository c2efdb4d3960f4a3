//! A random plugin graph under thousands of concurrent operator requests.
//!
//! Each seed builds a random dependency DAG of 30-60 scripted plugins, some of which fail (an
//! error or a panic in the constructor or a hook, on some call of some instance, or in a
//! background task), gives some of them a restart policy, starts it, and fires batches of
//! enable / disable / disable-cascade / restart requests on random plugins and configuration
//! reloads (switching a random plugin and its dependents off or back on, changing deadlines
//! and restart policies), all of a batch in flight at once on a multi-thread runtime. After start, after each batch (once the manager is quiet) and after shutdown, it
//! checks:
//!
//! - (a) no enabled plugin has a required dependency that is not enabled: at every change, by
//!   replaying the state-change feed in order, and in the records;
//! - (b) no transition is lost or duplicated: per plugin, the changes since the last check
//!   (from its record's history) continue its chain (each `from` is the previous `to`,
//!   starting at `unloaded`), each is an edge of [`PluginState::can_go_to`] (ARCHITECTURE.md, "States"), the chain
//!   ends at the plugin's state, and the feed carried exactly these changes;
//! - (c) every request ends, with `Ok` or an [`OperationError`] other than "unknown plugin"
//!   or "shutting down", within a generous deadline, so a deadlock fails the test instead of
//!   hanging CI; and no request task panics.
//!
//! The seeds are fixed, so a failure can be replayed (the graph and the requests are the
//! seed's; the interleaving is the scheduler's); the failing seed is printed.

mod common {
    pub(crate) mod lab;
    pub(crate) mod script;
    pub(crate) use self::{lab::*, script::*};
}

use std::collections::HashMap;
use std::fmt;
use std::sync::Once;
use std::time::Duration;

use common::{Fault, Lab, Script};
use plugin_core::host::Hook;
use plugin_manager::{
    Backoff, FailureKind, HISTORY_LIMIT, OperationError, Phase, PluginManager, PluginRecord,
    PluginState, PluginsConfig, RestartPolicy, StateChange, StateChanges, StateChangesError,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use PluginState::{Disabled, Enabled, Failed, Loaded, Setup, TornDown, Unloaded};

/// Batches of requests per seed; the invariants are checked after each.
const BATCHES: usize = 8;

/// Requests in flight at once in a batch.
const REQUESTS_PER_BATCH: usize = 400;

/// How long, in real time, any one await may take before it counts as a deadlock. Generous:
/// a healthy request takes microseconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// The seeds, one test each.
const SEEDS: [u64; 5] = [
    0x5eed_0000,
    0x0bad_cafe,
    0x1234_5678,
    0xdead_beef,
    0x0000_002a,
];

macro_rules! seeds {
    ($($name:ident: $seed:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            run($seed).await;
        }
    )*};
}

seeds! {
    seed_0: SEEDS[0];
    seed_1: SEEDS[1];
    seed_2: SEEDS[2];
    seed_3: SEEDS[3];
    seed_4: SEEDS[4];
}

// ----- the world --------------------------------------------------------------------------

/// The random plugin set: names and required dependencies, by index.
struct World {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    index: HashMap<String, usize>,
}

impl World {
    /// A configuration that switches `plugin` and every plugin needing it off (or, half the
    /// time, leaves everything on), with random deadlines and restart policies.
    fn config(&self, rng: &mut fastrand::Rng, plugin: &str) -> PluginsConfig {
        let mut off = vec![false; self.names.len()];
        if rng.bool() {
            let mut stack = vec![self.at(plugin)];
            while let Some(p) = stack.pop() {
                if !std::mem::replace(&mut off[p], true) {
                    stack.extend(&self.dependents[p]);
                }
            }
        }
        let mut text = String::new();
        for (p, name) in self.names.iter().enumerate() {
            let timeout = if rng.bool() { "\ntimeout = \"2s\"" } else { "" };
            let restart = match rng.u8(0..3) {
                0 => "\nrestart = \"never\"",
                1 => {
                    "\nrestart = { policy = \"on-failure\", max_restarts = 1, within = \"1h\", backoff = \"1ms\" }"
                }
                _ => "",
            };
            text.push_str(&format!(
                "[{name}]\nenabled = {}{timeout}{restart}\n",
                !off[p]
            ));
        }
        PluginsConfig::parse("random.toml", &text)
            .unwrap_or_else(|e| panic!("the random configuration parses: {e}\n{text}"))
    }

    /// A random DAG of 30-60 plugins, each with up to 3 dependencies among those made before
    /// it; names are shuffled so the start order (ties broken by name) is not the build order.
    fn new(rng: &mut fastrand::Rng, lab: &Lab) -> (Self, Vec<plugin_manager::PluginSpec>) {
        let n = rng.usize(30..=60);
        let mut labels: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut labels);
        let names: Vec<String> = labels.iter().map(|l| format!("p{l:02}")).collect();
        let mut deps = Vec::with_capacity(n);
        let mut specs = Vec::with_capacity(n);
        for (i, name) in names.iter().enumerate() {
            let mut pool: Vec<usize> = (0..i).collect();
            rng.shuffle(&mut pool);
            pool.truncate(rng.usize(0..=i.min(3)));
            let dep_names: Vec<&str> = pool.iter().map(|&d| names[d].as_str()).collect();
            let mut script = lab.plugin(name).deps_slice(&dep_names);
            if rng.u8(0..5) == 0 {
                script = hook_fault(rng, script);
            }
            if rng.u8(0..8) == 0 {
                script = script.background_fails_at_once(rng.u32(1..=3), error_or_panic(rng));
            }
            specs.push(script.spec());
            deps.push(pool);
        }
        let mut dependents = vec![Vec::new(); n];
        for (user, its_deps) in deps.iter().enumerate() {
            for &dep in its_deps {
                dependents[dep].push(user);
            }
        }
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let world = Self {
            names,
            deps,
            dependents,
            index,
        };
        (world, specs)
    }

    fn at(&self, name: &str) -> usize {
        self.index[name]
    }
}

fn error_or_panic(rng: &mut fastrand::Rng) -> Fault {
    if rng.bool() {
        Fault::Error
    } else {
        Fault::Panic
    }
}

/// A fault in the constructor or a hook: in every instance or only the first, and for hooks
/// that run more than once per instance, after a few spared calls.
fn hook_fault(rng: &mut fastrand::Rng, script: Script) -> Script {
    let phase = [
        Phase::Constructor,
        Phase::Hook(Hook::Setup),
        Phase::Hook(Hook::Enable),
        Phase::Hook(Hook::Disable),
        Phase::Hook(Hook::Teardown),
    ][rng.usize(0..5)];
    let mut script = script.fails(phase, error_or_panic(rng));
    if matches!(phase, Phase::Hook(Hook::Enable | Hook::Disable)) {
        script = script.sparing(rng.u32(0..3));
    }
    if rng.u8(0..4) != 0 {
        script = script.only_first_instance();
    }
    script
}

// ----- requests ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Enable,
    Disable,
    DisableCascade,
    Restart,
    /// A reload of a configuration made for the request ([`World::config`]).
    Reload,
}

impl Op {
    const ALL: [Op; 5] = [
        Op::Enable,
        Op::Disable,
        Op::DisableCascade,
        Op::Restart,
        Op::Reload,
    ];

    /// Sends the request; a reload's outcome is its first failed change, if any.
    async fn send(
        self,
        manager: &PluginManager,
        plugin: &str,
        config: PluginsConfig,
    ) -> Result<(), OperationError> {
        match self {
            Op::Enable => manager.enable(plugin).await,
            Op::Disable => manager.disable(plugin).await,
            Op::DisableCascade => manager.disable_cascade(plugin).await,
            Op::Restart => manager.restart(plugin).await,
            Op::Reload => match manager.reload_config(config).await {
                Ok(changes) => changes.into_iter().try_for_each(|change| change.result),
                Err(problems) => panic!("a valid configuration was refused: {problems:?}"),
            },
        }
    }
}

/// The restart policy some plugins have: quick, and at most two restarts in the whole run.
fn quick_policy() -> RestartPolicy {
    RestartPolicy::OnFailure(
        Backoff::default()
            .with_max_restarts(2)
            .with_window(Duration::from_secs(3600))
            .with_initial_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(4)),
    )
}

/// How the requests ended, to make sure a run exercised what it claims to.
#[derive(Default)]
struct Tally {
    ok: HashMap<Op, usize>,
    refused: usize,
    failed: usize,
}

// ----- the feed ---------------------------------------------------------------------------

/// What the feed reader passes on.
enum Delivery {
    Change(StateChange),
    /// The reader fell this many changes behind; they are lost to it.
    Lagged(u64),
    /// Everything the feed held when the sync was asked for has been passed on.
    Synced,
}

/// The state-change feed, read on a thread of its own so that, however busy the runtime's
/// workers are, it is drained as fast as the manager fills it (it holds 1024 changes). The OS
/// may still not run the reader for long enough; the checks then fall back to the records'
/// histories for that window.
struct FeedReader {
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    syncs: mpsc::UnboundedSender<()>,
}

impl FeedReader {
    fn new(mut feed: StateChanges) -> Self {
        let (deliver, deliveries) = mpsc::unbounded_channel();
        let (syncs, mut sync_requests) = mpsc::unbounded_channel::<()>();
        // Ends when the manager is dropped (the feed closes) or the reader is (a send fails).
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime for the feed reader");
            runtime.block_on(async move {
                loop {
                    let delivery = tokio::select! {
                        received = feed.recv() => match received {
                            Ok(change) => Delivery::Change(change),
                            Err(StateChangesError::Lagged { missed }) => Delivery::Lagged(missed),
                            Err(_closed) => return,
                        },
                        request = sync_requests.recv() => {
                            if request.is_none() {
                                return;
                            }
                            loop {
                                let delivery = match feed.try_recv() {
                                    Ok(Some(change)) => Delivery::Change(change),
                                    Err(StateChangesError::Lagged { missed }) => {
                                        Delivery::Lagged(missed)
                                    }
                                    Ok(None) | Err(_) => break,
                                };
                                if deliver.send(delivery).is_err() {
                                    return;
                                }
                            }
                            Delivery::Synced
                        }
                    };
                    if deliver.send(delivery).is_err() {
                        return;
                    }
                }
            });
        });
        Self { deliveries, syncs }
    }

    /// Every delivery up to now: all changes the manager sent before this call (or news of
    /// those the reader missed).
    async fn sync(&mut self) -> Vec<Delivery> {
        self.syncs.send(()).expect("the feed reader lives");
        let mut deliveries = Vec::new();
        loop {
            match self.deliveries.recv().await.expect("the feed reader lives") {
                Delivery::Synced => return deliveries,
                delivery => deliveries.push(delivery),
            }
        }
    }
}

// ----- the checks -------------------------------------------------------------------------

/// Whether the state table has the edge `from -> to`.
fn legal(from: PluginState, to: PluginState) -> bool {
    from.can_go_to(to)
}

/// Checks the invariants at each quiet point, over the window of changes since the last one;
/// see the module's note.
///
/// The records' histories are the complete account of each plugin's changes (a window never
/// holds `HISTORY_LIMIT` changes of one plugin; that is checked), so (b) is checked on them
/// every time. The feed must then carry exactly the same changes; and, as it is the one place
/// that orders changes across plugins, it is replayed to check (a) at every change. A window
/// in which the feed reader fell behind cannot be replayed: it is counted and skipped.
struct Checker {
    seed: u64,
    world: World,
    /// Each plugin's state at the last quiet point.
    states: Vec<PluginState>,
    /// Each plugin's last change at the last quiet point.
    last: Vec<Option<StateChange>>,
    own_failures: usize,
    dependency_failures: usize,
    changes: usize,
    windows: usize,
    lagged_windows: usize,
}

impl Checker {
    fn new(seed: u64, world: World) -> Self {
        let n = world.names.len();
        Self {
            seed,
            world,
            states: vec![Unloaded; n],
            last: vec![None; n],
            own_failures: 0,
            dependency_failures: 0,
            changes: 0,
            windows: 0,
            lagged_windows: 0,
        }
    }

    /// Checks everything once the manager is quiet; `when` names the point.
    async fn check(&mut self, manager: &PluginManager, feed: &mut FeedReader, when: &str) {
        quiet(self.seed, when).await;
        let records = manager.records();
        let window = self.window_from_histories(&records, when);
        let lagged = self.feed_window(feed, &records, &window, when).await;
        self.check_records(manager, &records, when);
        self.windows += 1;
        if lagged {
            self.lagged_windows += 1;
        }
        for record in &records {
            let p = self.world.at(&record.name);
            self.states[p] = record.state;
            self.last[p] = record.history.last().cloned();
        }
    }

    /// (b) on the histories: each plugin's changes since the last quiet point, checked to
    /// continue its chain, take legal edges and end at its state.
    fn window_from_histories(
        &mut self,
        records: &[PluginRecord],
        when: &str,
    ) -> Vec<Vec<StateChange>> {
        let seed = self.seed;
        let mut window = vec![Vec::new(); self.world.names.len()];
        for record in records {
            let name = &record.name;
            let p = self.world.at(name);
            let history = &record.history;
            let new = match &self.last[p] {
                None => &history[..],
                Some(last) => {
                    let Some(at) = history.iter().rposition(|c| c == last) else {
                        panic!(
                            "seed {seed:#x}, {when}: `{name}`'s history lost its change {last:?} \
                             ({} changes kept{})",
                            history.len(),
                            if history.len() == HISTORY_LIMIT {
                                "; a window this busy is too big to check"
                            } else {
                                ""
                            }
                        )
                    };
                    &history[at + 1..]
                }
            };
            let mut state = self.states[p];
            for change in new {
                self.check_change(change, state, &format!("{when}, history"));
                state = change.to;
            }
            assert_eq!(
                record.state, state,
                "seed {seed:#x}, {when}: `{name}` is {} but its history ends at {state}",
                record.state
            );
            window[p] = new.to_vec();
        }
        window
    }

    /// One change, `from` where the plugin was: the chain goes on, on an edge of the table,
    /// and a failure has a cause.
    fn check_change(&mut self, change: &StateChange, was: PluginState, at: &str) {
        let seed = self.seed;
        let name = &change.plugin;
        let p = self.world.at(name);
        assert_eq!(
            change.from, was,
            "seed {seed:#x}, {at}: `{name}`'s change does not continue its chain (a lost or \
             duplicated transition): {change:?} after it was {was}"
        );
        assert!(
            legal(change.from, change.to),
            "seed {seed:#x}, {at}: `{name}` took an edge the state table does not have: {change:?}"
        );
        if change.to != Failed {
            return;
        }
        let cause = change.cause.as_ref().unwrap_or_else(|| {
            panic!("seed {seed:#x}, {at}: `{name}` failed without a cause: {change:?}")
        });
        match &cause.kind {
            FailureKind::DependencyFailed(dep) => {
                self.dependency_failures += 1;
                let dep = self.world.at(dep);
                assert!(
                    self.world.deps[p].contains(&dep),
                    "seed {seed:#x}, {at}: `{name}` failed for `{}`, which is not one of its \
                     dependencies",
                    self.world.names[dep]
                );
            }
            FailureKind::Abandoned(_) => {
                panic!("seed {seed:#x}, {at}: `{name}` was abandoned: {change:?}")
            }
            _ => self.own_failures += 1,
        }
    }

    /// Takes the window's changes from the feed: they must be the histories' (nothing lost or
    /// duplicated), and replayed in feed order they must keep (a) at every change. Returns
    /// whether the feed reader fell behind, which leaves the window unchecked on the feed.
    async fn feed_window(
        &mut self,
        feed: &mut FeedReader,
        records: &[PluginRecord],
        window: &[Vec<StateChange>],
        when: &str,
    ) -> bool {
        let seed = self.seed;
        let deliveries = tokio::time::timeout(DEADLINE, feed.sync())
            .await
            .unwrap_or_else(|_| panic!("seed {seed:#x}, {when}: the feed reader is stuck"));
        let mut received = Vec::new();
        let mut missed: u64 = 0;
        for delivery in deliveries {
            match delivery {
                Delivery::Change(change) => received.push(change),
                Delivery::Lagged(n) => missed += n,
                Delivery::Synced => unreachable!("`sync` keeps its marker"),
            }
        }
        if missed > 0 {
            eprintln!(
                "seed {seed:#x}, {when}: the feed reader fell {missed} changes behind; this \
                 window is checked on the histories only"
            );
            return true;
        }
        let mut on_feed = vec![Vec::new(); window.len()];
        for change in &received {
            on_feed[self.world.at(&change.plugin)].push(change.clone());
        }
        for record in records {
            let p = self.world.at(&record.name);
            assert_eq!(
                on_feed[p], window[p],
                "seed {seed:#x}, {when}: the feed and the history of `{}` disagree (a lost or \
                 duplicated transition)",
                record.name
            );
        }
        let mut states = self.states.clone();
        for (i, change) in received.iter().enumerate() {
            let p = self.world.at(&change.plugin);
            let name = &change.plugin;
            states[p] = change.to;
            let about = |other: usize| {
                format!(
                    "seed {seed:#x}, {when}: at feed change #{i} {change:?}, `{name}` and `{}`",
                    self.world.names[other]
                )
            };
            if change.to == Enabled {
                for &dep in &self.world.deps[p] {
                    assert_eq!(
                        states[dep],
                        Enabled,
                        "{}: the dependency is not enabled",
                        about(dep)
                    );
                }
            }
            if change.from == Enabled {
                for &user in &self.world.dependents[p] {
                    assert_ne!(
                        states[user],
                        Enabled,
                        "{}: a dependent is still enabled",
                        about(user)
                    );
                }
            }
        }
        self.changes += received.len();
        false
    }

    /// (a) on the records of a quiet manager, and what each state implies.
    fn check_records(&self, manager: &PluginManager, records: &[PluginRecord], when: &str) {
        let seed = self.seed;
        for record in records {
            let name = &record.name;
            let p = self.world.at(name);
            if record.state == Enabled {
                for &dep in &self.world.deps[p] {
                    let dep = &records[dep_index(records, &self.world.names[dep])];
                    assert_eq!(
                        dep.state, Enabled,
                        "seed {seed:#x}, {when}: `{name}` is enabled, its dependency `{}` is not",
                        dep.name
                    );
                }
            }
            let has_instance = manager.instance(name).is_some();
            assert_eq!(
                has_instance,
                matches!(record.state, Loaded | Setup | Enabled | Disabled),
                "seed {seed:#x}, {when}: `{name}` is {} but has {} instance",
                record.state,
                if has_instance { "an" } else { "no" }
            );
            if record.state == Failed {
                assert!(
                    record.last_error.is_some(),
                    "seed {seed:#x}, {when}: `{name}` failed without an error"
                );
            }
        }
    }
}

fn dep_index(records: &[PluginRecord], name: &str) -> usize {
    records
        .iter()
        .position(|r| r.name == name)
        .expect("every plugin has a record")
}

/// Waits until no task is left on the runtime: every request answered, every background task
/// and the manager's handling of its failure finished. Only then do the records and the feed
/// hold still long enough to be compared.
async fn quiet(seed: u64, when: &str) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let settled = async {
        while metrics.num_alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
    };
    if tokio::time::timeout(DEADLINE, settled).await.is_err() {
        panic!(
            "seed {seed:#x}, {when}: {} tasks still running after {DEADLINE:?}",
            metrics.num_alive_tasks()
        );
    }
}

// ----- the run ----------------------------------------------------------------------------

/// Prints the seed when the test fails, whatever assertion failed.
struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "randomized: failed with seed {:#x}; the seed fixes the graph and the requests, \
                 the interleaving varies",
                self.0
            );
        }
    }
}

/// Keeps the scripted plugins' panics (thousands of them) out of the output; any other panic
/// is reported as usual.
fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            // Exactly `common::panic_text`, not a test's message that quotes it.
            let planned = message.is_some_and(|m| {
                m.ends_with(" exploded on purpose") && !m.contains(['"', '{', '\n'])
            });
            if !planned {
                report(info);
            }
        }));
    });
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok {:?}, refused {}, failed {}",
            self.ok, self.refused, self.failed
        )
    }
}

async fn run(seed: u64) {
    let _report = SeedReport(seed);
    quiet_planned_panics();
    let mut rng = fastrand::Rng::with_seed(seed);
    let lab = Lab::default();
    let (world, specs) = World::new(&mut rng, &lab);
    let mut builder = PluginManager::builder().plugins(specs);
    for name in &world.names {
        if rng.u8(0..3) == 0 {
            builder = builder.restart_policy(name.as_str(), quick_policy());
        }
    }
    let manager = builder
        .build()
        .unwrap_or_else(|e| panic!("seed {seed:#x}: the random set is valid: {e}"));
    let mut feed = FeedReader::new(manager.state_changes());
    let mut checker = Checker::new(seed, world);
    let names = checker.world.names.clone();
    let mut tally = Tally::default();

    tokio::time::timeout(DEADLINE, manager.start())
        .await
        .unwrap_or_else(|_| panic!("seed {seed:#x}: start did not finish"));
    checker.check(&manager, &mut feed, "after start").await;

    for batch in 0..BATCHES {
        let mut requests = JoinSet::new();
        for _ in 0..REQUESTS_PER_BATCH {
            let op = Op::ALL[rng.usize(0..Op::ALL.len())];
            let plugin = names[rng.usize(0..names.len())].clone();
            let config = if op == Op::Reload {
                checker.world.config(&mut rng, &plugin)
            } else {
                PluginsConfig::empty()
            };
            let manager = manager.clone();
            requests.spawn(async move {
                let outcome =
                    tokio::time::timeout(DEADLINE, op.send(&manager, &plugin, config)).await;
                (op, plugin, outcome)
            });
        }
        while let Some(joined) = requests.join_next().await {
            let (op, plugin, outcome) = joined.unwrap_or_else(|e| {
                panic!("seed {seed:#x}, batch {batch}: a request panicked: {e}")
            });
            let outcome = outcome.unwrap_or_else(|_| {
                panic!("seed {seed:#x}, batch {batch}: {op:?} `{plugin}` did not finish: deadlock")
            });
            match outcome {
                Ok(()) => *tally.ok.entry(op).or_default() += 1,
                Err(OperationError::Failed { .. }) => tally.failed += 1,
                Err(
                    error @ (OperationError::UnknownPlugin { .. } | OperationError::ShuttingDown),
                ) => panic!("seed {seed:#x}, batch {batch}: {op:?} `{plugin}`: {error}"),
                Err(_refused) => tally.refused += 1,
            }
        }
        let when = format!("after batch {batch}");
        checker.check(&manager, &mut feed, &when).await;
    }

    tokio::time::timeout(DEADLINE, manager.shutdown())
        .await
        .unwrap_or_else(|_| panic!("seed {seed:#x}: shutdown did not finish"));
    checker.check(&manager, &mut feed, "after shutdown").await;
    for record in manager.records() {
        assert!(
            matches!(record.state, TornDown | Failed),
            "seed {seed:#x}: `{}` is {} after shutdown",
            record.name,
            record.state
        );
    }

    // Shown when a later assertion fails (the harness captures it otherwise).
    eprintln!(
        "seed {seed:#x}: {} plugins; requests: {tally}; {} changes replayed from the feed \
         ({} of {} windows on histories only); {} own failures, {} dependency failures",
        names.len(),
        checker.changes,
        checker.lagged_windows,
        checker.windows,
        checker.own_failures,
        checker.dependency_failures
    );
    // The run exercised what it claims to: every request kind succeeded somewhere, and plugins
    // failed both on their own and for want of a dependency.
    for op in Op::ALL {
        assert!(
            tally.ok.get(&op).is_some_and(|&n| n > 0),
            "seed {seed:#x}: no {op:?} succeeded: {tally}"
        );
    }
    assert!(
        tally.refused > 0 && tally.failed > 0,
        "seed {seed:#x}: {tally}"
    );
    assert!(
        checker.own_failures > 0 && checker.dependency_failures > 0,
        "seed {seed:#x}: {} own failures, {} dependency failures",
        checker.own_failures,
        checker.dependency_failures
    );
}
