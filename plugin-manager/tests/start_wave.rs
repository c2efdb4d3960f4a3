//! The start wave (`lifecycle/start_wave.rs`, `StartWave`): no task steers it; each plugin task
//! reports its outcome as it ends and launches what that lets go, and the task that started
//! the wave only keeps the deadlines, cutting off a piece still running past its own.
//!
//! What these tests hold it to, from the outside:
//!
//! - `start` returns, whatever the plugins do (errors, panics, hangs, constructors that block
//!   their thread, invalid sections, plugins switched off), on a current-thread and on a
//!   multi-thread runtime;
//! - every plugin ends where its own outcome and its dependencies' lead: `Enabled` when it and
//!   every required dependency were, its own failure (kind and phase) when it failed, and
//!   "dependency `x` failed" naming a failed required dependency otherwise, without ever being
//!   constructed; each with exactly the transitions of that outcome (none lost or doubled);
//! - a plugin waits for its optional dependencies to be done, not for them to succeed;
//! - at most `max_in_flight` plugins are in `setup` at once, and every outcome, including a
//!   cut-off at the deadline racing the plugin's own report, gives its place back exactly once
//!   (a leaked place stalls the wave or narrows it, a place freed twice widens it);
//! - each piece (constructor, `setup`, `on_enable`) has its own deadline, counted from when the
//!   plugin is launched, not from when it became ready and queued for a place;
//! - a start carried on in the task of the plugin that let it start, or handed to a task
//!   parked with nothing to go on with, fails every way as one in a task of its own does, a
//!   hang cut off by aborting that task; the parked tasks end with the wave;
//! - a chain of 10,000 plugins whose root fails is failed link by link, without recursion;
//! - a hook that blocks its thread past its deadline is cut off, and its task's late report
//!   (after the wave's) changes nothing.
//!
//! Concurrency is measured with atomics inside the hooks; deadlines run on tokio's paused
//! clock wherever the runtime allows it (a constructor blocked on tokio's blocking pool holds
//! the paused clock, so that test moves it by hand, as `fault_matrix.rs` does).

mod common {
    pub(crate) mod changes;
    pub(crate) mod clock;
    pub(crate) mod failures;
    pub(crate) mod gate;
    pub(crate) mod lab;
    pub(crate) mod records;
    pub(crate) mod script;
    // Only the probes' readers: no test here fails a background task on a trigger.
    #[allow(dead_code)]
    pub(crate) mod sync;
    pub(crate) use self::{
        changes::*, clock::*, failures::*, gate::*, lab::*, records::*, script::*,
    };
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use common::{
    Fault, Gate, HOOK_TIMEOUT, Lab, dependency_failed, drain, expected_failure, index_of,
    last_error, state,
};
use plugin_core::host::Hook;
use plugin_core::{Context, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::{
    Failure, FailureKind, ManagerBuilder, Phase, PluginManager, PluginRecord, PluginSpec,
    PluginState, PluginsConfig,
};
use tokio::sync::watch;

use PluginState::{Enabled, Failed, Loaded, Setup, Unloaded};

// ----- counting plugins in setup ------------------------------------------------------------

/// Counts the plugins in `setup` at once (the most there ever were), and how many entered.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
    entered: AtomicUsize,
}

impl Gauge {
    fn enter(&self) -> InSetup<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        InSetup(self)
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

/// One plugin in `setup`; leaves when dropped (also when its hook is dropped, cut off).
struct InSetup<'a>(&'a Gauge);

impl Drop for InSetup<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long a counted plugin stays in `setup`.
#[derive(Clone, Copy)]
enum Hold {
    /// On tokio's clock (paused in the current-thread tests).
    Sleep(Duration),
    /// This many yields: a multi-thread runtime, real clock, no time taken.
    Yields(u32),
}

/// A plugin that stays in `setup` for a while, counted by its gauge.
struct Counted {
    gauge: Arc<Gauge>,
    hold: Hold,
}

#[async_trait]
impl Plugin for Counted {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        let _in_setup = self.gauge.enter();
        match self.hold {
            Hold::Sleep(duration) => tokio::time::sleep(duration).await,
            Hold::Yields(n) => {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(())
    }
}

fn counted(metadata: PluginMetadata, gauge: &Arc<Gauge>, hold: Hold) -> PluginSpec {
    let gauge = gauge.clone();
    PluginSpec::new(metadata, move || {
        Ok(PluginInstance::new(Counted {
            gauge: gauge.clone(),
            hold,
        }))
    })
}

/// The deadline of the plugins a test does not time out: on the real clock, far enough that a
/// busy machine never reaches it.
const FAR: Duration = Duration::from_secs(3600);

/// Ten milliseconds of the paused clock in `setup`.
const BRIEFLY: Hold = Hold::Sleep(Duration::from_millis(10));

/// How long any one await of a test may take before it counts as a hang: tokio's clock, so
/// virtual time on the paused clock, real time on a multi-thread runtime (where
/// `common::within`'s hour would let a hang stall the suite). The longest legitimate wait,
/// the paused race of ten rounds of 1 s, is a third of it.
const GUARD: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it takes longer than [`GUARD`].
async fn ends<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not end within {GUARD:?}: a report or a place was lost"),
    }
}

// ----- reading the outcome -------------------------------------------------------------------

fn builder(specs: impl IntoIterator<Item = PluginSpec>) -> ManagerBuilder {
    PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .plugins(specs)
}

