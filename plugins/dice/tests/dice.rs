//! The dice plugin under the test harness: it answers `!roll` through the command router,
//! announces each roll as an event, and obeys its configuration.

use std::time::Duration;

use chat_api::{ChatMessage, Reply};
use plugin_dice::{Dice, DiceRolled};
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};

const SECOND: Duration = Duration::from_secs(1);

/// Says `text` as `user` and returns the first reply.
async fn ask(bed: &RunningBed, user: &str, text: &str) -> Result<Reply, TestBedError> {
    let (message, mut replies) = ChatMessage::new(user, text);
    assert_eq!(bed.publish(message), 1, "the command router listens");
    let reply = within(SECOND, &format!("a reply to `{text}`"), replies.next()).await?;
    Ok(reply.expect("the router answers every command"))
}

#[tokio::test(start_paused = true)]
async fn rolls_two_six_sided_dice_and_announces_the_roll() -> Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<Dice>();
    let mut rolls = bed.events::<DiceRolled>();
    let bed = bed.start().await?;

    let reply = ask(&bed, "ada", "!roll 2d6").await?;
    let roll = rolls.next(SECOND).await?;
    assert_eq!((roll.user.as_str(), roll.dice.as_str()), ("ada", "2d6"));
    assert_eq!(roll.results.len(), 2);
    assert!(
        roll.results.iter().all(|die| (1..=6).contains(die)),
        "{roll:?}"
    );
    assert!((2..=12).contains(&roll.total()), "{roll:?}");
    assert_eq!(reply.from.as_deref(), Some("dice"));
    let [a, b] = roll.results[..] else {
        unreachable!()
    };
    assert_eq!(
        reply.text,
        format!("ada rolled 2d6: {a} + {b} = {}", roll.total())
    );
    assert_eq!(bed.get::<Dice>()?.read().await.rolls(), 1);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_configuration_sets_the_limit_and_the_default_roll() -> Result<(), TestBedError> {
    let bed = TestBed::new()
        .plugin::<Dice>()
        .config_toml("[dice]\nmax_dice = 3\ndefault = \"2d8\"\n")?;
    let mut rolls = bed.events::<DiceRolled>();
    let bed = bed.start().await?;

    let refused = ask(&bed, "ada", "!roll 4d6").await?;
    assert_eq!(
        refused.text,
        "!roll failed: `4d6`: roll 1 to 3 dice of 2 to 1000 sides"
    );
    ask(&bed, "ada", "!roll").await?;
    let roll = rolls.next(SECOND).await?;
    assert_eq!(roll.dice, "2d8", "the configured default");
    assert!(
        rolls.try_next().is_none(),
        "the refused roll announced nothing"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_misspelt_key_keeps_dice_from_starting_and_names_it() -> Result<(), TestBedError> {
    let error = TestBed::new()
        .plugin::<Dice>()
        .config_toml("[dice]\nmax_dise = 3\n")?
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "`dice`: it is failed (invalid configuration: test.toml:2: key `dice.max_dise`: \
             unknown field `max_dise`"
        ),
        "{error}"
    );
    Ok(())
}
