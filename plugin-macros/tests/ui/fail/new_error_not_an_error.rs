use plugin_core::prelude::*;

#[plugin(name = "dice", new = Dice::new)]
pub struct Dice;

impl Dice {
    fn new() -> std::result::Result<Self, u32> {
        Err(6)
    }
}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
