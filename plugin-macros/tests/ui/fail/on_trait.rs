use plugin_core::prelude::*;

#[plugin(name = "dice")]
pub trait Dice {}

fn main() {}
