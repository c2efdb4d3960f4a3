//! `!roll NdM`: rolls N dice of M sides. Every roll is published as a [`DiceRolled`] event,
//! which other plugins (`dice-stats`) react to.

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

/// Rolls dice: `!roll 2d6`.
#[plugin(name = "dice", deps = [Commands])]
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

/// Parses `NdM` (N defaults to 1): at most 100 dice of 2 to 1000 sides.
pub fn parse_dice(spec: &str) -> std::result::Result<(u32, u32), String> {
    let spec = if spec.is_empty() { "1d6" } else { spec };
    let (count, sides) = spec
        .split_once(['d', 'D'])
        .ok_or_else(|| format!("`{spec}` is not dice: write e.g. `2d6`"))?;
    let count = if count.is_empty() {
        Ok(1)
    } else {
        count.parse()
    };
    match (count, sides.parse()) {
        (Ok(count @ 1..=100), Ok(sides @ 2..=1000)) => Ok((count, sides)),
        _ => Err(format!("`{spec}`: roll 1 to 100 dice of 2 to 1000 sides")),
    }
}

#[async_trait]
impl Plugin for Dice {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let rolls = self.rolls.clone();
        let announcer = ctx.clone();
        ctx.dep::<Commands>()?
            .register(ctx, "roll", "rolls dice: !roll 2d6", move |call| {
                let (count, sides) = parse_dice(call.args).map_err(Error::msg)?;
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
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_dice;

    #[test]
    fn dice_specs() {
        assert_eq!(parse_dice("2d6"), Ok((2, 6)));
        assert_eq!(parse_dice("d20"), Ok((1, 20)));
        assert_eq!(parse_dice(""), Ok((1, 6)));
        assert!(parse_dice("0d6").is_err());
        assert!(parse_dice("2d1").is_err());
        assert!(parse_dice("lots").is_err());
    }
}
