//! A program that registered no plugin and never wrote `link_plugins!()` is refused: its
//! plugin crates, if it selected any, were dropped by the linker, and saying nothing would
//! hide that.

use plugin_manager::{GraphError, PluginManager};

#[test]
fn an_empty_registry_without_the_link_line_is_refused() {
    let invalid = PluginManager::from_registry().expect_err("nothing registered, nothing linked");
    assert_eq!(invalid.errors, [GraphError::NotLinked]);
    assert!(
        invalid
            .to_string()
            .contains("write `plugin_manager::link_plugins!();` at the root of the binary crate"),
        "{invalid}"
    );
}

#[test]
fn an_empty_set_given_in_code_is_fine() {
    let manager = PluginManager::builder().build().expect("an empty set");
    assert!(manager.start_order().is_empty());
}
