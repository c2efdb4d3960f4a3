use plugin_core::prelude::*;

#[plugin(name = "probe")]
#[derive(Default)]
pub struct Probe;

#[async_trait]
impl Plugin for Probe {}

fn main() {}
