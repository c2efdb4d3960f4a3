//! The registration check: a plugin crate the application selected (as `link_plugins!()`
//! announces it) that registered no plugin is refused by name, before anything runs.
//!
//! This test binary announces a crate, `plugin-ghost`, that is not even linked: the same as a
//! selected crate without `#[plugin]`.

use plugin_core::prelude::*;
use plugin_manager::{GraphError, PluginManager};

plugin_manager::__private::inventory::submit! {
    plugin_manager::__private::SelectedCrate::new("plugin-ghost")
}
plugin_manager::__private::inventory::submit! {
    plugin_manager::__private::LinkLine
}

/// A real plugin of this test's own crate, which is linked and registered.
#[plugin(name = "present")]
#[derive(Debug, Default)]
pub struct Present;

#[async_trait]
impl Plugin for Present {}

#[test]
fn a_selected_crate_that_registered_nothing_is_refused_by_name() {
    let invalid = PluginManager::from_registry().expect_err("plugin-ghost registered nothing");
    assert_eq!(
        invalid.errors,
        [GraphError::NothingRegistered {
            package: "plugin-ghost".to_owned()
        }]
    );
    assert_eq!(
        invalid.to_string(),
        "invalid plugin set\n  - plugin crate `plugin-ghost` is selected but registered no \
         plugin: put `#[plugin(...)]` on a type in it, or leave it out of the application's \
         features (a crate that uses plugin-core without being a plugin crate says so in its \
         Cargo.toml: `[package.metadata.plugin-core] plugin-crate = false`)"
    );
}

#[test]
fn the_check_belongs_to_the_registry_not_to_plugins_given_in_code() {
    let manager = PluginManager::builder()
        .plugin(plugin_manager::PluginSpec::with_default::<Present>(
            plugin_core::PluginMetadata::new("present"),
        ))
        .build()
        .expect("no registry, no registration check");
    assert_eq!(manager.start_order(), ["present"]);
}
