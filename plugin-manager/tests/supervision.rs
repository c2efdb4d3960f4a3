//! Restart policies bring failed plugins back with exponential backoff, up to a limit; and
//! background tasks see their cancellation token before the plugin's `on_disable` returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plugin_core::{Context, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::{
    Backoff, FailureKind, PluginManager, PluginSpec, PluginState, RestartPolicy, StateChange,
    StateChanges,
};
use tokio::sync::{Mutex, oneshot};

/// Fails in `setup` for its first `failures` instances (counted across instances).
struct Flaky {
    made: u32,
    failures: u32,
}

#[async_trait]
impl Plugin for Flaky {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        if self.made <= self.failures {
            return Err(plugin_core::Error::msg(format!(
                "flaky start #{}",
                self.made
            )));
        }
        Ok(())
    }
}

fn flaky(name: &str, failures: u32, instances: Arc<AtomicU32>) -> PluginSpec {
    PluginSpec::new(PluginMetadata::new(name), move || {
        let made = instances.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(PluginInstance::new(Flaky { made, failures }))
    })
}

fn on_failure(max_restarts: u32) -> RestartPolicy {
    RestartPolicy::OnFailure(
        Backoff::default()
            .with_max_restarts(max_restarts)
            .with_window(Duration::from_secs(60))
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10)),
    )
}

