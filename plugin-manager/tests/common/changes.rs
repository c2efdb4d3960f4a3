//! State changes taken off the feed, and reading them: who moved where, in what order.

use plugin_manager::{PluginState, StateChange, StateChanges};

/// Every change already queued on `feed`.
pub(crate) fn drain(feed: &mut StateChanges) -> Vec<StateChange> {
    let mut changes = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => return changes,
            Err(error) => panic!("state-change feed: {error}"),
        }
    }
}

/// The changes as `(plugin, new state)`, in feed order.
pub(crate) fn moves(changes: &[StateChange]) -> Vec<(String, PluginState)> {
    changes.iter().map(|c| (c.plugin.clone(), c.to)).collect()
}

/// The states `plugin` entered, in feed order.
#[allow(dead_code)] // Each test file that drains the feed reads it a different way.
pub(crate) fn trail(changes: &[StateChange], plugin: &str) -> Vec<PluginState> {
    changes
        .iter()
        .filter(|c| c.plugin == plugin)
        .map(|c| c.to)
        .collect()
}

/// Where in `changes` `plugin` first entered `state`.
#[allow(dead_code)] // Each test file that drains the feed reads it a different way.
pub(crate) fn index_of(changes: &[StateChange], plugin: &str, state: PluginState) -> usize {
    changes
        .iter()
        .position(|c| c.plugin == plugin && c.to == state)
        .unwrap_or_else(|| panic!("`{plugin}` never entered {state}: {:?}", moves(changes)))
}
