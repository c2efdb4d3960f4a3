//! The configuration file: per-plugin sections checked against each plugin's own type, kept
//! off with `enabled = false`, deadlines and restart policies; and live reload applying each
//! kind of change, or refusing an invalid file without changing anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_core::host::check_config;
use plugin_core::{
    Context, Plugin, PluginInstance, PluginMetadata, Reconfigured, Result, async_trait,
};
use plugin_manager::{
    ConfigAction, FailureKind, PluginManager, PluginSpec, PluginState, PluginsConfig,
};

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Settings {
    #[serde(default = "six")]
    sides: u32,
}

fn six() -> u32 {
    6
}

/// Reads its `Settings` in `setup`; logs what it saw; optionally applies changes in place.
struct Configurable {
    seen: Arc<Mutex<Vec<u32>>>,
    in_place: bool,
}

#[async_trait]
impl Plugin for Configurable {
    async fn setup(&mut self, ctx: &Context) -> Result<()> {
        let settings: Settings = ctx.config()?;
        self.seen.lock().unwrap().push(settings.sides);
        Ok(())
    }

    async fn reconfigure(&mut self, ctx: &Context) -> Result<Reconfigured> {
        if !self.in_place {
            return Ok(Reconfigured::NeedsRestart);
        }
        let settings: Settings = ctx.config()?;
        self.seen.lock().unwrap().push(settings.sides);
        Ok(Reconfigured::Applied)
    }
}

/// A hook that never returns, to see which deadline applies.
struct Hangs;

#[async_trait]
impl Plugin for Hangs {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        std::future::pending().await
    }
}

struct Lab {
    seen: Arc<Mutex<Vec<u32>>>,
}

impl Lab {
    fn new() -> Self {
        Self {
            seen: Arc::default(),
        }
    }

    fn plugin(&self, name: &str, deps: &[&str], in_place: bool) -> PluginSpec {
        let seen = self.seen.clone();
        let meta = PluginMetadata::new(name).with_deps(deps.iter().copied());
        PluginSpec::new(meta, move || {
            Ok(PluginInstance::new(Configurable {
                seen: seen.clone(),
                in_place,
            }))
        })
        .with_config_check(check_config::<Settings>)
    }

    fn seen(&self) -> Vec<u32> {
        self.seen.lock().unwrap().clone()
    }
}

fn config(text: &str) -> PluginsConfig {
    PluginsConfig::parse("plugins.toml", text).expect("valid TOML")
}

async fn started(lab: &Lab, text: &str, in_place: bool) -> PluginManager {
    let manager = PluginManager::builder()
        .plugin(lab.plugin("base", &[], in_place))
        .plugin(lab.plugin("dice", &["base"], in_place))
        .plugin(lab.plugin("other", &[], in_place))
        .config(config(text))
        .build()
        .unwrap();
    manager.start().await;
    manager
}

#[tokio::test(start_paused = true)]
async fn a_plugin_gets_its_own_section_and_defaults_without_one() {
    let lab = Lab::new();
    let manager = started(&lab, "[dice]\nsides = 20\n", false).await;
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
    let mut seen = lab.seen();
    seen.sort_unstable();
    assert_eq!(seen, [6, 6, 20]);
    let dice = manager.record("dice").unwrap();
    assert_eq!(dice.config_source.to_string(), "plugins.toml:1");
    assert_eq!(
        manager.record("base").unwrap().config_source.to_string(),
        "default"
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_section_fails_its_plugin_with_file_line_and_key_and_the_rest_start() {
    let lab = Lab::new();
    let manager = started(&lab, "[other]\n\nsides = \"many\"\n", false).await;
    let other = manager.record("other").unwrap();
    assert_eq!(other.state, PluginState::Failed);
    assert_eq!(
        other.last_error.unwrap().to_string(),
        "invalid configuration: plugins.toml:3: key `other.sides`: invalid type: string \"many\", expected u32"
    );
    assert_eq!(manager.enabled(), ["base", "dice"]);
}

#[tokio::test(start_paused = true)]
async fn a_bad_manager_key_fails_its_plugin_too() {
    let lab = Lab::new();
    let manager = started(&lab, "[base]\nenabled = \"yes\"\n", false).await;
    let base = manager.record("base").unwrap();
    assert_eq!(
        base.last_error.unwrap().to_string(),
        "invalid configuration: plugins.toml:2: key `base.enabled`: expected `true` or `false`, found \"yes\""
    );
    assert_eq!(
        manager.record("dice").unwrap().last_error.unwrap().kind,
        FailureKind::DependencyFailed("base".into())
    );
    assert_eq!(manager.enabled(), ["other"]);
}

#[tokio::test(start_paused = true)]
async fn a_section_for_an_unknown_plugin_is_reported_with_its_line() {
    let lab = Lab::new();
    let manager = started(&lab, "[dice]\nsides = 8\n\n[dise]\nsides = 8\n", false).await;
    let problems: Vec<String> = manager
        .config_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "plugins.toml:4: key `dise`: no plugin is called `dise`; the plugins are base, dice, other"
        ]
    );
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}

