//! The plugin set as a graph: what `build()` refuses, the order plugins start in, which of
//! them run at the same time, and the order they stop in.

mod common {
    pub(crate) mod changes;
    pub(crate) mod clock;
    pub(crate) mod lab;
    pub(crate) mod managers;
    pub(crate) mod script;
    pub(crate) use self::{changes::*, clock::*, lab::*, managers::*};
}

use std::sync::Arc;
use std::time::Duration;

use common::{Lab, drain, index_of, manager, moves, started, within};
use plugin_core::PluginMetadata;
use plugin_core::host::Hook;
use plugin_manager::{GraphError, PluginManager, PluginSpec, PluginState, StateChange};
use tokio::sync::Barrier;
use tokio::time::Instant;

use PluginState::{Disabled, Enabled, Loaded, TornDown};

/// The problems `build()` reports for plugins with these names and dependencies.
fn problems(plugins: &[(&str, &[&str])]) -> Vec<GraphError> {
    let lab = Lab::default();
    let specs = plugins
        .iter()
        .map(|(name, deps)| lab.plugin(name).deps_slice(deps).spec());
    PluginManager::builder()
        .plugins(specs)
        .build()
        .expect_err("an invalid set")
        .errors
}

#[test]
fn duplicate_names_are_refused_naming_the_name_and_both_origins() {
    let noop = |crate_name: &str| {
        let mut metadata = PluginMetadata::new("dice");
        metadata.crate_name = crate_name.to_owned();
        PluginSpec::new(metadata, || unreachable!("never instantiated"))
    };
    let error = PluginManager::builder()
        .plugin(noop("plugin-dice"))
        .plugin(noop("other-dice"))
        .build()
        .unwrap_err();
    let [GraphError::DuplicateName { name, .. }] = &error.errors[..] else {
        panic!("{error:?}");
    };
    assert_eq!(name, "dice");
    let message = error.to_string();
    for word in ["`dice`", "plugin-dice", "other-dice"] {
        assert!(message.contains(word), "{message:?} does not name {word}");
    }
}

#[test]
fn missing_dependency_is_refused_naming_both_plugins() {
    let errors = problems(&[("dice", &["commands"]), ("help", &[])]);
    assert_eq!(
        errors,
        [GraphError::MissingDependency {
            plugin: "dice".into(),
            dependency: "commands".into(),
        }]
    );
    assert_eq!(
        errors[0].to_string(),
        "plugin `dice` depends on `commands`, which is not registered"
    );
}

#[test]
fn cycle_is_refused_with_its_path() {
    let errors = problems(&[("c", &["a"]), ("a", &["b"]), ("b", &["c"]), ("d", &["a"])]);
    assert_eq!(
        errors,
        [GraphError::DependencyCycle {
            path: vec!["a".into(), "b".into(), "c".into(), "a".into()],
        }]
    );
    assert_eq!(errors[0].to_string(), "dependency cycle: a -> b -> c -> a");
}

