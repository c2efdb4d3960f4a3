//! The manager's own series (`telemetry.rs`): reported through the `metrics` facade when the
//! builder asks for them, with the names and labels docs/operating.md lists, and not at all
//! otherwise. A small recorder of this test's keeps every registered series; it is the
//! thread's local recorder, and the test runtime runs every task on this thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use plugin_core::{Plugin, PluginMetadata, async_trait};
use plugin_manager::{ManagerBuilder, PluginManager, PluginSpec};

/// A series' last value (gauges), sum (counters) or number of samples (histograms), as bits.
#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every series registered, by `name{label=value,...}`.
#[derive(Default)]
struct Series(Mutex<BTreeMap<String, Arc<Cell>>>);

impl Series {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let id = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(id).or_default().clone()
    }

    fn gauge(&self, id: &str) -> Option<f64> {
        let series = self.0.lock().unwrap();
        series
            .get(id)
            .map(|c| f64::from_bits(c.0.load(Ordering::Relaxed)))
    }

    fn samples(&self, id: &str) -> Option<u64> {
        let series = self.0.lock().unwrap();
        series.get(id).map(|c| c.0.load(Ordering::Relaxed))
    }

    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

struct Keeping(Arc<Series>);

impl Recorder for Keeping {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.0.cell(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.0.cell(key))
    }
}

#[derive(Default)]
struct Noop;

#[async_trait]
impl Plugin for Noop {}

fn builder() -> ManagerBuilder {
    PluginManager::builder()
        .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new(
            "base",
        )))
        .plugin(PluginSpec::with_default::<Noop>(
            PluginMetadata::new("dice").with_deps(["base"]),
        ))
}

#[tokio::test]
async fn with_metrics_on_each_plugin_has_its_state_health_and_hook_series() {
    let series = Arc::new(Series::default());
    let recorder = Keeping(series.clone());
    let _local = metrics::set_default_local_recorder(&recorder);
    let manager = builder().metrics().build().unwrap();
    manager.start().await;

    for plugin in ["base", "dice"] {
        let id = |name: &str, label: &str| format!("{name}{{plugin={plugin},{label}}}");
        assert_eq!(
            series.gauge(&id("plugin_state", "state=enabled")),
            Some(1.0)
        );
        assert_eq!(series.gauge(&id("plugin_state", "state=setup")), Some(0.0));
        assert_eq!(
            series.gauge(&id("plugin_state", "state=disabled")),
            None,
            "never in it"
        );
        assert_eq!(
            series.gauge(&id("plugin_health", "health=healthy")),
            Some(1.0)
        );
        for hook in ["constructor", "setup", "on_enable"] {
            let hook = format!("hook={hook}");
            assert_eq!(series.samples(&id("plugin_hook_seconds", &hook)), Some(1));
        }
    }

    manager.restart("dice").await.unwrap();
    let id = "plugin_hook_seconds{plugin=dice,hook=setup}";
    assert_eq!(
        series.samples(id),
        Some(2),
        "a second start, a second sample"
    );
    manager.shutdown().await;
    assert_eq!(
        series.gauge("plugin_state{plugin=dice,state=torn_down}"),
        Some(1.0)
    );
    assert_eq!(
        series.gauge("plugin_state{plugin=dice,state=enabled}"),
        Some(0.0)
    );
}

#[tokio::test]
async fn without_metrics_the_manager_registers_no_series() {
    let series = Arc::new(Series::default());
    let recorder = Keeping(series.clone());
    let _local = metrics::set_default_local_recorder(&recorder);
    let manager = builder().build().unwrap();
    manager.start().await;
    manager.restart("dice").await.unwrap();
    manager.shutdown().await;
    assert_eq!(series.names(), Vec::<String>::new());
}
