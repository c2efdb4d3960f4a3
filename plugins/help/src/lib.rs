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
        let commands = ctx.dep::<Commands>()?;
        let table = commands.table();
        let listing = ctx.clone();
        commands.register(ctx, "help", "lists the commands", move |_| {
            let lines: Vec<String> = table
                .list()
                .into_iter()
                .filter(|c| listing.is_enabled(&c.owner))
                .map(|c| format!("!{} - {} ({})", c.name, c.help, c.owner))
                .collect();
            Ok(format!("commands:\n{}", lines.join("\n")))
        });
        Ok(())
    }
}
