use plugin_core::prelude::*;

#[plugin(name = "Dice Roller")]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
