//! Hostile input must not take the host down: invalid UTF-8, huge lines, control characters
//! and escape sequences, silence after a cascade, signals, and a stdout nobody reads. The
//! host keeps serving, answers every line, and prints nothing it did not escape.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Session, chatbot, run_with_bytes, run_with_input, stdout};

/// Nothing on stdout that a terminal would act on: no CR, no ESC, no other control character
/// but the newlines that end lines, no bidi override.
fn assert_inert(out: &str) {
    for line in out.lines() {
        assert!(
            !line
                .chars()
                .any(plugin_manager::host_kit::text::needs_escape),
            "raw control character in {line:?}"
        );
    }
}

fn rolls(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("[dice] ada rolled 1d6: "))
        .count()
}

#[test]
fn invalid_utf8_is_replaced_and_the_chat_goes_on() {
    let out = stdout(&run_with_bytes(
        chatbot(),
        b"ada: caf\xe9\nada: !roll 1d6\nbob: \xff\xfe\xc0\n",
    ));
    assert!(!out.contains("stdin:"), "{out}");
    assert_eq!(rolls(&out), 1, "{out}");
    assert!(out.contains("[greeter] Welcome, bob!"), "{out}");
}

#[test]
fn a_line_over_the_limit_is_dropped_with_a_note_and_the_chat_goes_on() {
    let mut input = b"ada: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"\nada: !roll 1d6\n");
    let out = stdout(&run_with_bytes(chatbot(), &input));
    assert!(
        out.contains("(line of 100005 bytes is over the limit of 65536; ignored)"),
        "{out}"
    );
    assert!(!out.contains("xxxxxxxxxx"), "the long line is not echoed");
    assert_eq!(rolls(&out), 1, "{out}");
}

#[test]
fn echoed_input_is_shortened() {
    let huge = "9".repeat(60_000);
    let out = stdout(&run_with_input(
        chatbot(),
        &format!("ada: !roll {huge}d6\nop: !restart {huge}\nada: !roll 1d6\n"),
    ));
    assert!(
        out.len() < 10_000,
        "the argument is echoed whole: {} bytes",
        out.len()
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("[dice] ") && l.contains("… (")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("error: no plugin named `99") && l.contains("… (")),
        "{out}"
    );
    assert_eq!(rolls(&out), 1, "{out}");
}

fn assert_no_forged_line(text: &str) {
    for line in text.lines() {
        for plugin in ["dice", "greeter"] {
            assert!(
                !line.starts_with(&format!("* {plugin}: enabled -> failed")),
                "forged line: {line}"
            );
        }
    }
}

#[test]
fn control_characters_from_chat_are_escaped() {
    let output = run_with_bytes(
        chatbot(),
        b"ada: !roll x\r* dice: enabled -> failed (pwned)\x1b[K\n\
          op: !restart no\x1bsuch[2J\xe2\x80\xae\n\
          ada: hi\x1b]0;title\x07\n\
          op: !plugins\n",
    );
    let out = stdout(&output);
    assert_inert(&out);
    assert_no_forged_line(&out);
    assert!(
        out.contains("error: no plugin named `no\\u{1b}such[2J\\u{202e}`"),
        "{out}"
    );
    assert!(
        out.contains("\\r* dice: enabled -> failed (pwned)\\u{1b}[K"),
        "{out}"
    );
}

#[test]
fn control_characters_from_configuration_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugins.toml");
    std::fs::write(
        &config,
        "[dice]\n\"k\\r\\u001b[2J\\n* dice: enabled -> failed (forged)\" = 1\n\
         [\"evil\\n* greeter: enabled -> failed (forged)\"]\n",
    )
    .unwrap();
    let mut command = chatbot();
    command.arg("--config").arg(&config).arg("list");
    let output = run_with_input(command, "");
    let (out, err) = (stdout(&output), String::from_utf8_lossy(&output.stderr));
    assert_inert(&out);
    assert_inert(&err);
    assert_no_forged_line(&out);
    assert_no_forged_line(&err);
    assert!(
        out.contains("\\n* dice: enabled -> failed (forged)`"),
        "{out}"
    );
    assert!(err.contains("evil\\n* greeter"), "{err}");
}

#[test]
fn a_command_nobody_answers_gets_a_reason() {
    let out = stdout(&run_with_input(
        chatbot(),
        "op: !disable commands --cascade\nada: !roll 1d6\nada: !help\nada: hello\n",
    ));
    for command in ["roll", "help"] {
        assert!(
            out.contains(&format!(
                "(no plugin answered `!{command}`: the command is unknown or its plugin is not enabled)"
            )),
            "{out}"
        );
    }
    assert!(out.contains("(no plugin answered)"), "{out}");
}

