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

/// Counts the plugins in `setup` or `teardown` at once, each of which takes a second of
/// tokio's (paused) clock.
#[derive(Default)]
struct Gauge {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Gauge {
    async fn hold(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        self.now.fetch_sub(1, SeqCst);
    }
}

struct Slow(std::sync::Arc<Gauge>);

#[async_trait]
impl Plugin for Slow {
    async fn setup(&mut self, _: &plugin_core::Context) -> plugin_core::Result<()> {
        self.0.hold().await;
        Ok(())
    }
    async fn teardown(&mut self, _: &plugin_core::Context) -> plugin_core::Result<()> {
        self.0.hold().await;
        Ok(())
    }
}

fn slow_set(gauge: &std::sync::Arc<Gauge>, n: usize, places: usize) -> PluginManager {
    let specs = (0..n).map(|i| {
        let gauge = gauge.clone();
        PluginSpec::new(PluginMetadata::new(format!("slow{i}")), move || {
            Ok(PluginInstance::new(Slow(gauge.clone())))
        })
    });
    PluginManager::builder()
        .plugins(specs.collect::<Vec<_>>())
        .max_in_flight(places)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_start_and_a_shutdown_keep_at_most_max_in_flight_plugins_going_at_once() {
    let gauge = std::sync::Arc::new(Gauge::default());
    let manager = slow_set(&gauge, 10, 3);
    let began = tokio::time::Instant::now();
    manager.start().await;
    assert_eq!(manager.enabled().len(), 10);
    assert_eq!(gauge.most.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Ten one-second setups, three at a time: four rounds.
    assert_eq!(began.elapsed().as_secs(), 4);
    manager.shutdown().await;
    assert_eq!(gauge.most.load(std::sync::atomic::Ordering::SeqCst), 3);
    for record in manager.records() {
        assert_eq!(record.state, PluginState::TornDown, "{}", record.name);
    }
}

#[tokio::test(start_paused = true)]
async fn independent_plugins_within_max_in_flight_all_overlap() {
    let gauge = std::sync::Arc::new(Gauge::default());
    let manager = slow_set(&gauge, 100, plugin_manager::DEFAULT_MAX_IN_FLIGHT);
    let began = tokio::time::Instant::now();
    manager.start().await;
    assert_eq!(gauge.most.load(std::sync::atomic::Ordering::SeqCst), 100);
    assert_eq!(began.elapsed().as_secs(), 1);
    // And their teardowns: the stop wave's pool grows to one task each.
    let began = tokio::time::Instant::now();
    manager.shutdown().await;
    assert_eq!(began.elapsed().as_secs(), 1);
}
