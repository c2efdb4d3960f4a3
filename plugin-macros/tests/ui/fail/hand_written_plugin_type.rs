// `PluginType` is sealed: only `#[plugin]` implements it, so a hand-written one (here with a
// made-up `DEPTH`) does not compile.
use plugin_core::{Plugin, PluginDescriptor, PluginType, async_trait};

struct Fake;

#[async_trait]
impl Plugin for Fake {}

impl PluginType for Fake {
    const NAME: &'static str = "fake";
    const DEPTH: usize = 0;
    fn descriptor() -> &'static PluginDescriptor {
        unimplemented!()
    }
}

fn main() {}
