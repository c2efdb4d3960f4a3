//! What the manager records of one plugin, read by name.

use plugin_manager::{Failure, PluginManager, PluginState};

/// The state of `plugin`, which must exist.
pub(crate) fn state(manager: &PluginManager, plugin: &str) -> PluginState {
    manager
        .state(plugin)
        .unwrap_or_else(|| panic!("no plugin `{plugin}`"))
}

/// The last error of `plugin`, which must exist.
#[allow(dead_code)] // Some test files that read states never read an error.
pub(crate) fn last_error(manager: &PluginManager, plugin: &str) -> Option<Failure> {
    manager
        .record(plugin)
        .unwrap_or_else(|| panic!("no plugin `{plugin}`"))
        .last_error
}
