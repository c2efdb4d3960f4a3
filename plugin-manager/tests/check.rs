//! `plugin_manager::check`: everything found before anything runs, at once, with file and
//! line; no constructor or hook runs; typos in `optional = [...]` are warnings with a
//! suggestion, at start-up as in the check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use plugin_core::host::check_config;
use plugin_core::{Context, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::check::{Outcome, check};
use plugin_manager::{GraphError, GraphWarning, PluginManager, PluginSpec, PluginsConfig};

/// Counts every constructor and hook call of the plugins made by [`Probe::spec`].
#[derive(Default, Clone)]
struct Probe(Arc<AtomicUsize>);

impl Probe {
    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn spec(&self, metadata: PluginMetadata) -> PluginSpec {
        let calls = self.0.clone();
        PluginSpec::new(metadata, move || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(PluginInstance::new(Counted(calls.clone())))
        })
        .with_config_check(check_config::<DiceConfig>)
    }
}

struct Counted(Arc<AtomicUsize>);

#[async_trait]
impl Plugin for Counted {
    async fn setup(&mut self, _: &Context) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn on_enable(&mut self, _: &Context) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(dead_code)] // Only deserialized, to check sections.
struct DiceConfig {
    max_dice: u32,
}

/// The demo's shape: commands, and plugins on it (greeter optionally uses dice).
fn demo(probe: &Probe) -> Vec<PluginSpec> {
    vec![
        probe.spec(PluginMetadata::new("commands")),
        probe.spec(PluginMetadata::new("dice").with_deps(["commands"])),
        probe.spec(PluginMetadata::new("help").with_deps(["commands"])),
        probe.spec(
            PluginMetadata::new("greeter")
                .with_deps(["commands"])
                .with_optional_deps(["dice"]),
        ),
        probe.spec(PluginMetadata::new("dice-stats").with_deps(["dice", "commands"])),
    ]
}

#[test]
fn a_clean_set_is_ok_and_lists_what_would_start_in_start_order() {
    let probe = Probe::default();
    let report = check(&demo(&probe), None);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.exit_status(), 0);
    assert_eq!(
        report.to_string(),
        "ok: 5 plugins would start: commands, dice, dice-stats, greeter, help"
    );
    assert_eq!(probe.calls(), 0, "no constructor or hook ran");
}

#[test]
fn every_configuration_problem_is_reported_at_once_with_file_and_line() {
    let probe = Probe::default();
    let file = "\
[dice]
max_dice = 6
sidez = 20

[dise]
enabled = true

[help]
timeout = \"soon\"

[commands]
enabled = false
";
    let config = PluginsConfig::parse("plugins.toml", file).unwrap();
    let report = check(&demo(&probe), Some(&config));
    assert!(!report.is_ok());
    assert_eq!(report.exit_status(), 2);
    let errors: Vec<String> = report
        .config_errors()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 7, "{errors:#?}");
    assert!(
        errors[0].starts_with("plugins.toml:5: key `dise`: no plugin is called `dise`"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("plugins.toml:3: key `dice.sidez`: unknown field `sidez`"),
        "{errors:#?}"
    );
    assert!(
        errors[2].starts_with("plugins.toml:9: key `help.timeout`: `soon` is not a duration"),
        "{errors:#?}"
    );
    // Each plugin left on while `commands` is switched off.
    for (error, plugin) in errors[3..]
        .iter()
        .zip(["dice", "dice-stats", "greeter", "help"])
    {
        assert_eq!(
            error,
            &format!(
                "plugins.toml:11: key `commands.enabled`: `{plugin}` stays on and needs \
                 `commands`: switch `{plugin}` off too"
            )
        );
    }
    assert_eq!(report.outcome("commands"), Some(&Outcome::SwitchedOff));
    let held = Outcome::HeldOff {
        dependency: "commands".into(),
    };
    assert_eq!(report.outcome("dice"), Some(&held));
    assert!(report.would_start().is_empty());
    let shown = report.to_string();
    assert!(
        shown.ends_with("failed: 7 problems; 0 of 5 plugins would start"),
        "{shown}"
    );
    assert_eq!(probe.calls(), 0, "no constructor or hook ran");
}

