use plugin_core::prelude::*;

#[plugin(name = "dice", deps = [plugin_commands::Commands])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
