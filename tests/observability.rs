//! `chatbot profile`, `--metrics ADDR` and the `health` field of `list --json` (issue 12), run
//! as a user runs them.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::chatbot;
use metrics_exporter_prometheus::PrometheusBuilder;
use plugin_core::{Context, PluginMetadata, RequestError};

fn run(args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = chatbot()
        .current_dir(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the host binary runs");
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn profile_json_has_every_plugins_timings_and_a_critical_chain_of_dependencies() {
    let (stdout, _) = run(&["profile", "--json"]);
    let profile: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let plugins = profile["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["commands", "dice", "dice-stats", "greeter", "help"]);
    for plugin in plugins {
        for key in ["constructor_ms", "setup_ms", "on_enable_ms", "ready_at_ms"] {
            assert!(plugin[key].as_f64().unwrap() >= 0.0, "{plugin}: {key}");
        }
    }
    let chain: Vec<&str> = profile["critical_chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // Every plugin needs `commands`, so the chain starts there, and ends at the last enabled.
    assert_eq!(chain.first(), Some(&"commands"), "{chain:?}");
    let ready = |name: &str| {
        plugins.iter().find(|p| p["name"] == name).unwrap()["ready_at_ms"]
            .as_f64()
            .unwrap()
    };
    let last = names
        .iter()
        .copied()
        .max_by(|a, b| ready(a).total_cmp(&ready(b)))
        .unwrap();
    assert_eq!(chain.last(), Some(&last), "{chain:?}");
    assert!(
        chain.windows(2).all(|w| ready(w[0]) <= ready(w[1])),
        "{chain:?}"
    );

    let (text, _) = run(&["profile"]);
    assert!(text.contains("critical chain:\n  commands @"), "{text}");
}

#[test]
fn list_json_keeps_its_fields_and_adds_health() {
    let (stdout, _) = run(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for entry in list.as_array().unwrap() {
        assert_eq!(entry["health"], "healthy", "{entry}");
        for key in [
            "name",
            "state",
            "error",
            "start_time_ms",
            "dropped_events",
            "config",
            "restart_count",
        ] {
            assert!(entry.get(key).is_some(), "{key} in {entry}");
        }
    }
}

/// GET `path` from `addr` with plain HTTP/1.0; the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn metrics_are_served_in_the_prometheus_text_format_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = chatbot()
        .current_dir(dir.path())
        .args(["--metrics", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // The address comes first, on stderr: `chatbot: metrics at http://127.0.0.1:PORT/metrics`.
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("chatbot: metrics at http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    // Once the chat prompt is out, every plugin started; a roll publishes an event.
    let mut seen = String::new();
    while !seen.contains("chat:") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "{seen}");
        seen.push_str(&line);
    }
    writeln!(stdin, "alice: !roll 2d6").unwrap();
    while !seen.contains("alice rolled") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "{seen}");
        seen.push_str(&line);
    }

    let (status, body) = get(&addr, "/metrics");
    assert_eq!(status, "HTTP/1.0 200 OK");
    let series: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
    let value = |prefix: &str| {
        series
            .iter()
            .find_map(|l| {
                l.strip_prefix(prefix)
                    .map(|v| v.trim().parse::<f64>().unwrap())
            })
            .unwrap_or_else(|| panic!("no {prefix} in\n{body}"))
    };
    assert_eq!(
        value("plugin_state{plugin=\"dice\",state=\"enabled\"}"),
        1.0
    );
    assert_eq!(value("plugin_state{plugin=\"dice\",state=\"setup\"}"), 0.0);
    assert_eq!(
        value("plugin_health{plugin=\"dice\",health=\"healthy\"}"),
        1.0
    );
    assert_eq!(
        value("plugin_hook_seconds_count{plugin=\"dice\",hook=\"setup\"}"),
        1.0
    );
    assert!(value("plugin_events_published_total{plugin=\"dice\"}") >= 1.0);
    assert_eq!(value("plugin_events_dropped_total{plugin=\"dice\"}"), 0.0);
    assert_eq!(get(&addr, "/nothing").0, "HTTP/1.0 404 Not Found");

    drop(stdin); // EOF: the bot shuts down
    assert!(child.wait().unwrap().success());
}

/// The value of the series `name` (with its labels) in Prometheus text, if it is there.
fn series_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

/// The serving side of the request counters, read back from the Prometheus recorder the bot
/// installs (in this test's process: the demo's plugins serve no requests). A detached
/// context serves the requests it makes, so one plugin shows both sides.
#[tokio::test(start_paused = true)]
async fn requests_a_plugin_serves_are_counted_as_served_or_unanswered() {
    let recorder = PrometheusBuilder::new().install_recorder().unwrap();
    let ctx = Context::detached(PluginMetadata::new("oracle"));
    let mut requests = ctx.serve::<u32, u32>().unwrap();
    let limit = Duration::from_secs(1);

    // Answered.
    let (answer, ()) = tokio::join!(ctx.request::<u32, u32>(6, limit), async {
        let request = requests.recv().await.unwrap();
        let square = request.payload() * request.payload();
        request.reply(square).unwrap();
    });
    assert_eq!(answer, Ok(36));

    // Dropped without a reply.
    let (answer, ()) = tokio::join!(ctx.request::<u32, u32>(1, limit), async {
        drop(requests.recv().await.unwrap());
    });
    assert!(
        matches!(answer, Err(RequestError::Dropped { .. })),
        "{answer:?}"
    );

    // Answered after the requester gave up.
    let (answer, late) = tokio::join!(ctx.request::<u32, u32>(2, limit), async {
        let request = requests.recv().await.unwrap();
        tokio::time::sleep(limit * 2).await;
        request.reply(4)
    });
    assert!(
        matches!(answer, Err(RequestError::TimedOut { .. })),
        "{answer:?}"
    );
    assert_eq!(late, Err(4));

    // Still queued when the server closes: polled once, the request is sent.
    let mut asking = Box::pin(ctx.request::<u32, u32>(3, limit));
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut asking)
            .await
            .is_err()
    );
    drop(requests);
    assert!(matches!(asking.await, Err(RequestError::Dropped { .. })));

    let text = recorder.render();
    let value =
        |name: &str| series_value(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert_eq!(
        value("plugin_requests_served_total{plugin=\"oracle\"}"),
        1.0
    );
    assert_eq!(
        value("plugin_requests_unanswered_total{plugin=\"oracle\"}"),
        3.0
    );
    assert_eq!(value("plugin_requests_total{plugin=\"oracle\"}"), 4.0);
    assert_eq!(
        value("plugin_requests_failed_total{plugin=\"oracle\"}"),
        3.0
    );
}
