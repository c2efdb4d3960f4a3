use plugin_core::prelude::*;

#[plugin(name = "dice")]
pub enum Dice {
    Six,
    Twenty,
}

fn main() {}
