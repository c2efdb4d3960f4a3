//! The fault matrix: an error, a panic or a hang in each piece of plugin code (constructor,
//! `setup`, `on_enable`, `on_disable` reached by `disable_cascade` and by `shutdown`,
//! `teardown`, background task), one test per cell, named `<site>_<fault>`.
//!
//! Every cell runs the same set, with the fault in `faulty`:
//!
//! ```text
//! base <- faulty <- dependent
//! base <- other
//! bystander
//! ```
//!
//! and checks that `faulty` ends `Failed` with the right phase, kind and message (a hang: a
//! timeout at the hook deadline, the hung code cancelled), that `dependent` is treated as
//! ARCHITECTURE.md ("From attribute to teardown") says (not started, or stopped and failed with "dependency `faulty` failed", for a
//! fault that keeps `faulty` from running; stopped first and left alone for a fault in
//! `on_disable` or `teardown`, which are best effort), that `base`, `other` and `bystander`
//! run, and that shutdown completes with every plugin that did not fail torn down. A background
//! task that hangs is no failure: the plugin stays enabled, and the task is cancelled when the
//! plugin is disabled and at shutdown.
//!
//! Hangs run on tokio's paused clock against the tests' short hook deadline: no real time.

mod common {
    pub(crate) mod changes;
    pub(crate) mod clock;
    pub(crate) mod failures;
    pub(crate) mod gate;
    pub(crate) mod lab;
    pub(crate) mod managers;
    pub(crate) mod records;
    pub(crate) mod script;
    pub(crate) mod sync;
    pub(crate) use self::{
        changes::*, clock::*, failures::*, gate::*, lab::*, managers::*, records::*, script::*,
        sync::*,
    };
}

use std::time::Duration;

use common::{
    Fault, Gate, HOOK_TIMEOUT, Lab, Trigger, dependency_failed, drain, expected_failure,
    last_error, moves, state, trail, within,
};
use plugin_core::host::Hook;
use plugin_manager::{
    Failure, FailureKind, OperationError, Phase, PluginManager, PluginSpec, PluginState,
    StateChange, StateChanges,
};

use PluginState::{Disabled, Enabled, Failed, TornDown};

/// The plugins no fault of `faulty` may touch.
const UNRELATED: [&str; 3] = ["base", "other", "bystander"];

/// Where the fault is, and what brings it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Constructor,
    Setup,
    Enable,
    /// `on_disable`, reached by `disable_cascade("faulty")`.
    DisableInCascade,
    /// `on_disable`, reached by `shutdown`.
    DisableInShutdown,
    /// `teardown`, reached by `shutdown`.
    Teardown,
    /// A task `faulty` starts with `ctx.spawn` in `on_enable`; the fault shows once the test
    /// fires the trigger.
    Background,
}

impl Site {
    fn phase(self) -> Phase {
        match self {
            Site::Constructor => Phase::Constructor,
            Site::Setup => Phase::Hook(Hook::Setup),
            Site::Enable => Phase::Hook(Hook::Enable),
            Site::DisableInCascade | Site::DisableInShutdown => Phase::Hook(Hook::Disable),
            Site::Teardown => Phase::Hook(Hook::Teardown),
            Site::Background => Phase::Background,
        }
    }
}

