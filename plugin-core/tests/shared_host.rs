//! A host given as an `Arc`, shared by several contexts: every call reaches the host inside,
//! the calls the trait defaults too.

use std::sync::{Arc, Mutex};

use plugin_core::host::{BackgroundTask, ContextHandle, Host};
use plugin_core::{EventBus, Health, PluginInstance, PluginMetadata};

/// Records the health reports it hears, and says it is detached.
#[derive(Default)]
struct Recording {
    reports: Mutex<Vec<(String, Health)>>,
}

impl Host for Recording {
    fn enabled_instance(&self, _name: &str) -> Option<PluginInstance> {
        None
    }

    fn spawn(&self, _plugin: &str, task: BackgroundTask) {
        drop(task);
    }

    fn report_health(&self, plugin: &str, health: Health) {
        self.reports
            .lock()
            .unwrap()
            .push((plugin.to_owned(), health));
    }

    fn is_detached(&self) -> bool {
        true
    }
}

#[test]
fn contexts_sharing_a_host_through_an_arc_reach_it_for_every_call() {
    let host = Arc::new(Recording::default());
    let shared: Arc<dyn Host> = host.clone();
    let contexts = [
        ContextHandle::new(
            Arc::new(PluginMetadata::new("a")),
            EventBus::new(),
            shared.clone(),
        ),
        ContextHandle::with_config(
            Arc::new(PluginMetadata::new("b")),
            EventBus::new(),
            host.clone(),
            Arc::default(),
        ),
    ];
    for ctx in &contexts {
        assert!(
            ctx.is_detached(),
            "`is_detached` is the host's, not the default"
        );
        ctx.health().set(Health::Degraded("slow".into()));
    }
    assert_eq!(
        *host.reports.lock().unwrap(),
        [
            ("a".to_owned(), Health::Degraded("slow".into())),
            ("b".to_owned(), Health::Degraded("slow".into())),
        ],
        "`report_health` is the host's, not the default that ignores it"
    );
}
