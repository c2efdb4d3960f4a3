//! The greeter under the test harness: it welcomes a newcomer once, greets people who say
//! hello, counts messages for `!seen`, and suggests a roll when its optional `dice` runs.

use std::time::Duration;

use chat_api::{ChatMessage, Reply};
use plugin_greeter::Greeter;
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};

const SECOND: Duration = Duration::from_secs(1);

/// Says `text` as `user` and returns every reply, once every subscriber handled the message
/// (the replies end when the last copy of the message is dropped).
async fn say(bed: &RunningBed, user: &str, text: &str) -> Result<Vec<Reply>, TestBedError> {
    let (message, mut replies) = ChatMessage::new(user, text);
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

fn texts(replies: &[Reply]) -> Vec<&str> {
    replies.iter().map(|r| r.text.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn welcomes_once_then_greets_back() -> Result<(), TestBedError> {
    let bed = TestBed::new().plugin::<Greeter>().start().await?;
    assert_eq!(
        bed.state("dice"),
        None,
        "an optional dependency runs only if asked for"
    );

    let welcome = say(&bed, "ada", "hi all").await?;
    assert_eq!(texts(&welcome), ["Welcome, ada!"]);
    assert_eq!(welcome[0].from.as_deref(), Some("greeter"));
    assert_eq!(
        texts(&say(&bed, "ada", "Hello there").await?),
        ["Hello again, ada!"]
    );
    assert!(say(&bed, "ada", "what a day").await?.is_empty());

    // Asked by someone else, so that ada's count is settled whatever order the router and
    // the greeter handle this message in.
    let seen = say(&bed, "bob", "!seen").await?;
    let counts = seen
        .iter()
        .find(|r| r.from.as_deref() == Some("greeter") && r.text.contains("ada"))
        .expect("`!seen` answers");
    assert!(
        counts.text.lines().any(|line| line == "ada: 3"),
        "{counts:?}"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn suggests_a_roll_when_dice_runs() -> Result<(), TestBedError> {
    let bed = TestBed::new()
        .plugin::<Greeter>()
        .plugin::<plugin_dice::Dice>()
        .start()
        .await?;
    assert_eq!(
        texts(&say(&bed, "ada", "hi").await?),
        ["Welcome, ada! Try `!roll 2d6`."]
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn registered_optional_dependencies_run_when_asked_for() -> Result<(), TestBedError> {
    // Named so that its crate, and with it its registration, is linked into this test.
    use plugin_dice as _;

    let bed = TestBed::new()
        .plugin::<Greeter>()
        .with_optional_deps()
        .start()
        .await?;
    assert_eq!(bed.manager().start_order(), ["commands", "dice", "greeter"]);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn remembers_at_most_max_users_the_most_recent_first() -> Result<(), TestBedError> {
    let bed = TestBed::new()
        .plugin::<Greeter>()
        .config_toml("[greeter]\nmax_users = 2\n")?
        .start()
        .await?;
    for user in ["ada", "bob", "eve"] {
        assert_eq!(
            texts(&say(&bed, user, "hi").await?),
            [format!("Welcome, {user}!").as_str()]
        );
    }
    assert_eq!(bed.get::<Greeter>()?.read().await.remembered(), 2);
    // ada spoke least recently, so she was forgotten, and is welcomed anew.
    assert_eq!(texts(&say(&bed, "ada", "hi").await?), ["Welcome, ada!"]);
    assert_eq!(texts(&say(&bed, "eve", "hi").await?), ["Hello again, eve!"]);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn remembers_ten_thousand_users_by_default() -> Result<(), TestBedError> {
    assert_eq!(plugin_greeter::GreeterConfig::default().max_users, 10_000);
    let error = TestBed::new()
        .plugin::<Greeter>()
        .config_toml("[greeter]\nmax_user = 2\n")?
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("max_user"),
        "a misspelt key is refused: {error}"
    );
    Ok(())
}
