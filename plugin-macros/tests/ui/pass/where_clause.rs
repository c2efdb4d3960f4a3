//! A `where` clause without generic parameters is about concrete types: rustc checks it on the
//! struct, and the plugin is one concrete type all the same.

use plugin_core::prelude::*;

#[plugin(name = "bounded")]
#[derive(Default)]
pub struct Bounded
where
    u32: Copy,
{
    count: u32,
}

#[async_trait]
impl Plugin for Bounded {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        assert_eq!(self.count, 0);
        Ok(())
    }
}

fn main() {
    let descriptor = plugin_core::registered()
        .find(|d| d.name() == "bounded")
        .unwrap();
    assert!(descriptor.instantiate().is_ok());
}
