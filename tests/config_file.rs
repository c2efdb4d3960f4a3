//! The host with a configuration file: per-plugin settings, errors with file and line, and
//! changes applied while the bot runs, on `!reload-config` and by watching the file.

mod common;

use std::fs;

use common::{Session, chatbot, parse_list, run_with_input, stdout};

fn with_config(dir: &tempfile::TempDir, text: &str) -> std::process::Command {
    let path = dir.path().join("plugins.toml");
    fs::write(&path, text).unwrap();
    let mut command = chatbot();
    command.arg("--config").arg(&path).current_dir(dir.path());
    command
}

#[test]
fn a_plugin_reads_its_section() {
    let dir = tempfile::tempdir().unwrap();
    let command = with_config(&dir, "[dice]\nmax_dice = 2\ndefault = \"1d20\"\n");
    let out = stdout(&run_with_input(command, "ada: !roll 3d6\nada: !roll\n"));
    assert!(
        out.contains("[dice] !roll failed: `3d6`: roll 1 to 2 dice of 2 to 1000 sides"),
        "{out}"
    );
    assert!(out.contains("[dice] ada rolled 1d20: "), "{out}");
}

#[test]
fn list_shows_where_each_plugin_is_configured_from_and_what_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = with_config(&dir, "[help]\nenabled = false\n\n[dice]\nmax_dice = 5\n");
    command.args(["list", "--json"]);
    let output = run_with_input(command, "");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let field = |name: &str, key: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p[key].clone())
            .unwrap()
    };
    assert!(
        field("dice", "config")
            .as_str()
            .unwrap()
            .ends_with("plugins.toml:4")
    );
    assert_eq!(field("greeter", "config"), "default");
    assert_eq!(field("help", "state"), "unloaded");
    assert_eq!(field("dice", "state"), "enabled");
}

#[test]
fn an_invalid_section_fails_its_plugin_with_file_and_line_and_the_rest_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = with_config(&dir, "[dice]\n\nmax_dice = \"lots\"\n");
    command.args(["list", "--json"]);
    let plugins = parse_list(&run_with_input(command, ""));
    for plugin in &plugins {
        match plugin.name.as_str() {
            "dice" => {
                let error = plugin.error.as_deref().unwrap();
                assert!(error.starts_with("invalid configuration: "), "{error}");
                assert!(
                    error.ends_with(
                        "plugins.toml:3: key `dice.max_dice`: invalid type: string \"lots\", expected u32"
                    ),
                    "{error}"
                );
            }
            "dice-stats" => assert_eq!(plugin.error.as_deref(), Some("dependency `dice` failed")),
            _ => assert_eq!(plugin.state, "enabled", "{plugin:?}"),
        }
    }
}

#[test]
fn a_file_that_is_not_toml_stops_the_host_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = with_config(&dir, "[dice]\nmax_dice = = 3\n");
    let output = command.args(["list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plugins.toml:2: "), "{stderr}");
}

#[test]
fn reload_config_applies_changes_and_refuses_an_invalid_file_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.toml");
    let mut bot = Session::start(with_config(&dir, "[dice]\nmax_dice = 2\n"));
    bot.expect("chat: type");

    // A section change restarts dice (and dice-stats, which depends on it) with it.
    fs::write(&path, "[dice]\nmax_dice = 50\n[help]\nenabled = false\n").unwrap();
    bot.send("op: !reload-config");
    bot.expect("config: reloaded");
    bot.expect("  - help: switched off");
    bot.expect("  - dice: restarted with its new configuration");
    bot.send("ada: !roll 40d6");
    bot.expect("[dice] ada rolled 40d6: ");
    bot.send("ada: !help");
    bot.expect("`!help` is unavailable: plugin `help` is not enabled");

    // An invalid file changes nothing.
    fs::write(&path, "[dice]\nmax_dice = -1\n[greeter]\nenabled = false\n").unwrap();
    bot.send("op: !reload-config");
    bot.expect("config: reload refused, nothing changed:");
    bot.expect("plugins.toml:2: key `dice.max_dice`");
    bot.send("bob: hello");
    bot.expect("[greeter] Welcome, bob!");
    bot.send("ada: !roll 40d6");
    bot.expect("[dice] ada rolled 40d6: ");
    bot.finish();
}

#[test]
fn editing_the_file_while_the_bot_runs_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.toml");
    let mut bot = Session::start(with_config(&dir, "[dice]\nmax_dice = 2\n"));
    bot.expect("chat: type");
    fs::write(&path, "[dice]\nmax_dice = 2\n[greeter]\nenabled = false\n").unwrap();
    bot.expect("changed");
    bot.expect("  - greeter: switched off");
    bot.expect("* greeter: enabled -> disabled");
    bot.finish();
}
