//! The help plugin under the test harness: `!help` lists the commands of the enabled plugins.

use std::time::Duration;

use chat_api::ChatMessage;
use plugin_commands::Commands;
use plugin_core::prelude::*;
use plugin_help::Help;
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};

const SECOND: Duration = Duration::from_secs(1);

/// Registers `!echo`, so that help has another plugin's command to list.
#[plugin(name = "echo", deps = [Commands])]
#[derive(Debug, Default)]
struct Echo;

#[async_trait]
impl Plugin for Echo {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        ctx.dep::<Commands>()?
            .register(ctx, "echo", "repeats you", |call| Ok(call.args.to_owned()))?;
        Ok(())
    }
}

async fn help(bed: &RunningBed) -> std::result::Result<String, TestBedError> {
    let (message, mut replies) = ChatMessage::new("ada", "!help");
    bed.publish(message);
    let reply = within(SECOND, "the reply to `!help`", replies.next()).await?;
    let reply = reply.expect("help answers");
    assert_eq!(reply.from.as_deref(), Some("help"));
    Ok(reply.text)
}

#[tokio::test(start_paused = true)]
async fn lists_the_commands_of_enabled_plugins() -> std::result::Result<(), TestBedError> {
    let bed = TestBed::new()
        .plugin::<Help>()
        .plugin::<Echo>()
        .start()
        .await?;
    assert_eq!(
        help(&bed).await?,
        "commands:\n!echo - repeats you (echo)\n!help - lists the commands (help)"
    );
    bed.manager()
        .disable("echo")
        .await
        .expect("nothing depends on echo");
    assert_eq!(
        help(&bed).await?,
        "commands:\n!help - lists the commands (help)",
        "a disabled plugin's command is left out"
    );
    bed.shutdown().await;
    Ok(())
}
