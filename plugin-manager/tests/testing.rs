//! The test harness for plugin authors (`plugin_manager::testing`): the closure of a plugin's
//! dependencies from the registry, configuration from TOML, a dependency replaced by the
//! test's own instance, waiting for states and events under deadlines on the paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plugin_core::prelude::*;
use plugin_core::{PluginMetadata, PluginType};
use plugin_manager::testing::{TestBed, TestBedError, within};
use plugin_manager::{FailureKind, PluginSpec, PluginState};
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

/// At the bottom of the chain; carries a label so a test can tell its instance apart.
#[plugin(name = "base")]
#[derive(Debug, Default)]
struct Base {
    label: &'static str,
}

#[async_trait]
impl Plugin for Base {}

#[plugin(name = "middle", deps = [Base])]
#[derive(Debug, Default)]
struct Middle;

#[async_trait]
impl Plugin for Middle {}

/// Needs `middle` (and so `base`); uses `extra` if it runs. Remembers the label of the `base`
/// it reached.
#[plugin(name = "top", deps = [Middle, Base], optional = ["extra"])]
#[derive(Debug, Default)]
struct Top {
    saw: &'static str,
}

#[async_trait]
impl Plugin for Top {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.saw = ctx.dep::<Base>()?.label;
        Ok(())
    }
}

#[plugin(name = "extra")]
#[derive(Debug, Default)]
struct Extra;

#[async_trait]
impl Plugin for Extra {}

/// Registered, but nothing in these tests needs it: it must stay out of the beds.
#[plugin(name = "unrelated")]
#[derive(Debug, Default)]
struct Unrelated;

#[async_trait]
impl Plugin for Unrelated {}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Sides {
    #[serde(default = "six")]
    sides: u32,
}

fn six() -> u32 {
    6
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ping(u32);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pong(u32);

/// Announces its configured sides once enabled, and answers each `Ping(n)` with `Pong(n * sides)`.
#[plugin(name = "configured", config = Sides)]
#[derive(Debug, Default)]
struct Configured;

#[async_trait]
impl Plugin for Configured {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let Sides { sides } = ctx.config()?;
        ctx.publish(Pong(sides));
        let mut pings = ctx.subscribe::<Ping>();
        let answers = ctx.clone();
        ctx.spawn(async move {
            while let Some(Ping(n)) = pings.recv().await {
                answers.publish(Pong(n * sides));
            }
            Ok(())
        });
        Ok(())
    }
}

/// Fails in `setup`.
#[derive(Default)]
struct Broken;

#[async_trait]
impl Plugin for Broken {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        Err(Error::msg("no disk"))
    }
}

fn broken(name: &str) -> PluginSpec {
    PluginSpec::with_default::<Broken>(PluginMetadata::new(name))
}

#[tokio::test(start_paused = true)]
async fn runs_the_plugin_with_the_closure_of_its_required_dependencies() {
    let bed = TestBed::new().plugin::<Top>();
    assert_eq!(bed.plugins().unwrap(), ["top", "middle", "base"]);
    let bed = bed.start().await.unwrap();
    assert_eq!(bed.manager().start_order(), ["base", "middle", "top"]);
    assert_eq!(bed.manager().enabled(), ["base", "middle", "top"]);
    assert_eq!(bed.state("unrelated"), None);
    assert_eq!(bed.state("extra"), None, "optional, not asked for");
    let records = bed.shutdown().await;
    assert!(records.iter().all(|r| r.state == PluginState::TornDown));
}

