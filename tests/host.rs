//! The host binary end to end, with the default plugins: what a user types and sees.

mod common;

use common::{assert_dependency_order, chatbot, parse_list, run_with_input, stdout};

#[test]
fn list_json_shows_every_default_plugin_enabled_after_its_dependencies() {
    let mut command = chatbot();
    command.args(["list", "--json"]);
    let plugins = parse_list(&run_with_input(command, ""));
    let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["commands", "dice", "dice-stats", "greeter", "help"]);
    for plugin in &plugins {
        assert_eq!(plugin.state, "enabled", "{plugin:?}");
        assert_eq!(plugin.error, None);
        assert_eq!(plugin.version, env!("CARGO_PKG_VERSION"));
    }
    assert_eq!(plugins[2].deps, ["dice", "commands"]);
    assert_dependency_order(&plugins);
}

#[test]
fn chat_lines_reach_plugins_and_replies_come_back() {
    let output = run_with_input(
        chatbot(),
        "ada: hello\nada: !roll 3d6\nbob: hi\nada: hello again\nada: !stats\nada: !nonsense\n",
    );
    let out = stdout(&output);
    assert!(out.contains("[greeter] Welcome, ada!"), "{out}");
    assert!(out.contains("[greeter] Welcome, bob!"), "{out}");
    assert!(out.contains("[greeter] Hello again, ada!"), "{out}");
    assert!(
        out.contains("[commands] unknown command `!nonsense`"),
        "{out}"
    );

    let roll = out
        .lines()
        .find_map(|l| l.strip_prefix("[dice] ada rolled 3d6: "))
        .unwrap_or_else(|| panic!("no roll in:\n{out}"));
    let (dice, total) = roll.split_once(" = ").expect("`a + b + c = total`");
    let dice: Vec<u32> = dice.split(" + ").map(|d| d.parse().unwrap()).collect();
    assert_eq!(dice.len(), 3);
    assert!(dice.iter().all(|d| (1..=6).contains(d)));
    let total: u32 = total.parse().unwrap();
    assert_eq!(dice.iter().sum::<u32>(), total);
    // dice-stats heard the dice plugin's event, not the chat line.
    assert!(
        out.contains(&format!("[dice-stats] ada: 1 rolls, best {total}")),
        "{out}"
    );
}

#[test]
fn operator_commands_control_plugins_and_refusals_change_nothing() {
    let output = run_with_input(
        chatbot(),
        "op: !disable commands\n\
         op: !disable dice\n\
         op: !disable dice --cascade\n\
         ada: !roll\n\
         op: !enable dice-stats\n\
         op: !restart nosuch\n\
         op: !plugins\n",
    );
    let out = stdout(&output);
    assert!(
        out.contains("error: cannot disable plugin `commands`: enabled plugins depend on it: dice, dice-stats, greeter, help"),
        "{out}"
    );
    assert!(
        out.contains(
            "error: cannot disable plugin `dice`: enabled plugins depend on it: dice-stats"
        ),
        "{out}"
    );
    assert!(out.contains("ok: dice disabled"), "{out}");
    assert!(out.contains("* dice-stats: enabled -> disabled"), "{out}");
    assert!(
        out.contains("`!roll` is unavailable: plugin `dice` is not enabled"),
        "{out}"
    );
    // Enabling dice-stats enables its disabled dependency first; the state changes come
    // before the confirmation (and after the previous command's).
    let enable = out.find("ok: dice-stats enabled").expect(&out);
    let before = &out[..enable];
    let dice = before.rfind("* dice: disabled -> enabled").expect(&out);
    let stats = before
        .rfind("* dice-stats: disabled -> enabled")
        .expect(&out);
    assert!(before.find("ok: dice disabled") < Some(dice), "{out}");
    assert!(dice < stats, "{out}");
    assert!(out.contains("error: no plugin named `nosuch`"), "{out}");
}

#[test]
fn restart_gives_fresh_instances_to_the_plugin_and_its_dependents() {
    let output = run_with_input(chatbot(), "ada: hi\nop: !restart commands\nada: hi\n");
    let out = stdout(&output);
    assert!(out.contains("ok: commands restarted"), "{out}");
    for plugin in ["help", "greeter", "dice-stats", "dice"] {
        assert!(
            out.contains(&format!("* {plugin}: disabled -> torn_down")),
            "{plugin}: {out}"
        );
        assert!(
            out.contains(&format!("* {plugin}: setup -> enabled")),
            "{plugin}: {out}"
        );
    }
    // The greeter is a fresh instance: it has forgotten ada.
    assert_eq!(out.matches("[greeter] Welcome, ada!").count(), 2, "{out}");
}

#[test]
fn end_of_input_shuts_down_in_reverse_order_and_reports() {
    let out = stdout(&run_with_input(chatbot(), ""));
    assert!(out.starts_with("started:\n"), "{out}");
    let report = &out[out.find("stopped:").expect(&out)..];
    let order: Vec<&str> = report
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(order, ["help", "greeter", "dice-stats", "dice", "commands"]);
    assert_eq!(report.matches("torn_down").count(), 5, "{report}");
}

#[test]
fn lines_that_are_not_chat_are_ignored_with_a_hint() {
    let out = stdout(&run_with_input(chatbot(), "no colon here\n\n"));
    assert!(out.contains("(ignored: write `user: text`)"), "{out}");
}

/// Many more lines than the stdout backlog holds, each with exactly one answer: stdout has
/// every answer once, in the order of the lines, however the writer grouped its writes.
#[test]
fn answers_come_out_once_each_in_the_order_of_the_lines() {
    let speakers = 2000;
    let input: String = (0..speakers)
        .map(|n| format!("u{n}: hello\nu{n}: nothing much\n"))
        .collect();
    let out = stdout(&run_with_input(chatbot(), &input));
    let chat: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("chat: type"))
        .skip(1)
        .take_while(|l| *l != "shutting down")
        .collect();
    let expected: Vec<String> = (0..speakers)
        .flat_map(|n| {
            [
                format!("[greeter] Welcome, u{n}! Try `!roll 2d6`."),
                "(no plugin answered)".to_owned(),
            ]
        })
        .collect();
    assert_eq!(chat, expected, "{out}");
}
