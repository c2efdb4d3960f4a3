//! Every operator request from every state a plugin can rest in: the legal ones move it along
//! `Unloaded -> Loaded -> Setup -> Enabled <-> Disabled -> TornDown` (or back to `Loaded` on a
//! restart); the others are refused with an error naming the plugin, its state and the
//! operation, and change nothing at all.
//!
//! `Loaded` and `Setup` are only passed through: every request on a plugin waits for the
//! operation that is moving it, so no request can observe them.

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

use common::{
    Fault, Lab, dependency_failed, drain, expected_failure, live_instance, manager, snapshot,
    started, state, trail, within,
};
use plugin_core::host::Hook;
use plugin_manager::{Operation, OperationError, Phase, PluginManager, PluginState};

use PluginState::{Disabled, Enabled, Failed, Loaded, Setup, TornDown, Unloaded};

#[derive(Debug, Clone, Copy)]
enum Op {
    Enable,
    Disable,
    DisableCascade,
    Restart,
}

impl Op {
    const ALL: [Op; 4] = [Op::Enable, Op::Disable, Op::DisableCascade, Op::Restart];

    /// The operation as an `OperationError` names it.
    fn operation(self) -> Operation {
        match self {
            Op::Enable => Operation::Enable,
            Op::Disable | Op::DisableCascade => Operation::Disable,
            Op::Restart => Operation::Restart,
        }
    }

    async fn run(self, manager: &PluginManager, plugin: &str) -> Result<(), OperationError> {
        let request = async {
            match self {
                Op::Enable => manager.enable(plugin).await,
                Op::Disable => manager.disable(plugin).await,
                Op::DisableCascade => manager.disable_cascade(plugin).await,
                Op::Restart => manager.restart(plugin).await,
            }
        };
        within(self.operation().as_str(), request).await
    }
}

fn invalid(plugin: &str, state: PluginState, op: Op) -> OperationError {
    OperationError::InvalidTransition {
        plugin: plugin.to_owned(),
        state,
        operation: op.operation(),
    }
}

/// Asserts that `op` on `plugin` fails with `expected` and changes nothing: no record, no
/// instance, no hook call, no state change on the feed.
async fn assert_refused(
    manager: &PluginManager,
    lab: &Lab,
    plugin: &str,
    op: Op,
    expected: OperationError,
) {
    let before = snapshot(manager, lab).await;
    let mut feed = manager.state_changes();
    let error = op
        .run(manager, plugin)
        .await
        .expect_err(&format!("{op:?} `{plugin}` must be refused"));
    assert_eq!(error, expected, "{op:?} `{plugin}`");
    assert_eq!(
        snapshot(manager, lab).await,
        before,
        "a refused {op:?} changed something"
    );
    assert_eq!(drain(&mut feed), [], "a refused {op:?} reported changes");
}

