use plugin_core::prelude::*;

// The mistake is in `Clock`'s name only: `Alarm`, which depends on it, must not add errors.
#[plugin(name = "Clock")]
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
