use plugin_core::prelude::*;

pub struct Settings {
    pub loud: bool,
}

#[plugin(name = "dice", config = Settings)]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
