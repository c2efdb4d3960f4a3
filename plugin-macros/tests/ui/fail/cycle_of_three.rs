use plugin_core::prelude::*;

#[plugin(name = "rock", deps = [Scissors])]
#[derive(Default)]
pub struct Rock;

#[plugin(name = "paper", deps = [Rock])]
#[derive(Default)]
pub struct Paper;

#[plugin(name = "scissors", deps = [Paper])]
#[derive(Default)]
pub struct Scissors;

#[async_trait]
impl Plugin for Rock {}

#[async_trait]
impl Plugin for Paper {}

#[async_trait]
impl Plugin for Scissors {}

fn main() {}
