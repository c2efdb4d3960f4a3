use plugin_core::prelude::*;

#[plugin(name = "dice")]
#[derive(Default)]
pub struct Dice;

fn main() {}
