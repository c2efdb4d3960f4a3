use plugin_core::prelude::*;

#[plugin]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