/// One test per cell; the test's name says which cell failed.
macro_rules! cells {
    ($($(#[$attr:meta])* $name:ident: $site:ident x $fault:ident;)*) => {$(
        $(#[$attr])*
        #[tokio::test(start_paused = true)]
        async fn $name() {
            run_cell(Site::$site, Fault::$fault).await;
        }
    )*};
}

cells! {
    constructor_error: Constructor x Error;
    constructor_panic: Constructor x Panic;
    constructor_hang: Constructor x Hang;
    setup_error: Setup x Error;
    setup_panic: Setup x Panic;
    setup_hang: Setup x Hang;
    on_enable_error: Enable x Error;
    on_enable_panic: Enable x Panic;
    on_enable_hang: Enable x Hang;
    on_disable_error_in_cascade: DisableInCascade x Error;
    on_disable_panic_in_cascade: DisableInCascade x Panic;
    on_disable_hang_in_cascade: DisableInCascade x Hang;
    on_disable_error_in_shutdown: DisableInShutdown x Error;
    on_disable_panic_in_shutdown: DisableInShutdown x Panic;
    on_disable_hang_in_shutdown: DisableInShutdown x Hang;
    teardown_error: Teardown x Error;
    teardown_panic: Teardown x Panic;
    teardown_hang: Teardown x Hang;
    background_error: Background x Error;
    background_panic: Background x Panic;
    background_hang: Background x Hang;
}

/// What a cell needs: the manager over the five plugins, what they did, the feed.
struct Bench {
    cell: String,
    site: Site,
    fault: Fault,
    lab: Lab,
    trigger: Trigger,
    gate: Gate,
    manager: PluginManager,
    feed: StateChanges,
    /// Every change taken from the feed so far.
    seen: Vec<StateChange>,
}

impl Bench {
    fn new(site: Site, fault: Fault) -> Self {
        let lab = Lab::default();
        let (trigger, gate) = (Trigger::default(), Gate::default());
        let faulty = lab.plugin("faulty").deps(["base"]);
        let faulty = match (site, fault) {
            (Site::Background, _) => faulty.background_fails(&trigger, fault),
            (Site::Constructor, Fault::Hang) => faulty.constructor_blocks(&gate),
            _ => faulty.fails(site.phase(), fault),
        };
        let specs: [PluginSpec; 5] = [
            lab.plugin("base").spec(),
            faulty.spec(),
            lab.plugin("dependent").deps(["faulty"]).spec(),
            lab.plugin("other").deps(["base"]).spec(),
            lab.plugin("bystander").spec(),
        ];
        let manager = common::manager(specs);
        let feed = manager.state_changes();
        Self {
            cell: format!("cell {site:?} x {fault:?}"),
            site,
            fault,
            lab,
            trigger,
            gate,
            manager,
            feed,
            seen: Vec::new(),
        }
    }

    /// The failure `faulty` must end with.
    fn expected(&self) -> Failure {
        expected_failure("faulty", self.site.phase(), self.fault)
    }

    /// Every change so far (the feed holds 1024; a cell makes a few dozen).
    fn changes(&mut self) -> &[StateChange] {
        self.seen.extend(drain(&mut self.feed));
        &self.seen
    }

    /// Waits, on the feed, until every plugin in `plugins` is in state `to`.
    async fn until(&mut self, plugins: &[&str], to: PluginState) {
        let what = format!("{}: {plugins:?} becoming {to}", self.cell);
        within(&what, async {
            while !plugins.iter().all(|p| state(&self.manager, p) == to) {
                let change = self
                    .feed
                    .recv()
                    .await
                    .expect("the feed is open and keeps up");
                self.seen.push(change);
            }
        })
        .await;
    }

    async fn start(&self) {
        within("start", self.manager.start()).await;
    }

    fn assert_failed_as(&self, plugin: &str, failure: &Failure) {
        let cell = &self.cell;
        assert_eq!(state(&self.manager, plugin), Failed, "{cell}: {plugin}");
        assert_eq!(
            last_error(&self.manager, plugin).as_ref(),
            Some(failure),
            "{cell}: {plugin}"
        );
    }

    /// `faulty` failed with the cell's fault, said so on the feed, and a hung hook or task was
    /// cancelled rather than left running.
    async fn assert_faulty_failed(&mut self) {
        let expected = self.expected();
        self.assert_failed_as("faulty", &expected);
        if let Some(message) = expected.message() {
            // The operator sees the plugin's own words, whatever wraps them.
            let shown = last_error(&self.manager, "faulty").unwrap().to_string();
            assert!(shown.contains(message), "{}: {shown}", self.cell);
        }
        let cell = self.cell.clone();
        let failing: Vec<_> = self
            .changes()
            .iter()
            .filter(|c| c.plugin == "faulty" && c.to == Failed)
            .map(|c| c.cause.clone())
            .collect();
        assert_eq!(failing, [Some(expected)], "{cell}: faulty fails once");
        if self.fault == Fault::Hang {
            self.lab.hangs().wait_dropped(1).await;
            assert_eq!(self.lab.hangs().started(), 1, "{cell}");
        }
    }

    /// `base`, `other` and `bystander` are enabled and never failed.
    fn assert_unrelated_run(&self) {
        for plugin in UNRELATED {
            assert_eq!(
                state(&self.manager, plugin),
                Enabled,
                "{}: {plugin}",
                self.cell
            );
            assert_eq!(last_error(&self.manager, plugin), None, "{}", self.cell);
        }
    }

    /// The hooks `plugin` ran, in order.
    fn assert_hooks(&self, plugin: &str, hooks: &[Hook]) {
        assert_eq!(self.lab.hooks_of(plugin), hooks, "{}: {plugin}", self.cell);
    }

    /// Shuts down and checks that shutdown completed: `failed` are `Failed` (those that had
    /// failed before keep their cause), every other plugin is torn down.
    async fn shut_down(&mut self, failed: &[&str]) {
        let failed_before: Vec<_> = self
            .manager
            .records()
            .into_iter()
            .filter(|r| r.state == Failed)
            .map(|r| (r.name, r.last_error))
            .collect();
        within("shutdown", self.manager.shutdown()).await;
        let cell = &self.cell;
        for record in self.manager.records() {
            let name = record.name.as_str();
            if failed.contains(&name) {
                assert_eq!(record.state, Failed, "{cell}: {name}");
            } else {
                assert_eq!(record.state, TornDown, "{cell}: {name}");
            }
            if let Some((_, cause)) = failed_before.iter().find(|(n, _)| n == name) {
                assert_eq!(&record.last_error, cause, "{cell}: {name} keeps its cause");
            }
            assert!(
                !matches!(
                    record.last_error,
                    Some(Failure {
                        kind: FailureKind::Abandoned(_),
                        ..
                    })
                ),
                "{cell}: {name} abandoned"
            );
        }
    }
}

/// Where in `changes` `plugin` first entered `to`.
fn index(cell: &str, changes: &[StateChange], plugin: &str, to: PluginState) -> usize {
    changes
        .iter()
        .position(|c| c.plugin == plugin && c.to == to)
        .unwrap_or_else(|| panic!("{cell}: {plugin} never entered {to}: {:?}", moves(changes)))
}

async fn run_cell(site: Site, fault: Fault) {
    let bench = Bench::new(site, fault);
    match (site, fault) {
        (Site::Constructor, Fault::Hang) => blocked_constructor(bench).await,
        (Site::Constructor | Site::Setup | Site::Enable, _) => fault_in_start(bench).await,
        (Site::DisableInCascade, _) => fault_in_cascade(bench).await,
        (Site::DisableInShutdown | Site::Teardown, _) => fault_in_shutdown(bench).await,
        (Site::Background, Fault::Hang) => hanging_task(bench).await,
        (Site::Background, _) => failing_task(bench).await,
    }
}

/// A fault while starting: `faulty` fails, `dependent` is never made and fails for want of it,
/// the rest runs.
async fn fault_in_start(mut bench: Bench) {
    bench.start().await;
    bench.assert_faulty_failed().await;
    after_fault_in_start(bench).await;
}

/// What a start fault leaves, past `faulty`'s own failure; then shutdown.
async fn after_fault_in_start(mut bench: Bench) {
    let cell = bench.cell.clone();
    bench.assert_failed_as("dependent", &dependency_failed("faulty"));
    assert_eq!(bench.lab.instances_made("dependent"), 0, "{cell}");
    assert_eq!(trail(bench.changes(), "dependent"), [Failed], "{cell}");
    // Nothing of `faulty` ran past the failing piece.
    let ran: &[Hook] = match bench.site {
        Site::Constructor => &[],
        Site::Setup => &[Hook::Setup],
        _ => &[Hook::Setup, Hook::Enable],
    };
    bench.assert_hooks("faulty", ran);
    bench.assert_unrelated_run();

    bench.shut_down(&["faulty", "dependent"]).await;
    bench.assert_hooks("dependent", &[]);
    bench.assert_hooks("faulty", ran);
    bench.assert_hooks(
        "base",
        &[Hook::Setup, Hook::Enable, Hook::Disable, Hook::Teardown],
    );
}

/// A constructor that blocks its thread must be abandoned at its deadline like a hung hook.
///
/// Tokio does not auto-advance the paused clock while blocking work runs, so the test moves it
/// past the deadline by hand once the constructor is stuck, and opens the gate only after the
/// manager has given up on it.
async fn blocked_constructor(mut bench: Bench) {
    let start = tokio::spawn({
        let manager = bench.manager.clone();
        async move { manager.start().await }
    });
    bench.gate.entered().wait_started(1).await;
    // Moving the clock by hand would also time out whatever else is running: let the rest
    // start first.
    bench.until(&UNRELATED, Enabled).await;
    tokio::time::advance(HOOK_TIMEOUT + Duration::from_millis(1)).await;
    within("start", start).await.expect("start does not panic");
    let still_blocked = bench.gate.entered().dropped() == 0;
    bench.gate.open();
    assert!(
        still_blocked,
        "{}: start waited for the blocked constructor",
        bench.cell
    );
    let expected = bench.expected();
    bench.assert_failed_as("faulty", &expected);
    after_fault_in_start(bench).await;
}

/// `disable_cascade("faulty")`: `dependent` is disabled first, then `faulty`'s `on_disable`
/// fails; the request reports it, `faulty` fails, and nothing else is touched.
async fn fault_in_cascade(mut bench: Bench) {
    let cell = bench.cell.clone();
    bench.start().await;
    bench.assert_unrelated_run();

    let outcome = within("disable_cascade", bench.manager.disable_cascade("faulty")).await;
    assert_eq!(
        outcome,
        Err(OperationError::Failed {
            plugin: "faulty".into(),
            failure: bench.expected(),
        }),
        "{cell}"
    );
    bench.assert_faulty_failed().await;
    assert_eq!(state(&bench.manager, "dependent"), Disabled, "{cell}");
    assert_eq!(last_error(&bench.manager, "dependent"), None, "{cell}");
    let changes = bench.changes();
    assert!(
        index(&cell, changes, "dependent", Disabled) < index(&cell, changes, "faulty", Failed),
        "{cell}: dependents go first: {:?}",
        moves(changes)
    );
    bench.assert_hooks("faulty", &[Hook::Setup, Hook::Enable, Hook::Disable]);
    bench.assert_unrelated_run();

    bench.shut_down(&["faulty"]).await;
    bench.assert_hooks(
        "dependent",
        &[Hook::Setup, Hook::Enable, Hook::Disable, Hook::Teardown],
    );
}

/// Shutdown reaches `faulty`'s failing `on_disable` or `teardown`: `faulty` fails, and shutdown
/// goes on: `base`, which it was waiting on, is still stopped after it.
async fn fault_in_shutdown(mut bench: Bench) {
    let cell = bench.cell.clone();
    bench.start().await;
    bench.assert_unrelated_run();
    assert_eq!(state(&bench.manager, "faulty"), Enabled, "{cell}");
    assert_eq!(state(&bench.manager, "dependent"), Enabled, "{cell}");

    bench.shut_down(&["faulty"]).await;
    bench.assert_faulty_failed().await;
    let changes = bench.changes();
    let faulty_failed = index(&cell, changes, "faulty", Failed);
    assert!(
        index(&cell, changes, "dependent", TornDown) < faulty_failed,
        "{cell}: the dependent stops first: {:?}",
        moves(changes)
    );
    assert!(
        faulty_failed < index(&cell, changes, "base", Disabled),
        "{cell}: the dependency stops after: {:?}",
        moves(changes)
    );
    let ran: &[Hook] = match bench.site {
        Site::Teardown => &[Hook::Setup, Hook::Enable, Hook::Disable, Hook::Teardown],
        _ => &[Hook::Setup, Hook::Enable, Hook::Disable],
    };
    bench.assert_hooks("faulty", ran);
    for plugin in ["dependent", "base"] {
        bench.assert_hooks(
            plugin,
            &[Hook::Setup, Hook::Enable, Hook::Disable, Hook::Teardown],
        );
    }
}

/// A background task fails: `faulty` fails, `dependent`, which runs on it, is stopped and fails
/// for want of it; the rest runs on.
async fn failing_task(mut bench: Bench) {
    let cell = bench.cell.clone();
    bench.start().await;
    assert_eq!(bench.manager.enabled().len(), 5, "{cell}: all start");

    bench.trigger.fire();
    bench.until(&["faulty", "dependent"], Failed).await;
    bench.assert_faulty_failed().await;
    bench.assert_failed_as("dependent", &dependency_failed("faulty"));
    assert!(
        bench.lab.hooks_of("dependent").contains(&Hook::Disable),
        "{cell}: the dependent was stopped, not just dropped: {:?}",
        bench.lab.hooks_of("dependent")
    );
    let trail = trail(bench.changes(), "dependent");
    assert_eq!(
        (trail.first(), trail.last()),
        (Some(&PluginState::Loaded), Some(&Failed)),
        "{cell}"
    );
    bench.assert_unrelated_run();

    bench.shut_down(&["faulty", "dependent"]).await;
}

/// A background task that never ends is no failure: no deadline applies to it, the plugin
/// stays enabled, and the task is cancelled when the plugin is disabled and at shutdown.
async fn hanging_task(mut bench: Bench) {
    let cell = bench.cell.clone();
    let hangs = bench.lab.hangs().clone();
    bench.start().await;
    bench.trigger.fire();
    hangs.wait_started(1).await;

    tokio::time::advance(HOOK_TIMEOUT * 10).await;
    assert_eq!(bench.manager.enabled().len(), 5, "{cell}: all run on");
    for record in bench.manager.records() {
        assert_eq!(record.last_error, None, "{cell}: {}", record.name);
    }
    assert_eq!(hangs.dropped(), 0, "{cell}: the task runs on");

    within("disable_cascade", bench.manager.disable_cascade("faulty"))
        .await
        .expect("disabling a plugin whose task hangs succeeds");
    hangs.wait_dropped(1).await;
    assert_eq!(state(&bench.manager, "faulty"), Disabled, "{cell}");
    assert_eq!(state(&bench.manager, "dependent"), Disabled, "{cell}");
    bench.assert_unrelated_run();

    // Enabling again starts a new task (it hangs at once: the trigger stays fired).
    within("enable", bench.manager.enable("dependent"))
        .await
        .expect("enable");
    hangs.wait_started(2).await;
    assert_eq!(bench.manager.enabled().len(), 5, "{cell}");

    bench.shut_down(&[]).await;
    hangs.wait_dropped(2).await;
    assert_eq!(hangs.started(), 2, "{cell}");
}
