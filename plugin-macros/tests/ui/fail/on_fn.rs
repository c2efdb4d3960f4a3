use plugin_core::prelude::*;

#[plugin(name = "dice")]
pub fn dice() {}

fn main() {}
