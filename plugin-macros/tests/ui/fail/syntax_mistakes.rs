use plugin_core::prelude::*;

#[plugin(name = dice, optional = "stats", new = Dice::new(), timeout)]
pub struct Dice;

#[plugin(name = "coin" timeout = "1s")]
#[derive(Default)]
pub struct Coin;

#[async_trait]
impl Plugin for Dice {}

#[async_trait]
impl Plugin for Coin {}

fn main() {}
