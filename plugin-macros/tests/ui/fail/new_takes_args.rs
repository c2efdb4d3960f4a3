use plugin_core::prelude::*;

#[plugin(name = "dice", new = Dice::with)]
pub struct Dice {
    sides: u32,
}

impl Dice {
    fn with(sides: u32) -> Self {
        Dice { sides }
    }
}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
