//! Managers built with the tests' short hook deadline.

use plugin_manager::{PluginManager, PluginSpec};

use super::clock::{HOOK_TIMEOUT, within};

/// A manager over `specs` with the tests' short hook deadline.
pub(crate) fn manager(specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .plugins(specs)
        .build()
        .expect("a valid plugin set")
}

/// A manager over `specs`, started.
#[allow(dead_code)] // Some test files start their managers themselves.
pub(crate) async fn started(specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    let manager = manager(specs);
    within("start", manager.start()).await;
    manager
}
