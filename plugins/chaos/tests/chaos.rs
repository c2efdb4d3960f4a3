//! The chaos plugin under the test harness: it fails where and how `CHAOS_FAULT` and
//! `CHAOS_HOOK` say, and its failure stays its own.
//!
//! The plugin reads those variables in its constructor. Changing the environment of a running
//! test binary is not sound (other test threads read it), so each case runs this binary again
//! as a child process with the variables set, running one ignored test that checks the case;
//! the parent only checks that the child passed.

use std::process::Command;
use std::time::Duration;

use chat_api::ChatMessage;
use plugin_chaos::Chaos;
use plugin_core::host::Hook;
use plugin_manager::testing::{RunningBed, TestBed, TestBedError, within};
use plugin_manager::{Failure, FailureKind, Phase, PluginState};

const SECOND: Duration = Duration::from_secs(1);

/// Set in a child process: which case it checks.
const CASE: &str = "CHAOS_TEST_CASE";

/// Runs the ignored test `case` in a child process with `CHAOS_FAULT=fault` and
/// `CHAOS_HOOK=hook` (each unset when `None`), and fails if it fails.
fn in_child(case: &str, fault: Option<&str>, hook: Option<&str>) {
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"));
    child
        .args([case, "--exact", "--ignored", "--test-threads=1"])
        .env(CASE, case)
        .env_remove("CHAOS_FAULT")
        .env_remove("CHAOS_HOOK");
    if let Some(fault) = fault {
        child.env("CHAOS_FAULT", fault);
    }
    if let Some(hook) = hook {
        child.env("CHAOS_HOOK", hook);
    }
    let output = child.output().expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "case `{case}` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether this process is the child running `case` (an ignored test run by hand is not).
fn is_child_for(case: &str) -> bool {
    std::env::var(CASE).is_ok_and(|c| c == case)
}

/// The chaos plugin and the command router, as they came out of the start.
async fn started() -> Result<RunningBed, TestBedError> {
    TestBed::new()
        .plugin::<Chaos>()
        .manager_settings(|manager| manager.hook_timeout(SECOND))
        .start_allowing_failures()
        .await
}

/// Says `!chaos` and returns the reply.
async fn say_chaos(bed: &RunningBed) -> Result<String, TestBedError> {
    let (message, mut replies) = ChatMessage::new("ada", "!chaos");
    bed.publish(message);
    let reply = within(SECOND, "the reply to `!chaos`", replies.next()).await?;
    Ok(reply.expect("the router answers").text)
}

/// Checks that chaos failed with `failure` and that the router it needs still runs.
fn failed_alone(bed: &RunningBed, failure: Failure) {
    let chaos = bed.record("chaos").expect("chaos is in the bed");
    assert_eq!(chaos.state, PluginState::Failed);
    assert_eq!(chaos.last_error, Some(failure));
    assert_eq!(bed.state("commands"), Some(PluginState::Enabled));
}

fn error(phase: Phase, place: &str) -> Failure {
    Failure::new(
        phase,
        FailureKind::Error(format!("chaos: error in {place}, as asked")),
    )
}

#[test]
fn without_a_fault_it_behaves() {
    in_child("child_without_a_fault", None, None);
}

#[test]
fn an_error_in_setup_fails_only_chaos() {
    in_child("child_error_in_setup", Some("error"), Some("setup"));
}

#[test]
fn a_panic_in_on_enable_fails_only_chaos() {
    in_child("child_panic_in_on_enable", Some("panic"), Some("on_enable"));
}

#[test]
fn a_hang_in_setup_times_out() {
    in_child("child_hang_in_setup", Some("hang"), Some("setup"));
}

#[test]
fn an_error_in_the_constructor_fails_only_chaos() {
    in_child(
        "child_error_in_constructor",
        Some("error"),
        Some("constructor"),
    );
}

#[test]
fn the_command_fault_strikes_in_the_background() {
    in_child("child_command_fault", Some("error"), Some("command"));
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `without_a_fault_it_behaves` in a child process"]
async fn child_without_a_fault() -> Result<(), TestBedError> {
    if !is_child_for("child_without_a_fault") {
        return Ok(());
    }
    let bed = TestBed::new().plugin::<Chaos>().start().await?;
    assert_eq!(
        say_chaos(&bed).await?,
        "chaos: not armed (set CHAOS_FAULT and CHAOS_HOOK=command)"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `an_error_in_setup_fails_only_chaos` in a child process"]
async fn child_error_in_setup() -> Result<(), TestBedError> {
    if !is_child_for("child_error_in_setup") {
        return Ok(());
    }
    let bed = started().await?;
    failed_alone(&bed, error(Phase::Hook(Hook::Setup), "setup"));
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `a_panic_in_on_enable_fails_only_chaos` in a child process"]
async fn child_panic_in_on_enable() -> Result<(), TestBedError> {
    if !is_child_for("child_panic_in_on_enable") {
        return Ok(());
    }
    let bed = started().await?;
    let panic = FailureKind::Panic("chaos: panic in on_enable, as asked".into());
    failed_alone(&bed, Failure::new(Phase::Hook(Hook::Enable), panic));
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `a_hang_in_setup_times_out` in a child process"]
async fn child_hang_in_setup() -> Result<(), TestBedError> {
    if !is_child_for("child_hang_in_setup") {
        return Ok(());
    }
    let bed = started().await?;
    let timeout = FailureKind::Timeout(SECOND);
    failed_alone(&bed, Failure::new(Phase::Hook(Hook::Setup), timeout));
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `an_error_in_the_constructor_fails_only_chaos` in a child process"]
async fn child_error_in_constructor() -> Result<(), TestBedError> {
    if !is_child_for("child_error_in_constructor") {
        return Ok(());
    }
    let bed = started().await?;
    failed_alone(&bed, error(Phase::Constructor, "constructor"));
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
#[ignore = "run by `the_command_fault_strikes_in_the_background` in a child process"]
async fn child_command_fault() -> Result<(), TestBedError> {
    if !is_child_for("child_command_fault") {
        return Ok(());
    }
    let bed = TestBed::new().plugin::<Chaos>().start().await?;
    assert_eq!(say_chaos(&bed).await?, "chaos: striking");
    bed.wait_for_state("chaos", PluginState::Failed, SECOND)
        .await?;
    failed_alone(&bed, error(Phase::Background, "background task"));
    bed.shutdown().await;
    Ok(())
}
