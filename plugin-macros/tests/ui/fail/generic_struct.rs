use plugin_core::prelude::*;

#[plugin(name = "dice")]
#[derive(Default)]
pub struct Dice<T> {
    sides: T,
}

#[plugin(name = "coin")]
#[derive(Default)]
pub struct Coin<'a> {
    face: &'a str,
}

fn main() {}
