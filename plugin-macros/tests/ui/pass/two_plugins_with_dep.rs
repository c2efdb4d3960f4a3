use plugin_core::prelude::*;

#[plugin(name = "clock")]
#[derive(Default)]
pub struct Clock;

#[plugin(name = "alarm", deps = [Clock])]
#[derive(Default)]
pub struct Alarm;

#[async_trait]
impl Plugin for Clock {}

#[async_trait]
impl Plugin for Alarm {}

fn main() {}
