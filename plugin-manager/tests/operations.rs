//! Operator requests that involve dependencies: disable (refused, or cascading), enable (which
//! brings dependencies up first) and restart (fresh instances, dependents along); what the
//! state-change feed and the records report about them; and how requests and the start and
//! shutdown of the whole set wait for one another.

mod common {
    pub(crate) mod changes;
    pub(crate) mod clock;
    pub(crate) mod failures;
    pub(crate) mod lab;
    pub(crate) mod managers;
    pub(crate) mod records;
    pub(crate) mod script;
    pub(crate) mod snapshot;
    pub(crate) use self::{
        changes::*, clock::*, failures::*, lab::*, managers::*, records::*, script::*, snapshot::*,
    };
}

use std::sync::Arc;
use std::time::Duration;

use common::{
    Fault, Lab, dependency_failed, drain, expected_failure, index_of, last_error, live_instance,
    manager, moves, snapshot, started, state, trail, within,
};
use plugin_core::host::Hook;
use plugin_manager::{OperationError, Phase, PluginState};
use tokio::sync::Barrier;

use PluginState::{Disabled, Enabled, Failed, Loaded, Setup, TornDown, Unloaded};

/// `base` <- `left` <- `top`, `base` <- `right`, and the unrelated `other`.
fn family(lab: &Lab) -> Vec<plugin_manager::PluginSpec> {
    vec![
        lab.plugin("base").spec(),
        lab.plugin("left").deps(["base"]).spec(),
        lab.plugin("right").deps(["base"]).spec(),
        lab.plugin("top").deps(["left"]).spec(),
        lab.plugin("other").spec(),
    ]
}

#[tokio::test(start_paused = true)]
async fn disable_is_refused_while_enabled_plugins_depend_on_it_and_names_them() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    let before = snapshot(&manager, &lab).await;

    let error = within("disable", manager.disable("base"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        OperationError::HasEnabledDependents {
            plugin: "base".into(),
            dependents: vec!["left".into(), "right".into(), "top".into()],
        }
    );
    let message = error.to_string();
    for name in ["`base`", "left", "right", "top"] {
        assert!(message.contains(name), "{message:?} does not name {name}");
    }
    assert_eq!(snapshot(&manager, &lab).await, before);

    // Once its dependents are disabled, it can be.
    for plugin in ["top", "left", "right", "base"] {
        within("disable", manager.disable(plugin)).await.unwrap();
    }
    assert_eq!(manager.enabled(), ["other"]);
}

#[tokio::test(start_paused = true)]
async fn disabled_dependents_do_not_block_a_disable() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    within("cascade", manager.disable_cascade("left"))
        .await
        .unwrap();
    let error = within("disable", manager.disable("base"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        OperationError::HasEnabledDependents {
            plugin: "base".into(),
            dependents: vec!["right".into()],
        }
    );
}

#[tokio::test(start_paused = true)]
async fn cascade_disables_dependents_first() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    let mut feed = manager.state_changes();
    within("cascade", manager.disable_cascade("base"))
        .await
        .unwrap();
    let changes = drain(&mut feed);

    for plugin in ["base", "left", "right", "top"] {
        assert_eq!(trail(&changes, plugin), [Disabled], "{plugin}");
        assert_eq!(lab.hooks_of(plugin).last(), Some(&Hook::Disable));
    }
    // Every plugin is disabled after every plugin that depends on it.
    for (dependent, dependency) in [("left", "base"), ("right", "base"), ("top", "left")] {
        assert!(
            index_of(&changes, dependent, Disabled) < index_of(&changes, dependency, Disabled),
            "{dependent} after {dependency}: {:?}",
            moves(&changes)
        );
    }
    assert_eq!(manager.enabled(), ["other"]);
}

#[tokio::test(start_paused = true)]
async fn cascade_leaves_already_disabled_dependents_alone() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    within("disable", manager.disable("right")).await.unwrap();
    let mut feed = manager.state_changes();
    within("cascade", manager.disable_cascade("base"))
        .await
        .unwrap();
    assert_eq!(trail(&drain(&mut feed), "right"), []);
    assert_eq!(
        lab.hooks_of("right"),
        [Hook::Setup, Hook::Enable, Hook::Disable]
    );
}

