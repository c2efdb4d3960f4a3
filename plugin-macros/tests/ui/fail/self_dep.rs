use plugin_core::prelude::*;

#[plugin(name = "dice", deps = [Dice])]
#[derive(Default)]
pub struct Dice;

#[plugin(name = "coin", deps = [Self])]
#[derive(Default)]
pub struct Coin;

#[plugin(name = "selfish", deps = [crate::Selfish])]
#[derive(Default)]
pub struct Selfish;

#[async_trait]
impl Plugin for Selfish {}

#[async_trait]
impl Plugin for Dice {}

#[async_trait]
impl Plugin for Coin {}

fn main() {}
