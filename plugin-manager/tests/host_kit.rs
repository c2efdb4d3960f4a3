//! The host kit against a real file system and real signals: loading the configuration file,
//! watching it, answering operator commands, the reports' shapes, and shutdown signals.
//!
//! Waits for file-system events and signals are bounded by [`LIMIT`], far above any normal
//! delivery, so that a regression fails instead of hanging.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use plugin_core::{Plugin, PluginMetadata, async_trait};
use plugin_manager::host_kit::{
    ConfigFile, ConfigWatcher, Host, HostOptions, Reload, Served, operator, report,
};
use plugin_manager::{PluginManager, PluginSpec, PluginState, PluginsConfig};

const LIMIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Noop;
#[async_trait]
impl Plugin for Noop {}

#[derive(Default)]
struct Broken;
#[async_trait]
impl Plugin for Broken {
    async fn setup(&mut self, _: &plugin_core::Context) -> plugin_core::Result<()> {
        panic!("boom")
    }
}

fn noop(name: &str) -> PluginSpec {
    PluginSpec::with_default::<Noop>(PluginMetadata::new(name).with_version("1.2.3"))
}

/// A file `plugins.toml` with `text` in a new directory.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.toml");
    fs::write(&path, text).unwrap();
    (dir, path)
}

async fn expect_edit(watcher: &mut ConfigWatcher) {
    let alive = tokio::time::timeout(LIMIT, watcher.changed())
        .await
        .expect("the watcher reports the edit");
    assert!(alive, "the watch ended");
}

// Loading.

#[test]
fn syntax_errors_name_the_file_and_line() {
    let (_dir, path) = config_file("[dice]\nsides = 6\nsides = = 7\n");
    let error = PluginsConfig::load(&path).unwrap_err();
    assert_eq!(
        error.file.as_deref(),
        Some(path.display().to_string().as_str())
    );
    assert_eq!(error.line, Some(3));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:3: ", path.display())),
        "{error}"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_refused_with_their_line() {
    let (_dir, path) = config_file("");
    fs::write(&path, b"[dice]\nname = \"\xff\"\n").unwrap();
    let error = PluginsConfig::load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:2: not UTF-8 text", path.display())
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let error = PluginsConfig::load(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read it: ", path.display())),
        "{error}"
    );
}

#[test]
fn files_up_to_the_limit_are_read_and_larger_ones_refused() {
    let limit = usize::try_from(PluginsConfig::MAX_SIZE).unwrap();
    let (_dir, path) = config_file("");
    // A comment line filling the limit exactly.
    fs::write(&path, format!("#{}\n", "x".repeat(limit - 2))).unwrap();
    assert!(PluginsConfig::load(&path).is_ok());

    fs::write(&path, format!("#{}\n", "x".repeat(limit - 1))).unwrap();
    let error = PluginsConfig::load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: is {} bytes, more than the limit of {limit}",
            path.display(),
            limit + 1
        )
    );
    assert!(PluginsConfig::load_limited(&path, PluginsConfig::MAX_SIZE * 2).is_ok());
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = PluginsConfig::load(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot read it: it is a directory, not a regular file",
            dir.path().display()
        )
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // On a thread: a load that waited for a writer would fail the test, not hang it.
    let (sender, receiver) = std::sync::mpsc::channel();
    let fifo = path.clone();
    std::thread::spawn(move || sender.send(PluginsConfig::load(&fifo)));
    let error = receiver
        .recv_timeout(LIMIT)
        .expect("the load returns without a writer")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot read it: it is a FIFO (named pipe), not a regular file",
            path.display()
        )
    );
    // The same through the host: setting up refuses the file.
    let error = Host::with_builder(
        PluginManager::builder(),
        HostOptions::new("test").config(Some(path)),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("(named pipe), not a regular file")
    );
}

// Watching.

#[tokio::test]
async fn a_write_in_place_is_reported() {
    let (_dir, path) = config_file("[dice]\n");
    let mut watcher = ConfigWatcher::new(&path).unwrap();
    fs::write(&path, "[dice]\nsides = 6\n").unwrap();
    expect_edit(&mut watcher).await;
}