#[tokio::test(start_paused = true)]
async fn enable_enables_disabled_dependencies_first_and_nothing_else() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    within("cascade", manager.disable_cascade("base"))
        .await
        .unwrap();
    let mut feed = manager.state_changes();
    within("enable", manager.enable("top")).await.unwrap();
    let changes = drain(&mut feed);

    assert_eq!(
        moves(&changes),
        [
            ("base".into(), Enabled),
            ("left".into(), Enabled),
            ("top".into(), Enabled),
        ]
    );
    assert_eq!(
        state(&manager, "right"),
        Disabled,
        "not a dependency of top"
    );
    // The same instances, enabled again.
    for plugin in ["base", "left", "top"] {
        assert_eq!(live_instance(&manager, plugin).await, Some(1), "{plugin}");
    }
}

#[tokio::test(start_paused = true)]
async fn enable_reports_a_dependency_that_fails_to_enable() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base")
            .fails(Phase::Hook(Hook::Enable), Fault::Error)
            .sparing(1)
            .spec(),
        lab.plugin("user").deps(["base"]).spec(),
    ])
    .await;
    within("cascade", manager.disable_cascade("base"))
        .await
        .unwrap();
    let error = within("enable", manager.enable("user")).await.unwrap_err();
    assert_eq!(
        error,
        OperationError::Failed {
            plugin: "base".into(),
            failure: expected_failure("base", Phase::Hook(Hook::Enable), Fault::Error),
        }
    );
    assert_eq!(state(&manager, "base"), Failed);
    assert_eq!(state(&manager, "user"), Disabled, "its on_enable never ran");
    assert_eq!(
        lab.hooks_of("user"),
        [Hook::Setup, Hook::Enable, Hook::Disable]
    );
}

#[tokio::test(start_paused = true)]
async fn restart_makes_a_fresh_instance_and_restarts_what_runs_on_it() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    // `right` is disabled by the operator: a restart of `base` leaves it so.
    within("disable", manager.disable("right")).await.unwrap();
    let mut feed = manager.state_changes();
    within("restart", manager.restart("base")).await.unwrap();
    let changes = drain(&mut feed);

    for plugin in ["base", "left", "top"] {
        assert_eq!(
            trail(&changes, plugin),
            [Disabled, TornDown, Loaded, Setup, Enabled],
            "{plugin}"
        );
        assert_eq!(live_instance(&manager, plugin).await, Some(2), "{plugin}");
        assert_eq!(lab.instances_made(plugin), 2, "{plugin}");
    }
    // Torn down dependents first, started dependencies first.
    for (dependent, dependency) in [("left", "base"), ("top", "left")] {
        assert!(
            index_of(&changes, dependent, TornDown) < index_of(&changes, dependency, Disabled),
            "{:?}",
            moves(&changes)
        );
        assert!(
            index_of(&changes, dependency, Enabled) < index_of(&changes, dependent, Loaded),
            "{:?}",
            moves(&changes)
        );
    }
    assert_eq!(trail(&changes, "right"), []);
    assert_eq!(state(&manager, "right"), Disabled);
    assert_eq!(trail(&changes, "other"), []);
    assert_eq!(live_instance(&manager, "other").await, Some(1));
}

#[tokio::test(start_paused = true)]
async fn restart_enables_disabled_dependencies_first() {
    let lab = Lab::default();
    let manager = started(family(&lab)).await;
    within("cascade", manager.disable_cascade("base"))
        .await
        .unwrap();
    within("restart", manager.restart("left")).await.unwrap();
    assert_eq!(state(&manager, "base"), Enabled);
    assert_eq!(live_instance(&manager, "base").await, Some(1));
    assert_eq!(state(&manager, "left"), Enabled);
    assert_eq!(live_instance(&manager, "left").await, Some(2));
    // `top` was disabled, not running on `left`: it stays disabled.
    assert_eq!(state(&manager, "top"), Disabled);
}