#[tokio::test(start_paused = true)]
async fn enabled_false_keeps_a_plugin_and_what_needs_it_off_until_asked() {
    let lab = Lab::new();
    let manager = started(
        &lab,
        "[base]\nenabled = false\n[dice]\nenabled = false\n",
        false,
    )
    .await;
    assert_eq!(manager.state("base"), Some(PluginState::Unloaded));
    assert_eq!(manager.state("dice"), Some(PluginState::Unloaded));
    assert_eq!(manager.enabled(), ["other"]);
    assert!(!manager.record("base").unwrap().configured_on);
    // An operator may still turn it on.
    manager.enable("dice").await.unwrap();
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}

#[tokio::test(start_paused = true)]
async fn the_configured_deadline_replaces_the_default() {
    let manager = PluginManager::builder()
        .plugin(PluginSpec::new(PluginMetadata::new("slow"), || {
            Ok(PluginInstance::new(Hangs))
        }))
        .hook_timeout(Duration::from_secs(30))
        .config(config("[slow]\ntimeout = \"2s\"\n"))
        .build()
        .unwrap();
    manager.start().await;
    assert_eq!(
        manager.record("slow").unwrap().last_error.unwrap().kind,
        FailureKind::Timeout(Duration::from_secs(2))
    );
}

#[tokio::test(start_paused = true)]
async fn reload_restarts_a_plugin_whose_section_changed_with_its_dependents() {
    let lab = Lab::new();
    let manager = started(&lab, "[base]\nsides = 4\n", false).await;
    let changes = manager
        .reload_config(config("[base]\nsides = 12\n"))
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].action, ConfigAction::Restarted);
    assert_eq!(changes[0].result, Ok(()));
    // base restarted with 12, and dice (which depends on it) restarted too.
    assert_eq!(lab.seen().iter().filter(|&&s| s == 12).count(), 1);
    // Started (3 changes), then disabled, torn down, loaded, set up, enabled (5).
    assert_eq!(manager.record("dice").unwrap().history.len(), 3 + 5);
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}

#[tokio::test(start_paused = true)]
async fn reload_hands_the_section_to_a_plugin_that_reconfigures_in_place() {
    let lab = Lab::new();
    let manager = started(&lab, "", true).await;
    let before = manager.record("other").unwrap().history.len();
    let changes = manager
        .reload_config(config("[other]\nsides = 10\n"))
        .await
        .unwrap();
    assert_eq!(changes[0].action, ConfigAction::Reconfigured);
    assert_eq!(lab.seen().last(), Some(&10));
    assert_eq!(
        manager.record("other").unwrap().history.len(),
        before,
        "no restart"
    );
}

