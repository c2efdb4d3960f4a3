#![forbid(unsafe_code)]
#![deny(warnings, missing_docs)]
//! Every key at once, with the strictest lints a plugin crate may set.

use plugin_core::prelude::*;

mod commands {
    use plugin_core::prelude::*;

    /// A dependency.
    #[plugin(name = "commands")]
    #[derive(Default)]
    pub struct Commands;

    #[async_trait]
    impl Plugin for Commands {}
}

/// Uses every key.
#[plugin(
    name = "dice_2-roller",
    deps = [commands::Commands, crate::Clock,],
    optional = ["stats", "help"],
    new = Dice::new,
    timeout = "2s",
    config = DiceConfig,
)]
pub struct Dice {
    sides: u32,
}

/// The configuration.
#[derive(serde::Deserialize)]
pub struct DiceConfig {
    /// The most dice in one roll.
    #[serde(default)]
    pub max_dice: u32,
}

impl Dice {
    fn new() -> Self {
        Dice { sides: 6 }
    }
}

#[async_trait]
impl Plugin for Dice {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        assert_eq!(self.sides, 6);
        Ok(())
    }
}

/// Another dependency, declared after its user.
#[plugin(name = "clock", deps = [], optional = [])]
#[derive(Default)]
pub struct Clock;

#[async_trait]
impl Plugin for Clock {}

fn main() {}
