//! Running the host binary the way a user does: arguments, environment, stdin in, stdout out.

#![allow(dead_code, unreachable_pub)] // each test file uses its own part of these helpers

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// The host binary built for this test run.
pub fn chatbot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatbot"))
}

/// Runs `command` with `stdin` as its whole input and returns what it printed.
pub fn run_with_input(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the host binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("the host reads its input");
    let output = child.wait_with_output().expect("the host exits");
    assert!(
        output.status.success(),
        "host failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// One plugin of `list --json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Listed {
    pub name: String,
    pub version: String,
    pub deps: Vec<String>,
    /// Declared optional dependencies, whether they are compiled in or not.
    pub optional_deps: Vec<String>,
    pub state: String,
    pub error: Option<String>,
}

/// Parses the output of `list --json`.
pub fn parse_list(output: &Output) -> Vec<Listed> {
    let text = stdout(output);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("list --json is one JSON array ({e}):\n{text}"))
}

/// Checks that every plugin comes after all of its dependencies.
pub fn assert_dependency_order(plugins: &[Listed]) {
    for (i, plugin) in plugins.iter().enumerate() {
        for dep in &plugin.deps {
            let at = plugins.iter().position(|p| &p.name == dep);
            assert!(
                at.is_some_and(|at| at < i),
                "`{}` is listed before its dependency `{dep}`: {:?}",
                plugin.name,
                plugins.iter().map(|p| &p.name).collect::<Vec<_>>()
            );
        }
    }
}
