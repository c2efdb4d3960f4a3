//! The stop wave (`lifecycle/stop_wave.rs`, `StopWave`) and its runs: a plugin whose only
//! dependency has no other user left to stop is stopped with it, and that one's, in one task.
//!
//! What these tests hold it to, from the outside:
//!
//! - a chain of 10,000 stops from its end, each link torn down after the one that uses it,
//!   on a current-thread and on a multi-thread runtime (runs end when their task's
//!   cooperative budget does, and the rest is launched anew);
//! - a link that fails in the middle of a run, each way (`on_disable` or `teardown`, error,
//!   panic or hang cut off at its own deadline), fails alone: the links before it and after
//!   it are torn down, in order;
//! - each link in a run has its own deadline, counted from its own stop, not from the run's,
//!   and a link whose deadline is shorter than the first link's is cut off at its own;
//! - with one place, a hang cut off at its deadline leaves the pool a new task for the rest,
//!   and a hang taken up by a task that had waited for a job is cut off as well;
//! - the shutdown deadline, reached inside a run, abandons the link it was on and the ones
//!   after it, and the run opens no link after that.
//!
//! The fault matrix covers the shortest run (`dependent`, then `faulty`), and the driver's
//! own tests a run whose member's `Drop` blocks its thread.

mod common {
    pub(crate) mod changes;
    pub(crate) mod clock;
    // Only a plugin's own failure: no plugin here fails for a dependency.
    #[allow(dead_code)]
    pub(crate) mod failures;
    pub(crate) mod lab;
    pub(crate) mod managers;
    pub(crate) mod script;
    // Only the probe of hung hooks: no test here fails a background task on a trigger.
    #[allow(dead_code)]
    pub(crate) mod sync;
    pub(crate) use self::{changes::*, clock::*, failures::*, lab::*, managers::*, script::*};
}

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::{Fault, HOOK_TIMEOUT, Lab, Script, drain, expected_failure, within};
use plugin_core::host::Hook;
use plugin_core::{Context, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::{FailureKind, PluginManager, PluginSpec, PluginState, StateChange};

use PluginState::{Failed, TornDown};

/// The name of link `i` of a chain (`c00001` uses `c00000`).
fn link(i: usize) -> String {
    format!("c{i:05}")
}

/// Link `i` of a scripted chain: it needs link `i - 1`.
fn chain_link(lab: &Lab, i: usize) -> Script {
    let plugin = lab.plugin(&link(i));
    match i {
        0 => plugin,
        _ => plugin.deps_slice(&[link(i - 1).as_str()]),
    }
}

/// Starts `manager`, then shuts it down, which must take less than `bound` of tokio's
/// (paused) clock: a hang is cut off at its own deadline, not later.
async fn start_then_shut_down_within(manager: &PluginManager, bound: Duration) {
    within("start", manager.start()).await;
    let began = tokio::time::Instant::now();
    within("shutdown", manager.shutdown()).await;
    assert!(
        began.elapsed() < bound,
        "the hang was cut off {:?} into the shutdown, not at its own deadline",
        began.elapsed()
    );
}

/// A plugin that notes its own index as its `teardown` runs.
struct Noted {
    index: usize,
    order: Arc<Mutex<Vec<usize>>>,
}

#[async_trait]
impl Plugin for Noted {
    async fn teardown(&mut self, _ctx: &Context) -> Result<()> {
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        order.push(self.index);
        Ok(())
    }
}

/// A chain of `n` that all start, then all stop: each link's teardown after its user's.
async fn a_chain_stops_from_its_end(n: usize) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let specs = (0..n).map(|index| {
        let metadata = match index {
            0 => PluginMetadata::new(link(0)),
            _ => PluginMetadata::new(link(index)).with_deps([link(index - 1)]),
        };
        let order = order.clone();
        PluginSpec::new(metadata, move || {
            Ok(PluginInstance::new(Noted {
                index,
                order: order.clone(),
            }))
        })
    });
    let manager = PluginManager::builder().plugins(specs).build().unwrap();
    within("start", manager.start()).await;
    assert_eq!(manager.enabled().len(), n);
    within("shutdown", manager.shutdown()).await;
    let order = order.lock().unwrap_or_else(PoisonError::into_inner);
    let expected: Vec<usize> = (0..n).rev().collect();
    assert!(*order == expected, "teardowns out of order");
    for record in manager.records() {
        assert_eq!(record.state, TornDown, "{}", record.name);
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_ten_thousand_stops_from_its_end_on_a_current_thread_runtime() {
    a_chain_stops_from_its_end(10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_ten_thousand_stops_from_its_end_on_a_multi_thread_runtime() {
    a_chain_stops_from_its_end(10_000).await;
}

/// The feed's changes to `to`, as plugin names in order.
fn entered(changes: &[StateChange], to: PluginState) -> Vec<String> {
    changes
        .iter()
        .filter(|change| change.to == to)
        .map(|change| change.plugin.clone())
        .collect()
}

/// A chain of 8 where link 4 fails at `phase` with `fault` as it stops: every other link is
/// torn down, from the end, link 4 failing between link 5 and link 3.
async fn a_link_failing_in_a_run(hook: Hook, fault: Fault) {
    let lab = Lab::default();
    let specs = (0..8).map(|i| {
        let plugin = chain_link(&lab, i);
        match i {
            4 => plugin
                .fails(plugin_manager::Phase::Hook(hook), fault)
                .spec(),
            _ => plugin.spec(),
        }
    });
    let manager = common::manager(specs);
    within("start", manager.start()).await;
    let mut feed = manager.state_changes();
    within("shutdown", manager.shutdown()).await;
    let changes = drain(&mut feed);

    let cell = format!("{hook:?} x {fault:?}");
    let failure = expected_failure(&link(4), plugin_manager::Phase::Hook(hook), fault);
    for record in manager.records() {
        if record.name == link(4) {
            assert_eq!(record.state, Failed, "{cell}");
            assert_eq!(record.last_error.as_ref(), Some(&failure), "{cell}");
        } else {
            assert_eq!(record.state, TornDown, "{cell}: {}", record.name);
        }
    }
    let torn_down = entered(&changes, TornDown);
    let expected: Vec<String> = [7, 6, 5, 3, 2, 1, 0].map(link).to_vec();
    assert_eq!(torn_down, expected, "{cell}: torn down from the end");
    let failed_at = changes
        .iter()
        .position(|c| c.plugin == link(4) && c.to == Failed)
        .expect("link 4 failed");
    let at = |plugin: &str| {
        changes
            .iter()
            .position(|c| c.plugin == plugin && c.to == TornDown)
            .expect("torn down")
    };
    assert!(at(&link(5)) < failed_at, "{cell}: link 5 before link 4");
    assert!(failed_at < at(&link(3)), "{cell}: link 4 before link 3");
    if fault == Fault::Hang {
        lab.hangs().wait_dropped(1).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_link_failing_in_a_run_fails_alone_every_way() {
    for hook in [Hook::Disable, Hook::Teardown] {
        for fault in [Fault::Error, Fault::Panic, Fault::Hang] {
            a_link_failing_in_a_run(hook, fault).await;
        }
    }
}

/// Each link of a run has its own deadline: 6 links, each taking 0.6 of the deadline in
/// `on_disable` and 0.6 in `teardown` (7.2 deadlines for the run), all stop cleanly.
#[tokio::test(start_paused = true)]
async fn each_link_of_a_run_has_its_own_deadline() {
    let lab = Lab::default();
    let piece = HOOK_TIMEOUT * 6 / 10;
    let specs = (0..6).map(|i| {
        let plugin = chain_link(&lab, i);
        plugin
            .delay(Hook::Disable, piece)
            .delay(Hook::Teardown, piece)
            .spec()
    });
    let manager = common::manager(specs);
    within("start", manager.start()).await;
    within("shutdown", manager.shutdown()).await;
    for record in manager.records() {
        assert_eq!(record.state, TornDown, "{}", record.name);
        assert_eq!(record.last_error, None, "{}", record.name);
    }
}

/// A link with a shorter deadline than the link its run began with is cut off at its own:
/// link 1 of a chain of 3 hangs in `teardown` with a deadline of one second, while link 2
/// (the run's first) and link 0 have an hour; shutdown ends a second after link 1's stop began,
/// not an hour.
#[tokio::test(start_paused = true)]
async fn a_link_with_a_shorter_deadline_than_its_run_is_cut_off_at_its_own() {
    let lab = Lab::default();
    let hour = Duration::from_secs(3600);
    let specs = (0..3).map(|i| match i {
        1 => chain_link(&lab, i)
            .timeout(HOOK_TIMEOUT)
            .fails(plugin_manager::Phase::Hook(Hook::Teardown), Fault::Hang)
            .spec(),
        _ => chain_link(&lab, i).timeout(hour).spec(),
    });
    let manager = PluginManager::builder()
        .hook_timeout(hour)
        .shutdown_timeout(hour * 24)
        .plugins(specs)
        .build()
        .unwrap();
    start_then_shut_down_within(&manager, HOOK_TIMEOUT * 2).await;
    let failure = expected_failure(
        &link(1),
        plugin_manager::Phase::Hook(Hook::Teardown),
        Fault::Hang,
    );
    assert_eq!(manager.record(&link(1)).unwrap().last_error, Some(failure));
    for i in [2, 0] {
        assert_eq!(manager.state(&link(i)), Some(TornDown), "{}", link(i));
    }
    lab.hangs().wait_dropped(1).await;
}

/// With one place, the pool has one task: `z`, stopped first (the last in start order), hangs
/// in `teardown` and is cut off at its deadline, its task aborted, and a new task stops `a`
/// and `b`, queued behind it.
#[tokio::test(start_paused = true)]
async fn a_hang_holding_the_only_place_is_cut_off_and_the_rest_stop() {
    let lab = Lab::default();
    let specs = [
        lab.plugin("a").spec(),
        lab.plugin("b").spec(),
        lab.plugin("z")
            .fails(plugin_manager::Phase::Hook(Hook::Teardown), Fault::Hang)
            .spec(),
    ];
    let manager = PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .max_in_flight(1)
        .plugins(specs)
        .build()
        .unwrap();
    within("start", manager.start()).await;
    let mut feed = manager.state_changes();
    within("shutdown", manager.shutdown()).await;
    let failure = expected_failure(
        "z",
        plugin_manager::Phase::Hook(Hook::Teardown),
        Fault::Hang,
    );
    assert_eq!(manager.record("z").unwrap().last_error, Some(failure));
    let changes = drain(&mut feed);
    let failed_at = changes
        .iter()
        .position(|c| c.plugin == "z" && c.to == Failed)
        .expect("z failed");
    for plugin in ["a", "b"] {
        assert_eq!(manager.state(plugin), Some(TornDown), "{plugin}");
        let disabled = changes
            .iter()
            .position(|c| c.plugin == plugin)
            .expect("a change");
        assert!(
            failed_at < disabled,
            "{plugin} stopped while z held the only place"
        );
    }
    lab.hangs().wait_dropped(1).await;
}

/// A pool task that waited for a job is looked at again once it takes one. With two places,
/// `u1` and `u2` (each using `r`) are stopped first: `u1` at once, so its task waits while
/// `u2`'s teardown takes three seconds (its deadline is ten), and the look at the waiting
/// task is dropped. Then the waiting task takes `r`, which hangs in `teardown`: it is cut off
/// at its own deadline, a second later, not left hanging.
#[tokio::test(start_paused = true)]
async fn a_hang_taken_up_by_a_task_that_waited_for_it_is_cut_off() {
    let lab = Lab::default();
    let specs = [
        lab.plugin("r")
            .fails(plugin_manager::Phase::Hook(Hook::Teardown), Fault::Hang)
            .spec(),
        lab.plugin("u1").deps(["r"]).spec(),
        lab.plugin("u2")
            .deps(["r"])
            .timeout(HOOK_TIMEOUT * 10)
            .delay(Hook::Teardown, HOOK_TIMEOUT * 3)
            .spec(),
    ];
    let manager = PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .shutdown_timeout(Duration::from_secs(3600 * 24))
        .max_in_flight(2)
        .plugins(specs)
        .build()
        .unwrap();
    start_then_shut_down_within(&manager, HOOK_TIMEOUT * 5).await;
    let failure = expected_failure(
        "r",
        plugin_manager::Phase::Hook(Hook::Teardown),
        Fault::Hang,
    );
    assert_eq!(manager.record("r").unwrap().last_error, Some(failure));
    for plugin in ["u1", "u2"] {
        assert_eq!(manager.state(plugin), Some(TornDown), "{plugin}");
    }
    lab.hangs().wait_dropped(1).await;
}

/// The shutdown deadline comes while link 3 of a chain of 6 hangs in `teardown` (its own
/// deadline is later): links 5 and 4 are torn down; link 3 and the ones it uses, which the
/// run never reached, are abandoned; no hook of theirs ran after.
#[tokio::test(start_paused = true)]
async fn the_shutdown_deadline_inside_a_run_abandons_the_rest() {
    let lab = Lab::default();
    let shutdown_timeout = Duration::from_secs(5);
    let specs = (0..6).map(|i| {
        let plugin = chain_link(&lab, i);
        match i {
            3 => plugin
                .timeout(shutdown_timeout * 10)
                .fails(plugin_manager::Phase::Hook(Hook::Teardown), Fault::Hang)
                .spec(),
            _ => plugin.spec(),
        }
    });
    let manager = PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .shutdown_timeout(shutdown_timeout)
        .plugins(specs)
        .build()
        .unwrap();
    within("start", manager.start()).await;
    within("shutdown", manager.shutdown()).await;
    lab.hangs().wait_dropped(1).await;
    for i in [5, 4] {
        assert_eq!(manager.state(&link(i)), Some(TornDown), "{}", link(i));
    }
    for i in [3, 2, 1, 0] {
        let record = manager.record(&link(i)).expect("a record");
        assert_eq!(record.state, Failed, "{}", link(i));
        assert!(
            matches!(
                record.last_error.map(|failure| failure.kind),
                Some(FailureKind::Abandoned(timeout)) if timeout == shutdown_timeout
            ),
            "{} abandoned at the deadline",
            link(i)
        );
    }
    for i in [2, 1, 0] {
        assert_eq!(
            lab.hooks_of(&link(i)),
            [Hook::Setup, Hook::Enable],
            "{}: no hook after the deadline",
            link(i)
        );
    }
}
