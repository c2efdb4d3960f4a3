use plugin_core::prelude::*;

#[plugin(name = "dice")]
#[derive(Default)]
pub struct Dice
where
    String: Copy,
{
    sides: u32,
}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
