#![deny(warnings)]
//! A deprecated plugin struct: the generated code adds no warning of its own, so a crate that
//! allows its own uses builds under `-D warnings`.

use plugin_core::prelude::*;

/// The old one.
#[plugin(name = "old", new = Old::new, deps = [Older])]
#[deprecated = "use `New`"]
pub struct Old;

#[allow(deprecated)]
impl Old {
    fn new() -> Self {
        Old
    }
}

/// Older still, and a dependency.
#[plugin(name = "older")]
#[derive(Default)]
#[deprecated]
pub struct Older;

#[allow(deprecated)]
#[async_trait]
impl Plugin for Old {}

#[allow(deprecated)]
#[async_trait]
impl Plugin for Older {}

fn main() {
    let old = plugin_core::registered()
        .find(|d| d.name() == "old")
        .unwrap();
    assert_eq!(old.deps(), ["older"]);
    assert!(old.instantiate().is_ok());
}
