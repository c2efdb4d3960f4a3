//! One plugin's error, panic or hang stays with that plugin: it ends `Failed` with the right
//! cause, the plugins that need it are not started (or are stopped) and fail with "dependency
//! failed", every other plugin runs, and shutdown always completes.
//!
//! Hangs run on tokio's paused clock against a short hook deadline, so they take no real time.

mod common {
    pub(crate) mod clock;
    pub(crate) mod failures;
    pub(crate) mod feed;
    pub(crate) mod lab;
    pub(crate) mod managers;
    pub(crate) mod records;
    pub(crate) mod script;
    pub(crate) mod snapshot;
    pub(crate) mod sync;
    pub(crate) use self::{
        clock::*, failures::*, feed::*, lab::*, managers::*, records::*, script::*, snapshot::*,
        sync::*,
    };
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Fault, Lab, Probe, Trigger, dependency_failed, expected_failure, last_error, live_instance,
    started, state, wait_for, within,
};
use plugin_core::host::Hook;
use plugin_manager::{Failure, FailureKind, OperationError, Phase, PluginState};

use PluginState::{Disabled, Enabled, Failed, TornDown};

/// `faulty` shows `fault` in `phase`; `mid` needs it and `top` needs `mid`; `bystander` needs
/// nothing.
fn chain(lab: &Lab, phase: Phase, fault: Fault) -> [plugin_manager::PluginSpec; 4] {
    [
        lab.plugin("faulty").fails(phase, fault).spec(),
        lab.plugin("mid").deps(["faulty"]).spec(),
        lab.plugin("top").deps(["mid"]).spec(),
        lab.plugin("bystander").spec(),
    ]
}

/// Starts [`chain`] and checks everything a start fault must lead to.
async fn start_fault(phase: Phase, fault: Fault) {
    let lab = Lab::default();
    let manager = started(chain(&lab, phase, fault)).await;

    let expected = expected_failure("faulty", phase, fault);
    assert_eq!(state(&manager, "faulty"), Failed);
    assert_eq!(last_error(&manager, "faulty"), Some(expected.clone()));
    let history = manager.record("faulty").unwrap().history;
    let last = history.last().expect("history");
    assert_eq!((last.to, last.cause.as_ref()), (Failed, Some(&expected)));
    if fault == Fault::Hang {
        // Abandoned at the deadline: the hung hook was cancelled, not left running.
        lab.hangs().wait_dropped(1).await;
    }

    // Dependents never ran, and each names the dependency it lacked.
    for (plugin, dependency) in [("mid", "faulty"), ("top", "mid")] {
        assert_eq!(state(&manager, plugin), Failed, "{plugin}");
        assert_eq!(
            last_error(&manager, plugin),
            Some(dependency_failed(dependency)),
            "{plugin}"
        );
        assert_eq!(lab.instances_made(plugin), 0, "{plugin} was constructed");
    }

    assert_eq!(manager.enabled(), ["bystander"]);
    assert_eq!(last_error(&manager, "bystander"), None);

    within("shutdown", manager.shutdown()).await;
    assert_eq!(state(&manager, "bystander"), TornDown);
    assert_eq!(state(&manager, "faulty"), Failed);
    assert_eq!(last_error(&manager, "faulty"), Some(expected));
}

#[tokio::test(start_paused = true)]
async fn constructor_error_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Constructor, Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn constructor_panic_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Constructor, Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn setup_error_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Setup), Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn setup_panic_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Setup), Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn setup_hang_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Setup), Fault::Hang).await;
}

#[tokio::test(start_paused = true)]
async fn on_enable_error_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Enable), Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn on_enable_panic_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Enable), Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn on_enable_hang_fails_only_the_plugin_and_its_dependents() {
    start_fault(Phase::Hook(Hook::Enable), Fault::Hang).await;
}

