//! Dice statistics under the test harness: it counts the rolls the dice plugin announces and
//! keeps each user's best total, for `!stats`.

use std::time::Duration;

use chat_api::ChatMessage;
use plugin_dice::DiceRolled;
use plugin_dice_stats::{DiceStats, UserStats};
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};

const SECOND: Duration = Duration::from_secs(1);

async fn ask(bed: &RunningBed, user: &str, text: &str) -> Result<String, TestBedError> {
    let (message, mut replies) = ChatMessage::new(user, text);
    bed.publish(message);
    let reply = within(SECOND, &format!("a reply to `{text}`"), replies.next()).await?;
    Ok(reply.expect("the router answers every command").text)
}

#[tokio::test(start_paused = true)]
async fn counts_each_users_rolls_and_best_total() -> Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<DiceStats>();
    let mut rolls = bed.events::<DiceRolled>();
    let bed = bed.start().await?;
    assert_eq!(
        bed.manager().start_order(),
        ["commands", "dice", "dice-stats"]
    );
    assert_eq!(ask(&bed, "ada", "!stats").await?, "no dice rolled yet");

    let mut best = 0;
    for _ in 0..3 {
        ask(&bed, "ada", "!roll 3d6").await?;
        best = best.max(rolls.next(SECOND).await?.total());
    }
    ask(&bed, "bob", "!roll 1d20").await?;
    let bobs = rolls.next(SECOND).await?.total();

    // dice-stats' listener is woken when a roll is published, before the reply that wakes
    // this test; so when `!stats` is asked, every roll has been counted.
    assert_eq!(
        ask(&bed, "ada", "!stats").await?,
        format!("ada: 3 rolls, best {best}\nbob: 1 rolls, best {bobs}")
    );
    let stats = bed.get::<DiceStats>()?;
    assert_eq!(
        stats.read().await.of("ada"),
        Some(UserStats { rolls: 3, best })
    );
    assert_eq!(stats.read().await.of("eve"), None);
    bed.shutdown().await;
    Ok(())
}

/// Publishes a made-up roll whenever someone says `cheat`.
#[plugin_core::plugin(name = "cheater")]
#[derive(Debug, Default)]
struct Cheater;

#[plugin_core::async_trait]
impl plugin_core::Plugin for Cheater {
    async fn on_enable(&mut self, ctx: &plugin_core::Context) -> plugin_core::Result<()> {
        let mut messages = ctx.subscribe::<ChatMessage>();
        let publisher = ctx.clone();
        ctx.spawn(async move {
            while let Some(message) = messages.recv().await {
                if message.text() == "cheat" {
                    publisher.publish(DiceRolled {
                        user: message.user().to_owned(),
                        dice: "1d1000".into(),
                        results: vec![1000],
                    });
                    message.reply("cheated");
                }
            }
            Ok(())
        });
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn rolls_published_by_another_plugin_are_not_counted() -> Result<(), TestBedError> {
    let bed = TestBed::new()
        .plugin::<DiceStats>()
        .plugin::<Cheater>()
        .start()
        .await?;
    assert_eq!(ask(&bed, "eve", "cheat").await?, "cheated");
    assert_eq!(ask(&bed, "eve", "!stats").await?, "no dice rolled yet");
    assert_eq!(bed.get::<DiceStats>()?.read().await.of("eve"), None);
    bed.shutdown().await;
    Ok(())
}
