//! `new = Self::...` means the struct's own constructor.

use plugin_core::prelude::*;

#[plugin(name = "counter", new = Self::new)]
pub struct Counter {
    start: u32,
}

impl Counter {
    fn new() -> Self {
        Counter { start: 1 }
    }
}

#[plugin(name = "defaulted", new = Self::default)]
#[derive(Default)]
pub struct Defaulted;

#[plugin(name = "qualified", new = <Self as Default>::default)]
#[derive(Default)]
pub struct Qualified;

#[plugin(name = "fallible", new = Self::try_new)]
pub struct Fallible;

impl Fallible {
    fn try_new() -> Result<Self> {
        Ok(Fallible)
    }
}

#[async_trait]
impl Plugin for Counter {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        assert_eq!(self.start, 1);
        Ok(())
    }
}

#[async_trait]
impl Plugin for Defaulted {}

#[async_trait]
impl Plugin for Qualified {}

#[async_trait]
impl Plugin for Fallible {}

fn main() {
    for name in ["counter", "defaulted", "qualified", "fallible"] {
        let descriptor = plugin_core::registered()
            .find(|d| d.name() == name)
            .unwrap();
        assert!(descriptor.instantiate().is_ok(), "{name}");
    }
}
