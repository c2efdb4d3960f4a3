//! Builder options that change how plugins run.

use plugin_core::{Plugin, PluginInstance, PluginMetadata, async_trait};
use plugin_manager::{FailureKind, Phase, PluginManager, PluginSpec, PluginState};

#[derive(Default)]
struct Fine;

#[async_trait]
impl Plugin for Fine {}

#[tokio::test(start_paused = true)]
async fn inline_constructors_still_isolate_a_panicking_or_failing_constructor() {
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("panics"), || {
            panic!("no memory for you")
        }))
        .plugin(PluginSpec::new(PluginMetadata::new("errs"), || {
            Err(plugin_core::Error::msg("no config"))
        }))
        .plugin(PluginSpec::new(PluginMetadata::new("fine"), || {
            Ok(PluginInstance::new(Fine))
        }))
        .inline_constructors()
        .build()
        .unwrap();
    manager.start().await;
    let panics = manager.record("panics").unwrap().last_error.unwrap();
    assert_eq!(panics.phase, Some(Phase::Constructor));
    assert_eq!(panics.kind, FailureKind::Panic("no memory for you".into()));
    let errs = manager.record("errs").unwrap().last_error.unwrap();
    assert_eq!(errs.kind, FailureKind::Error("no config".into()));
    assert_eq!(manager.state("fine"), Some(PluginState::Enabled));
    manager.shutdown().await;
}
