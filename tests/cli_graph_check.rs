//! `chatbot graph` and `chatbot check` end to end: the default plugin set's edges in DOT and
//! Mermaid, and a check that fails with file:line for a bad configuration and passes for the
//! default set. (That neither runs a constructor or hook is proved with a counting plugin in
//! plugin-manager/tests/check.rs; here no chat line is read and nothing starts.)

use std::path::Path;
use std::process::{Command, Output};

/// Runs the host in `dir` (so that no `plugins.toml` of the checkout is picked up).
fn chatbot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatbot"))
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the host runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

#[test]
fn graph_prints_the_default_sets_edges_in_dot() {
    let dir = tempfile::tempdir().unwrap();
    let output = chatbot(dir.path(), &["graph"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let dot = stdout(&output);
    assert!(dot.starts_with("digraph plugins {\n"), "{dot}");
    for edge in [
        r#""dice" -> "commands";"#,
        r#""help" -> "commands";"#,
        r#""greeter" -> "commands";"#,
        r#""dice-stats" -> "dice";"#,
        r#""greeter" -> "dice" [style=dashed];"#,
    ] {
        assert!(dot.contains(edge), "{edge} missing from\n{dot}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        dot.contains(&format!(r#""dice" [label="dice {version}"];"#)),
        "{dot}"
    );
    assert!(dot.ends_with("}\n"), "{dot}");
}

#[test]
fn graph_in_mermaid_uses_arrows_and_dashes_optional_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = chatbot(dir.path(), &["graph", "--format", "mermaid"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mermaid = stdout(&output);
    assert!(
        mermaid.starts_with("graph") || mermaid.starts_with("flowchart"),
        "{mermaid}"
    );
    let lines: Vec<&str> = mermaid.lines().map(str::trim).collect();
    assert!(lines.contains(&"dice --> commands"), "{mermaid}");
    assert!(lines.contains(&"greeter -.-> dice"), "{mermaid}");
    assert!(!lines.contains(&"greeter --> dice"), "{mermaid}");
}

#[test]
fn graph_marks_what_the_configuration_switches_off_and_refuses_an_unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugins.toml"),
        "[dice-stats]\nenabled = false\n",
    )
    .unwrap();
    let output = chatbot(dir.path(), &["graph"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let dot = stdout(&output);
    assert!(
        dot.contains(r#"\nswitched off", style=dashed"#)
            && dot.contains(r#""dice-stats" [label="dice-stats"#),
        "{dot}"
    );

    let output = chatbot(dir.path(), &["graph", "--format", "svg"]);
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
    assert!(
        stderr(&output).contains("use `dot` or `mermaid`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_passes_for_the_default_set() {
    let dir = tempfile::tempdir().unwrap();
    let output = chatbot(dir.path(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ok: 5 plugins would start: commands, dice, dice-stats, greeter, help\n"
    );
}

#[test]
fn check_fails_with_file_and_line_for_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[dice]\nmax_dice = 6\nsidez = 20\n\n[greeter]\nenabled = true\n\n[dise]\n",
    )
    .unwrap();
    let output = chatbot(dir.path(), &["check", "--config", "bad.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let report = stdout(&output);
    assert!(
        report.contains("error: bad.toml:3: key `dice.sidez`: unknown field `sidez`"),
        "{report}"
    );
    assert!(
        report.contains("error: bad.toml:8: key `dise`: no plugin is called `dise`"),
        "{report}"
    );
    assert!(
        report
            .ends_with("failed: 2 problems; 3 of 5 plugins would start: commands, greeter, help\n"),
        "{report}"
    );
}

#[test]
fn check_reports_an_unreadable_file_and_still_checks_the_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugins.toml"), "[dice\n").unwrap();
    let output = chatbot(dir.path(), &["check"]);
    assert_eq!(output.status.code(), Some(2));
    let report = stdout(&output);
    assert!(report.starts_with("error: plugins.toml:1: "), "{report}");
    assert!(
        report.ends_with("failed: 1 problem; 0 of 5 plugins would start\n"),
        "{report}"
    );

    let output = chatbot(dir.path(), &["graph"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("chatbot: plugins.toml:1: "),
        "{}",
        stderr(&output)
    );
}
