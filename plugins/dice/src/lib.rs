//! `!roll NdM`: rolls N dice of M sides. Every roll is published as a [`DiceRolled`] event,
//! which other plugins (`dice-stats`) react to.
//!
//! Configuration (section `[dice]` of the host's file), see [`DiceConfig`]:
//!
//! ```toml
//! [dice]
//! max_dice = 10     # refuse rolls of more dice (default 100)
//! default = "1d20"  # what a bare `!roll` rolls (default "1d6")
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use plugin_commands::Commands;
use plugin_core::prelude::*;

/// Published on the event bus after every roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiceRolled {
    /// Who rolled.
    pub user: String,
    /// The dice, e.g. `2d6`.
    pub dice: String,
    /// Each die's result.
    pub results: Vec<u32>,
}

impl DiceRolled {
    /// The sum of the dice.
    pub fn total(&self) -> u32 {
        self.results.iter().sum()
    }
}

/// The dice plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiceConfig {
    /// The most dice one roll may have.
    pub max_dice: u32,
    /// What a bare `!roll` rolls.
    pub default: String,
}

impl Default for DiceConfig {
    fn default() -> Self {
        Self {
            max_dice: 100,
            default: "1d6".to_owned(),
        }
    }
}

/// Rolls dice: `!roll 2d6`.
#[plugin(name = "dice", deps = [Commands], config = DiceConfig)]
#[derive(Debug, Default)]
pub struct Dice {
    rolls: Arc<AtomicU64>,
}

impl Dice {
    /// How many rolls this instance has made.
    pub fn rolls(&self) -> u64 {
        self.rolls.load(Ordering::Relaxed)
    }
}

/// Parses `NdM` (N defaults to 1; an empty spec means `config.default`): at most
/// `config.max_dice` dice of 2 to 1000 sides.
pub fn parse_dice(spec: &str, config: &DiceConfig) -> std::result::Result<(u32, u32), String> {
    let spec = if spec.is_empty() {
        &config.default
    } else {
        spec
    };
    let max = config.max_dice;
    let (count, sides) = spec
        .split_once(['d', 'D'])
        .ok_or_else(|| format!("`{spec}` is not dice: write e.g. `2d6`"))?;
    let count = if count.is_empty() {
        Ok(1)
    } else {
        count.parse()
    };
    match (count, sides.parse()) {
        (Ok(count), Ok(sides @ 2..=1000)) if (1..=max).contains(&count) => Ok((count, sides)),
        _ => Err(format!("`{spec}`: roll 1 to {max} dice of 2 to 1000 sides")),
    }
}

#[async_trait]
impl Plugin for Dice {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let config: DiceConfig = ctx.config()?;
        let rolls = self.rolls.clone();
        let announcer = ctx.clone();
        ctx.dep::<Commands>()?
            .register(ctx, "roll", "rolls dice: !roll 2d6", move |call| {
                let (count, sides) = parse_dice(call.args, &config).map_err(Error::msg)?;
                let results: Vec<u32> = (0..count).map(|_| fastrand::u32(1..=sides)).collect();
                rolls.fetch_add(1, Ordering::Relaxed);
                let event = DiceRolled {
                    user: call.user.to_owned(),
                    dice: format!("{count}d{sides}"),
                    results,
                };
                let parts: Vec<String> = event.results.iter().map(u32::to_string).collect();
                let reply = format!(
                    "{} rolled {}: {} = {}",
                    event.user,
                    event.dice,
                    parts.join(" + "),
                    event.total()
                );
                announcer.publish(event);
                Ok(reply)
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{DiceConfig, parse_dice};

    #[test]
    fn dice_specs() {
        let config = DiceConfig::default();
        assert_eq!(parse_dice("2d6", &config), Ok((2, 6)));
        assert_eq!(parse_dice("d20", &config), Ok((1, 20)));
        assert_eq!(parse_dice("", &config), Ok((1, 6)));
        assert!(parse_dice("0d6", &config).is_err());
        assert!(parse_dice("2d1", &config).is_err());
        assert!(parse_dice("lots", &config).is_err());
    }

    #[test]
    fn configuration_limits_and_defaults() {
        let config = DiceConfig {
            max_dice: 3,
            default: "2d8".to_owned(),
        };
        assert_eq!(parse_dice("", &config), Ok((2, 8)));
        assert_eq!(
            parse_dice("4d6", &config),
            Err("`4d6`: roll 1 to 3 dice of 2 to 1000 sides".to_owned())
        );
    }
}
