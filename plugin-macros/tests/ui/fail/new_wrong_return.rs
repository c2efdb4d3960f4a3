use plugin_core::prelude::*;

#[plugin(name = "dice", new = sides)]
pub struct Dice;

fn sides() -> u32 {
    6
}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
