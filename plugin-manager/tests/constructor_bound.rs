//! A constructor that never returns holds at most one thread, however often its plugin is
//! restarted: while it runs, the plugin is not constructed again, and the restart says why.
//! (Unbounded, hundreds of abandoned constructors would exhaust tokio's blocking pool, which
//! a host's stdin reading shares.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use plugin_core::prelude::*;
use plugin_core::{PluginInstance, PluginMetadata};
use plugin_manager::{OperationError, PluginManager, PluginSpec, PluginState};

#[derive(Default)]
struct Noop;

#[async_trait]
impl Plugin for Noop {}

/// Holds every constructor call until released.
#[derive(Default)]
struct Dam {
    calls: AtomicUsize,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Dam {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        let _open = self.opened.wait_while(open, |open| !*open).unwrap();
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_do_not_pile_up_hung_constructors() {
    let dam = Arc::new(Dam::default());
    let held = dam.clone();
    let manager = PluginManager::builder()
        // A deadline the constructor will miss: it waits for the dam.
        .hook_timeout(Duration::from_millis(50))
        .plugin(PluginSpec::new(PluginMetadata::new("stuck"), move || {
            held.calls.fetch_add(1, Ordering::SeqCst);
            held.wait();
            Ok(PluginInstance::new(Noop))
        }))
        .build()
        .unwrap();
    manager.start().await;
    assert_eq!(manager.state("stuck"), Some(PluginState::Failed));

    for _ in 0..20 {
        let Err(OperationError::Failed { failure, .. }) = manager.restart("stuck").await else {
            panic!("a restart cannot succeed while the first constructor runs");
        };
        assert!(
            failure.to_string().contains("is still running"),
            "{failure}"
        );
    }
    assert_eq!(
        dam.calls.load(Ordering::SeqCst),
        1,
        "one constructor thread, not 21"
    );
    dam.release();
    manager.shutdown().await;
}
