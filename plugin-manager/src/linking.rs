//! Which plugin crates the application selected, as [`link_plugins!`](crate::link_plugins)
//! announces them, and the check that each of them registered a plugin.
//!
//! `inventory` registrations live in the plugin crate's object code, and a crate the binary
//! never names is not linked at all, so its plugins would silently vanish. `link_plugins!()`
//! names every selected plugin crate, and submits a [`SelectedCrate`] for each (and one
//! [`LinkLine`]) from the application's own crate, which is always linked. The manager
//! compares them with the registered plugins.

use std::collections::BTreeSet;

use plugin_core::PluginDescriptor;

use crate::error::GraphError;

/// A plugin crate the application selected. Not public API: `link_plugins!()` makes these.
#[doc(hidden)]
#[derive(Debug)]
pub struct SelectedCrate {
    package: &'static str,
}

impl SelectedCrate {
    /// The selected crate of package `package`.
    pub const fn new(package: &'static str) -> Self {
        Self { package }
    }
}

/// Says that the application wrote `link_plugins!()`. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct LinkLine;

inventory::collect!(SelectedCrate);
inventory::collect!(LinkLine);

/// The problems of a registry: a selected crate that registered nothing (one error each, by
/// package name), or nothing registered at all without `link_plugins!()`.
pub(crate) fn check<'a>(
    registered: impl IntoIterator<Item = &'a PluginDescriptor>,
) -> Vec<GraphError> {
    let registered: BTreeSet<&str> = registered
        .into_iter()
        .map(PluginDescriptor::crate_name)
        .collect();
    let selected: BTreeSet<&str> = inventory::iter::<SelectedCrate>
        .into_iter()
        .map(|krate| krate.package)
        .collect();
    let linked = inventory::iter::<LinkLine>.into_iter().next().is_some();
    if registered.is_empty() && !linked {
        return vec![GraphError::NotLinked];
    }
    selected
        .difference(&registered)
        .map(|package| GraphError::NothingRegistered {
            package: (*package).to_owned(),
        })
        .collect()
}