/// Asserts that `op` is refused because `plugin` is in `state`, with a message that says so.
async fn assert_invalid(manager: &PluginManager, lab: &Lab, plugin: &str, op: Op) {
    let state = state(manager, plugin);
    assert_refused(manager, lab, plugin, op, invalid(plugin, state, op)).await;
    let message = invalid(plugin, state, op).to_string();
    for word in [
        format!("`{plugin}`"),
        state.to_string(),
        op.operation().as_str().into(),
    ] {
        assert!(message.contains(&word), "{message:?} does not name {word}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_request_for_an_unknown_plugin_is_refused() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    for op in Op::ALL {
        let unknown = OperationError::UnknownPlugin {
            name: "nope".into(),
        };
        assert_refused(&manager, &lab, "nope", op, unknown).await;
    }
}

#[tokio::test(start_paused = true)]
async fn unloaded_plugin_refuses_every_request_but_enable() {
    let lab = Lab::default();
    let manager = manager([lab.plugin("p").spec()]);
    assert_eq!(state(&manager, "p"), Unloaded);
    for op in [Op::Disable, Op::DisableCascade, Op::Restart] {
        assert_invalid(&manager, &lab, "p", op).await;
    }
    assert_eq!(lab.instances_made("p"), 0);
}

#[tokio::test(start_paused = true)]
async fn enabling_an_unloaded_plugin_starts_it_and_its_dependencies() {
    // E.g. plugins a configuration file kept off: the operator may still turn them on.
    let lab = Lab::default();
    let manager = manager([
        lab.plugin("base").spec(),
        lab.plugin("p").deps(["base"]).spec(),
    ]);
    let mut feed = manager.state_changes();
    Op::Enable.run(&manager, "p").await.unwrap();
    assert_eq!(trail(&drain(&mut feed), "base"), [Loaded, Setup, Enabled]);
    assert_eq!(state(&manager, "p"), Enabled);
    assert_eq!(lab.instances_made("p"), 1);
}

#[tokio::test(start_paused = true)]
async fn start_moves_a_plugin_through_loaded_and_setup_to_enabled() {
    let lab = Lab::default();
    let manager = manager([lab.plugin("p").spec()]);
    let mut feed = manager.state_changes();
    within("start", manager.start()).await;
    assert_eq!(trail(&drain(&mut feed), "p"), [Loaded, Setup, Enabled]);
    assert_eq!(lab.hooks_of("p"), [Hook::Setup, Hook::Enable]);
    assert_eq!(live_instance(&manager, "p").await, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_second_start_changes_nothing() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    let before = snapshot(&manager, &lab).await;
    within("start", manager.start()).await;
    assert_eq!(snapshot(&manager, &lab).await, before);
}

#[tokio::test(start_paused = true)]
async fn enabled_plugin_refuses_enable() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    assert_invalid(&manager, &lab, "p", Op::Enable).await;
}

#[tokio::test(start_paused = true)]
async fn enabled_plugin_disables_keeping_its_instance() {
    for op in [Op::Disable, Op::DisableCascade] {
        let lab = Lab::default();
        let manager = started([lab.plugin("p").spec()]).await;
        let mut feed = manager.state_changes();
        op.run(&manager, "p").await.unwrap();
        assert_eq!(trail(&drain(&mut feed), "p"), [Disabled], "{op:?}");
        assert_eq!(
            lab.hooks_of("p"),
            [Hook::Setup, Hook::Enable, Hook::Disable]
        );
        assert_eq!(live_instance(&manager, "p").await, Some(1));
    }
}

#[tokio::test(start_paused = true)]
async fn enabled_plugin_restarts_with_a_fresh_instance() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    let mut feed = manager.state_changes();
    Op::Restart.run(&manager, "p").await.unwrap();
    assert_eq!(
        trail(&drain(&mut feed), "p"),
        [Disabled, TornDown, Loaded, Setup, Enabled]
    );
    let calls: Vec<_> = lab
        .calls_of("p")
        .into_iter()
        .map(|c| (c.instance, c.hook))
        .collect();
    assert_eq!(
        calls,
        [
            (1, Hook::Setup),
            (1, Hook::Enable),
            (1, Hook::Disable),
            (1, Hook::Teardown),
            (2, Hook::Setup),
            (2, Hook::Enable),
        ]
    );
    assert_eq!(live_instance(&manager, "p").await, Some(2));
}

#[tokio::test(start_paused = true)]
async fn disabled_plugin_refuses_disable_with_or_without_cascade() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    manager.disable("p").await.unwrap();
    assert_invalid(&manager, &lab, "p", Op::Disable).await;
    assert_invalid(&manager, &lab, "p", Op::DisableCascade).await;
}

#[tokio::test(start_paused = true)]
async fn disabled_plugin_enables_with_the_same_instance() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    manager.disable("p").await.unwrap();
    let mut feed = manager.state_changes();
    Op::Enable.run(&manager, "p").await.unwrap();
    assert_eq!(trail(&drain(&mut feed), "p"), [Enabled]);
    assert_eq!(
        lab.hooks_of("p"),
        [Hook::Setup, Hook::Enable, Hook::Disable, Hook::Enable]
    );
    assert_eq!(live_instance(&manager, "p").await, Some(1));
}

#[tokio::test(start_paused = true)]
async fn disabled_plugin_restarts_with_a_fresh_instance() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    manager.disable("p").await.unwrap();
    let mut feed = manager.state_changes();
    Op::Restart.run(&manager, "p").await.unwrap();
    assert_eq!(
        trail(&drain(&mut feed), "p"),
        [TornDown, Loaded, Setup, Enabled]
    );
    // Already disabled, so only `teardown` runs before the new instance starts.
    assert_eq!(
        lab.hooks_of("p")[3..],
        [Hook::Teardown, Hook::Setup, Hook::Enable]
    );
    assert_eq!(live_instance(&manager, "p").await, Some(2));
}

#[tokio::test(start_paused = true)]
async fn failed_plugin_refuses_enable_and_disable() {
    let lab = Lab::default();
    let spec = lab
        .plugin("p")
        .fails(Phase::Hook(Hook::Setup), Fault::Error)
        .spec();
    let manager = started([spec]).await;
    assert_eq!(state(&manager, "p"), Failed);
    for op in [Op::Enable, Op::Disable, Op::DisableCascade] {
        assert_invalid(&manager, &lab, "p", op).await;
    }
}

