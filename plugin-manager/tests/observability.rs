//! Issue 12: what a host sees of its plugins beyond their states: how long each piece of a
//! start took and the critical chain, health and readiness (logs per plugin: `log_filter.rs`).

use std::time::Duration;

use plugin_core::{Context, Health, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::host_kit::health::readiness;
use plugin_manager::{
    PluginManager, PluginSpec, PluginState, PluginsConfig, RestartPolicy, critical_chain,
};

/// A plugin whose `setup` and `on_enable` take the given times (on tokio's clock).
fn slow(name: &str, deps: &[&str], setup_ms: u64, enable_ms: u64) -> PluginSpec {
    struct Slow(u64, u64);
    #[async_trait]
    impl Plugin for Slow {
        async fn setup(&mut self, _: &Context) -> Result<()> {
            tokio::time::sleep(Duration::from_millis(self.0)).await;
            Ok(())
        }
        async fn on_enable(&mut self, _: &Context) -> Result<()> {
            tokio::time::sleep(Duration::from_millis(self.1)).await;
            Ok(())
        }
    }
    PluginSpec::new(
        PluginMetadata::new(name).with_deps(deps.iter().copied()),
        move || Ok(PluginInstance::new(Slow(setup_ms, enable_ms))),
    )
}

#[tokio::test(start_paused = true)]
async fn timings_and_the_critical_chain_follow_the_dependency_that_came_last() {
    // a: 10ms; b: 50ms; c needs a and b, 100ms more; d needs a, 20ms more.
    let manager = PluginManager::builder()
        .plugin(slow("a", &[], 10, 0))
        .plugin(slow("b", &[], 30, 20))
        .plugin(slow("c", &["a", "b"], 40, 60))
        .plugin(slow("d", &["a"], 20, 0))
        .inline_constructors()
        .build()
        .unwrap();
    manager.start().await;
    let records = manager.records();
    let ms = |name: &str| {
        let t = manager.record(name).unwrap().timings;
        (
            t.setup.unwrap().as_millis(),
            t.on_enable.unwrap().as_millis(),
            t.ready_at.unwrap().as_millis(),
        )
    };
    assert_eq!(ms("a"), (10, 0, 10));
    assert_eq!(ms("b"), (30, 20, 50));
    assert_eq!(ms("c"), (40, 60, 150));
    assert_eq!(ms("d"), (20, 0, 30));
    assert_eq!(critical_chain(&records), ["b", "c"]);
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn each_link_of_a_chain_begins_as_the_link_before_is_enabled_and_its_constructor_counts_none_of_it()
 {
    // Each link goes on in the task of the link before, opened at that link's last clock
    // read: none of the link before's time may count as the next one's constructor.
    let names = ["l0", "l1", "l2", "l3", "l4"];
    let mut builder = PluginManager::builder().inline_constructors();
    for (i, name) in names.iter().enumerate() {
        let deps: &[&str] = if i == 0 { &[] } else { &names[i - 1..i] };
        builder = builder.plugin(slow(name, deps, 3, 2));
    }
    let manager = builder.build().unwrap();
    manager.start().await;
    let mut enabled_before = Duration::ZERO;
    for name in names {
        let t = manager.record(name).unwrap().timings;
        assert_eq!(t.constructor, Some(Duration::ZERO), "{name}");
        assert_eq!(t.setup, Some(Duration::from_millis(3)), "{name}");
        assert_eq!(t.on_enable, Some(Duration::from_millis(2)), "{name}");
        assert_eq!(t.started_at(), Some(enabled_before), "{name}");
        enabled_before = t.ready_at.unwrap();
    }
    assert_eq!(enabled_before, Duration::from_millis(25));
    manager.shutdown().await;
}

/// A plugin that reports `health` in `on_enable`, and `later` after a second.
fn reporting(name: &str, health: Health, later: Option<Health>) -> PluginSpec {
    struct Reporting(Health, Option<Health>);
    #[async_trait]
    impl Plugin for Reporting {
        async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
            ctx.health().set(self.0.clone());
            if let Some(later) = self.1.clone() {
                let ctx = ctx.clone();
                ctx.clone().spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ctx.health().set(later);
                    std::future::pending().await
                });
            }
            Ok(())
        }
    }
    PluginSpec::new(PluginMetadata::new(name), move || {
        Ok(PluginInstance::new(Reporting(
            health.clone(),
            later.clone(),
        )))
    })
}

