use plugin_core::prelude::*;

#[plugin(name = "dice", optional = ["stats", "Help!"])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