#[tokio::test(start_paused = true)]
async fn reload_switches_plugins_off_dependents_first_and_back_on() {
    let lab = Lab::new();
    let manager = started(&lab, "", false).await;
    let mut feed = manager.state_changes();
    let changes = manager
        .reload_config(config("[base]\nenabled = false\n[dice]\nenabled = false\n"))
        .await
        .unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c.action == ConfigAction::SwitchedOff && c.result.is_ok())
    );
    let order: Vec<String> = std::iter::from_fn(|| feed.try_recv().unwrap())
        .filter(|c| c.to == PluginState::Disabled)
        .map(|c| c.plugin)
        .collect();
    assert_eq!(order, ["dice", "base"]);
    assert_eq!(manager.enabled(), ["other"]);

    let changes = manager.reload_config(config("")).await.unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c.action == ConfigAction::SwitchedOn && c.result.is_ok())
    );
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_file_changes_nothing_and_every_problem_is_reported() {
    let lab = Lab::new();
    let manager = started(&lab, "[dice]\nsides = 8\n", false).await;
    let before: Vec<_> = manager
        .records()
        .into_iter()
        .map(|r| (r.name, r.state, r.history.len()))
        .collect();
    let errors = manager
        .reload_config(config(
            "[dice]\nsides = -1\n[base]\nenabled = false\n[ghost]\nx = 1\n",
        ))
        .await
        .unwrap_err();
    let errors: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].starts_with("plugins.toml:5: key `ghost`"),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("plugins.toml:2: key `dice.sides`")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`dice` stays on and needs `base`")),
        "{errors:#?}"
    );
    let after: Vec<_> = manager
        .records()
        .into_iter()
        .map(|r| (r.name, r.state, r.history.len()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(lab.seen().len(), 3, "no hook ran");
}

#[tokio::test(start_paused = true)]
async fn reload_fixing_a_broken_section_starts_its_plugin() {
    let lab = Lab::new();
    let manager = started(&lab, "[base]\nsides = \"x\"\n", false).await;
    assert_eq!(manager.enabled(), ["other"]);
    let changes = manager
        .reload_config(config("[base]\nsides = 3\n"))
        .await
        .unwrap();
    assert_eq!(changes[0].action, ConfigAction::Restarted, "{changes:?}");
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}

#[tokio::test(start_paused = true)]
async fn a_plugin_switched_back_on_gets_the_section_edited_while_it_was_off() {
    let lab = Lab::new();
    let manager = started(&lab, "[other]\nsides = 2\n", false).await;
    manager
        .reload_config(config("[other]\nenabled = false\nsides = 50\n"))
        .await
        .unwrap();
    assert_eq!(manager.state("other"), Some(PluginState::Disabled));
    manager
        .reload_config(config("[other]\nsides = 50\n"))
        .await
        .unwrap();
    assert_eq!(manager.state("other"), Some(PluginState::Enabled));
    assert_eq!(
        lab.seen().last(),
        Some(&50),
        "set up again with the new section"
    );
}

#[tokio::test(start_paused = true)]
async fn removing_restart_from_the_file_falls_back_to_the_builders_policy() {
    use plugin_manager::{Backoff, RestartPolicy};
    let lab = Lab::new();
    let builder_policy = RestartPolicy::OnFailure(Backoff::default());
    let manager = PluginManager::builder()
        .plugin(lab.plugin("other", &[], false))
        .restart_policy("other", builder_policy)
        .config(config("[other]\nrestart = \"never\"\n"))
        .build()
        .unwrap();
    manager.start().await;
    assert_eq!(
        manager.record("other").unwrap().restart_policy,
        RestartPolicy::Never
    );
    let changes = manager.reload_config(config("")).await.unwrap();
    assert_eq!(changes[0].action, ConfigAction::SettingsUpdated);
    assert_eq!(
        manager.record("other").unwrap().restart_policy,
        builder_policy
    );
}

#[tokio::test(start_paused = true)]
async fn a_section_edited_while_an_operator_keeps_the_plugin_disabled_applies_on_enable() {
    let lab = Lab::new();
    let manager = started(&lab, "[other]\nsides = 2\n", false).await;
    manager.disable("other").await.unwrap();
    let changes = manager
        .reload_config(config("[other]\nsides = 30\n"))
        .await
        .unwrap();
    assert_eq!(changes[0].action, ConfigAction::Deferred, "{changes:?}");
    assert_eq!(
        manager.state("other"),
        Some(PluginState::Disabled),
        "still the operator's call"
    );
    manager.enable("other").await.unwrap();
    assert_eq!(
        lab.seen().last(),
        Some(&30),
        "a fresh instance set up with the new section"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plugin_held_off_by_a_switched_off_dependency_is_reported_and_starts_with_it() {
    let lab = Lab::new();
    let manager = started(&lab, "[base]\nenabled = false\n", false).await;
    let problems: Vec<String> = manager
        .config_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "plugins.toml:1: key `base.enabled`: `dice` stays on and needs `base`: switch `dice` off too"
        ]
    );
    assert_eq!(manager.state("dice"), Some(PluginState::Unloaded));
    manager.reload_config(config("")).await.unwrap();
    assert_eq!(manager.enabled(), ["base", "dice", "other"]);
}
