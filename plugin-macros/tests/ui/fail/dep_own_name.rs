use plugin_core::prelude::*;

mod other {
    use plugin_core::prelude::*;

    #[plugin(name = "dice")]
    #[derive(Default)]
    pub struct Namesake;

    #[async_trait]
    impl Plugin for Namesake {}
}

#[plugin(name = "dice", deps = [other::Namesake])]
#[derive(Default)]
pub struct Dice;

#[async_trait]
impl Plugin for Dice {}

fn main() {}
