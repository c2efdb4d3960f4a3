//! Operator requests are cancel-safe: a caller that stops waiting (a timeout, a `select!`
//! that took another branch, Ctrl-C in a host) does not cut a hook short. The request runs to
//! its end in a task of the manager's, and the plugin ends in the state the request leads to,
//! with what its hook set up still owned by the manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use plugin_core::prelude::*;
use plugin_core::{PluginInstance, PluginMetadata};
use plugin_manager::{PluginManager, PluginSpec, PluginState};
use tokio::sync::Notify;

/// What the test and the plugin share.
#[derive(Default)]
struct Gate {
    /// Whether `on_enable` waits at the gate (not during the first start).
    closed: AtomicBool,
    /// Told when `on_enable` reached the gate.
    reached: Notify,
    /// Opens the gate.
    open: Notify,
    /// Ticks of the background task `on_enable` starts.
    ticks: AtomicUsize,
}

struct Gated(Arc<Gate>);

#[async_trait]
impl Plugin for Gated {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let gate = self.0.clone();
        if gate.closed.load(Ordering::SeqCst) {
            gate.reached.notify_one();
            gate.open.notified().await;
        }
        let ticking = gate.clone();
        let stop = ctx.cancellation();
        ctx.spawn(async move {
            ticking.ticks.fetch_add(1, Ordering::SeqCst);
            stop.cancelled().await;
            Ok(())
        });
        Ok(())
    }
}

fn manager(gate: &Arc<Gate>) -> PluginManager {
    let made = gate.clone();
    PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("gated"), move || {
            Ok(PluginInstance::new(Gated(made.clone())))
        }))
        .build()
        .expect("a valid set")
}

/// Waits, through the state-change feed, until `gated` is in `state`.
async fn until_state(manager: &PluginManager, state: PluginState) {
    let mut changes = manager.state_changes();
    while manager.state("gated") != Some(state) {
        changes.recv().await.expect("the feed stays open");
    }
}

#[tokio::test(start_paused = true)]
async fn an_enable_whose_caller_gave_up_still_finishes() {
    let gate = Arc::new(Gate::default());
    let manager = manager(&gate);
    manager.start().await;
    manager
        .disable("gated")
        .await
        .expect("enabled, no dependents");
    gate.closed.store(true, Ordering::SeqCst);

    // The caller stops waiting while `on_enable` is at the gate.
    tokio::select! {
        outcome = manager.enable("gated") => panic!("on_enable cannot finish yet: {outcome:?}"),
        () = gate.reached.notified() => {}
    }
    gate.open.notify_one();

    tokio::time::timeout(
        Duration::from_secs(5),
        until_state(&manager, PluginState::Enabled),
    )
    .await
    .expect("the enable finished on its own");
    // What the hook started belongs to the enabled plugin, and goes away with it.
    assert_eq!(gate.ticks.load(Ordering::SeqCst), 2, "one task per enable");
    manager.disable("gated").await.expect("enabled again");
    assert_eq!(manager.state("gated"), Some(PluginState::Disabled));
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_cut_short_by_a_timeout_still_finishes() {
    let gate = Arc::new(Gate::default());
    let manager = manager(&gate);
    manager.start().await;
    gate.closed.store(true, Ordering::SeqCst);

    let given_up = tokio::time::timeout(Duration::from_millis(10), manager.restart("gated")).await;
    assert!(given_up.is_err(), "the caller's deadline passed first");
    gate.open.notify_one();

    tokio::time::timeout(
        Duration::from_secs(5),
        until_state(&manager, PluginState::Enabled),
    )
    .await
    .expect("the restart finished on its own");
    assert_eq!(
        manager.record("gated").unwrap().restart_count,
        0,
        "an operator restart"
    );
    manager.shutdown().await;
    assert_eq!(manager.state("gated"), Some(PluginState::TornDown));
}