#[test]
fn an_operator_command_prints_its_state_changes_before_its_answer() {
    let out = stdout(&run_with_input(chatbot(), "op: !restart dice\n"));
    let ok = out.find("ok: dice restarted").expect(&out);
    let enabled = out.find("* dice: setup -> enabled").expect(&out);
    let stats = out.find("* dice-stats: setup -> enabled").expect(&out);
    assert!(enabled < ok && stats < ok, "{out}");
}

#[test]
fn sigterm_during_the_chat_shuts_down_with_the_report() {
    let mut bot = Session::start(chatbot());
    bot.expect("chat: type");
    bot.send("ada: !roll 1d6");
    bot.expect("[dice] ada rolled 1d6");
    bot.signal("TERM");
    bot.expect("(terminate)");
    bot.expect("shutting down");
    bot.expect("stopped:");
    let (status, seen) = bot.exit_within(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{seen:#?}");
    let report = seen
        .iter()
        .skip_while(|l| *l != "stopped:")
        .collect::<Vec<_>>();
    assert_eq!(
        report.iter().filter(|l| l.contains("torn_down")).count(),
        5,
        "{report:#?}"
    );
}

/// A stdout nobody reads fills up and blocks every write; SIGTERM still ends the host.
#[test]
fn sigterm_wins_over_a_stdout_nobody_reads() {
    let mut child = chatbot()
        .args(["--shutdown-timeout", "2s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the host binary starts");
    let _unread = child.stdout.take();
    let mut stdin = child.stdin.take().unwrap();
    // Each line asks for a table of ~330 bytes and, padded, takes 2 KiB of the input pipe
    // (which so holds 32 lines): once 300 lines are written, the host has answered at least
    // 268, some 88 KiB of tables, more than the 64 KiB stdout pipe holds, so its writes block.
    // (It answers about 450 before its backlog is full too, so the writer gets that far.)
    let line = format!("op: !plugins{}\n", " ".repeat(2036));
    let (written, progress) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for n in 1..=5000 {
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
            if n == 300 {
                let _ = written.send(());
            }
        }
    });
    progress
        .recv_timeout(Duration::from_secs(120))
        .expect("the host reads its first lines");
    common::signal(child.id(), "TERM");
    let pid = child.id();
    let (sender, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait()));
    match exited.recv_timeout(Duration::from_secs(60)) {
        Ok(status) => assert!(status.unwrap().success()),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the host did not exit after SIGTERM with its stdout blocked");
        }
    }
}

/// Random bytes, control characters, huge lines and operator commands, with a sentinel
/// roll after each: every sentinel is answered, and nothing raw is printed.
#[test]
fn fuzzed_input_never_stops_the_answers() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed9);
    let mut rng = fastrand::Rng::with_seed(seed);
    let operators = [
        "op: !plugins",
        "op: !disable dice",
        "op: !disable commands --cascade",
        "op: !enable help",
        "op: !restart dice",
        "op: !restart commands",
        "op: !disable greeter",
        "op: !reload-config",
        "op: !enable",
    ];
    let alphabet: &[u8] = b"ada: !roll d6\r\x1b[\x00\x7f\x85\xe2\x80\xae\xc0\xff\t:";
    let mut input = Vec::new();
    let sentinels = 60;
    for _ in 0..sentinels {
        for _ in 0..rng.usize(1..4) {
            match rng.u8(0..10) {
                0..=3 => input.extend((0..rng.usize(0..80)).map(|_| rng.u8(..))),
                4..=6 => {
                    input.extend(
                        (0..rng.usize(0..80)).map(|_| alphabet[rng.usize(..alphabet.len())]),
                    );
                }
                7 => input.extend(std::iter::repeat_n(b'z', rng.usize(60_000..80_000))),
                _ => input.extend_from_slice(operators[rng.usize(..operators.len())].as_bytes()),
            }
            input.push(b'\n');
        }
        input.extend_from_slice(b"op: !enable dice\nada: !roll 1d6\n");
    }
    let out = stdout(&run_with_bytes(chatbot(), &input));
    assert_eq!(rolls(&out), sentinels, "seed {seed}:\n{out}");
    assert_inert(&out);
    assert!(out.contains("stopped:"), "seed {seed}");
}
