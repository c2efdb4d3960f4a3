use plugin_core::prelude::*;

#[plugin(name = "dice", new = Dice::make, config = DiceSettings)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
