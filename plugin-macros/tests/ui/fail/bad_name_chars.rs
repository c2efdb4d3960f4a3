use plugin_core::prelude::*;

#[plugin(name = "Dice Roller")]
#[derive(Default)]
pub struct Dice;

#[plugin(name = "Café Crème")]
#[derive(Default)]
pub struct Cafe;

#[plugin(name = "日本")]
#[derive(Default)]
pub struct Japan;

#[async_trait]
impl Plugin for Dice {}

#[async_trait]
impl Plugin for Cafe {}

#[async_trait]
impl Plugin for Japan {}

fn main() {}
