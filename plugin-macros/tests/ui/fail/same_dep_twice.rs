use plugin_core::prelude::*;

#[plugin(name = "base")]
#[derive(Default)]
pub struct Base;

use Base as BaseAlias;

#[plugin(name = "dice", deps = [Base, crate::Base, BaseAlias])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Base {}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