#[tokio::test(start_paused = true)]
async fn health_is_recorded_and_readiness_needs_every_plugin_on_enabled_and_not_unhealthy() {
    let manager = PluginManager::builder()
        .plugin(reporting("disk", Health::Degraded("91% full".into()), None))
        .plugin(reporting(
            "db",
            Health::Healthy,
            Some(Health::Unhealthy("gone".into())),
        ))
        .build()
        .unwrap();
    manager.start().await;
    let disk = manager.record("disk").unwrap();
    assert_eq!(disk.health, Health::Degraded("91% full".into()));
    assert!(
        readiness(&manager.records()).ready,
        "degraded is still ready"
    );

    // Without `fail_when_unhealthy`, an unhealthy plugin stays enabled, but is not ready.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = manager.record("db").unwrap();
    assert_eq!(
        (db.state, db.health.clone()),
        (PluginState::Enabled, Health::Unhealthy("gone".into()))
    );
    let ready = readiness(&manager.records());
    assert!(!ready.ready);
    assert_eq!(ready.to_string(), "not ready: db (unhealthy: gone)");
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_plugin_fails_and_restarts_when_its_configuration_says_so() {
    let config = PluginsConfig::parse(
        "plugins.toml",
        "[db]\nfail_when_unhealthy = true\n[db.restart]\npolicy = \"on-failure\"\nmax_restarts = 1\nbackoff = \"100ms\"\n",
    )
    .unwrap();
    let manager = PluginManager::builder()
        .plugin(reporting(
            "db",
            Health::Healthy,
            Some(Health::Unhealthy("gone".into())),
        ))
        .default_restart_policy(RestartPolicy::Never)
        .config(config)
        .build()
        .unwrap();
    let mut changes = manager.state_changes();
    manager.start().await;
    // Failed once it says it is unhealthy; restarted (healthy again) by its policy.
    let failed = loop {
        let change = changes.recv().await.unwrap();
        if change.to == PluginState::Failed {
            break change;
        }
    };
    assert_eq!(
        failed.cause.unwrap().to_string(),
        "reported unhealthy: gone"
    );
    loop {
        if changes.recv().await.unwrap().to == PluginState::Enabled {
            break;
        }
    }
    let db = manager.record("db").unwrap();
    assert_eq!((db.restart_count, db.health), (1, Health::Healthy));
    manager.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_host_is_ready_once_every_plugin_switched_on_is_enabled_and_not_unhealthy() {
    use plugin_manager::host_kit::{Host, HostOptions};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.toml");
    // `off` is switched off: readiness does not wait for it.
    std::fs::write(&path, "[off]\nenabled = false\n").unwrap();
    let host = Host::with_builder(
        PluginManager::builder()
            .plugin(reporting("disk", Health::Degraded("91% full".into()), None))
            .plugin(reporting("off", Health::Healthy, None))
            .plugin(reporting(
                "db",
                Health::Healthy,
                Some(Health::Unhealthy("gone".into())),
            )),
        HostOptions::new("test").config(Some(path)),
    )
    .unwrap();
    assert_eq!(
        host.ready().to_string(),
        "not ready: db (unloaded), disk (unloaded)"
    );
    host.start().await;
    assert!(host.ready().ready, "{}", host.ready());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = host.ready();
    assert_eq!(
        ready.waiting_for,
        [("db".to_owned(), "unhealthy: gone".to_owned())]
    );
    host.shutdown().await;
    assert!(!host.ready().ready);
}