#[tokio::test(start_paused = true)]
async fn failed_plugin_restarts_with_a_fresh_instance_and_keeps_the_old_error() {
    let lab = Lab::default();
    let spec = lab
        .plugin("p")
        .fails(Phase::Hook(Hook::Setup), Fault::Error)
        .only_first_instance()
        .spec();
    let manager = started([spec]).await;
    assert_eq!(live_instance(&manager, "p").await, None);
    let mut feed = manager.state_changes();
    Op::Restart.run(&manager, "p").await.unwrap();
    assert_eq!(trail(&drain(&mut feed), "p"), [Loaded, Setup, Enabled]);
    assert_eq!(live_instance(&manager, "p").await, Some(2));
    let record = manager.record("p").unwrap();
    assert_eq!(
        record.last_error,
        Some(expected_failure(
            "p",
            Phase::Hook(Hook::Setup),
            Fault::Error
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn failed_restart_reports_the_new_failure() {
    let lab = Lab::default();
    let spec = lab
        .plugin("p")
        .fails(Phase::Hook(Hook::Enable), Fault::Panic)
        .spec();
    let manager = started([spec]).await;
    let error = Op::Restart.run(&manager, "p").await.unwrap_err();
    let failure = expected_failure("p", Phase::Hook(Hook::Enable), Fault::Panic);
    assert_eq!(
        error,
        OperationError::Failed {
            plugin: "p".into(),
            failure,
        }
    );
    assert_eq!(state(&manager, "p"), Failed);
    assert_eq!(lab.instances_made("p"), 2);
}

#[tokio::test(start_paused = true)]
async fn enable_and_restart_are_refused_while_a_dependency_is_failed() {
    // `base` fails while the cascade disables it, leaving `user` disabled on a failed base.
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base")
            .fails(Phase::Hook(Hook::Disable), Fault::Error)
            .spec(),
        lab.plugin("user").deps(["base"]).spec(),
    ])
    .await;
    manager.disable_cascade("base").await.unwrap_err();
    assert_eq!(state(&manager, "base"), Failed);
    assert_eq!(state(&manager, "user"), Disabled);
    for op in [Op::Enable, Op::Restart] {
        let expected = OperationError::DependencyUnavailable {
            plugin: "user".into(),
            dependency: "base".into(),
            state: Failed,
            operation: op.operation(),
        };
        let message = expected.to_string();
        assert!(
            ["`user`", "`base`", "failed", op.operation().as_str()]
                .iter()
                .all(|word| message.contains(word)),
            "{message}"
        );
        assert_refused(&manager, &lab, "user", op, expected).await;
    }
}

#[tokio::test(start_paused = true)]
async fn restart_of_a_dependent_is_refused_while_its_dependency_is_failed() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base")
            .fails(Phase::Hook(Hook::Setup), Fault::Error)
            .spec(),
        lab.plugin("user").deps(["base"]).spec(),
    ])
    .await;
    assert_eq!(
        manager.record("user").unwrap().last_error,
        Some(dependency_failed("base"))
    );
    let expected = OperationError::DependencyUnavailable {
        plugin: "user".into(),
        dependency: "base".into(),
        state: Failed,
        operation: Operation::Restart,
    };
    assert_refused(&manager, &lab, "user", Op::Restart, expected).await;
    assert_eq!(lab.instances_made("user"), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_of_an_unstarted_manager_runs_no_plugin_code() {
    let lab = Lab::default();
    let manager = manager([lab.plugin("p").spec()]);
    let mut feed = manager.state_changes();
    within("shutdown", manager.shutdown()).await;
    assert_eq!(state(&manager, "p"), Unloaded);
    assert_eq!(drain(&mut feed), []);
    assert_eq!(lab.instances_made("p"), 0);
    // Nor does a start after it.
    within("start", manager.start()).await;
    assert_eq!(state(&manager, "p"), Unloaded);
    assert_eq!(lab.instances_made("p"), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_tears_down_enabled_and_disabled_plugins_and_leaves_failed_ones() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("on").spec(),
        lab.plugin("off").spec(),
        lab.plugin("broken")
            .fails(Phase::Hook(Hook::Setup), Fault::Error)
            .spec(),
    ])
    .await;
    manager.disable("off").await.unwrap();
    let mut feed = manager.state_changes();
    within("shutdown", manager.shutdown()).await;
    let changes = drain(&mut feed);

    assert_eq!(trail(&changes, "on"), [Disabled, TornDown]);
    assert_eq!(lab.hooks_of("on")[2..], [Hook::Disable, Hook::Teardown]);

    assert_eq!(trail(&changes, "off"), [TornDown]);
    assert_eq!(lab.hooks_of("off")[3..], [Hook::Teardown]);

    assert_eq!(trail(&changes, "broken"), []);
    assert_eq!(lab.hooks_of("broken"), [Hook::Setup]);
    assert_eq!(state(&manager, "broken"), Failed);

    for plugin in ["on", "off", "broken"] {
        assert_eq!(live_instance(&manager, plugin).await, None, "{plugin}");
    }
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_every_request_is_refused_and_changes_nothing() {
    let lab = Lab::default();
    let manager = started([lab.plugin("p").spec()]).await;
    within("shutdown", manager.shutdown()).await;
    assert_eq!(state(&manager, "p"), TornDown);
    for op in Op::ALL {
        assert_refused(&manager, &lab, "p", op, OperationError::ShuttingDown).await;
    }
    let before = snapshot(&manager, &lab).await;
    within("start", manager.start()).await;
    within("shutdown", manager.shutdown()).await;
    assert_eq!(snapshot(&manager, &lab).await, before);
}
