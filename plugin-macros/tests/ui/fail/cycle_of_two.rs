use plugin_core::prelude::*;

#[plugin(name = "chicken", deps = [Egg])]
#[derive(Default)]
pub struct Chicken;

#[plugin(name = "egg", deps = [Chicken])]
#[derive(Default)]
pub struct Egg;

#[async_trait]
impl Plugin for Chicken {}

#[async_trait]
impl Plugin for Egg {}

fn main() {}
