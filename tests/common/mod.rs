//! Running the host binary the way a user does: arguments, environment, stdin in, stdout out.

#![allow(dead_code, unreachable_pub)] // each test file uses its own part of these helpers

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// The host binary built for this test run.
pub fn chatbot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatbot"))
}

/// The host built with the chaos plugin (and the default plugins), once per test binary.
///
/// It is built in the target directory `tests/feature_sets.rs` builds its feature sets in,
/// which builds this same set too, so the slow checks build it once.
pub fn chaos_chatbot() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("feature-sets");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["build", "--quiet", "--locked", "--bin", "chatbot"])
                .args(["--features", "plugin-chaos", "--target-dir"])
                .arg(&target)
                .status()
                .expect("cargo runs");
            assert!(
                status.success(),
                "cargo build --features plugin-chaos failed"
            );
            target.join("debug").join("chatbot")
        })
        .clone()
}

/// Runs `command` with `stdin` as its whole input and returns what it printed.
pub fn run_with_input(command: Command, stdin: &str) -> Output {
    run_with_bytes(command, stdin.as_bytes())
}

/// Runs `command` with `stdin` (any bytes) as its whole input and returns what it printed.
pub fn run_with_bytes(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the host binary starts");
    // Written on a thread: a large input must not wait for the test to read the output.
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    // Waited for on a thread, so that a host that never exits fails the test (after a limit
    // far above any normal run) instead of hanging it.
    let (sender, receiver) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    let output = match receiver.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(output) => output.expect("the host exits"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the host did not exit within 120 s");
        }
    };
    writer
        .join()
        .expect("the writer thread")
        .expect("the host reads its whole input");
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

/// The host running in the background, driven line by line: each step waits for the output
/// it expects (never for a fixed time), with a generous limit so a regression fails instead
/// of hanging.
pub struct Session {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Lines of stderr, when started with [`Session::start_logged`].
    log: Option<std::sync::mpsc::Receiver<String>>,
}

/// Sends every line `from` yields into a channel, from a thread of its own, until its end.
fn lines_of(from: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

impl Session {
    /// Starts `command` with piped stdin and stdout.
    pub fn start(command: Command) -> Self {
        Self::spawn(command, false)
    }

    /// Starts `command` as [`Session::start`] does, with `RUST_LOG=filter` and its stderr
    /// (the host's tracing output) read apart from stdout: see [`Session::expect_log`].
    pub fn start_logged(mut command: Command, filter: &str) -> Self {
        command.envs([("RUST_LOG", filter), ("NO_COLOR", "1")]);
        Self::spawn(command, true)
    }

    fn spawn(mut command: Command, logged: bool) -> Self {
        let stderr = if logged {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the host binary starts");
        let lines = lines_of(child.stdout.take().expect("stdout is piped"));
        let log = child.stderr.take().map(lines_of);
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            log,
        }
    }

    /// Waits for a line of the host's log (stderr) for which `wanted` holds, and returns it.
    pub fn expect_log(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let log = self
            .log
            .as_ref()
            .expect("started with `Session::start_logged`");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut logged = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match log.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => logged.push(line),
                Err(_) => panic!(
                    "no log line: {what}; the host logged:\n{}",
                    logged.join("\n")
                ),
            }
        }
    }

    /// Sends one chat line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the host reads its input");
        stdin.flush().expect("the host reads its input");
    }

    /// Waits for a line containing `text` and returns it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {text:?}; the host printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends raw bytes (no newline is added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("the host reads its input");
        stdin.flush().expect("the host reads its input");
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the host a signal (`TERM`, `INT`, ...), as `kill -s NAME` does.
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Closes stdin (if still open) and waits at most `limit` for the host to exit; its
    /// status (`None` if it was still running: then it is killed) and every line it printed.
    pub fn exit_within(
        mut self,
        limit: std::time::Duration,
    ) -> (Option<std::process::ExitStatus>, Vec<String>) {
        drop(self.stdin.take());
        let pid = self.child.id();
        let mut child = self.child;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(child.wait()));
        let status = match receiver.recv_timeout(limit) {
            Ok(status) => Some(status.expect("the host can be waited for")),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                None
            }
        };
        // The rest of its output: the reader thread ends at end of stdout.
        let mut seen = self.seen;
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(60)) {
            seen.push(line);
        }
        (status, seen)
    }

    /// Everything printed so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Closes stdin and waits for a clean exit.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("the host exits");
        assert!(
            status.success(),
            "host failed ({status}):\n{}",
            self.seen.join("\n")
        );
    }
}

/// Sends process `pid` the signal `name` (`TERM`, `INT`, ...) with `kill -s`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name} {pid} failed");
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`), on Linux.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether process `pid` has a handler for signal number `signo` (`SigCgt` of
/// `/proc/PID/status`), on Linux.
pub fn catches_signal(pid: u32, signo: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (signo - 1)) != 0)
}

/// The plugin rows of a `plugins:`/`started:`/`stopped:` table: name, state and deps.
pub fn table_rows(lines: &[String]) -> Vec<(String, String, Vec<String>)> {
    lines
        .iter()
        .skip(2)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.trim_start().starts_with("error:"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let deps = words[4..]
                .join(" ")
                .split(", ")
                .filter(|d| *d != "-" && !d.is_empty())
                .map(str::to_owned)
                .collect();
            (words[0].to_owned(), words[2].to_owned(), deps)
        })
        .collect()
}
