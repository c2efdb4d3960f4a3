use plugin_core::prelude::*;

mod time {
    use plugin_core::prelude::*;

    #[plugin(name = "clock")]
    #[derive(Default)]
    pub struct Clock;

    #[async_trait]
    impl Plugin for Clock {}
}

#[plugin(name = "dice", deps = [time::Clock, time :: Clock])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
