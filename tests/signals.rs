//! Signals against a host whose chaos plugin hangs (ignored: they build the host with
//! `--features plugin-chaos` in a target directory of their own; `.ci/run` runs them in its
//! slow step): a signal during start-up tears down what started; a second signal during a
//! shutdown that hangs exits at once and names what was abandoned.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Session, chaos_chatbot};

/// Waits (bounded) until the host has installed its SIGTERM handler.
fn wait_for_handlers(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !common::catches_signal(pid, 15) {
        assert!(std::time::Instant::now() < deadline, "no SIGTERM handler");
        std::thread::yield_now();
    }
}

#[test]
#[ignore = "builds the host with plugin-chaos; run by .ci/run with --ignored"]
#[cfg(target_os = "linux")]
fn sigterm_during_start_up_tears_down_what_started() {
    let mut command = Command::new(chaos_chatbot());
    command
        .args(["--hook-timeout", "3s"])
        .envs([("CHAOS_FAULT", "hang"), ("CHAOS_HOOK", "setup")]);
    let mut bot = Session::start_logged(command, "plugin_manager=debug");
    wait_for_handlers(bot.pid());
    // The signal goes once the five other plugins are enabled, while the chaos plugin's
    // setup hangs (for 3 s): the start-up is still going on, with something to tear down.
    for _ in 0..5 {
        bot.expect_log("a plugin enabled", |l| {
            l.contains("plugin state") && l.contains("to=enabled")
        });
    }
    bot.signal("TERM");
    let (status, seen) = bot.exit_within(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l == "terminate during start-up: tearing down what started"),
        "{seen:#?}"
    );
    assert!(!seen.iter().any(|l| l.starts_with("chat:")), "{seen:#?}");
    let report: Vec<&String> = seen.iter().skip_while(|l| *l != "stopped:").collect();
    assert_eq!(
        report.iter().filter(|l| l.contains("torn_down")).count(),
        5,
        "{seen:#?}"
    );
}

#[test]
#[ignore = "builds the host with plugin-chaos; run by .ci/run with --ignored"]
fn a_second_signal_during_a_hung_shutdown_exits_at_once_naming_what_was_abandoned() {
    let mut command = Command::new(chaos_chatbot());
    command
        .args(["--hook-timeout", "10m", "--shutdown-timeout", "10m"])
        .envs([("CHAOS_FAULT", "hang"), ("CHAOS_HOOK", "teardown")]);
    let mut bot = Session::start(command);
    bot.expect("chat: type");
    bot.signal("TERM");
    bot.expect("shutting down");
    // The chaos plugin's teardown never returns; without a second signal this would wait
    // for ten minutes.
    bot.signal("INT");
    bot.expect("interrupt again: exiting now");
    let abandoned = bot.expect("abandoned");
    assert!(
        abandoned.starts_with("abandoned, not torn down: "),
        "{abandoned}"
    );
    assert!(abandoned.contains("chaos ("), "{abandoned}");
    assert!(abandoned.contains("commands ("), "{abandoned}");
    let (status, seen) = bot.exit_within(Duration::from_secs(60));
    let status = status.unwrap_or_else(|| panic!("no exit after the second signal:\n{seen:#?}"));
    assert!(
        !status.success(),
        "an abandoned shutdown is a failure: {status:?}"
    );
}