#[test]
fn an_invalid_section_fails_its_plugin_and_what_needs_it() {
    let probe = Probe::default();
    let config = PluginsConfig::parse("p.toml", "[dice]\nmax_dice = \"many\"\n").unwrap();
    let report = check(&demo(&probe), Some(&config));
    assert_eq!(report.outcome("dice"), Some(&Outcome::InvalidConfig));
    assert_eq!(
        report.outcome("dice-stats"),
        Some(&Outcome::DependencyFails {
            dependency: "dice".into()
        })
    );
    // greeter only optionally uses dice: it starts without it.
    assert_eq!(report.would_start(), ["commands", "greeter", "help"]);
    let shown = report.to_string();
    assert!(
        shown.ends_with("failed: 1 problem; 3 of 5 plugins would start: commands, greeter, help"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_check_finds_what_a_reload_would_refuse_in_the_same_words() {
    let probe = Probe::default();
    let file = "[dice]\nsidez = 1\n\n[commands]\nenabled = false\n\n[nobody]\n";
    let config = PluginsConfig::parse("plugins.toml", file).unwrap();
    let report = check(&demo(&probe), Some(&config));
    let manager = PluginManager::builder()
        .plugins(demo(&probe))
        .build()
        .unwrap();
    let refused = manager.reload_config(config).await.unwrap_err();
    assert_eq!(report.config_errors(), refused.errors());
    assert_eq!(
        probe.calls(),
        0,
        "neither the check nor a refused reload ran a hook"
    );
}

#[test]
fn set_problems_linking_aside_are_all_reported_with_the_configurations() {
    let probe = Probe::default();
    let specs = vec![
        probe.spec(PluginMetadata::new("a").with_deps(["b"])),
        probe.spec(PluginMetadata::new("b").with_deps(["a"])),
        probe.spec(PluginMetadata::new("dice").with_deps(["commands"])),
        probe.spec(PluginMetadata::new("fine")),
    ];
    let config = PluginsConfig::parse("plugins.toml", "[fine]\nwrong = 1\n").unwrap();
    let report = check(&specs, Some(&config));
    assert_eq!(
        report.errors(),
        [
            GraphError::MissingDependency {
                plugin: "dice".into(),
                dependency: "commands".into()
            },
            GraphError::DependencyCycle {
                path: vec!["a".into(), "b".into(), "a".into()]
            },
        ]
    );
    assert_eq!(report.config_errors().len(), 1, "{report}");
    assert!(
        report
            .to_string()
            .contains("plugins.toml:2: key `fine.wrong`"),
        "{report}"
    );
    assert_eq!(report.outcome("a"), Some(&Outcome::Invalid));
    assert_eq!(report.outcome("dice"), Some(&Outcome::Invalid));
    assert_eq!(report.outcome("fine"), Some(&Outcome::Invalid));
    assert!(report.would_start().is_empty());
    assert_eq!(probe.calls(), 0);
}

#[test]
fn a_switched_off_plugin_alone_is_not_a_problem() {
    let probe = Probe::default();
    let config = PluginsConfig::parse(
        "plugins.toml",
        "[dice]\nenabled = false\n\n[dice-stats]\nenabled = false\n",
    )
    .unwrap();
    let report = check(&demo(&probe), Some(&config));
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        report.to_string(),
        "switched off: dice, dice-stats\nok: 3 plugins would start: commands, greeter, help"
    );
}

#[tokio::test]
async fn typos_in_optional_are_warned_about_at_start_up_and_by_the_check() {
    let probe = Probe::default();
    let mut specs = demo(&probe);
    specs.push(probe.spec(PluginMetadata::new("audit")));
    specs
        .push(probe.spec(PluginMetadata::new("greeter2").with_optional_deps(["audti", "metrics"])));
    let expected = [
        GraphWarning::unknown_optional_dependency("greeter2", "audti", Some("audit")),
        GraphWarning::unknown_optional_dependency("greeter2", "metrics", None::<String>),
    ];

    let report = check(&specs, None);
    assert_eq!(report.warnings(), expected);
    assert!(report.is_ok(), "warnings do not fail the check: {report}");
    assert_eq!(report.exit_status(), 0);
    assert!(
        report.to_string().starts_with(
            "warning: plugin `greeter2` lists `audti` in `optional`, but no plugin is called \
             that: did you mean `audit`? (`greeter2` runs without it)\n"
        ),
        "{report}"
    );

    let manager = PluginManager::builder().plugins(specs).build().unwrap();
    assert_eq!(manager.warnings(), expected);
    assert!(manager.config_problems().is_empty());
    manager.start().await;
    assert!(manager.enabled().contains(&"greeter2".to_owned()));
    manager.shutdown().await;
}

#[test]
fn control_characters_from_the_file_are_escaped_in_the_report() {
    let probe = Probe::default();
    let config = PluginsConfig::parse("plugins.toml", "[\"x\\n* dice: enabled\"]\n").unwrap();
    let report = check(&demo(&probe), Some(&config));
    let shown = report.to_string();
    assert!(shown.contains(r"key `x\n* dice: enabled`"), "{shown}");
    assert!(!shown.lines().any(|l| l.starts_with("* dice")), "{shown}");
}
