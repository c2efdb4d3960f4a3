//! The plugins' configuration file: finding it, loading it, and watching it for changes.
//!
//! Editors save in many ways (write in place, or write a new file and rename it over the old
//! one), so the watcher watches the file's directory and reacts to any event that names the
//! file. One save can make several events; the chat loop reloads only when the text changed.

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};
use plugin_manager::PluginsConfig;
use tokio::sync::mpsc;

/// The file read when `--config` is not given, if it exists.
pub(crate) const DEFAULT_PATH: &str = "plugins.toml";

/// The configuration file in use, and the text last applied.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    path: PathBuf,
    applied: Option<String>,
}

impl ConfigFile {
    /// The file named by `--config`, or `plugins.toml` if it exists, or none.
    pub(crate) fn locate(given: Option<PathBuf>) -> Option<Self> {
        let path = given.or_else(|| {
            let default = PathBuf::from(DEFAULT_PATH);
            default.exists().then_some(default)
        })?;
        Some(Self {
            path,
            applied: None,
        })
    }

    /// The path as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file; remembers its text as applied when it parses.
    pub(crate) fn load(&mut self) -> Result<PluginsConfig, String> {
        let shown = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|error| format!("{shown}: cannot read it: {error}"))?;
        let config = PluginsConfig::parse(&shown, &text).map_err(|error| error.to_string())?;
        self.applied = Some(text);
        Ok(config)
    }

    /// Whether the file's text differs from what was last applied.
    pub(crate) fn changed(&self) -> bool {
        std::fs::read_to_string(&self.path).ok() != self.applied
    }

    /// Starts watching the file; each change sends `()` on the returned channel. The watcher
    /// stops when the returned guard is dropped.
    pub(crate) fn watch(&self) -> Result<(notify::RecommendedWatcher, mpsc::Receiver<()>), String> {
        let (sender, receiver) = mpsc::channel(1);
        let name = self.path.file_name().map(ToOwned::to_owned);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if event.paths.iter().any(|p| p.file_name() == name.as_deref()) {
                    // A full channel already holds a pending reload; one is enough.
                    let _ = sender.try_send(());
                }
            })
            .map_err(|error| format!("cannot watch {}: {error}", self.path.display()))?;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|error| format!("cannot watch {}: {error}", dir.display()))?;
        Ok((watcher, receiver))
    }
}
