//! The lab: a record of what scripted plugins did, across all their instances, and the
//! [`Probe`] it counts hung hooks with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use plugin_core::host::Hook;
use tokio::sync::watch;

/// Records what scripted plugins did, across all their instances.
#[derive(Clone, Default)]
pub(crate) struct Lab {
    inner: Arc<Mutex<LabInner>>,
    /// Counts the hooks that hung (`Fault::Hang`).
    pub(super) hangs: Probe,
}

#[derive(Default)]
struct LabInner {
    calls: Vec<Call>,
    made: HashMap<String, u32>,
}

/// One hook call: which plugin, which of its instances (1 for the first), which hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) plugin: String,
    pub(crate) instance: u32,
    pub(crate) hook: Hook,
}

impl Lab {
    fn lock(&self) -> MutexGuard<'_, LabInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn record(&self, plugin: &str, instance: u32, hook: Hook) {
        self.lock().calls.push(Call {
            plugin: plugin.to_owned(),
            instance,
            hook,
        });
    }

    pub(super) fn next_instance(&self, plugin: &str) -> u32 {
        let mut inner = self.lock();
        let count = inner.made.entry(plugin.to_owned()).or_default();
        *count += 1;
        *count
    }
}

// Some test files script plugins without reading back what they did.
#[allow(dead_code)]
impl Lab {
    /// Every hook call so far, in the order they began.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The hooks `plugin` began, in order, over all its instances.
    pub(crate) fn hooks_of(&self, plugin: &str) -> Vec<Hook> {
        self.calls_of(plugin).into_iter().map(|c| c.hook).collect()
    }

    /// The hook calls of `plugin`, in order.
    pub(crate) fn calls_of(&self, plugin: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.plugin == plugin)
            .cloned()
            .collect()
    }

    /// How many times the constructor of `plugin` was called.
    pub(crate) fn instances_made(&self, plugin: &str) -> u32 {
        self.lock().made.get(plugin).copied().unwrap_or(0)
    }
}

/// Counts futures that started and futures that were dropped, to observe cancellation
/// without looking at the clock. Reading the counts is in `sync.rs`.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(super) started: Arc<watch::Sender<u32>>,
    pub(super) dropped: Arc<watch::Sender<u32>>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            started: Arc::new(watch::channel(0).0),
            dropped: Arc::new(watch::channel(0).0),
        }
    }
}

impl Probe {
    /// Counts a start now and a drop when the returned guard is dropped.
    pub(crate) fn enter(&self) -> ProbeGuard {
        self.started.send_modify(|n| *n += 1);
        ProbeGuard {
            dropped: self.dropped.clone(),
        }
    }
}

/// Counts a drop on its [`Probe`] when dropped.
pub(crate) struct ProbeGuard {
    dropped: Arc<watch::Sender<u32>>,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.dropped.send_modify(|n| *n += 1);
    }
}
