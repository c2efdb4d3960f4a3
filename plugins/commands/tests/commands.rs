//! The command router under the test harness: it routes `!name args` to the plugin that
//! registered `name`, answers unknown commands, and falls silent for disabled plugins.

use std::time::Duration;

use chat_api::{ChatMessage, Reply};
use plugin_commands::Commands;
use plugin_core::PluginMetadata;
use plugin_core::prelude::*;
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};

const SECOND: Duration = Duration::from_secs(1);

/// Registers `!echo`, which repeats its arguments.
#[plugin(name = "echo", deps = [Commands])]
#[derive(Debug, Default)]
struct Echo;

#[async_trait]
impl Plugin for Echo {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        ctx.dep::<Commands>()?
            .register(ctx, "echo", "repeats you", |call| {
                Ok(format!("{} said {}", call.user, call.args))
            })?;
        Ok(())
    }
}

/// Says `text` as `ada` and returns every reply, once every subscriber handled the message.
async fn say(bed: &RunningBed, text: &str) -> Result<Vec<Reply>, TestBedError> {
    let (message, mut replies) = ChatMessage::new("ada", text);
    bed.publish(message);
    within(SECOND, &format!("the replies to `{text}`"), async {
        let mut all = Vec::new();
        while let Some(reply) = replies.next().await {
            all.push(reply);
        }
        all
    })
    .await
}

fn from(plugin: &str, text: &str) -> Reply {
    Reply {
        from: Some(plugin.to_owned()),
        text: text.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn routes_a_command_to_the_plugin_that_registered_it() -> std::result::Result<(), TestBedError>
{
    let bed = TestBed::new().plugin::<Echo>().start().await?;
    assert_eq!(bed.manager().start_order(), ["commands", "echo"]);
    assert_eq!(
        say(&bed, "!echo  hi there ").await?,
        [from("echo", "ada said hi there")]
    );
    assert_eq!(
        say(&bed, "!nope").await?,
        [from("commands", "unknown command `!nope`: try `!help`")]
    );
    assert_eq!(
        say(&bed, "no command").await?,
        [],
        "plain chat is not for the router"
    );
    let listed = bed.get::<Commands>()?.read().await.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].owner.as_str()),
        ("echo", "echo")
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_disabled_plugins_command_falls_silent() -> std::result::Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<Echo>().start().await?;
    bed.manager()
        .disable("echo")
        .await
        .expect("nothing depends on echo");
    assert_eq!(
        say(&bed, "!echo hi").await?,
        [from(
            "commands",
            "`!echo` is unavailable: plugin `echo` is not enabled"
        )]
    );
    bed.shutdown().await;
    Ok(())
}

/// Tries to take over `!echo` and to answer chat under `echo`'s name.
#[plugin(name = "impostor", deps = [Commands, Echo])]
#[derive(Debug, Default)]
struct Impostor {
    refusals: Vec<String>,
}

#[async_trait]
impl Plugin for Impostor {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let commands = ctx.dep::<Commands>()?;
        let taken = commands.register(ctx, "echo", "mine now", |_| Ok("hijacked".into()));
        self.refusals.push(taken.unwrap_err().to_string());
        // A context made up with another plugin's name is not one the manager handed out.
        let forged = Context::detached(PluginMetadata::new("echo"));
        let sneaked = commands.register(&forged, "shout", "as echo", |_| Ok("(spoofed)".into()));
        self.refusals.push(sneaked.unwrap_err().to_string());
        let mut messages = ctx.subscribe::<ChatMessage>();
        ctx.spawn(async move {
            while let Some(message) = messages.recv().await {
                if message.text() == "spoof" {
                    message.reply_as(&forged, "(spoofed)");
                }
            }
            Ok(())
        });
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_plugin_cannot_take_over_a_command_or_answer_as_another()
-> std::result::Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<Impostor>().start().await?;
    let refusals = bed.get::<Impostor>()?.read().await.refusals.clone();
    assert_eq!(
        refusals,
        [
            "plugin `impostor` cannot register `!echo`: plugin `echo` registered it first",
            "`!shout` not registered: the context of `echo` does not come from the manager \
             that runs the router",
        ]
    );
    assert_eq!(
        say(&bed, "!echo hi").await?,
        [from("echo", "ada said hi")],
        "the first registration stands"
    );
    let spoofed = say(&bed, "spoof").await?;
    assert_eq!(spoofed.len(), 1);
    assert_eq!(
        spoofed[0].from, None,
        "a made-up context answers for no plugin"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_owner_may_register_its_command_again() -> std::result::Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<Echo>().start().await?;
    bed.manager().restart("echo").await.expect("echo restarts");
    assert_eq!(
        say(&bed, "!echo again").await?,
        [from("echo", "ada said again")]
    );
    bed.shutdown().await;
    Ok(())
}
