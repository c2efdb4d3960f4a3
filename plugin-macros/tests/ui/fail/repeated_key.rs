use plugin_core::prelude::*;

#[plugin(name = "clock")]
#[derive(Default)]
pub struct Clock;

#[plugin(name = "dice", deps = [Clock], deps = [])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Clock {}

#[async_trait]
impl Plugin for Dice {}

fn main() {}