fn config(text: &str) -> PluginsConfig {
    PluginsConfig::parse("plugins.toml", text).expect("valid TOML")
}

fn record(manager: &PluginManager, plugin: &str) -> PluginRecord {
    manager
        .record(plugin)
        .unwrap_or_else(|| panic!("no plugin `{plugin}`"))
}

/// The states `plugin` went through, from its record's history.
fn trail(manager: &PluginManager, plugin: &str) -> Vec<PluginState> {
    record(manager, plugin)
        .history
        .iter()
        .map(|c| c.to)
        .collect()
}

/// The transitions of a plugin that failed at `phase` (or before running, for `None`): one
/// `Failed`, after the states it reached.
fn failed_trail(phase: Option<Phase>) -> Vec<PluginState> {
    match phase {
        None | Some(Phase::Constructor) => vec![Failed],
        Some(Phase::Hook(Hook::Setup)) => vec![Loaded, Failed],
        Some(Phase::Hook(Hook::Enable)) => vec![Loaded, Setup, Failed],
        Some(other) => panic!("no start fails in {other}"),
    }
}

const STARTED: [PluginState; 3] = [Loaded, Setup, Enabled];

/// `plugin` started: enabled, no error, the three transitions of a start.
fn assert_started(manager: &PluginManager, plugin: &str) {
    assert_eq!(state(manager, plugin), Enabled, "{plugin}");
    assert_eq!(last_error(manager, plugin), None, "{plugin}");
    assert_eq!(trail(manager, plugin), STARTED, "{plugin}: its transitions");
}

/// `plugin` failed with `failure`, recorded once.
fn assert_failed(manager: &PluginManager, plugin: &str, failure: &Failure) {
    assert_eq!(state(manager, plugin), Failed, "{plugin}");
    assert_eq!(
        last_error(manager, plugin).as_ref(),
        Some(failure),
        "{plugin}"
    );
    assert_eq!(
        trail(manager, plugin),
        failed_trail(failure.phase),
        "{plugin}: its transitions"
    );
}

/// `plugin` was never touched: still unloaded, nothing recorded.
fn assert_untouched(manager: &PluginManager, plugin: &str) {
    assert_eq!(state(manager, plugin), Unloaded, "{plugin}");
    assert_eq!(last_error(manager, plugin), None, "{plugin}");
    assert_eq!(trail(manager, plugin), [], "{plugin}: its transitions");
}

// ----- the window and every way to leave it ---------------------------------------------------

/// The plugins of [`own_failures`] whose plugin code fails, and where and how.
const SCRIPTED: [(&str, Phase, Fault); 6] = [
    ("b_ctor_error", Phase::Constructor, Fault::Error),
    ("b_ctor_panic", Phase::Constructor, Fault::Panic),
    ("b_setup_error", Phase::Hook(Hook::Setup), Fault::Error),
    ("b_setup_panic", Phase::Hook(Hook::Setup), Fault::Panic),
    ("b_enable_panic", Phase::Hook(Hook::Enable), Fault::Panic),
    ("b_enable_hang", Phase::Hook(Hook::Enable), Fault::Hang),
];

/// The plugins that fail on their own, each a different way, and how.
fn own_failures() -> Vec<(&'static str, Failure)> {
    let config_error = |plugin: &str| {
        // Found before any plugin code runs, as a dependency's failure is: no phase.
        let mut failure = Failure::dependency_failed(plugin);
        failure.kind = FailureKind::Config(format!(
            "plugins.toml:2: key `{plugin}.enabled`: expected `true` or `false`, found \"yes\""
        ));
        failure
    };
    vec![
        (
            "b_ctor_error",
            expected_failure("b_ctor_error", Phase::Constructor, Fault::Error),
        ),
        (
            "b_ctor_panic",
            expected_failure("b_ctor_panic", Phase::Constructor, Fault::Panic),
        ),
        (
            "b_setup_error",
            expected_failure("b_setup_error", Phase::Hook(Hook::Setup), Fault::Error),
        ),
        (
            "b_setup_panic",
            expected_failure("b_setup_panic", Phase::Hook(Hook::Setup), Fault::Panic),
        ),
        (
            "b_enable_panic",
            expected_failure("b_enable_panic", Phase::Hook(Hook::Enable), Fault::Panic),
        ),
        (
            "b_enable_hang",
            expected_failure("b_enable_hang", Phase::Hook(Hook::Enable), Fault::Hang),
        ),
        ("b_bad_config", config_error("b_bad_config")),
    ]
}