#[tokio::test]
async fn a_new_file_renamed_over_it_is_reported() {
    let (dir, path) = config_file("[dice]\n");
    let mut watcher = ConfigWatcher::new(&path).unwrap();
    let new = dir.path().join(".plugins.toml.swp");
    fs::write(&new, "[dice]\nsides = 6\n").unwrap();
    fs::rename(&new, &path).unwrap();
    expect_edit(&mut watcher).await;
}

#[tokio::test]
async fn reading_the_file_is_not_an_edit() {
    let (_dir, path) = config_file("[dice]\n");
    let file = ConfigFile::new(&path);
    file.load().unwrap();
    let mut watcher = file.watch().unwrap().with_settle(Duration::from_millis(20));
    fs::write(&path, "[dice]\nsides = 6\n").unwrap();
    expect_edit(&mut watcher).await;

    // What a host does after an edit: read the file, several times over.
    let manager = PluginManager::builder()
        .plugin(noop("dice"))
        .build()
        .unwrap();
    assert!(matches!(
        file.reload_if_changed(&manager).await,
        Some(Reload::Applied(_))
    ));
    assert_eq!(file.reload_if_changed(&manager).await, None, "no new text");
    assert!(!file.changed());
    file.load().unwrap();
    // Showing that no event comes takes a wait; the reads' events (were they reported)
    // arrive within milliseconds.
    let quiet = tokio::time::timeout(Duration::from_millis(500), watcher.changed()).await;
    assert!(
        quiet.is_err(),
        "the host's own reads were taken for an edit"
    );

    // And the watcher still hears real edits.
    fs::write(&path, "[dice]\nsides = 8\n").unwrap();
    expect_edit(&mut watcher).await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_edit_of_the_file_a_link_points_to_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (real_dir, link_dir) = (dir.path().join("real"), dir.path().join("link"));
    fs::create_dir(&real_dir).unwrap();
    fs::create_dir(&link_dir).unwrap();
    let target = real_dir.join("shared.toml");
    fs::write(&target, "[dice]\n").unwrap();
    let link = link_dir.join("plugins.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let file = ConfigFile::new(&link);
    file.load().unwrap();
    let mut watcher = file.watch().unwrap();
    // Edited by its real name, in a directory the link's directory knows nothing of.
    fs::write(&target, "[dice]\nsides = 6\n").unwrap();
    expect_edit(&mut watcher).await;
    assert!(file.changed());
}

// The host.

#[tokio::test]
async fn the_host_applies_an_edit_while_it_serves() {
    let (_dir, path) = config_file("[noop]\n");
    let options = HostOptions::new("test")
        .config(Some(path.clone()))
        .settle(Duration::from_millis(20));
    let builder = PluginManager::builder().plugin(noop("noop"));
    let host = Host::with_builder(builder, options).unwrap();
    let started = host.start().await;
    assert_eq!(started[0].state, PluginState::Enabled);

    let mut changes = host.manager().state_changes();
    let until = async {
        fs::write(&path, "[noop]\nenabled = false\n").unwrap();
        loop {
            let change = changes.recv().await.unwrap();
            if change.plugin == "noop" && change.to == PluginState::Disabled {
                return change.from;
            }
        }
    };
    let served = tokio::time::timeout(LIMIT, host.serve_until(until))
        .await
        .expect("the edit is applied");
    assert_eq!(served, Served::Finished(PluginState::Enabled));

    let stopped = host.shutdown().await;
    assert_eq!(stopped[0].state, PluginState::TornDown);
}

#[tokio::test]
async fn operator_commands_answer_as_the_demo_host_does() {
    let (_dir, path) = config_file("[b]\n");
    let builder =
        PluginManager::builder()
            .plugin(noop("a"))
            .plugin(PluginSpec::with_default::<Noop>(
                PluginMetadata::new("b").with_deps(["a"]),
            ));
    let host =
        Host::with_builder(builder, HostOptions::new("test").config(Some(path.clone()))).unwrap();
    host.start().await;
    let answer = |line: &'static str| host.answer(line);

    assert_eq!(
        answer("!enable").await.as_deref(),
        Some("usage: !enable NAME")
    );
    let refused = answer("!disable a").await.unwrap();
    assert!(
        refused.starts_with("error: cannot disable plugin `a`: enabled plugins depend on it: b"),
        "{refused}"
    );
    assert_eq!(
        answer("!disable a --cascade").await.as_deref(),
        Some("ok: a disabled")
    );
    assert_eq!(answer("!enable b").await.as_deref(), Some("ok: b enabled"));
    assert_eq!(
        answer("!restart a").await.as_deref(),
        Some("ok: a restarted")
    );
    assert_eq!(
        answer("!restart nosuch").await.as_deref(),
        Some("error: no plugin named `nosuch`")
    );
    assert!(answer("!plugins").await.unwrap().starts_with("plugins:\n"));
    assert_eq!(answer("!roll").await, None);
    assert_eq!(answer("hello").await, None);

    assert_eq!(
        answer("!reload-config").await.as_deref(),
        Some("config: reloaded; nothing to change")
    );
    fs::write(&path, "[b]\nenabled = false\n").unwrap();
    assert_eq!(
        answer("!reload-config").await.as_deref(),
        Some("config: reloaded\n  - b: switched off")
    );
    fs::write(&path, "[b]\nenabled = = false\n").unwrap();
    let refused = answer("!reload-config").await.unwrap();
    assert_eq!(
        refused,
        format!(
            "config: reload refused, nothing changed: {}:2: {}",
            path.display(),
            refused.rsplit(": ").next().unwrap()
        )
    );

    let manager = host.manager();
    assert_eq!(
        operator::answer(manager, None, "!reload-config")
            .await
            .as_deref(),
        Some("config: no configuration file (give --config PATH or create plugins.toml)")
    );
}

// Reports.

#[tokio::test]
async fn list_json_has_exactly_the_contracted_fields() {
    let (_dir, path) = config_file("\n[noop]\n");
    let host =
        Host::with_builder(
            PluginManager::builder().plugin(noop("noop")).plugin(
                PluginSpec::with_default::<Broken>(PluginMetadata::new("broken")),
            ),
            HostOptions::new("test").config(Some(path.clone())),
        )
        .unwrap();
    let records = host.start().await;
    let json: serde_json::Value = serde_json::from_str(&report::json(&records)).unwrap();
    let plugins = json.as_array().unwrap();
    let mut keys: Vec<&str> = plugins[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "config",
            "crate",
            "deps",
            "description",
            "dropped_events",
            "error",
            "health",
            "name",
            "optional_deps",
            "restart_count",
            "start_time_ms",
            "state",
            "stop_time_ms",
            "version",
        ]
    );
    let [broken, noop] = plugins.as_slice() else {
        panic!("two plugins: {json}")
    };
    assert_eq!(noop["name"], "noop");
    assert_eq!(noop["version"], "1.2.3");
    assert_eq!(noop["state"], "enabled");
    assert_eq!(noop["error"], serde_json::Value::Null);
    assert_eq!(noop["config"], format!("{}:2", path.display()));
    assert!(noop["start_time_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(noop["stop_time_ms"], serde_json::Value::Null);
    assert_eq!(noop["restart_count"], 0);
    assert_eq!(noop["health"], "healthy");
    assert_eq!(broken["state"], "failed");
    assert_eq!(broken["error"], "setup panicked: boom");
    assert_eq!(broken["config"], "default");

    // The record's own shape keeps the failure structured.
    let record = serde_json::to_value(&records[0]).unwrap();
    assert_eq!(
        record["last_error"],
        serde_json::json!({"phase": "setup", "kind": "panic", "detail": "boom"})
    );
    assert_eq!(record["state"], "failed");
    assert_eq!(record["history"][0]["from"], "unloaded");
    host.shutdown().await;
}

// Signals.

#[cfg(unix)]
#[tokio::test]
async fn interrupt_terminate_and_hangup_each_ask_for_a_shutdown() {
    use plugin_manager::host_kit::{ShutdownSignal, ShutdownSignals};

    // Listening from here on: the signals below are this test's, not the default action's.
    let mut signals = ShutdownSignals::new().unwrap();
    for (flag, expected) in [
        ("-INT", ShutdownSignal::Interrupt),
        ("-TERM", ShutdownSignal::Terminate),
        ("-HUP", ShutdownSignal::Hangup),
    ] {
        let sent = std::process::Command::new("kill")
            .arg(flag)
            .arg(std::process::id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let got = tokio::time::timeout(LIMIT, signals.recv())
            .await
            .expect("the signal arrives");
        assert_eq!(got, expected);
    }
}
