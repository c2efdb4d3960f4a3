//! Lines per second through the demo host's chat path, next to two floors in the same run.
//!
//! Each case is a process fed the same [`LINES`] chat lines from a file on stdin, its stdout a
//! pipe that this bench reads to the end (as `chatbot < in.txt | cat` would); the time is from
//! the spawn until the process exited and its output was read.
//!
//! - `chatbot`: the release host binary with the default plugins: start-up, every line through
//!   the chat loop, the bus and the plugins, the replies, the shutdown.
//! - `floor_copy`: the same lines read and answered (one line out per line in) by a plain
//!   buffered loop on one thread: the cost of the pipes and the process, without any framework.
//! - `floor_hop`: the same lines read by a tokio multi-thread runtime through `tokio::io::stdin`,
//!   each sent to a responder task (`mpsc`) that answers through a `oneshot`, one line at a time:
//!   the least an async host that hands each line to another task and waits for its answer
//!   pays, without the framework.
//!
//! - `baseline` (only if `CHAT_PATH_BASELINE` names a host binary, e.g. a copy built from an
//!   earlier commit): that binary, for a before/after in the same run.
//!
//! The floors are this bench binary started again with `CHAT_PATH_FLOOR` set. At the end the
//! run prints the host over each floor. Throughput is in input lines per second; the start-up
//! and shutdown of the host (well under a millisecond of plugin work) are in the host's time.
//!
//! Run with `cargo bench -p chatbot --bench chat_path`.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput};

#[path = "../plugin-manager/benches/support/ratios.rs"]
mod ratios;

/// Chat lines per run.
const LINES: usize = 20_000;

/// Set (to `copy` or `hop`) in a floor's environment.
const FLOOR: &str = "CHAT_PATH_FLOOR";

/// A host binary to measure beside this build's, if set.
const BASELINE: &str = "CHAT_PATH_BASELINE";

fn main() {
    if let Ok(mode) = std::env::var(FLOOR) {
        match mode.as_str() {
            "copy" => floor_copy(),
            "hop" => floor_hop(),
            other => panic!("{FLOOR}={other}: not a floor"),
        }
        return;
    }
    let since = std::time::SystemTime::now();
    let input = input_file();
    let mut criterion = Criterion::default()
        // Each run takes a few hundred milliseconds: ten samples, a short warm-up.
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("chat_path");
        group.throughput(Throughput::Elements(LINES as u64));
        let host = env!("CARGO_BIN_EXE_chatbot");
        group.bench_function("chatbot", |b| {
            b.iter(|| run(Command::new(host), input.path()));
        });
        if let Some(baseline) = std::env::var_os(BASELINE) {
            group.bench_function("baseline", |b| {
                b.iter(|| run(Command::new(&baseline), input.path()));
            });
        }
        let me = std::env::current_exe().expect("the bench binary's path");
        for floor in ["floor_copy", "floor_hop"] {
            group.bench_function(floor, |b| {
                b.iter(|| {
                    let mut command = Command::new(&me);
                    command.env(FLOOR, floor.trim_start_matches("floor_"));
                    run(command, input.path())
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();
    let pair = |floor: &str| {
        (
            format!("chatbot over {floor} (time)"),
            "chat_path/chatbot".to_owned(),
            format!("chat_path/{floor}"),
        )
    };
    ratios::print(
        &format!("the chat path over its floors, {LINES} lines (same run; below 1 is faster)"),
        &[pair("floor_copy"), pair("floor_hop"), pair("baseline")],
        since,
    );
}

/// The chat lines: greetings, rolls, plain chat and unknown commands, by 47 speakers, so that
/// each plugin answers some and some get no answer.
fn input_file() -> tempfile::NamedTempFile {
    let texts = [
        "hello",
        "!roll 2d6",
        "just chatting about things",
        "!nonsense",
    ];
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    {
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        for n in 0..LINES {
            writeln!(writer, "user{}: {}", n % 47, texts[n % texts.len()]).expect("written");
        }
        writer.flush().expect("written");
    }
    file
}

/// Runs `command` with `input` on stdin until it exits, reading its stdout to the end;
/// checks that every line got at least one line of answer.
fn run(mut command: Command, input: &std::path::Path) {
    let mut child = command
        .stdin(std::fs::File::open(input).expect("the input file"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the process starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut output = Vec::new();
    stdout.read_to_end(&mut output).expect("stdout is read");
    let status = child.wait().expect("the process ends");
    assert!(status.success(), "{command:?}: {status}");
    let lines = output.iter().filter(|&&b| b == b'\n').count();
    assert!(
        lines >= LINES,
        "{command:?}: {lines} lines out for {LINES} in"
    );
}

/// The floor without a framework: each line in answered by one line out, buffered.
fn floor_copy() {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line.expect("stdin is read");
        writeln!(out, "[bot] {line}").expect("stdout is written");
    }
    out.flush().expect("stdout is written");
}

/// The floor of an async host: one task hop and one `oneshot` answer per line.
fn floor_hop() {
    use tokio::io::AsyncBufReadExt;
    use tokio::sync::{mpsc, oneshot};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let main = async {
        let (requests, mut incoming) = mpsc::channel::<(String, oneshot::Sender<String>)>(1);
        tokio::spawn(async move {
            while let Some((line, answer)) = incoming.recv().await {
                let _ = answer.send(format!("[bot] {line}"));
            }
        });
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut out = std::io::BufWriter::new(std::io::stdout());
        while let Some(line) = lines.next_line().await.expect("stdin is read") {
            let (answer, answered) = oneshot::channel();
            requests
                .send((line, answer))
                .await
                .expect("the responder runs");
            let reply = answered.await.expect("the responder answers");
            writeln!(out, "{reply}").expect("stdout is written");
        }
        out.flush().expect("stdout is written");
    };
    // As the host does: the loop is a task of the runtime, not the future `block_on` polls.
    let main = runtime.spawn(main);
    runtime.block_on(main).expect("the floor runs");
}
