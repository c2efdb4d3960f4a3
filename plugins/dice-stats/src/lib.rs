//! `!stats`: how many rolls each user made and their best total. It never sees chat about
//! dice: it listens to the [`DiceRolled`] events the dice plugin publishes, and only to
//! those: the bus stamps each event with its sender, so a roll another plugin makes up is
//! not counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use plugin_commands::Commands;
use plugin_core::PluginType;
use plugin_core::prelude::*;
use plugin_dice::{Dice, DiceRolled};

/// One user's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserStats {
    /// Rolls made.
    pub rolls: u64,
    /// The best total rolled.
    pub best: u32,
}

/// Per-user dice statistics.
#[plugin(name = "dice-stats", deps = [Dice, Commands])]
#[derive(Debug, Default)]
pub struct DiceStats {
    users: Arc<Mutex<BTreeMap<String, UserStats>>>,
}

impl DiceStats {
    /// The statistics of `user`, if they rolled.
    pub fn of(&self, user: &str) -> Option<UserStats> {
        lock(&self.users).get(user).copied()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Plugin for DiceStats {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        // The dependency is declared so that it starts first and its events exist; the
        // typed access proves it is there.
        let _ = ctx.dep::<Dice>()?;
        let mut rolls = ctx.subscribe::<DiceRolled>();
        let users = self.users.clone();
        ctx.spawn(async move {
            while let Some(stamped) = rolls.recv_stamped().await {
                if stamped.sender() != Some(Dice::NAME) {
                    continue;
                }
                let roll = stamped.event();
                let mut users = lock(&users);
                let stats = users.entry(roll.user.clone()).or_default();
                stats.rolls += 1;
                stats.best = stats.best.max(roll.total());
            }
            Ok(())
        });
        let users = self.users.clone();
        ctx.dep::<Commands>()?
            .register(ctx, "stats", "dice statistics per user", move |_| {
                let users = lock(&users);
                if users.is_empty() {
                    return Ok("no dice rolled yet".to_owned());
                }
                let lines: Vec<String> = users
                    .iter()
                    .map(|(user, s)| format!("{user}: {} rolls, best {}", s.rolls, s.best))
                    .collect();
                Ok(lines.join("\n"))
            })?;
        Ok(())
    }
}
