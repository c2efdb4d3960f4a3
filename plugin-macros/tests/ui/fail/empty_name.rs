use plugin_core::prelude::*;

#[plugin(name = "")]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
