//! `!help`: lists every registered command with its one line of help.

use plugin_commands::Commands;
use plugin_core::prelude::*;

/// The help plugin.
#[plugin(name = "help", deps = [Commands])]
#[derive(Debug, Default)]
pub struct Help;

#[async_trait]
impl Plugin for Help {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let listing = ctx.clone();
        // The handler looks the table up at each call: holding it would make the table own a
        // handler that owns the table, and neither would ever be freed.
        ctx.dep::<Commands>()?
            .register(ctx, "help", "lists the commands", move |_| {
                let lines: Vec<String> = listing
                    .dep::<Commands>()?
                    .list()
                    .into_iter()
                    .filter(|c| listing.is_enabled(&c.owner))
                    .map(|c| format!("!{} - {} ({})", c.name, c.help, c.owner))
                    .collect();
                Ok(format!("commands:\n{}", lines.join("\n")))
            })?;
        Ok(())
    }
}
