//! The plugins' configuration file of a running host: which file, loading it, and applying
//! it again after it changed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plugin_core::ConfigError;

use super::text::escape;
use super::watch::{ConfigWatcher, WatchError};
use crate::config::{PluginsConfig, ReloadError, read_text};
use crate::lifecycle::ConfigChange;
use crate::manager::PluginManager;

/// The file a host reads when it is not given one, if it exists.
pub const DEFAULT_PATH: &str = "plugins.toml";

/// The configuration file in use, and the text last applied from it.
///
/// Methods take `&self`, so one file can serve both a live-reload loop and operator commands
/// (`!reload-config`); reloads are applied one at a time.
///
/// ```
/// use plugin_manager::host_kit::ConfigFile;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("plugins.toml");
/// std::fs::write(&path, "[dice]\nsides = 20\n").unwrap();
///
/// let file = ConfigFile::locate(Some(path.clone())).unwrap();
/// let config = file.load().unwrap();
/// assert!(config.plugin("dice").is_some());
/// assert!(!file.changed());
/// std::fs::write(&path, "[dice]\nsides = 12\n").unwrap();
/// assert!(file.changed());
/// ```
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    max_size: u64,
    /// The text last loaded and parsed; `None` before the first successful load.
    applied: Mutex<Option<String>>,
    /// Held for a whole reload, so that two reloads never interleave.
    reloading: tokio::sync::Mutex<()>,
}

impl ConfigFile {
    /// The file at `path`, whether it exists or not (loading says so).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_size: PluginsConfig::MAX_SIZE,
            applied: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The file a host uses: `given` (its `--config PATH`) if any, else [`DEFAULT_PATH`] in
    /// the current directory if it exists, else none (every plugin then runs on its
    /// defaults).
    pub fn locate(given: Option<PathBuf>) -> Option<Self> {
        let path = given.or_else(|| {
            let default = PathBuf::from(DEFAULT_PATH);
            default.exists().then_some(default)
        })?;
        Some(Self::new(path))
    }

    /// Sets the size limit of the file, in bytes (default [`PluginsConfig::MAX_SIZE`]).
    #[must_use]
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file (see [`PluginsConfig::load`]); remembers its text as applied
    /// when it parses. This blocks on the file system: in async code, see
    /// [`ConfigFile::reload`].
    ///
    /// # Errors
    ///
    /// As [`PluginsConfig::load`]: the file cannot be read (missing, too large, not a regular
    /// file) or is not a valid configuration.
    pub fn load(&self) -> Result<PluginsConfig, ConfigError> {
        let text = read_text(&self.path, self.max_size)?;
        self.parse(text)
    }

    fn parse(&self, text: String) -> Result<PluginsConfig, ConfigError> {
        let config = PluginsConfig::parse(&self.path.display().to_string(), &text)?;
        *self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
        Ok(config)
    }

    /// Whether the file's text differs from the text last applied (an unreadable file
    /// differs). Blocks on the file system.
    pub fn changed(&self) -> bool {
        let now = read_text(&self.path, self.max_size).ok();
        now != *self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the file again and applies it to `manager` with
    /// [`PluginManager::reload_config`]. The file is read on tokio's blocking pool, never on
    /// an async worker.
    pub async fn reload(&self, manager: &PluginManager) -> Reload {
        let _one_at_a_time = self.reloading.lock().await;
        match self.read().await {
            Ok(text) => self.apply(manager, text).await,
            Err(error) => Reload::Unreadable(error),
        }
    }

    /// Like [`ConfigFile::reload`], but only if the text differs from the one last applied:
    /// one save in an editor can make several file-system events, and the host's own reads
    /// must not count as edits. `None` when the text is the same.
    pub async fn reload_if_changed(&self, manager: &PluginManager) -> Option<Reload> {
        let _one_at_a_time = self.reloading.lock().await;
        let text = match self.read().await {
            Ok(text) => text,
            Err(error) => return Some(Reload::Unreadable(error)),
        };
        if self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            == Some(&text)
        {
            return None;
        }
        Some(self.apply(manager, text).await)
    }

    async fn read(&self) -> Result<String, ConfigError> {
        let (path, max_size) = (self.path.clone(), self.max_size);
        tokio::task::spawn_blocking(move || read_text(&path, max_size))
            .await
            .unwrap_or_else(|error| {
                Err(ConfigError::new(format!("cannot read it: {error}"))
                    .with_file(self.path.display().to_string()))
            })
    }

    async fn apply(&self, manager: &PluginManager, text: String) -> Reload {
        let config = match self.parse(text) {
            Ok(config) => config,
            Err(error) => return Reload::Unreadable(error),
        };
        match manager.reload_config(config).await {
            Ok(changes) => Reload::Applied(changes),
            Err(refused) => Reload::Refused(refused),
        }
    }

    /// Starts watching the file for changes; see [`ConfigWatcher`].
    ///
    /// # Errors
    ///
    /// As [`ConfigWatcher::new`].
    pub fn watch(&self) -> Result<ConfigWatcher, WatchError> {
        ConfigWatcher::new(&self.path)
    }
}

/// What reloading the configuration file did.
///
/// Its `Display` is the answer a host prints, e.g. `config: reloaded` followed by one
/// `  - plugin: what` line per change.
///
/// ```
/// use plugin_manager::host_kit::Reload;
///
/// assert_eq!(Reload::Applied(vec![]).to_string(), "config: reloaded; nothing to change");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The new configuration was applied; what changed, plugin by plugin (maybe nothing).
    Applied(Vec<ConfigChange>),
    /// The file could not be read or is not valid TOML; nothing changed.
    Unreadable(ConfigError),
    /// The manager refused the configuration (see [`PluginManager::reload_config`]); nothing
    /// changed.
    Refused(ReloadError),
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reload::Applied(changes) if changes.is_empty() => {
                f.write_str("config: reloaded; nothing to change")
            }
            Reload::Applied(changes) => {
                f.write_str("config: reloaded")?;
                changes
                    .iter()
                    .try_for_each(|c| write!(f, "\n  - {}", escape(&c.to_string())))
            }
            Reload::Unreadable(error) => {
                write!(
                    f,
                    "config: reload refused, nothing changed: {}",
                    escape(&error.to_string())
                )
            }
            Reload::Refused(errors) => {
                f.write_str("config: reload refused, nothing changed:")?;
                errors
                    .errors()
                    .iter()
                    .try_for_each(|e| write!(f, "\n  - {}", escape(&e.to_string())))
            }
        }
    }
}
