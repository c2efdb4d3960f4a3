//! `crate = path` names `plugin-core` for the generated code, for a crate that renamed it.

extern crate plugin_core as pc;

mod reexported {
    pub use plugin_core as core_again;
}

use pc::prelude::*;

#[pc::plugin(name = "renamed", crate = pc)]
#[derive(Default)]
pub struct Renamed;

#[pc::plugin(name = "through-a-module", crate = crate::reexported::core_again, deps = [Renamed])]
#[derive(Default)]
pub struct ThroughAModule;

#[async_trait]
impl Plugin for Renamed {}

#[async_trait]
impl Plugin for ThroughAModule {}

fn main() {
    let found = pc::registered()
        .find(|d| d.name() == "through-a-module")
        .unwrap();
    assert_eq!(found.deps(), ["renamed"]);
}