/// Every way out of the window, in a window of `places`:
///
/// - `a0`..`a2`, first in start order, each briefly in `setup`;
/// - `b_*`, each failing on its own a different way (constructor error and panic, `setup`
///   error and panic, `on_enable` panic and hang, an invalid section), and `b_off`,
///   switched off by the configuration;
/// - `c_needs_<b>`, which needs one of them (`c_needs_needs_off` needs `c_needs_b_off`), and
///   `c_opt`, which can use all of them;
/// - `late`, whose `setup` takes 2 s (its own deadline is 10 s: past the hang's cut-off),
///   and `z0`..`z5`, which need it, so that they all become ready at once after every `b_*`
///   left its place; their gauge shows whether a place was leaked or freed twice.
async fn every_way_out_of_a_window_of(places: usize) {
    let lab = Lab::default();
    let (first, last) = (Arc::new(Gauge::default()), Arc::new(Gauge::default()));
    let mut specs: Vec<PluginSpec> = (0..3)
        .map(|i| counted(PluginMetadata::new(format!("a{i}")), &first, BRIEFLY))
        .collect();
    let scripted = SCRIPTED;
    for (name, phase, fault) in scripted {
        specs.push(lab.plugin(name).fails(phase, fault).spec());
    }
    specs.push(lab.plugin("b_bad_config").spec());
    specs.push(lab.plugin("b_off").spec());
    let own = own_failures();
    let all_b: Vec<&str> = own.iter().map(|(b, _)| *b).chain(["b_off"]).collect();
    for b in &all_b {
        specs.push(lab.plugin(&format!("c_needs_{b}")).deps([*b]).spec());
    }
    specs.push(
        lab.plugin("c_needs_needs_off")
            .deps(["c_needs_b_off"])
            .spec(),
    );
    let optional: Vec<String> = all_b.iter().map(|b| (*b).to_owned()).collect();
    specs.push(PluginSpec::new(
        PluginMetadata::new("c_opt").with_optional_deps(optional),
        || Ok(PluginInstance::new(Bare)),
    ));
    specs.push(
        lab.plugin("late")
            .delay(Hook::Setup, Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .spec(),
    );
    for i in 0..6 {
        let metadata = PluginMetadata::new(format!("z{i}")).with_deps(["late"]);
        specs.push(counted(metadata, &last, BRIEFLY));
    }
    let manager = builder(specs)
        .max_in_flight(places)
        .config(config(
            "[b_bad_config]\nenabled = \"yes\"\n[b_off]\nenabled = false\n",
        ))
        .build()
        .expect("a valid set");
    let mut feed = manager.state_changes();

    ends("start", manager.start()).await;

    let window = format!("a window of {places}");
    for i in 0..3 {
        assert_started(&manager, &format!("a{i}"));
    }
    for (plugin, failure) in &own {
        assert_failed(&manager, plugin, failure);
        let user = format!("c_needs_{plugin}");
        assert_failed(&manager, &user, &dependency_failed(plugin));
        assert_eq!(lab.instances_made(&user), 0, "{user} was constructed");
    }
    lab.hangs().wait_dropped(1).await;
    assert_eq!(lab.hangs().started(), 1, "{window}: one hang");
    for plugin in ["b_off", "c_needs_b_off", "c_needs_needs_off"] {
        assert_untouched(&manager, plugin);
    }
    assert_started(&manager, "c_opt");
    assert_started(&manager, "late");
    for i in 0..6 {
        assert_started(&manager, &format!("z{i}"));
    }
    // `c_opt` was made only once every optional dependency was done.
    let changes = drain(&mut feed);
    let made = index_of(&changes, "c_opt", Loaded);
    for (plugin, _) in &own {
        assert!(
            index_of(&changes, plugin, Failed) < made,
            "{window}: c_opt started before {plugin} was done"
        );
    }
    // The window was filled, and never overfilled, before and after every way out of it.
    assert_eq!(
        first.most(),
        places.min(3),
        "{window}: a0..a2 in setup at once"
    );
    assert_eq!(
        last.most(),
        places.min(6),
        "{window}: z0..z5 in setup at once"
    );
}

#[derive(Default)]
struct Bare;

#[async_trait]
impl Plugin for Bare {}

#[tokio::test(start_paused = true)]
async fn a_window_of_one_survives_every_way_out_of_it() {
    every_way_out_of_a_window_of(1).await;
}

#[tokio::test(start_paused = true)]
async fn a_window_of_three_survives_every_way_out_of_it() {
    every_way_out_of_a_window_of(3).await;
}

#[tokio::test(start_paused = true)]
async fn a_wide_window_survives_every_way_out_of_it() {
    every_way_out_of_a_window_of(plugin_manager::DEFAULT_MAX_IN_FLIGHT).await;
}

/// `b`, one of [`own_failures`], needing `root`: failing as [`SCRIPTED`] says, or (the one not
/// scripted) through its invalid section ([`with_a_bad_section`]).
fn failing_on_its_own(lab: &Lab, b: &str, root: &str) -> PluginSpec {
    let plugin = lab.plugin(b).deps([root]);
    match SCRIPTED.iter().find(|(name, ..)| *name == b) {
        Some(&(_, phase, fault)) => plugin.fails(phase, fault).spec(),
        None => plugin.spec(),
    }
}

/// The manager of `specs`, with `b_bad_config`'s section invalid.
fn with_a_bad_section(specs: Vec<PluginSpec>) -> PluginManager {
    builder(specs)
        .config(config("[b_bad_config]\nenabled = \"yes\"\n"))
        .build()
        .expect("a valid set")
}

/// A start carried on in the task of the plugin that let it start (`r_<b>`'s task goes on
/// with `<b>`, its only user) fails every way as a start in a task of its own does: a hang
/// is cut off at its own deadline by aborting that task, and nothing else was left in it.
/// `c_<b>` needs `<b>`, and `after` (needing every `r_<b>`) starts whatever they carried on.
#[tokio::test(start_paused = true)]
async fn a_start_carried_on_in_its_dependency_task_fails_every_way_on_its_own() {
    let lab = Lab::default();
    let own = own_failures();
    let mut specs = Vec::new();
    for (b, _) in &own {
        let root = format!("r_{b}");
        specs.push(lab.plugin(&root).spec());
        specs.push(failing_on_its_own(&lab, b, &root));
        specs.push(lab.plugin(&format!("c_{b}")).deps([*b]).spec());
    }
    let roots: Vec<String> = own.iter().map(|(b, _)| format!("r_{b}")).collect();
    specs.push(PluginSpec::with_default::<Bare>(
        PluginMetadata::new("after").with_deps(roots),
    ));
    let manager = with_a_bad_section(specs);

    ends("start", manager.start()).await;

    for (b, failure) in &own {
        assert_started(&manager, &format!("r_{b}"));
        assert_failed(&manager, b, failure);
        let user = format!("c_{b}");
        assert_failed(&manager, &user, &dependency_failed(b));
        assert_eq!(lab.instances_made(&user), 0, "{user} was constructed");
    }
    lab.hangs().wait_dropped(1).await;
    assert_started(&manager, "after");
}

/// A start handed to a parked plugin task fails every way as a start in a task of its own
/// does. Each `q_<b>` needs nothing and ends at once, its task parking with nothing to go
/// on with; `r_<b>` is briefly in `setup`, then lets `<b>` and `s_<b>` start at once: one
/// goes on in `r_<b>`'s task, the other (`<b>`, first in start order, so launched second) is
/// handed to a parked task. A hang is cut off by aborting the task it was handed to. Once
/// the wave is over no task of it is left: every parked task ended with it.
#[tokio::test(start_paused = true)]
async fn a_start_handed_to_a_parked_task_fails_every_way_on_its_own() {
    let lab = Lab::default();
    let gauge = Arc::new(Gauge::default());
    let own = own_failures();
    let mut specs = Vec::new();
    for (b, _) in &own {
        specs.push(lab.plugin(&format!("q_{b}")).spec());
        let root = format!("r_{b}");
        specs.push(counted(PluginMetadata::new(&root), &gauge, BRIEFLY));
        specs.push(failing_on_its_own(&lab, b, &root));
        specs.push(lab.plugin(&format!("s_{b}")).deps([root.as_str()]).spec());
    }
    let manager = with_a_bad_section(specs);

    ends("start", manager.start()).await;

    for (b, failure) in &own {
        assert_started(&manager, &format!("q_{b}"));
        assert_started(&manager, &format!("r_{b}"));
        assert_failed(&manager, b, failure);
        assert_started(&manager, &format!("s_{b}"));
    }
    lab.hangs().wait_dropped(1).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    ends("the parked tasks' end", async {
        while metrics.num_alive_tasks() > 0 {
            // A sleep, not a yield: the paused clock moves only while the runtime idles, and
            // the guard's timeout needs it to.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

// ----- deadlines ------------------------------------------------------------------------------

/// `a_hangs` hangs in `setup`; `mid` needs it and `top` needs `mid`; `opt` can use it;
/// `bystander` needs nothing.
async fn a_hang_cut_off_in_a_window_of(places: usize) {
    let lab = Lab::default();
    let specs = [
        lab.plugin("a_hangs")
            .fails(Phase::Hook(Hook::Setup), Fault::Hang)
            .spec(),
        lab.plugin("mid").deps(["a_hangs"]).spec(),
        lab.plugin("top").deps(["mid"]).spec(),
        lab.plugin("opt").optional_deps(["a_hangs"]).spec(),
        lab.plugin("bystander").spec(),
    ];
    let manager = builder(specs).max_in_flight(places).build().unwrap();
    let mut feed = manager.state_changes();

    ends("start", manager.start()).await;

    let cut_off = expected_failure("a_hangs", Phase::Hook(Hook::Setup), Fault::Hang);
    assert_failed(&manager, "a_hangs", &cut_off);
    lab.hangs().wait_dropped(1).await;
    assert_failed(&manager, "mid", &dependency_failed("a_hangs"));
    assert_failed(&manager, "top", &dependency_failed("mid"));
    assert_eq!(lab.instances_made("mid"), 0);
    assert_eq!(lab.instances_made("top"), 0);
    assert_started(&manager, "opt");
    assert_started(&manager, "bystander");
    let changes = drain(&mut feed);
    assert!(
        index_of(&changes, "a_hangs", Failed) < index_of(&changes, "opt", Loaded),
        "opt was started while a_hangs was still in setup"
    );
    assert!(
        index_of(&changes, "a_hangs", Failed) < index_of(&changes, "mid", Failed),
        "mid failed for a_hangs before a_hangs did"
    );
    assert_eq!(
        lab.hooks_of("a_hangs"),
        [Hook::Setup],
        "nothing ran after the cut-off"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_hook_is_cut_off_while_its_dependents_wait() {
    a_hang_cut_off_in_a_window_of(plugin_manager::DEFAULT_MAX_IN_FLIGHT).await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_hook_holding_the_only_place_is_cut_off_and_the_rest_start() {
    a_hang_cut_off_in_a_window_of(1).await;
}

/// Each piece of a start has its own deadline, and it runs from the launch: four plugins, one
/// place, each taking 0.6 s in `setup` and 0.6 s in `on_enable` (1.2 s for the start, 4.8 s
/// for the last one from the wave's beginning, against a deadline of 1 s) all start.
#[tokio::test(start_paused = true)]
async fn each_piece_has_its_own_deadline_counted_from_its_launch() {
    let lab = Lab::default();
    let piece = HOOK_TIMEOUT * 6 / 10;
    let specs = (0..4).map(|i| {
        lab.plugin(&format!("p{i}"))
            .delay(Hook::Setup, piece)
            .delay(Hook::Enable, piece)
            .spec()
    });
    let manager = builder(specs).max_in_flight(1).build().unwrap();
    ends("start", manager.start()).await;
    for i in 0..4 {
        assert_started(&manager, &format!("p{i}"));
    }
}

/// Each `r<i>`'s `setup` ends exactly at its deadline, so its own report and the cut-off
/// race; `d<i>` needs `r<i>`. Whichever wins, the outcome is one: `r<i>` enabled and `d<i>`
/// started, or `r<i>` timed out in `setup` (recorded once) and `d<i>` failed for it. Then
/// `z0`..`z5`, which can use every `r<i>`, start together: a place freed twice by a race
/// would let more of them into `setup` at once.
async fn reports_racing_deadlines(hold: Hold, timeout: Duration, pairs: usize, places: usize) {
    let lab = Lab::default();
    let gauge = Arc::new(Gauge::default());
    let mut specs = Vec::new();
    let mut racers = Vec::new();
    for i in 0..pairs {
        let racer = format!("r{i:02}");
        specs.push(lab.plugin(&racer).delay(Hook::Setup, timeout).spec());
        specs.push(
            lab.plugin(&format!("d{i:02}"))
                .deps([racer.as_str()])
                .timeout(FAR)
                .spec(),
        );
        racers.push(racer);
    }
    for i in 0..6 {
        let metadata = PluginMetadata::new(format!("z{i}"))
            .with_optional_deps(racers.clone())
            .with_timeout(FAR);
        specs.push(counted(metadata, &gauge, hold));
    }
    let manager = PluginManager::builder()
        .hook_timeout(timeout)
        .plugins(specs)
        .max_in_flight(places)
        .build()
        .unwrap();

    ends("start", manager.start()).await;

    for (i, racer) in racers.iter().enumerate() {
        let dependent = format!("d{i:02}");
        match last_error(&manager, racer) {
            None => {
                assert_started(&manager, racer);
                assert_started(&manager, &dependent);
            }
            // In `setup`; on a busy machine, on the real clock, maybe in the piece before or
            // after.
            Some(failure) => {
                assert_eq!(failure.kind, FailureKind::Timeout(timeout), "{racer}");
                assert_failed(&manager, racer, &failure);
                assert_failed(&manager, &dependent, &dependency_failed(racer));
            }
        }
    }
    for i in 0..6 {
        assert_started(&manager, &format!("z{i}"));
    }
    assert!(
        gauge.most() <= places,
        "{} plugins in setup at once in a window of {places}",
        gauge.most()
    );
}

#[tokio::test(start_paused = true)]
async fn a_report_racing_its_deadline_counts_once_on_a_current_thread_runtime() {
    reports_racing_deadlines(BRIEFLY, HOOK_TIMEOUT, 20, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_racing_its_deadline_counts_once_on_a_multi_thread_runtime() {
    // Real time: 20 ms pieces, two at a time, ten rounds.
    reports_racing_deadlines(Hold::Yields(50), Duration::from_millis(20), 20, 2).await;
}

// ----- constructors that block their thread --------------------------------------------------

/// `a_stuck`'s constructor blocks its thread, holding the only place; `b_needs` needs it,
/// `c_free` queues behind it. At the deadline `a_stuck` is cut off (its constructor still
/// blocked), `b_needs` fails for it, and `c_free` gets the place.
#[tokio::test(start_paused = true)]
async fn a_blocked_constructor_is_cut_off_and_hands_on_the_only_place() {
    let lab = Lab::default();
    let gate = Gate::default();
    let specs = [
        lab.plugin("a_stuck").constructor_blocks(&gate).spec(),
        lab.plugin("b_needs").deps(["a_stuck"]).spec(),
        lab.plugin("c_free").spec(),
    ];
    let manager = builder(specs).max_in_flight(1).build().unwrap();
    let start = tokio::spawn({
        let manager = manager.clone();
        async move { manager.start().await }
    });
    gate.entered().wait_started(1).await;
    // A constructor on tokio's blocking pool holds the paused clock: move it by hand.
    tokio::time::advance(HOOK_TIMEOUT + Duration::from_millis(1)).await;
    ends("start", start).await.expect("start does not panic");
    let still_blocked = gate.entered().dropped() == 0;
    gate.open();
    assert!(still_blocked, "start waited for the blocked constructor");

    let cut_off = Failure::new(Phase::Constructor, FailureKind::Timeout(HOOK_TIMEOUT));
    assert_failed(&manager, "a_stuck", &cut_off);
    assert_failed(&manager, "b_needs", &dependency_failed("a_stuck"));
    assert_eq!(lab.instances_made("b_needs"), 0);
    assert_started(&manager, "c_free");

    // The constructor returns after all: its instance is not the plugin's.
    gate.entered().wait_dropped(1).await;
    ends("shutdown", manager.shutdown()).await;
    assert_failed(&manager, "a_stuck", &cut_off);
    assert_eq!(lab.hooks_of("a_stuck"), [], "the late instance ran hooks");
}

/// The same on two workers, where the constructor first runs in place on one of them.
#[test]
fn a_blocked_constructor_is_cut_off_and_hands_on_the_only_place_on_two_workers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = Lab::default();
    let gate = Gate::default();
    let timeout = Duration::from_millis(50);
    let specs = [
        lab.plugin("a_stuck")
            .constructor_blocks(&gate)
            .timeout(timeout)
            .spec(),
        lab.plugin("b_needs").deps(["a_stuck"]).spec(),
        lab.plugin("c_free").spec(),
        lab.plugin("d_free").spec(),
    ];
    let manager = PluginManager::builder()
        .hook_timeout(FAR)
        .plugins(specs)
        .max_in_flight(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        ends("start", manager.start()).await;
        let still_blocked = gate.entered().dropped() == 0;
        gate.open();
        assert!(still_blocked, "start waited for the blocked constructor");
        let cut_off = Failure::new(Phase::Constructor, FailureKind::Timeout(timeout));
        assert_failed(&manager, "a_stuck", &cut_off);
        assert_failed(&manager, "b_needs", &dependency_failed("a_stuck"));
        assert_eq!(lab.instances_made("b_needs"), 0);
        assert_started(&manager, "c_free");
        assert_started(&manager, "d_free");
        gate.entered().wait_dropped(1).await;
        ends("shutdown", manager.shutdown()).await;
        assert_failed(&manager, "a_stuck", &cut_off);
        assert_eq!(lab.hooks_of("a_stuck"), []);
    });
    runtime.shutdown_background();
}

// ----- hooks that block their thread ---------------------------------------------------------

/// A dam a hook blocks its thread at (synchronously, as code that never yields does) until
/// the test opens it; counts the hooks that got through.
struct Dam {
    open: Mutex<bool>,
    opened: Condvar,
    passed: watch::Sender<u32>,
}

impl Default for Dam {
    fn default() -> Self {
        Self {
            open: Mutex::new(false),
            opened: Condvar::new(),
            passed: watch::channel(0).0,
        }
    }
}

impl Dam {
    /// Only a safety net (real time): a passing test opens the dam at once.
    const SAFETY_NET: Duration = Duration::from_secs(10);

    fn hold(&self) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (_open, waited) = self
            .opened
            .wait_timeout_while(open, Self::SAFETY_NET, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(!waited.timed_out(), "the dam was never opened");
        self.passed.send_modify(|n| *n += 1);
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    async fn passed(&self) {
        let mut passed = self.passed.subscribe();
        passed.wait_for(|&n| n > 0).await.expect("the dam lives");
    }
}

/// Blocks its thread in `setup` at the dam.
struct Blocks(Arc<Dam>);

#[async_trait]
impl Plugin for Blocks {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        self.0.hold();
        Ok(())
    }
}

/// In `setup` (counted) until the dam let the blocked hook through, and a while after.
struct AfterDam(Arc<Dam>, Arc<Gauge>);

#[async_trait]
impl Plugin for AfterDam {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        let _in_setup = self.1.enter();
        self.0.passed().await;
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

/// `a_blocks`'s `setup` blocks its worker past its deadline, holding the only place; `b_needs`
/// needs it; `z0`..`z3` queue for the place. At the deadline the wave cuts `a_blocks` off
/// and reports it (the place goes to `z0`), while the hook still holds its thread. When the
/// dam opens, the hook returns into a closed attempt and its task reports too: that second
/// report must change nothing, neither the record nor the window (`z0` is still in `setup`
/// then, so a place freed twice would let `z1` in beside it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_blocking_its_thread_past_its_deadline_is_reported_once() {
    let dam = Arc::new(Dam::default());
    let gauge = Arc::new(Gauge::default());
    // Long enough that a busy machine still gets the hook into `setup` before it.
    let timeout = Duration::from_millis(200);
    let blocks = dam.clone();
    let mut specs = vec![
        PluginSpec::new(
            PluginMetadata::new("a_blocks").with_timeout(timeout),
            move || Ok(PluginInstance::new(Blocks(blocks.clone()))),
        ),
        PluginSpec::with_default::<Bare>(PluginMetadata::new("b_needs").with_deps(["a_blocks"])),
    ];
    for i in 0..4 {
        let (dam, gauge) = (dam.clone(), gauge.clone());
        specs.push(PluginSpec::new(
            PluginMetadata::new(format!("z{i}")),
            move || Ok(PluginInstance::new(AfterDam(dam.clone(), gauge.clone()))),
        ));
    }
    let manager = PluginManager::builder()
        .hook_timeout(FAR)
        .plugins(specs)
        .max_in_flight(1)
        .build()
        .unwrap();
    let mut feed = manager.state_changes();
    let start = tokio::spawn({
        let manager = manager.clone();
        async move { manager.start().await }
    });
    // Cut off (and reported by the wave) while the hook still blocks its thread.
    ends("a_blocks cut off", async {
        while state(&manager, "a_blocks") != Failed {
            feed.recv().await.expect("the feed keeps up");
        }
    })
    .await;
    dam.open();
    ends("start", start).await.expect("start does not panic");

    let cut_off = Failure::new(Phase::Hook(Hook::Setup), FailureKind::Timeout(timeout));
    assert_failed(&manager, "a_blocks", &cut_off);
    assert_failed(&manager, "b_needs", &dependency_failed("a_blocks"));
    for i in 0..4 {
        assert_started(&manager, &format!("z{i}"));
    }
    assert_eq!(
        gauge.most(),
        1,
        "plugins in setup at once in a window of one"
    );
    ends("shutdown", manager.shutdown()).await;
    assert_failed(&manager, "a_blocks", &cut_off);
}

// ----- long chains ---------------------------------------------------------------------------

const CHAIN: usize = 10_000;

fn link(i: usize) -> String {
    format!("c{i:05}")
}

/// A chain of 10,000 whose root's constructor fails: each link fails for the one before it,
/// none is constructed, and the wave's worklist, not the stack, carries the 9,999 steps.
#[tokio::test(start_paused = true)]
async fn a_chain_of_ten_thousand_whose_root_fails_fails_link_by_link() {
    let made = Arc::new(AtomicUsize::new(0));
    let specs = (0..CHAIN).map(|i| {
        let metadata = match i {
            0 => PluginMetadata::new(link(0)),
            _ => PluginMetadata::new(link(i)).with_deps([link(i - 1)]),
        };
        let made = made.clone();
        PluginSpec::new(metadata, move || {
            made.fetch_add(1, Ordering::SeqCst);
            Err(plugin_core::Error::msg("the root cannot be made"))
        })
    });
    let manager = builder(specs).build().unwrap();
    ends("start", manager.start()).await;
    assert_eq!(
        made.load(Ordering::SeqCst),
        1,
        "only the root is constructed"
    );
    let root = Failure::new(
        Phase::Constructor,
        FailureKind::Error("the root cannot be made".into()),
    );
    assert_failed(&manager, &link(0), &root);
    for i in 1..CHAIN {
        assert_failed(&manager, &link(i), &dependency_failed(&link(i - 1)));
    }
}

/// A chain of 10,000 that all start, each launched by the task of the one before, on two
/// workers, through a window of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_ten_thousand_starts_link_by_link() {
    let specs = (0..CHAIN).map(|i| {
        let metadata = match i {
            0 => PluginMetadata::new(link(0)),
            _ => PluginMetadata::new(link(i)).with_deps([link(i - 1)]),
        };
        PluginSpec::with_default::<Bare>(metadata)
    });
    let manager = PluginManager::builder()
        .plugins(specs)
        .max_in_flight(1)
        .build()
        .unwrap();
    ends("start", manager.start()).await;
    assert_eq!(manager.enabled().len(), CHAIN);
}

// ----- random graphs on both runtimes -------------------------------------------------------

/// One plugin of a random graph: its dependencies (indices of earlier plugins) and how it
/// fails on its own, if it does.
struct Node {
    name: String,
    deps: Vec<usize>,
    optional: Option<usize>,
    fault: Option<(Phase, Fault)>,
}

fn random_graph(seed: u64, n: usize) -> Vec<Node> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let faults = [
        (Phase::Constructor, Fault::Error),
        (Phase::Constructor, Fault::Panic),
        (Phase::Hook(Hook::Setup), Fault::Error),
        (Phase::Hook(Hook::Setup), Fault::Panic),
        (Phase::Hook(Hook::Setup), Fault::Hang),
        (Phase::Hook(Hook::Enable), Fault::Error),
        (Phase::Hook(Hook::Enable), Fault::Panic),
        (Phase::Hook(Hook::Enable), Fault::Hang),
    ];
    (0..n)
        .map(|i| {
            let mut deps: Vec<usize> = (0..rng.usize(0..=3))
                .filter(|_| i > 0)
                .map(|_| rng.usize(0..i))
                .collect();
            deps.sort_unstable();
            deps.dedup();
            let optional = (i > 0 && rng.u8(0..4) == 0)
                .then(|| rng.usize(0..i))
                .filter(|o| !deps.contains(o));
            // Few hangs: on the real clock each costs its deadline.
            let fault = (rng.u8(0..8) == 0).then(|| faults[rng.usize(0..faults.len())]);
            let fault = fault.filter(|(_, f)| *f != Fault::Hang || rng.u8(0..3) == 0);
            Node {
                name: format!("n{i:03}"),
                deps,
                optional,
                fault,
            }
        })
        .collect()
}

/// Starts a random graph of `n` plugins in a window of `places` and checks every plugin's
/// outcome against its own fault and its dependencies' outcomes.
async fn random_graph_starts(seed: u64, n: usize, places: usize, hold: Hold, hang: Duration) {
    let nodes = random_graph(seed, n);
    let lab = Lab::default();
    let gauge = Arc::new(Gauge::default());
    let specs: Vec<PluginSpec> = nodes
        .iter()
        .map(|node| {
            let deps: Vec<&str> = node.deps.iter().map(|&d| nodes[d].name.as_str()).collect();
            let optional = node.optional.map(|o| nodes[o].name.as_str());
            match node.fault {
                None => {
                    let metadata = PluginMetadata::new(node.name.as_str())
                        .with_deps(deps)
                        .with_optional_deps(optional);
                    counted(metadata, &gauge, hold)
                }
                Some((phase, fault)) => {
                    let mut script = lab.plugin(&node.name).deps_slice(&deps);
                    if let Some(optional) = optional {
                        script = script.optional_deps([optional]);
                    }
                    if fault == Fault::Hang {
                        script = script.timeout(hang);
                    }
                    script.fails(phase, fault).spec()
                }
            }
        })
        .collect();
    let manager = PluginManager::builder()
        .hook_timeout(FAR)
        .plugins(specs)
        .max_in_flight(places)
        .build()
        .unwrap();

    ends("start", manager.start()).await;

    let seed = format!("seed {seed:#x}");
    let mut enabled = vec![false; n];
    let mut counted_enabled = 0;
    for (i, node) in nodes.iter().enumerate() {
        let failed_deps: Vec<&str> = node
            .deps
            .iter()
            .filter(|&&d| !enabled[d])
            .map(|&d| nodes[d].name.as_str())
            .collect();
        let name = node.name.as_str();
        if !failed_deps.is_empty() {
            // Named after one of its failed required dependencies (which one reported first
            // is the scheduler's), never constructed.
            let error = last_error(&manager, name);
            let Some(Failure {
                phase: None,
                kind: FailureKind::DependencyFailed(dependency),
                ..
            }) = &error
            else {
                panic!("{seed}: {name} needs {failed_deps:?}, which failed, but: {error:?}");
            };
            assert!(
                failed_deps.contains(&dependency.as_str()),
                "{seed}: {name} failed for {dependency}, not one of {failed_deps:?}"
            );
            assert_failed(&manager, name, error.as_ref().unwrap());
            assert_eq!(
                lab.instances_made(name),
                0,
                "{seed}: {name} was constructed"
            );
        } else if let Some((phase, fault)) = node.fault {
            let failure = match fault {
                Fault::Hang => {
                    // Cut off where it hangs; on a busy machine, on the real clock, maybe in
                    // a piece before (its short deadline covers them too).
                    let failure = last_error(&manager, name);
                    let failure = failure.unwrap_or_else(|| panic!("{seed}: {name} hangs"));
                    assert_eq!(failure.kind, FailureKind::Timeout(hang), "{seed}: {name}");
                    let (at, hangs) = (failed_trail(failure.phase), failed_trail(Some(phase)));
                    assert!(at.len() <= hangs.len(), "{seed}: {name}: {failure}");
                    failure
                }
                _ => expected_failure(name, phase, fault),
            };
            assert_failed(&manager, name, &failure);
        } else {
            assert_started(&manager, name);
            enabled[i] = true;
            counted_enabled += 1;
        }
    }
    assert_eq!(
        gauge.entered(),
        counted_enabled,
        "{seed}: only the plugins that started ran setup, once each"
    );
    assert!(
        gauge.most() <= places,
        "{seed}: {} plugins in setup at once in a window of {places}",
        gauge.most()
    );
    ends("shutdown", manager.shutdown()).await;
}

const SEEDS: [u64; 3] = [0x5747_0001, 0x5747_0002, 0x5747_0003];

#[tokio::test(start_paused = true)]
async fn random_graphs_start_consistently_on_a_current_thread_runtime() {
    for seed in SEEDS {
        random_graph_starts(seed, 150, 3, BRIEFLY, HOOK_TIMEOUT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_graphs_start_consistently_on_a_multi_thread_runtime() {
    for seed in SEEDS {
        random_graph_starts(seed, 150, 3, Hold::Yields(20), Duration::from_millis(30)).await;
    }
}

// ----- starting again, and deadlines no clock can hold -------------------------------------

/// A second start finds every plugin done (enabled, failed or dependency-failed, switched
/// off) and changes nothing.
#[tokio::test(start_paused = true)]
async fn a_second_start_changes_nothing() {
    let lab = Lab::default();
    let specs = [
        lab.plugin("broken")
            .fails(Phase::Hook(Hook::Setup), Fault::Error)
            .spec(),
        lab.plugin("needs_broken").deps(["broken"]).spec(),
        lab.plugin("off").spec(),
        lab.plugin("fine").optional_deps(["off"]).spec(),
    ];
    let manager = builder(specs)
        .max_in_flight(1)
        .config(config("[off]\nenabled = false\n"))
        .build()
        .unwrap();
    ends("start", manager.start()).await;
    let view = |manager: &PluginManager| -> Vec<_> {
        manager
            .records()
            .into_iter()
            .map(|r| (r.name, r.state, r.last_error, r.history.len()))
            .collect()
    };
    let before = view(&manager);
    ends("second start", manager.start()).await;
    assert_eq!(view(&manager), before);
    assert_eq!(lab.instances_made("broken"), 1);
    assert_started(&manager, "fine");
}

/// `b` needs `a` and has no practical deadline (`Duration::MAX`), and is launched from `a`'s
/// task as `a` ends. Adding that deadline to the time since the manager was made overflowed
/// once: the panic, in `a`'s task after its `catch_unwind`, lost `b`'s launch and report, and
/// `start` never returned. A deadline too large to add is no deadline at all.
#[tokio::test(start_paused = true)]
async fn a_dependent_without_a_practical_deadline_does_not_hang_start() {
    let specs = [
        PluginSpec::with_default::<Bare>(PluginMetadata::new("a")),
        PluginSpec::with_default::<Bare>(
            PluginMetadata::new("b")
                .with_deps(["a"])
                .with_timeout(Duration::MAX),
        ),
    ];
    let manager = builder(specs).build().unwrap();
    // Any real manager has been up for a while when it starts.
    tokio::time::advance(Duration::from_millis(5)).await;
    ends("start", manager.start()).await;
    assert_started(&manager, "a");
    assert_started(&manager, "b");
}