#[tokio::test(start_paused = true)]
async fn restart_of_a_failed_plugin_brings_back_the_plugins_that_failed_for_want_of_it() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base")
            .fails(Phase::Hook(Hook::Setup), Fault::Panic)
            .only_first_instance()
            .spec(),
        lab.plugin("mid").deps(["base"]).spec(),
        lab.plugin("top").deps(["mid"]).spec(),
        lab.plugin("other").spec(),
    ])
    .await;
    assert_eq!(manager.enabled(), ["other"]);
    let mut feed = manager.state_changes();

    within("restart", manager.restart("base")).await.unwrap();
    let changes = drain(&mut feed);

    assert_eq!(manager.enabled(), ["base", "mid", "other", "top"]);
    for plugin in ["base", "mid", "top"] {
        assert_eq!(
            trail(&changes, plugin),
            [Loaded, Setup, Enabled],
            "{plugin}"
        );
    }
    assert_eq!(live_instance(&manager, "base").await, Some(2));
    assert_eq!(
        live_instance(&manager, "mid").await,
        Some(1),
        "never ran before"
    );
    // The records keep the last failure for the operator to see.
    assert_eq!(
        last_error(&manager, "base"),
        Some(expected_failure(
            "base",
            Phase::Hook(Hook::Setup),
            Fault::Panic
        ))
    );
    assert_eq!(last_error(&manager, "top"), Some(dependency_failed("mid")));
}

#[tokio::test(start_paused = true)]
async fn restart_leaves_dependents_that_failed_on_their_own_failed() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base").spec(),
        lab.plugin("broken")
            .deps(["base"])
            .fails(Phase::Hook(Hook::Enable), Fault::Error)
            .spec(),
    ])
    .await;
    within("restart", manager.restart("base")).await.unwrap();
    assert_eq!(state(&manager, "broken"), Failed);
    assert_eq!(lab.instances_made("broken"), 1);
}

#[tokio::test(start_paused = true)]
async fn restart_whose_plugin_fails_again_fails_its_dependents() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base")
            .fails(Phase::Hook(Hook::Setup), Fault::Error)
            .spec(),
        lab.plugin("user").deps(["base"]).spec(),
    ])
    .await;
    let error = within("restart", manager.restart("base"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        OperationError::Failed {
            plugin: "base".into(),
            failure: expected_failure("base", Phase::Hook(Hook::Setup), Fault::Error),
        }
    );
    assert_eq!(state(&manager, "user"), Failed);
    assert_eq!(
        last_error(&manager, "user"),
        Some(dependency_failed("base"))
    );
    assert_eq!(lab.instances_made("user"), 0);
}

#[tokio::test(start_paused = true)]
async fn feed_and_history_report_every_transition_in_order_with_causes_and_times() {
    let lab = Lab::default();
    let setup = Duration::from_millis(300);
    let manager = common::manager([
        lab.plugin("base").delay(Hook::Setup, setup).spec(),
        lab.plugin("user")
            .deps(["base"])
            .fails(Phase::Hook(Hook::Enable), Fault::Error)
            .spec(),
    ]);
    let mut feed = manager.state_changes();
    within("start", manager.start()).await;
    within("shutdown", manager.shutdown()).await;
    let changes = drain(&mut feed);

    let failure = expected_failure("user", Phase::Hook(Hook::Enable), Fault::Error);
    let steps: Vec<_> = changes
        .iter()
        .map(|c| (c.plugin.as_str(), c.from, c.to, c.cause.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            ("base", Unloaded, Loaded, None),
            ("base", Loaded, Setup, None),
            ("base", Setup, Enabled, None),
            ("user", Unloaded, Loaded, None),
            ("user", Loaded, Setup, None),
            ("user", Setup, Failed, Some(failure)),
            ("base", Enabled, Disabled, None),
            ("base", Disabled, TornDown, None),
        ]
    );
    // Times are on tokio's clock, from the manager's creation.
    assert!(changes.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(changes[0].at, Duration::ZERO);
    assert_eq!(changes[1].at, setup);
    assert_eq!(manager.record("base").unwrap().start_time, Some(setup));

    // Each record's history is that plugin's part of the feed.
    for plugin in ["base", "user"] {
        let history = manager.record(plugin).unwrap().history;
        let fed: Vec<_> = changes
            .iter()
            .filter(|c| c.plugin == plugin)
            .cloned()
            .collect();
        assert_eq!(history, fed, "{plugin}");
    }
}

#[tokio::test(start_paused = true)]
async fn history_keeps_the_most_recent_changes() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    let rounds = plugin_manager::HISTORY_LIMIT / 2 + 1;
    for _ in 0..rounds {
        within("disable", manager.disable("p")).await.unwrap();
        within("enable", manager.enable("p")).await.unwrap();
    }
    let history = manager.record("p").unwrap().history;
    assert_eq!(history.len(), plugin_manager::HISTORY_LIMIT);
    let last = history.last().unwrap();
    assert_eq!((last.from, last.to), (Disabled, Enabled));
}

