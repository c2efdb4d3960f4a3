use plugin_core::prelude::*;

#[plugin(name = "dice", crate = plugin_kore)]
#[derive(Default)]
pub struct Dice;

#[plugin(name = "coin", crate = "plugin_core")]
#[derive(Default)]
pub struct Coin;

#[async_trait]
impl Plugin for Dice {}

#[async_trait]
impl Plugin for Coin {}

fn main() {}
