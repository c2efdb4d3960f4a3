use plugin_core::prelude::*;

#[plugin(name = "dice")]
#[plugin(name = "dice")]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
