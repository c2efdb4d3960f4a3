//! Cargo features select plugins: for several feature sets, the host runs exactly the selected
//! plugins and the closure of their dependencies, no more and no fewer, in debug, release and
//! LTO builds. This is also the guard against the linker silently dropping a selected plugin:
//! the host itself refuses to start if a selected crate registered nothing, and a dropped
//! plugin would be missing from the list.
//!
//! Where the greeter is in, each build also gets a line of chat: its welcome suggests `!roll`
//! exactly when the dice plugin (its optional dependency) is compiled in.
//!
//! The builds go to their own target directory (inside the one this test was built in) and run
//! one after the other (they share the binary's path), so this is one test that walks through
//! every set.
//!
//! Ignored by default: six nested cargo builds (debug, release, fat LTO) take about 3 minutes
//! on 2 cores. `.ci/run` runs it: `cargo test --test feature_sets -- --ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Listed, assert_dependency_order, parse_list, run_with_input, stdout};

struct FeatureSet {
    what: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    expected: &'static [&'static str],
}

const SETS: &[FeatureSet] = &[
    FeatureSet {
        what: "no plugins at all",
        args: &["--no-default-features"],
        env: &[],
        expected: &[],
    },
    FeatureSet {
        what: "a leaf plugin alone brings its dependency",
        args: &["--no-default-features", "--features", "plugin-greeter"],
        env: &[],
        expected: &["commands", "greeter"],
    },
    FeatureSet {
        what: "the end of a deep chain brings the whole chain",
        args: &["--no-default-features", "--features", "plugin-dice-stats"],
        env: &[],
        expected: &["commands", "dice", "dice-stats"],
    },
    FeatureSet {
        what: "the default set plus chaos, panicking in setup",
        args: &["--features", "plugin-chaos"],
        env: &[("CHAOS_FAULT", "panic"), ("CHAOS_HOOK", "setup")],
        expected: &["chaos", "commands", "dice", "dice-stats", "greeter", "help"],
    },
    FeatureSet {
        what: "a release build",
        args: &[
            "--release",
            "--no-default-features",
            "--features",
            "plugin-dice-stats,plugin-help",
        ],
        env: &[],
        expected: &["commands", "dice", "dice-stats", "help"],
    },
    FeatureSet {
        what: "a fat-LTO build",
        args: &["--profile", "release-lto"],
        env: &[],
        expected: &["commands", "dice", "dice-stats", "greeter", "help"],
    },
];

#[test]
#[ignore = "six nested cargo builds; run by .ci/run with --ignored"]
fn each_feature_set_runs_exactly_its_plugins_and_their_dependencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("feature-sets");
    for set in SETS {
        let binary = build(root, &target, set);
        let mut command = Command::new(&binary);
        command
            .args(["list", "--json"])
            .envs(set.env.iter().copied());
        let plugins = parse_list(&run_with_input(command, ""));
        check(set, &plugins);
        if set.expected.contains(&"greeter") {
            let mut command = Command::new(&binary);
            command.envs(set.env.iter().copied());
            check_greeter_chat(set, &stdout(&run_with_input(command, CHAT)));
        }
        if set.expected.contains(&"chaos") {
            chaos_hang_is_cut_off_at_its_deadline(&binary);
            chaos_crash_is_restarted_by_its_policy(&binary);
        }
    }
}

/// The hang demo of `docs/lifecycle.md`: a hung `setup` is abandoned at `--hook-timeout`, everything else
/// starts; and a constructor that blocks its thread for good is cut off the same way, and the
/// host still exits.
fn chaos_hang_is_cut_off_at_its_deadline(binary: &Path) {
    for hook in ["setup", "constructor"] {
        let mut command = Command::new(binary);
        command
            .args(["--hook-timeout", "300ms", "list", "--json"])
            .envs([("CHAOS_FAULT", "hang"), ("CHAOS_HOOK", hook)]);
        for plugin in parse_list(&run_with_input(command, "")) {
            if plugin.name == "chaos" {
                let expected = format!("{hook} timed out after 300ms");
                assert_eq!(plugin.error.as_deref(), Some(expected.as_str()));
            } else {
                assert_eq!(plugin.state, "enabled", "{plugin:?}");
            }
        }
    }
}