#[tokio::test(start_paused = true)]
async fn a_plugins_own_timeout_overrides_the_managers() {
    let lab = Lab::default();
    let own = Duration::from_millis(250);
    let spec = lab
        .plugin("slow")
        .timeout(own)
        .fails(Phase::Hook(Hook::Setup), Fault::Hang)
        .spec();
    let manager = started([spec]).await;
    assert_eq!(
        last_error(&manager, "slow"),
        Some(Failure::new(
            Phase::Hook(Hook::Setup),
            FailureKind::Timeout(own)
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn an_optional_dependency_that_fails_does_not_fail_its_user() {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("extra")
            .fails(Phase::Hook(Hook::Setup), Fault::Panic)
            .spec(),
        lab.plugin("user").optional_deps(["extra"]).spec(),
    ])
    .await;
    assert_eq!(state(&manager, "extra"), Failed);
    assert_eq!(manager.enabled(), ["user"]);
}

// ----- stopping: best effort ------------------------------------------------------------------

/// `base` <- `faulty` <- `top`, plus `bystander`; `faulty` shows `fault` when stopping in `hook`.
async fn shutdown_fault(hook: Hook, fault: Fault) {
    let lab = Lab::default();
    let manager = started([
        lab.plugin("base").spec(),
        lab.plugin("faulty")
            .deps(["base"])
            .fails(Phase::Hook(hook), fault)
            .spec(),
        lab.plugin("top").deps(["faulty"]).spec(),
        lab.plugin("bystander").spec(),
    ])
    .await;
    assert_eq!(manager.enabled().len(), 4);

    within("shutdown", manager.shutdown()).await;

    assert_eq!(state(&manager, "faulty"), Failed);
    assert_eq!(
        last_error(&manager, "faulty"),
        Some(expected_failure("faulty", Phase::Hook(hook), fault))
    );
    if fault == Fault::Hang {
        lab.hangs().wait_dropped(1).await;
    }
    // The failure blocked nothing: the plugin it runs on was still torn down, cleanly.
    for plugin in ["base", "top", "bystander"] {
        assert_eq!(state(&manager, plugin), TornDown, "{plugin}");
        assert_eq!(last_error(&manager, plugin), None, "{plugin}");
        assert_eq!(
            lab.hooks_of(plugin)[2..],
            [Hook::Disable, Hook::Teardown],
            "{plugin}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn on_disable_error_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Disable, Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn on_disable_panic_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Disable, Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn on_disable_hang_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Disable, Fault::Hang).await;
}

#[tokio::test(start_paused = true)]
async fn teardown_error_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Teardown, Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn teardown_panic_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Teardown, Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn teardown_hang_in_shutdown_is_recorded_and_blocks_nothing() {
    shutdown_fault(Hook::Teardown, Fault::Hang).await;
}

#[tokio::test(start_paused = true)]
async fn on_disable_fault_in_a_request_fails_the_plugin_and_is_reported() {
    for fault in [Fault::Error, Fault::Panic, Fault::Hang] {
        let lab = Lab::default();
        let manager = started([
            lab.plugin("base").spec(),
            lab.plugin("faulty")
                .deps(["base"])
                .fails(Phase::Hook(Hook::Disable), fault)
                .only_first_instance()
                .spec(),
            lab.plugin("bystander").spec(),
        ])
        .await;
        let failure = expected_failure("faulty", Phase::Hook(Hook::Disable), fault);
        let error = within("disable", manager.disable("faulty"))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            OperationError::Failed {
                plugin: "faulty".into(),
                failure: failure.clone(),
            },
            "{fault:?}"
        );
        assert_eq!(last_error(&manager, "faulty"), Some(failure));
        assert_eq!(manager.enabled(), ["base", "bystander"], "{fault:?}");
        // Failed is not final: a restart brings it back with a fresh instance.
        within("restart", manager.restart("faulty")).await.unwrap();
        assert_eq!(live_instance(&manager, "faulty").await, Some(2));
        within("shutdown", manager.shutdown()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_abandons_what_outlives_its_deadline_and_cancels_it() {
    let lab = Lab::default();
    let deadline = Duration::from_secs(1);
    let manager = plugin_manager::PluginManager::builder()
        // Each hook may run longer than the whole shutdown may take.
        .hook_timeout(deadline * 10)
        .shutdown_timeout(deadline)
        .plugins([
            lab.plugin("base").spec(),
            lab.plugin("stuck")
                .deps(["base"])
                .fails(Phase::Hook(Hook::Teardown), Fault::Hang)
                .spec(),
            lab.plugin("bystander").spec(),
        ])
        .build()
        .unwrap();
    within("start", manager.start()).await;
    let began = tokio::time::Instant::now();
    within("shutdown", manager.shutdown()).await;
    assert_eq!(began.elapsed(), deadline);

    let abandoned = Failure::abandoned(deadline);
    assert_eq!(state(&manager, "stuck"), Failed);
    assert_eq!(last_error(&manager, "stuck"), Some(abandoned.clone()));
    // `base` would have been torn down after `stuck`: it never got its turn.
    assert_eq!(last_error(&manager, "base"), Some(abandoned));
    assert_eq!(state(&manager, "bystander"), TornDown);
    // The hung teardown does not live on after shutdown returned.
    lab.hangs().wait_dropped(1).await;
}

/// `slow` takes `setup` half a second (its deadline is longer), `late` needs it, `waiting` needs
/// nothing but waits for the one place in flight (it comes after `slow` in start order): a start still under way when a shutdown is
/// asked for, with a shutdown deadline of `deadline`.
fn slow_start(lab: &Lab, deadline: Duration) -> plugin_manager::PluginManager {
    plugin_manager::PluginManager::builder()
        .hook_timeout(Duration::from_secs(10))
        .shutdown_timeout(deadline)
        .max_in_flight(1)
        .plugins([
            lab.plugin("slow")
                .delay(Hook::Setup, Duration::from_millis(500))
                .spec(),
            lab.plugin("late").deps(["slow"]).spec(),
            lab.plugin("waiting").spec(),
        ])
        .build()
        .unwrap()
}

/// Starts the set of [`slow_start`] and asks for its shutdown once `slow` is constructed, that
/// is while its `setup` runs; returns when both are over.
async fn start_and_shut_down_in_setup(manager: &plugin_manager::PluginManager) {
    let mut feed = manager.state_changes();
    within("the start and the shutdown", async {
        tokio::join!(manager.start(), async {
            wait_for(&mut feed, "`slow` constructed", |c| {
                c.plugin == "slow" && c.to == PluginState::Loaded
            })
            .await;
            manager.shutdown().await;
        })
    })
    .await;
}

/// The states `plugin` entered, in the order its record keeps them.
fn states_of(manager: &plugin_manager::PluginManager, plugin: &str) -> Vec<PluginState> {
    let history = manager.record(plugin).unwrap().history;
    history.iter().map(|change| change.to).collect()
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_asked_for_during_the_start_starts_nothing_more_and_stops_what_started() {
    let lab = Lab::default();
    let manager = slow_start(&lab, Duration::from_secs(60));
    start_and_shut_down_in_setup(&manager).await;

    // `slow`'s start, under way, finished, and the shutdown then tore it down.
    assert_eq!(
        states_of(&manager, "slow"),
        [
            PluginState::Loaded,
            PluginState::Setup,
            Enabled,
            Disabled,
            TornDown
        ]
    );
    // Nothing else began: not `late`, which waited for `slow`, nor `waiting`, which waited
    // for a place. Neither failed.
    for plugin in ["late", "waiting"] {
        assert_eq!(state(&manager, plugin), PluginState::Unloaded, "{plugin}");
        assert_eq!(states_of(&manager, plugin), [], "{plugin}");
        assert_eq!(lab.instances_made(plugin), 0, "{plugin}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_past_its_deadline_during_a_start_abandons_the_start_for_good() {
    let lab = Lab::default();
    let deadline = Duration::from_millis(100);
    let manager = slow_start(&lab, deadline);
    start_and_shut_down_in_setup(&manager).await;

    // Abandoned at the deadline, in `setup`; when `setup` returned, 400 ms later, its start
    // changed nothing.
    assert_eq!(states_of(&manager, "slow"), [PluginState::Loaded, Failed]);
    assert_eq!(
        last_error(&manager, "slow"),
        Some(Failure::abandoned(deadline))
    );
    assert_eq!(lab.hooks_of("slow"), [Hook::Setup]);
    for plugin in ["late", "waiting"] {
        assert_eq!(state(&manager, plugin), PluginState::Unloaded, "{plugin}");
        assert_eq!(states_of(&manager, plugin), [], "{plugin}");
    }
}

// ----- background tasks -----------------------------------------------------------------------

/// `svc` runs a background task that shows `fault` when triggered; `user` needs `svc`, `top`
/// needs `user`; `bystander` needs nothing.
async fn background_fault(fault: Fault) {
    let lab = Lab::default();
    let trigger = Trigger::default();
    let manager = started([
        lab.plugin("svc").background_fails(&trigger, fault).spec(),
        lab.plugin("user").deps(["svc"]).spec(),
        lab.plugin("top").deps(["user"]).spec(),
        lab.plugin("bystander").spec(),
    ])
    .await;
    assert_eq!(manager.enabled().len(), 4);
    let mut feed = manager.state_changes();

    trigger.fire();
    let failed = wait_for(&mut feed, "svc to fail", |c| {
        c.plugin == "svc" && c.to == Failed
    })
    .await;

    let expected = expected_failure("svc", Phase::Background, fault);
    assert_eq!(failed.cause, Some(expected.clone()));
    assert_eq!(last_error(&manager, "svc"), Some(expected));
    for (plugin, dependency) in [("user", "svc"), ("top", "user")] {
        assert_eq!(state(&manager, plugin), Failed, "{plugin}");
        assert_eq!(
            last_error(&manager, plugin),
            Some(dependency_failed(dependency)),
            "{plugin}"
        );
    }
    assert_eq!(manager.enabled(), ["bystander"]);

    within("shutdown", manager.shutdown()).await;
    assert_eq!(state(&manager, "bystander"), TornDown);
}

#[tokio::test(start_paused = true)]
async fn background_error_fails_the_plugin_and_its_dependents() {
    background_fault(Fault::Error).await;
}

#[tokio::test(start_paused = true)]
async fn background_panic_fails_the_plugin_and_its_dependents() {
    background_fault(Fault::Panic).await;
}

#[tokio::test(start_paused = true)]
async fn background_task_is_cancelled_when_its_plugin_is_disabled() {
    let lab = Lab::default();
    let task = Probe::default();
    let manager = started([lab.plugin("svc").background_runs(&task).spec()]).await;
    task.wait_started(1).await;
    assert_eq!(task.dropped(), 0, "cancelled while enabled");

    within("disable", manager.disable("svc")).await.unwrap();
    task.wait_dropped(1).await;
    // Being cancelled is not a failure of the plugin.
    assert_eq!(state(&manager, "svc"), Disabled);
    assert_eq!(last_error(&manager, "svc"), None);

    // Enabling again starts a new task, which shutdown cancels.
    within("enable", manager.enable("svc")).await.unwrap();
    task.wait_started(2).await;
    within("shutdown", manager.shutdown()).await;
    task.wait_dropped(2).await;
    assert_eq!(state(&manager, "svc"), TornDown);
}

/// Notes, at each hook, whether the token its context hands out is already cancelled.
#[derive(Default)]
struct TokenWatcher(Arc<Mutex<Vec<(Hook, bool)>>>);

#[plugin_core::async_trait]
impl plugin_core::Plugin for TokenWatcher {
    async fn setup(&mut self, ctx: &plugin_core::Context) -> plugin_core::Result<()> {
        self.note(Hook::Setup, ctx);
        Ok(())
    }
    async fn on_enable(&mut self, ctx: &plugin_core::Context) -> plugin_core::Result<()> {
        self.note(Hook::Enable, ctx);
        Ok(())
    }
    async fn on_disable(&mut self, ctx: &plugin_core::Context) -> plugin_core::Result<()> {
        self.note(Hook::Disable, ctx);
        Ok(())
    }
    async fn teardown(&mut self, ctx: &plugin_core::Context) -> plugin_core::Result<()> {
        self.note(Hook::Teardown, ctx);
        Ok(())
    }
}

impl TokenWatcher {
    fn note(&self, hook: Hook, ctx: &plugin_core::Context) {
        let cancelled = ctx.cancellation().is_cancelled();
        self.0.lock().unwrap().push((hook, cancelled));
    }
}

/// A token asked for once the plugin is leaving `enabled` is already cancelled, however late
/// it is first asked for; enabled again, the plugin gets a fresh one.
#[tokio::test(start_paused = true)]
async fn a_token_first_asked_for_while_stopping_is_already_cancelled() {
    let noted = Arc::new(Mutex::new(Vec::new()));
    let watcher = noted.clone();
    let spec =
        plugin_manager::PluginSpec::new(plugin_core::PluginMetadata::new("svc"), move || {
            Ok(plugin_core::PluginInstance::new(TokenWatcher(
                watcher.clone(),
            )))
        });
    let manager = started([spec]).await;
    within("disable", manager.disable("svc")).await.unwrap();
    within("enable", manager.enable("svc")).await.unwrap();
    within("shutdown", manager.shutdown()).await;
    let noted = noted.lock().unwrap().clone();
    assert_eq!(
        noted,
        [
            (Hook::Setup, false),
            (Hook::Enable, false),
            (Hook::Disable, true),
            (Hook::Enable, false),
            (Hook::Disable, true),
            (Hook::Teardown, true),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn background_task_of_an_old_instance_is_cancelled_by_a_restart() {
    let lab = Lab::default();
    let task = Probe::default();
    let manager = started([lab.plugin("svc").background_runs(&task).spec()]).await;
    task.wait_started(1).await;
    within("restart", manager.restart("svc")).await.unwrap();
    task.wait_dropped(1).await;
    task.wait_started(2).await;
    assert_eq!(task.dropped(), 1, "the new instance's task runs on");
    assert_eq!(state(&manager, "svc"), Enabled);
}

#[tokio::test(start_paused = true)]
async fn background_failure_after_a_restart_fails_the_plugin_again() {
    let lab = Lab::default();
    let trigger = Trigger::default();
    let manager = started([
        lab.plugin("svc")
            .background_fails(&trigger, Fault::Error)
            .spec(),
        lab.plugin("user").deps(["svc"]).spec(),
    ])
    .await;
    let mut feed = manager.state_changes();
    trigger.fire();
    wait_for(&mut feed, "svc to fail", |c| {
        c.plugin == "svc" && c.to == Failed
    })
    .await;
    within("restart", manager.restart("svc")).await.unwrap();
    // The restart brought svc back up (the request runs in a task of the manager's, so by
    // the time it returns the new instance's task may already have failed: read the feed).
    wait_for(&mut feed, "svc to be enabled again", |c| {
        c.plugin == "svc" && c.to == Enabled
    })
    .await;
    // The trigger is still fired, so the new instance's task fails at once.
    wait_for(&mut feed, "svc to fail again", |c| {
        c.plugin == "svc" && c.to == Failed
    })
    .await;
    assert_eq!(state(&manager, "user"), Failed);
    assert_eq!(last_error(&manager, "user"), Some(dependency_failed("svc")));
}
