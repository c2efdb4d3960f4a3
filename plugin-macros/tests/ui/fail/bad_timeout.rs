use plugin_core::prelude::*;

#[plugin(name = "dice", timeout = "2 fortnights")]
#[derive(Default)]
pub struct Dice;

#[plugin(name = "coin", timeout = "0ms")]
#[derive(Default)]
pub struct Coin;

#[plugin(name = "die", timeout = "1.5")]
#[derive(Default)]
pub struct Die;

#[async_trait]
impl Plugin for Dice {}

#[async_trait]
impl Plugin for Coin {}

#[async_trait]
impl Plugin for Die {}

fn main() {}