/// The crash-and-restart demo of `docs/lifecycle.md`: `!chaos` crashes the plugin's background task, the
/// plugin fails, and its restart policy brings it back.
fn chaos_crash_is_restarted_by_its_policy(binary: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(&config, "[chaos]\nrestart = \"on-failure\"\n").unwrap();
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(&config)
        .envs([("CHAOS_FAULT", "panic"), ("CHAOS_HOOK", "command")]);
    let mut bot = common::Session::start(command);
    bot.expect("chat: type");
    bot.send("op: !chaos");
    bot.expect(
        "* chaos: enabled -> failed (background task panicked: chaos: panic in background task, as asked)",
    );
    bot.expect("* chaos: failed -> loaded");
    bot.expect("* chaos: setup -> enabled");
    bot.send("op: !plugins");
    bot.expect("chaos");
    bot.finish();
}

fn build(root: &Path, target: &Path, set: &FeatureSet) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--locked",
            "--bin",
            "chatbot",
            "--target-dir",
        ])
        .arg(target)
        .args(set.args)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "{}: cargo build {:?} failed",
        set.what,
        set.args
    );
    let profile_dir = match set.args.iter().position(|a| *a == "--profile") {
        Some(i) => set.args[i + 1],
        None if set.args.contains(&"--release") => "release",
        None => "debug",
    };
    target.join(profile_dir).join("chatbot")
}

fn check(set: &FeatureSet, plugins: &[Listed]) {
    let mut names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, set.expected, "{}: {:?}", set.what, set.args);
    assert_dependency_order(plugins);
    assert_optional_dependency_order(set, plugins);
    for plugin in plugins {
        if plugin.name == "chaos" {
            assert_eq!(plugin.state, "failed", "{}", set.what);
            assert_eq!(
                plugin.error.as_deref(),
                Some("setup panicked: chaos: panic in setup, as asked"),
                "{}",
                set.what
            );
        } else {
            assert_eq!(plugin.state, "enabled", "{}: {plugin:?}", set.what);
            assert_eq!(plugin.error, None, "{}: {plugin:?}", set.what);
        }
        if plugin.name == "greeter" {
            assert_eq!(plugin.optional_deps, ["dice"], "{}", set.what);
        }
    }
}

/// An optional dependency that is compiled in starts first, so it is listed first; one that
/// is not compiled in is no error (checked above: every plugin but chaos is enabled).
fn assert_optional_dependency_order(set: &FeatureSet, plugins: &[Listed]) {
    let position = |name: &str| plugins.iter().position(|p| p.name == name);
    for (i, plugin) in plugins.iter().enumerate() {
        for optional in &plugin.optional_deps {
            if let Some(at) = position(optional) {
                assert!(
                    at < i,
                    "{}: `{}` is listed before its optional dependency `{optional}`",
                    set.what,
                    plugin.name
                );
            }
        }
    }
}

/// A newcomer's first line, then the command the greeter's hint suggests.
const CHAT: &str = "ada: hello\nada: !roll 2d6\n";

/// The greeter suggests `!roll` exactly when the dice plugin is compiled in, and the
/// suggestion works.
fn check_greeter_chat(set: &FeatureSet, out: &str) {
    let with_dice = set.expected.contains(&"dice");
    let welcome = out
        .lines()
        .find(|line| line.starts_with("[greeter] Welcome, ada!"))
        .unwrap_or_else(|| panic!("{}: no welcome in:\n{out}", set.what));
    let (expected_welcome, roll_answer) = if with_dice {
        (
            "[greeter] Welcome, ada! Try `!roll 2d6`.",
            "[dice] ada rolled 2d6: ",
        )
    } else {
        (
            "[greeter] Welcome, ada!",
            "[commands] unknown command `!roll`",
        )
    };
    assert_eq!(welcome, expected_welcome, "{}:\n{out}", set.what);
    assert!(out.contains(roll_answer), "{}:\n{out}", set.what);
}