#[tokio::test(start_paused = true)]
async fn optional_dependencies_run_when_named_or_asked_for() {
    let with_all = TestBed::new().plugin::<Top>().with_optional_deps();
    assert_eq!(
        with_all.plugins().unwrap(),
        ["top", "middle", "base", "extra"]
    );
    let named = TestBed::new().plugin::<Top>().plugin::<Extra>();
    let bed = named.start().await.unwrap();
    assert_eq!(
        bed.manager().start_order(),
        ["base", "extra", "middle", "top"]
    );
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_plugin_named_by_name_comes_from_the_registry() {
    let bed = TestBed::new().plugin_named("middle").start().await.unwrap();
    assert_eq!(bed.manager().enabled(), ["base", "middle"]);
    bed.shutdown().await;

    let error = TestBed::new().plugin_named("nope").plugins().unwrap_err();
    assert!(matches!(error, TestBedError::NotRegistered { ref plugin, .. } if plugin == "nope"));
}

#[test]
fn a_dependency_missing_from_the_registry_names_the_crate_to_link() {
    let needs =
        PluginSpec::with_default::<Middle>(PluginMetadata::new("roller").with_deps(["dice-stats"]));
    let error = TestBed::new()
        .spec(needs)
        .plugins()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "plugin `dice-stats`, which `roller` needs, is not registered in this binary"
        ),
        "{error}"
    );
    assert!(error.contains("`use plugin_dice_stats as _;`"), "{error}");
    assert!(
        error.contains("Registered here: base, configured, extra, middle, top, unrelated"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_configuration_comes_from_toml() {
    let bed = TestBed::new()
        .plugin::<Configured>()
        .config_toml("[configured]\nsides = 20\n")
        .unwrap();
    let mut pongs = bed.events::<Pong>();
    let bed = bed.start().await.unwrap();
    assert_eq!(
        pongs.next(SECOND).await.unwrap(),
        Pong(20),
        "published in on_enable"
    );
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_key_fails_the_start_naming_file_line_and_key() {
    let bed = TestBed::new()
        .plugin::<Configured>()
        .config_toml("[configured]\nsides = 20\nsidez = 3\n")
        .unwrap();
    let error = bed.start().await.unwrap_err();
    let TestBedError::NotEnabled(records) = &error else {
        panic!("{error}");
    };
    assert_eq!(records.len(), 1);
    let failure = records[0].last_error.clone().unwrap();
    let FailureKind::Config(text) = failure.kind else {
        panic!("{failure}");
    };
    assert_eq!(
        text,
        "test.toml:3: key `configured.sidez`: unknown field `sidez`, expected `sides`"
    );
    assert!(
        error
            .to_string()
            .contains("`configured`: it is failed (invalid configuration: test.toml:"),
        "{error}"
    );

    let error = TestBed::new()
        .plugin::<Configured>()
        .config_toml("[configured]\nsides = 20\n\n[configurd]\nsides = 3\n")
        .unwrap()
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "test.toml:4: key `configurd`: no plugin is called `configurd`; the plugins are configured"
    );

    let error = TestBed::new()
        .config_toml("[configured]\nsides = \n")
        .unwrap_err();
    assert!(error.to_string().starts_with("test.toml:2: "), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_replaced_dependency_is_the_instance_the_test_built() {
    let bed = TestBed::new()
        .plugin::<Top>()
        .replace(Base {
            label: "built by the test",
        })
        .start()
        .await
        .unwrap();
    assert_eq!(
        bed.get::<Base>().unwrap().read().await.label,
        "built by the test"
    );
    assert_eq!(
        bed.get::<Top>().unwrap().read().await.saw,
        "built by the test"
    );
    let base = bed.record("base").unwrap();
    assert_eq!(base.deps, Base::descriptor().deps(), "keeps its metadata");
    assert_eq!(base.crate_name, "plugin-manager");

    // The test's instance is used once: a restart needs a constructor, and says so.
    bed.manager().disable_cascade("base").await.unwrap();
    let error = bed.manager().restart("base").await.unwrap_err().to_string();
    assert!(
        error.contains("was replaced by an instance the test built"),
        "{error}"
    );
    assert!(error.contains("TestBed::replace_with"), "{error}");
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_dependency_replaced_with_a_constructor_gets_fresh_instances() {
    let made = Arc::new(AtomicU32::new(0));
    let counter = made.clone();
    let bed = TestBed::new()
        .plugin::<Middle>()
        .replace_with(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Base { label: "fresh" }
        })
        .start()
        .await
        .unwrap();
    bed.manager().restart("base").await.unwrap();
    assert_eq!(made.load(Ordering::Relaxed), 2);
    assert_eq!(bed.manager().enabled(), ["base", "middle"]);
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn start_names_the_plugins_that_did_not_become_enabled() {
    let dependent = PluginSpec::with_default::<Extra>(
        PluginMetadata::new("needs-broken").with_deps(["broken"]),
    );
    let error = TestBed::new()
        .spec(broken("broken"))
        .spec(dependent)
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "not every plugin of the test bed is enabled:\n  \
         - `broken`: it is failed (setup returned an error: no disk)\n  \
         - `needs-broken`: it is failed (dependency `broken` failed)"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_state_times_out_on_tokios_clock_saying_what_it_saw() {
    let bed = TestBed::new()
        .spec(broken("broken"))
        .start_allowing_failures()
        .await
        .unwrap();
    bed.wait_for_state("broken", PluginState::Failed, SECOND)
        .await
        .unwrap();

    let before = Instant::now();
    let error = bed
        .wait_for_state("broken", PluginState::Enabled, SECOND)
        .await
        .unwrap_err();
    assert_eq!(
        Instant::now() - before,
        SECOND,
        "the whole deadline, in virtual time"
    );
    assert_eq!(
        error.to_string(),
        "timed out after 1s waiting for plugin `broken` to be enabled: it is failed (setup \
         returned an error: no disk)"
    );

    let error = bed
        .wait_for_state("nobody", PluginState::Enabled, SECOND)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the test bed has no plugin `nobody`; it has broken"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_state_follows_changes_made_meanwhile() {
    let bed = TestBed::new().plugin::<Middle>().start().await.unwrap();
    let (waited, disabled) = tokio::join!(
        bed.wait_for_state("base", PluginState::Disabled, SECOND),
        bed.manager().disable_cascade("base"),
    );
    waited.unwrap();
    disabled.unwrap();
    let (waited, enabled) = tokio::join!(
        bed.wait_for_state("middle", PluginState::Enabled, SECOND),
        bed.manager().enable("middle"),
    );
    waited.unwrap();
    enabled.unwrap();
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn next_event_waits_for_the_answer_and_times_out_when_none_comes() {
    let bed = TestBed::new().plugin::<Configured>().start().await.unwrap();
    let mut pongs = bed.events::<Pong>();
    assert_eq!(bed.publish(Ping(2)), 1);
    assert_eq!(pongs.next(SECOND).await.unwrap(), Pong(12));

    bed.publish(Ping(1));
    bed.publish(Ping(5));
    let big = pongs
        .next_matching(SECOND, |&Pong(n)| n > 10)
        .await
        .unwrap();
    assert_eq!(big, Pong(30));

    let error = pongs.next(SECOND).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "timed out after 1s waiting for an event of type `testing::Pong`"
    );
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn instances_are_reached_with_errors_that_say_why_not() {
    let bed = TestBed::new()
        .spec(broken("broken"))
        .start_allowing_failures()
        .await
        .unwrap();
    let error = bed.get_named::<Broken>("broken").unwrap_err().to_string();
    assert_eq!(
        error,
        "plugin `broken` has no instance: it is failed (setup returned an error: no disk)"
    );
    bed.shutdown().await;

    let bed = TestBed::new().plugin::<Base>().start().await.unwrap();
    let error = bed.get_named::<Top>("base").unwrap_err().to_string();
    assert_eq!(
        error,
        "plugin `base` is a `testing::Base`, not a `testing::Top`"
    );
    bed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn within_bounds_any_wait() {
    let error = within(SECOND, "a reply", std::future::pending::<()>())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "timed out after 1s waiting for a reply");
}
