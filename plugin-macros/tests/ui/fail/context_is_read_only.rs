//! A plugin cannot change its own configuration or make a context with another name.

use std::sync::Arc;

use plugin_core::prelude::*;
use plugin_core::{ConfigSection, EventBus, PluginMetadata};

#[plugin(name = "sneaky")]
#[derive(Default)]
pub struct Sneaky;

#[async_trait]
impl Plugin for Sneaky {
    async fn setup(&mut self, ctx: &Context) -> Result<()> {
        ctx.set_config(Arc::new(ConfigSection::default()));
        let _dice = Context::new(
            Arc::new(PluginMetadata::new("dice")),
            EventBus::new(),
            Arc::new(plugin_core::host::NoHost),
            Arc::new(ConfigSection::default()),
        );
        Ok(())
    }
}

fn main() {}
