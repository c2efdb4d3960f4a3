use plugin_core::prelude::*;

#[plugin(name = "dice", depends = [])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