/// Waits (on the paused clock) until `name` reaches `state`, collecting the changes seen.
async fn until(
    feed: &mut StateChanges,
    name: &str,
    state: PluginState,
    seen: &mut Vec<StateChange>,
) {
    let wait = async {
        loop {
            let change = feed.recv().await.expect("the feed stays open");
            let done = change.plugin == name && change.to == state;
            seen.push(change);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .unwrap_or_else(|_| panic!("`{name}` never became {state}; saw {seen:#?}"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_plugin_is_restarted_with_doubling_delays() {
    let instances = Arc::new(AtomicU32::new(0));
    let manager = PluginManager::builder()
        .plugin(flaky("flaky", 2, instances.clone()))
        .restart_policy("flaky", on_failure(3))
        .build()
        .unwrap();
    let mut feed = manager.state_changes();
    manager.start().await;
    let mut seen = Vec::new();
    until(&mut feed, "flaky", PluginState::Enabled, &mut seen).await;

    let failed_at: Vec<Duration> = seen
        .iter()
        .filter(|c| c.to == PluginState::Failed)
        .map(|c| c.at)
        .collect();
    let restarted_at: Vec<Duration> = seen
        .iter()
        .filter(|c| c.from == PluginState::Failed && c.to == PluginState::Loaded)
        .map(|c| c.at)
        .collect();
    assert_eq!(failed_at.len(), 2, "{seen:#?}");
    assert_eq!(restarted_at.len(), 2, "{seen:#?}");
    assert_eq!(restarted_at[0] - failed_at[0], Duration::from_millis(100));
    assert_eq!(restarted_at[1] - failed_at[1], Duration::from_millis(200));

    let record = manager.record("flaky").unwrap();
    assert_eq!(record.restart_count, 2);
    assert_eq!(record.gave_up, None);
    assert_eq!(instances.load(Ordering::SeqCst), 3);
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn past_the_limit_the_plugin_stays_failed_and_says_why() {
    let instances = Arc::new(AtomicU32::new(0));
    let manager = PluginManager::builder()
        .plugin(flaky("doomed", u32::MAX, instances.clone()))
        .default_restart_policy(on_failure(3))
        .build()
        .unwrap();
    manager.start().await;
    // 100 + 200 + 400 ms of backoff; wait well past it on the paused clock.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let record = manager.record("doomed").unwrap();
    assert_eq!(record.state, PluginState::Failed);
    assert_eq!(record.restart_count, 3);
    assert_eq!(
        instances.load(Ordering::SeqCst),
        4,
        "the first start and three restarts"
    );
    assert_eq!(
        record.gave_up.as_deref(),
        Some("not restarted: 3 restarts within 1m already")
    );
    assert_eq!(
        record.last_error.unwrap().kind,
        FailureKind::Error("flaky start #4".into())
    );
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_a_failed_plugin_stays_failed() {
    let instances = Arc::new(AtomicU32::new(0));
    let manager = PluginManager::builder()
        .plugin(flaky("flaky", 1, instances.clone()))
        .build()
        .unwrap();
    manager.start().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(manager.state("flaky"), Some(PluginState::Failed));
    assert_eq!(instances.load(Ordering::SeqCst), 1);
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_crashed_background_task_is_restarted_along_with_its_dependents() {
    /// Starts a task that fails on its first instance only.
    struct Worker {
        first: bool,
    }
    #[async_trait]
    impl Plugin for Worker {
        async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
            if self.first {
                ctx.spawn(async { Err(plugin_core::Error::msg("worker crashed")) });
            }
            Ok(())
        }
    }
    let instances = Arc::new(AtomicU32::new(0));
    let counter = instances.clone();
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("worker"), move || {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            Ok(PluginInstance::new(Worker { first }))
        }))
        .plugin(PluginSpec::new(
            PluginMetadata::new("user").with_deps(["worker"]),
            || Ok(PluginInstance::new(Worker { first: false })),
        ))
        .restart_policy("worker", on_failure(3))
        .build()
        .unwrap();
    let mut feed = manager.state_changes();
    manager.start().await;
    let mut seen = Vec::new();
    until(&mut feed, "worker", PluginState::Failed, &mut seen).await;
    assert_eq!(
        manager.record("user").unwrap().last_error.unwrap().kind,
        FailureKind::DependencyFailed("worker".into())
    );
    until(&mut feed, "user", PluginState::Enabled, &mut seen).await;
    assert_eq!(manager.state("worker"), Some(PluginState::Enabled));
    assert_eq!(manager.record("worker").unwrap().restart_count, 1);
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn background_tasks_see_the_token_before_on_disable_returns() {
    /// Its task reports through a oneshot when the token fires; `on_disable` waits for that
    /// report, so it would time out if the token fired only afterwards.
    #[derive(Default)]
    struct Graceful {
        flushed: Arc<Mutex<Option<oneshot::Receiver<&'static str>>>>,
    }
    #[async_trait]
    impl Plugin for Graceful {
        async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
            let (done, flushed) = oneshot::channel();
            *self.flushed.lock().await = Some(flushed);
            let stop = ctx.cancellation();
            ctx.spawn(async move {
                stop.cancelled().await;
                let _ = done.send("flushed");
                Ok(())
            });
            Ok(())
        }

        async fn on_disable(&mut self, _ctx: &Context) -> Result<()> {
            let flushed = self.flushed.lock().await.take().expect("enabled first");
            assert_eq!(flushed.await.map_err(plugin_core::Error::new)?, "flushed");
            Ok(())
        }
    }
    let manager = PluginManager::builder()
        .plugin(PluginSpec::with_default::<Graceful>(PluginMetadata::new(
            "graceful",
        )))
        .hook_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    manager.start().await;
    manager.disable("graceful").await.unwrap();
    // Enabled again, it gets a fresh token and the dance works a second time.
    manager.enable("graceful").await.unwrap();
    manager.disable("graceful").await.unwrap();
    assert_eq!(manager.state("graceful"), Some(PluginState::Disabled));
    manager.shutdown().await;
}

/// Fails in `on_disable`, always.
struct FailsToStop;

#[async_trait]
impl Plugin for FailsToStop {
    async fn on_disable(&mut self, _ctx: &Context) -> Result<()> {
        Err(plugin_core::Error::msg("stuck"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_to_stop_is_not_undone_by_the_supervisor() {
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("sticky"), || {
            Ok(PluginInstance::new(FailsToStop))
        }))
        .default_restart_policy(on_failure(3))
        .build()
        .unwrap();
    manager.start().await;
    assert!(manager.disable("sticky").await.is_err());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let record = manager.record("sticky").unwrap();
    assert_eq!(
        record.state,
        PluginState::Failed,
        "the operator's disable stands"
    );
    assert_eq!(record.restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_does_not_restart_a_plugin_the_operator_restarted_meanwhile() {
    let instances = Arc::new(AtomicU32::new(0));
    let manager = PluginManager::builder()
        .plugin(flaky("flaky", 1, instances.clone()))
        .restart_policy("flaky", on_failure(3))
        .build()
        .unwrap();
    manager.start().await;
    // The supervisor waits 100 ms; the operator is quicker.
    manager.restart("flaky").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(manager.state("flaky"), Some(PluginState::Enabled));
    assert_eq!(
        instances.load(Ordering::SeqCst),
        2,
        "one start, one operator restart"
    );
    assert_eq!(manager.record("flaky").unwrap().restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_drop_is_contained() {
    struct Grenade;
    #[async_trait]
    impl Plugin for Grenade {}
    impl Drop for Grenade {
        fn drop(&mut self) {
            panic!("boom on drop");
        }
    }
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("grenade"), || {
            Ok(PluginInstance::new(Grenade))
        }))
        .build()
        .unwrap();
    manager.start().await;
    // Each of these drops an instance; none may unwind into this task.
    manager.restart("grenade").await.unwrap();
    manager.shutdown().await;
    assert_eq!(manager.state("grenade"), Some(PluginState::TornDown));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_manager_stops_its_background_tasks() {
    struct Forever {
        alive: Arc<()>,
    }
    #[async_trait]
    impl Plugin for Forever {
        async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
            let alive = self.alive.clone();
            ctx.spawn(async move {
                let _alive = alive;
                std::future::pending::<()>().await;
                Ok(())
            });
            Ok(())
        }
    }
    let alive = Arc::new(());
    let probe = alive.clone();
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("forever"), move || {
            Ok(PluginInstance::new(Forever {
                alive: probe.clone(),
            }))
        }))
        .build()
        .unwrap();
    manager.start().await;
    drop(manager);
    // Let the aborted tasks and the released instance go.
    for _ in 0..100 {
        if Arc::strong_count(&alive) == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "the task and the instance are gone"
    );
}
