use plugin_core::prelude::*;

#[plugin(name = "dice")]
pub struct Dice {
    sides: u32,
}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