#[test]
fn self_dependency_is_a_cycle() {
    assert_eq!(
        problems(&[("a", &["a"])]),
        [GraphError::DependencyCycle {
            path: vec!["a".into(), "a".into()],
        }]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = problems(&[
        ("dice", &[]),
        ("dice", &[]),
        ("help", &["commands"]),
        ("quotes", &["storage"]),
        ("x", &["y"]),
        ("y", &["x"]),
    ]);
    let message = plugin_manager::InvalidPluginSet::new(errors.clone()).to_string();
    for word in [
        "`dice`",
        "`help`",
        "`commands`",
        "`quotes`",
        "`storage`",
        "x -> y -> x",
    ] {
        assert!(message.contains(word), "{message:?} does not name {word}");
    }
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn start_order_puts_dependencies_first_and_breaks_ties_by_name_whatever_the_input_order() {
    let plugins: [(&str, &[&str]); 6] = [
        ("top", &["right", "left"]),
        ("right", &["base"]),
        ("left", &["base"]),
        ("base", &[]),
        ("alone", &[]),
        ("zeta", &["alone"]),
    ];
    let expected = ["alone", "base", "left", "right", "top", "zeta"];
    // Every rotation, forwards and backwards.
    for reversed in [false, true] {
        for rotation in 0..plugins.len() {
            let mut order = plugins.to_vec();
            if reversed {
                order.reverse();
            }
            order.rotate_left(rotation);
            let lab = Lab::default();
            let manager = manager(
                order
                    .iter()
                    .map(|(name, deps)| lab.plugin(name).deps_slice(deps).spec()),
            );
            assert_eq!(manager.start_order(), expected, "input {order:?}");
            let names: Vec<_> = manager.records().into_iter().map(|r| r.name).collect();
            assert_eq!(names, expected);
        }
    }
}

/// Asserts that, in `changes`, for each pair `(a, b)`, `a` entered `first` before `b` entered
/// `then`.
fn assert_each_before<'a>(
    changes: &[StateChange],
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    first: PluginState,
    then: PluginState,
) {
    for (a, b) in pairs {
        assert!(
            index_of(changes, a, first) < index_of(changes, b, then),
            "`{a}` must be {first} before `{b}` is {then}: {:?}",
            moves(changes)
        );
    }
}

/// `(dependent, dependency)` pairs of [`diamond`], the optional dependency included.
const DIAMOND: [(&str, &str); 5] = [
    ("left", "base"),
    ("right", "base"),
    ("top", "left"),
    ("top", "right"),
    ("user", "extra"),
];

/// A diamond under `top`, and `user` optionally using `extra`; the plugins lower in the graph
/// are slower, so a start that did not wait for dependencies would be caught.
fn diamond(lab: &Lab, hook: Hook) -> Vec<PluginSpec> {
    let ms = Duration::from_millis;
    vec![
        lab.plugin("base").delay(hook, ms(30)).spec(),
        lab.plugin("left").deps(["base"]).delay(hook, ms(20)).spec(),
        lab.plugin("right")
            .deps(["base"])
            .delay(hook, ms(10))
            .spec(),
        lab.plugin("top").deps(["left", "right"]).spec(),
        lab.plugin("extra").delay(hook, ms(30)).spec(),
        lab.plugin("user").optional_deps(["extra"]).spec(),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_plugin_starts_only_once_its_dependencies_are_enabled() {
    let lab = Lab::default();
    let manager = manager(diamond(&lab, Hook::Setup));
    let mut feed = manager.state_changes();
    within("start", manager.start()).await;
    let changes = drain(&mut feed);
    let dependency_first = DIAMOND.map(|(dependent, dependency)| (dependency, dependent));
    assert_each_before(&changes, dependency_first, Enabled, Loaded);
    assert_eq!(manager.enabled().len(), 6);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_plugin_only_after_every_plugin_that_depends_on_it() {
    for hook in [Hook::Disable, Hook::Teardown] {
        // Here the plugins higher in the graph are the slow ones.
        let ms = Duration::from_millis;
        let lab = Lab::default();
        let manager = started([
            lab.plugin("base").spec(),
            lab.plugin("left").deps(["base"]).delay(hook, ms(10)).spec(),
            lab.plugin("right")
                .deps(["base"])
                .delay(hook, ms(20))
                .spec(),
            lab.plugin("top")
                .deps(["left", "right"])
                .delay(hook, ms(30))
                .spec(),
            lab.plugin("extra").spec(),
            lab.plugin("user")
                .optional_deps(["extra"])
                .delay(hook, ms(30))
                .spec(),
        ])
        .await;
        let mut feed = manager.state_changes();
        within("shutdown", manager.shutdown()).await;
        let changes = drain(&mut feed);
        assert_each_before(&changes, DIAMOND, TornDown, Disabled);
        assert_eq!(manager.records().len(), 6);
        for record in manager.records() {
            assert_eq!(record.state, TornDown, "{record:#?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn independent_plugins_start_without_waiting_for_each_other() {
    let lab = Lab::default();
    let manager = manager(diamond(&lab, Hook::Setup));
    let mut feed = manager.state_changes();
    within("start", manager.start()).await;
    let changes = drain(&mut feed);
    let enabled_at = |plugin: &str| changes[index_of(&changes, plugin, Enabled)].at;
    let ms = Duration::from_millis;
    // Each chain takes as long as its own slowest path, not the sum of everything.
    assert_eq!(enabled_at("base"), ms(30));
    assert_eq!(enabled_at("extra"), ms(30));
    assert_eq!(enabled_at("right"), ms(40));
    assert_eq!(enabled_at("left"), ms(50));
    assert_eq!(enabled_at("top"), ms(50));
    assert_eq!(enabled_at("user"), ms(30));
}

/// Builds `count` independent plugins whose `hook` waits until all of them are in it: only a
/// manager that runs them at the same time gets them through. Run one by one, the first would
/// wait until its deadline (instant on the paused clock) and fail.
fn rendezvous(lab: &Lab, count: usize, hook: Hook) -> Vec<PluginSpec> {
    let barrier = Arc::new(Barrier::new(count));
    (0..count)
        .map(|i| {
            lab.plugin(&format!("p{i}"))
                .waits(hook, barrier.clone())
                .spec()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn independent_setups_run_at_the_same_time() {
    let lab = Lab::default();
    let began = Instant::now();
    let manager = started(rendezvous(&lab, 8, Hook::Setup)).await;
    assert_eq!(manager.enabled().len(), 8, "{:#?}", manager.records());
    assert_eq!(began.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn independent_teardowns_run_at_the_same_time() {
    let lab = Lab::default();
    let manager = started(rendezvous(&lab, 8, Hook::Teardown)).await;
    within("shutdown", manager.shutdown()).await;
    for record in manager.records() {
        assert_eq!(record.state, TornDown, "{record:#?}");
    }
}

/// The demo bot's plugins, as metadata.
fn demo_metadata() -> Vec<PluginMetadata> {
    let v = |m: PluginMetadata| m.with_version("0.1.0");
    vec![
        v(PluginMetadata::new("greeter")
            .with_deps(["commands"])
            .with_optional_deps(["dice"])),
        v(PluginMetadata::new("dice-stats").with_deps(["dice", "commands"])),
        v(PluginMetadata::new("help").with_deps(["commands"])),
        v(PluginMetadata::new("dice").with_deps(["commands"])),
        v(PluginMetadata::new("commands")),
    ]
}

#[test]
fn dot_has_one_node_per_plugin_and_one_edge_per_dependency() {
    let dot = plugin_manager::GraphView::new(&demo_metadata()).to_dot();
    let expected = r#"digraph plugins {
    rankdir=BT;
    node [shape=box];
    "commands" [label="commands 0.1.0"];
    "dice" [label="dice 0.1.0"];
    "dice-stats" [label="dice-stats 0.1.0"];
    "greeter" [label="greeter 0.1.0"];
    "help" [label="help 0.1.0"];
    "dice" -> "commands";
    "dice-stats" -> "dice";
    "dice-stats" -> "commands";
    "greeter" -> "commands";
    "greeter" -> "dice" [style=dashed];
    "help" -> "commands";
}
"#;
    assert_eq!(dot, expected);
}

#[test]
fn mermaid_draws_the_same_edges_with_dashed_optional_ones() {
    let view = plugin_manager::GraphView::new(&demo_metadata());
    let mermaid = view.render(plugin_manager::GraphFormat::Mermaid);
    assert!(mermaid.starts_with("flowchart BT\n"), "{mermaid}");
    let edges: Vec<&str> = mermaid.lines().filter(|l| l.contains("->")).collect();
    assert_eq!(
        edges,
        [
            "    dice --> commands",
            "    dice-stats --> dice",
            "    dice-stats --> commands",
            "    greeter --> commands",
            "    greeter -.-> dice",
            "    help --> commands",
        ]
    );
    assert!(
        mermaid.contains("\n    dice[\"dice 0.1.0\"]\n"),
        "{mermaid}"
    );
}

#[test]
fn an_optional_plugin_that_is_absent_has_no_edge() {
    let without_dice: Vec<_> = demo_metadata()
        .into_iter()
        .filter(|m| !m.name.starts_with("dice"))
        .collect();
    let view = plugin_manager::GraphView::new(&without_dice);
    assert_eq!(
        view.edges().collect::<Vec<_>>(),
        [("greeter", "commands", false), ("help", "commands", false)]
    );
}