/// Less than the tests' hook deadline: a wait this long on tokio's paused clock passes only
/// once every task is idle, so a request still not done then is waiting for a lock.
const IDLE: Duration = Duration::from_millis(100);

#[tokio::test(start_paused = true)]
async fn a_request_made_while_the_set_starts_waits_for_the_start() {
    let lab = Lab::default();
    let held = Arc::new(Barrier::new(2));
    let manager = manager([
        lab.plugin("slow").waits(Hook::Setup, held.clone()).spec(),
        lab.plugin("quick").spec(),
    ]);
    let mut feed = manager.state_changes();
    let request = async {
        // `quick` is enabled while `slow` is held in `setup`: the set's start is under way.
        let mut changes = manager.state_changes();
        while manager.state("quick") != Some(Enabled) {
            changes.recv().await.expect("the feed stays open");
        }
        let disable = manager.disable("quick");
        tokio::pin!(disable);
        assert!(
            tokio::time::timeout(IDLE, &mut disable).await.is_err(),
            "a disable of `quick` finished while the set's start was under way"
        );
        assert_eq!(manager.state("quick"), Some(Enabled));
        held.wait().await;
        disable.await
    };
    let ((), disabled) = within("the start and the disable", async {
        tokio::join!(manager.start(), request)
    })
    .await;
    disabled.expect("`quick` has no dependents");

    let changes = drain(&mut feed);
    assert!(
        index_of(&changes, "slow", Enabled) < index_of(&changes, "quick", Disabled),
        "the disable ran before the start was over: {:?}",
        moves(&changes)
    );
    assert_eq!(trail(&changes, "quick"), [Loaded, Setup, Enabled, Disabled]);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_waits_for_a_request_under_way() {
    let lab = Lab::default();
    let held = Arc::new(Barrier::new(2));
    let manager = manager([lab.plugin("slow").waits(Hook::Enable, held.clone()).spec()]);
    within("the start", async {
        tokio::join!(manager.start(), held.wait());
    })
    .await;
    within("disable", manager.disable("slow")).await.unwrap();
    let mut feed = manager.state_changes();

    // The enable holds `slow`'s locks while its `on_enable` is held.
    let enable = manager.enable("slow");
    tokio::pin!(enable);
    assert!(tokio::time::timeout(IDLE, &mut enable).await.is_err());
    let shutdown = manager.shutdown();
    tokio::pin!(shutdown);
    assert!(
        tokio::time::timeout(IDLE, &mut shutdown).await.is_err(),
        "the shutdown finished while an enable was under way"
    );
    held.wait().await;
    within("the enable", enable)
        .await
        .expect("begun before the shutdown, the enable runs to its end");
    within("the shutdown", shutdown).await;

    let changes = drain(&mut feed);
    assert_eq!(trail(&changes, "slow"), [Enabled, Disabled, TornDown]);
}
