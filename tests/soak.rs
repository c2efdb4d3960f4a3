//! A soak test (ignored; `.ci/run` runs it in its slow step): for at least 30 s, random
//! operator commands and configuration rewrites, valid and invalid, against the host binary
//! built with the chaos plugin, which panics in a background task at every `!chaos` and is
//! brought back by its restart policy.
//! Checks that every state change is printed once and in order (each line starts from the
//! state the previous one left), that no enabled plugin has a dependency that is not
//! enabled, that the memory stays flat, and that the host exits within its shutdown deadline
//! after EOF.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::process::Command;

use common::{Session, chaos_chatbot, rss_kib, table_rows};

const PLUGINS: [&str; 6] = ["chaos", "commands", "dice", "dice-stats", "greeter", "help"];

/// The chaos plugin's section: restarted after each crash.
const CHAOS: &str = "[chaos]\nrestart = \"on-failure\"\n";

fn last_table(seen: &[String], title: &str) -> Vec<(String, String, Vec<String>)> {
    let at = seen.iter().rposition(|l| l == title).expect(title);
    table_rows(&seen[at..])
}

#[test]
#[ignore = "runs for 30 s; run by .ci/run with --ignored"]
fn random_operations_and_config_rewrites_keep_the_host_consistent() {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x50a6);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(&config, CHAOS).unwrap();
    let mut command = Command::new(chaos_chatbot());
    command
        .arg("--config")
        .arg(&config)
        .args(["--shutdown-timeout", "10s"])
        .envs([("CHAOS_FAULT", "panic"), ("CHAOS_HOOK", "command")]);
    let mut bot = Session::start(command);
    bot.expect("chat: type");
    // One crash before the baseline: with RUST_BACKTRACE set (as in CI), the first panic makes
    // the panic hook load the binary's debug info to print a backtrace, over 100 MB for a
    // debug build, kept for the next ones. That is a one-time cost, not growth.
    bot.send("ada: !chaos");
    bot.expect("* chaos: setup -> enabled");
    let rss_start = rss_kib(bot.pid());

    let texts = [
        "",
        "[help]\nenabled = false\n",
        "[dice]\nmax_dice = 3\n",
        "[dice]\nmax_dice = \"lots\"\n",
        "[dice]\nenabled = false\n",
        "not toml [[[\n",
        "[greeter]\nenabled = true\n[help]\nenabled = true\n",
        CHAOS,
        "[chaos]\nrestart = \"never\"\n",
    ];
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 200_000 && (started.elapsed() < Duration::from_secs(30) || rounds < 100) {
        rounds += 1;
        let plugin = PLUGINS[rng.usize(..PLUGINS.len())];
        match rng.u8(0..8) {
            0 => bot.send(&format!("op: !enable {plugin}")),
            1 => bot.send(&format!("op: !disable {plugin}")),
            2 => bot.send(&format!("op: !disable {plugin} --cascade")),
            3 => bot.send(&format!("op: !restart {plugin}")),
            4 => bot.send("op: !plugins"),
            5 => {
                std::fs::write(&config, texts[rng.usize(..texts.len())]).unwrap();
                bot.send("op: !reload-config");
            }
            6 => bot.send("ada: !chaos"),
            _ => bot.send("ada: !roll 1d6"),
        }
        // A line that is not chat: its hint comes after everything the command printed.
        bot.send("sync");
        bot.expect("(ignored: write `user: text`)");
    }
    bot.send("op: !plugins");
    bot.send("sync");
    bot.expect("(ignored: write `user: text`)");
    let rss_end = rss_kib(bot.pid());

    let seen = bot.seen().to_vec();
    // Every change line starts from the state the previous one left: none is printed twice
    // or lost.
    let mut states: HashMap<String, String> = last_table(&seen, "started:")
        .into_iter()
        .map(|(name, state, _)| (name, state))
        .collect();
    let mut changes = 0;
    for line in &seen {
        assert!(!line.starts_with("* ("), "the host missed changes: {line}");
        let Some(change) = line.strip_prefix("* ") else {
            continue;
        };
        let (plugin, rest) = change.split_once(": ").expect(line);
        let (from, to) = rest.split_once(" -> ").expect(line);
        let to = to.split_whitespace().next().unwrap();
        let now = states.get_mut(plugin).expect(line);
        assert_eq!(now, from, "seed {seed}: {line} after {plugin} was {now}");
        *now = to.to_owned();
        changes += 1;
    }
    assert!(
        changes > 0,
        "seed {seed}: no state changed in {rounds} rounds"
    );
    let last = last_table(&seen, "plugins:");
    let enabled: Vec<&str> = last
        .iter()
        .filter(|(_, state, _)| state == "enabled")
        .map(|(name, _, _)| name.as_str())
        .collect();
    for (name, state, deps) in &last {
        // The chaos plugin's automatic restarts run on their own schedule, so its line in
        // the table may be a moment behind the change lines printed around it.
        if name != "chaos" {
            assert_eq!(&states[name], state, "seed {seed}: {name}");
        }
        if state == "enabled" {
            for dep in deps {
                assert!(
                    enabled.contains(&dep.as_str()),
                    "seed {seed}: {name} is enabled, {dep} is not"
                );
            }
        }
    }
    if let (Some(start), Some(end)) = (rss_start, rss_end) {
        assert!(
            end < 2 * start + 20 * 1024,
            "seed {seed}: RSS grew from {start} KiB to {end} KiB"
        );
    }
    let (status, seen) = bot.exit_within(Duration::from_secs(40));
    assert!(
        status.is_some_and(|s| s.success()),
        "seed {seed}: no clean exit within the shutdown deadline after EOF ({status:?}):\n{}",
        seen[seen.len().saturating_sub(30)..].join("\n")
    );
}
