use plugin_core::prelude::*;

pub struct Clock;

mod time {
    pub struct Calendar;
}

#[plugin(name = "dice", deps = [Clock, time::Calendar])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
