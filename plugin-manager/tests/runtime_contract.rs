//! What the manager needs of its caller, said clearly: a runtime with the time driver for
//! `start`, and deadlines longer than zero.

use std::time::Duration;

use plugin_core::PluginMetadata;
use plugin_core::prelude::*;
use plugin_manager::{PluginManager, PluginSpec};

#[derive(Default)]
struct Noop;

#[async_trait]
impl Plugin for Noop {}

fn manager() -> PluginManager {
    PluginManager::builder()
        .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new(
            "noop",
        )))
        .build()
        .expect("a valid set")
}

#[test]
#[should_panic(expected = "needs a tokio runtime with the time driver")]
fn start_on_a_runtime_without_timers_says_what_is_missing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without the time driver");
    runtime.block_on(manager().start());
}

#[test]
fn start_on_a_runtime_with_timers_runs() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let manager = manager();
    runtime.block_on(manager.start());
    assert_eq!(manager.enabled(), ["noop"]);
    assert_eq!(
        format!("{manager:?}"),
        "PluginManager { plugins: {\"noop\": Enabled}, .. }"
    );
}

#[test]
#[should_panic(expected = "a hook deadline must be longer than zero")]
fn a_zero_hook_deadline_is_refused() {
    let _ = PluginManager::builder().hook_timeout(Duration::ZERO);
}

#[test]
#[should_panic(expected = "a shutdown deadline must be longer than zero")]
fn a_zero_shutdown_deadline_is_refused() {
    let _ = PluginManager::builder().shutdown_timeout(Duration::ZERO);
}
