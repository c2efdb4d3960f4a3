//! An application outside this workspace, `examples/greenhouse`, written as a user writes
//! one: its own workspace, plugin crates selected with `dep:` features (a bundle feature, a
//! renamed package, a workspace-inherited dependency, a target-specific table), a non-plugin
//! optional dependency, and `plugin_manager::link_plugins!();` as its only linking code. It is
//! built and run in debug and release for several feature sets.
//!
//! Ignored by default: it runs nested cargo builds of another workspace (about 2 minutes on
//! 2 cores from cold). `.ci/run` runs it: `cargo test --test external_app -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// How the application's `main` prints a plugin: `name (package): state`.
fn line(name: &str, package: &str) -> String {
    format!("{name} ({package}): enabled")
}

fn app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/greenhouse")
}

/// Builds and runs the application with `args` (features, profile).
fn run(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("greenhouse");
    Command::new(cargo)
        .args(["run", "--quiet", "--locked", "--manifest-path"])
        .arg(app().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        .args(args)
        .output()
        .expect("cargo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs with `args` and checks that it succeeds with exactly `expected` (sorted by name, as
/// the app prints in start order and these have no dependencies between them but one).
fn enables_exactly(args: &[&str], expected: &[(&str, &str)]) -> String {
    let output = run(args);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: exit {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        text(&output.stderr)
    );
    let mut printed: Vec<&str> = stdout.lines().filter(|l| l.contains("): ")).collect();
    printed.sort_unstable();
    let mut wanted: Vec<String> = expected.iter().map(|(n, p)| line(n, p)).collect();
    wanted.sort();
    assert_eq!(printed, wanted, "{args:?}");
    stdout
}

const CLIMATE: &[(&str, &str)] = &[
    ("logger", "greenhouse-logger"),
    ("sensor", "greenhouse-sensor"),
    ("watering", "greenhouse-watering"),
];

#[test]
#[ignore = "builds another workspace; run by .ci/run with --ignored"]
fn an_external_application_links_exactly_the_plugins_its_features_select() {
    // The default feature is a bundle: `dep:` entries plus a feature enabling a feature.
    let stdout = enables_exactly(&[], CLIMATE);
    let watering = stdout.find("watering (").expect("watering listed");
    let sensor = stdout.find("sensor (").expect("sensor listed");
    assert!(sensor < watering, "watering depends on sensor:\n{stdout}");

    // The same in release, where the linker drops everything unreferenced.
    enables_exactly(&["--release"], CLIMATE);

    // A target-specific plugin, and an optional dependency that is no plugin (`fastrand`):
    // it is neither linked as one nor reported as a crate that registered nothing.
    let mut with_alarm = CLIMATE.to_vec();
    if cfg!(unix) {
        with_alarm.push(("alarm", "greenhouse-alarm"));
    }
    let stdout = enables_exactly(&["--features", "alarm,jitter"], &with_alarm);
    assert!(stdout.contains("jitter: "), "{stdout}");

    // No plugin selected: an empty set, and no complaint.
    enables_exactly(&["--no-default-features"], &[]);
    enables_exactly(
        &["--no-default-features", "--features", "logging"],
        &[("logger", "greenhouse-logger")],
    );
}

#[test]
#[ignore = "builds another workspace; run by .ci/run with --ignored"]
fn a_selected_plugin_crate_that_registered_nothing_is_refused_by_name() {
    let output = run(&["--features", "broken"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "greenhouse: invalid plugin set\n  - plugin crate `greenhouse-empty` is selected but \
         registered no plugin: put `#[plugin(...)]` on a type in it, or leave it out of the \
         application's features (a crate that uses plugin-core without being a plugin crate \
         says so in its Cargo.toml: `[package.metadata.plugin-core] plugin-crate = false`)",
    );
    assert!(
        text(&output.stdout).is_empty(),
        "nothing started:\n{}",
        text(&output.stdout)
    );
}
