//! Snapshots of a manager over scripted plugins: what a refused request must leave as it
//! was, and which instance of a plugin is live.

use std::time::Duration;

use plugin_manager::{Failure, PluginManager, PluginState, StateChange};

use super::clock::within;
use super::lab::{Call, Lab};
use super::script::Scripted;

/// Everything a refused request must leave as it was: every record, every live instance,
/// every hook call.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    records: Vec<RecordView>,
    calls: Vec<Call>,
}

#[derive(Debug, PartialEq)]
struct RecordView {
    name: String,
    state: PluginState,
    last_error: Option<Failure>,
    start_time: Option<Duration>,
    history: Vec<StateChange>,
    /// Which instance is live, if any.
    instance: Option<u32>,
}

/// Takes a [`Snapshot`] of `manager`.
#[allow(dead_code)] // Some test files check live instances without taking snapshots.
pub(crate) async fn snapshot(manager: &PluginManager, lab: &Lab) -> Snapshot {
    let mut records = Vec::new();
    for record in manager.records() {
        let instance = match manager.get_named::<Scripted>(&record.name) {
            Some(plugin) => Some(within("read", plugin.read()).await.instance()),
            None => None,
        };
        records.push(RecordView {
            name: record.name,
            state: record.state,
            last_error: record.last_error,
            start_time: record.start_time,
            history: record.history,
            instance,
        });
    }
    Snapshot {
        records,
        calls: lab.calls(),
    }
}

/// Which instance of `plugin` is live.
pub(crate) async fn live_instance(manager: &PluginManager, plugin: &str) -> Option<u32> {
    let plugin = manager.get_named::<Scripted>(plugin)?;
    Some(within("read", plugin.read()).await.instance())
}

impl Scripted {
    /// Which instance this is: 1 for the first one the factory made, 2 for the next, ...
    pub(crate) fn instance(&self) -> u32 {
        self.instance
    }
}
