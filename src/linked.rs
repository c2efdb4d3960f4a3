//! The plugin crates selected by Cargo features, referred to so the linker keeps them, and
//! the check that each of them did register a plugin.

use plugin_manager::PluginManager;

include!(concat!(env!("OUT_DIR"), "/selected_plugins.rs"));

/// The selected plugin crates that registered no plugin: each is a build problem (a crate
/// without `#[plugin]`, or one the linker dropped), never silently ignored.
pub(crate) fn missing_plugin_crates(manager: &PluginManager) -> Vec<&'static str> {
    let records = manager.records();
    SELECTED_PLUGIN_CRATES
        .iter()
        .copied()
        .filter(|krate| !records.iter().any(|r| r.crate_name == *krate))
        .collect()
}
