//! A plugin's own configuration: its section of the host's configuration file.
//!
//! The host reads a TOML file in which each plugin has a section named after it. The manager
//! keeps the keys it understands itself (`enabled`, `timeout`, `restart`,
//! `fail_when_unhealthy`) and hands the rest to the plugin as a [`ConfigSection`]; the plugin
//! deserializes it into its own type with [`Context::config`](crate::Context::config). Errors
//! name the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;

/// Where a plugin's configuration comes from.
///
/// More sources may come (an environment variable, a command-line flag), so a `match` on it
/// needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConfigSource {
    /// No section for it: the plugin's defaults.
    #[default]
    Default,
    /// A section of a file, starting at `line` (1-based).
    File {
        /// The file as the host named it.
        path: String,
        /// The line of the section's header.
        line: usize,
    },
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Default => f.write_str("default"),
            ConfigSource::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

/// A plugin's configuration keys, with where each was written.
///
/// ```
/// use plugin_core::ConfigSection;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct DiceConfig {
///     max_dice: u32,
/// }
///
/// let section = ConfigSection::parse_toml("plugins.toml", 3, "max_dice = 20")?;
/// assert_eq!(section.deserialize::<DiceConfig>("dice")?.max_dice, 20);
///
/// let bad = ConfigSection::parse_toml("plugins.toml", 3, "\nmax_dice = \"many\"")?;
/// let error = bad.deserialize::<DiceConfig>("dice").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "plugins.toml:5: key `dice.max_dice`: invalid type: string \"many\", expected u32"
/// );
/// # Ok::<(), plugin_core::ConfigError>(())
/// ```
///
/// The keys are a [`toml::Table`]: `toml` (1.x) is a public dependency of plugin-core, and a
/// new major version of it is a breaking change of plugin-core.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigSection {
    source: ConfigSource,
    values: toml::Table,
    lines: BTreeMap<String, usize>,
}

impl ConfigSection {
    /// A section from `source` with these keys; `lines` gives the line of each key. For the
    /// manager: see [`host::config_section`](crate::host::config_section).
    #[doc(hidden)]
    #[must_use]
    pub fn new(source: ConfigSource, values: toml::Table, lines: BTreeMap<String, usize>) -> Self {
        Self {
            source,
            values,
            lines,
        }
    }

    /// Parses the body of a section (`key = value` lines) whose header is on `line` of
    /// `path` (the body starts on the next line); for tests and for hosts that keep
    /// configuration elsewhere.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at the line of the mistake when `body` is not valid TOML.
    pub fn parse_toml(path: &str, line: usize, body: &str) -> Result<Self, ConfigError> {
        let spanned: BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(body).map_err(|error| ConfigError {
                file: Some(path.to_owned()),
                line: error.span().map(|s| line + 1 + line_of(body, s.start)),
                key: None,
                message: error.message().to_owned(),
            })?;
        let mut values = toml::Table::new();
        let mut lines = BTreeMap::new();
        for (key, value) in spanned {
            lines.insert(key.clone(), line + 1 + line_of(body, value.span().start));
            values.insert(key, value.into_inner());
        }
        let source = ConfigSource::File {
            path: path.to_owned(),
            line,
        };
        Ok(Self::new(source, values, lines))
    }

    /// Where it comes from.
    #[must_use]
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// The keys and values.
    #[must_use]
    pub fn values(&self) -> &toml::Table {
        &self.values
    }

    /// Deserializes the section into `T`; errors name the file, line and key of `plugin`'s
    /// section. A missing section deserializes from an empty table, so a `T` whose fields
    /// have serde defaults works without any file.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file, line and key (`plugin.key`) of the first value that
    /// does not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self, plugin: &str) -> Result<T, ConfigError> {
        let value = toml::Value::Table(self.values.clone());
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let top = path.split(['.', '[']).next().unwrap_or("");
            let key = if path == "." || path.is_empty() {
                plugin.to_owned()
            } else {
                format!("{plugin}.{path}")
            };
            let (file, section_line) = match &self.source {
                ConfigSource::Default => (None, None),
                ConfigSource::File { path, line } => (Some(path.clone()), Some(*line)),
            };
            ConfigError {
                file,
                line: self.lines.get(top).copied().or(section_line),
                key: Some(key),
                message: error.into_inner().message().to_owned(),
            }
        })
    }
}

/// A configuration value that could not be used, with where it was written.
///
/// Make one with [`ConfigError::new`] and the `with_*` methods (or [`ConfigError::at`]); more
/// fields may come.
///
/// ```
/// use plugin_core::ConfigError;
///
/// fn check(max: i64) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     if max > 100 {
///         Err(ConfigError::new("at most 100 dice")
///             .with_file("plugins.toml")
///             .with_line(4)
///             .with_key("dice.max"))?;
///     }
///     Ok(())
/// }
/// assert_eq!(
///     check(101).unwrap_err().to_string(),
///     "plugins.toml:4: key `dice.max`: at most 100 dice"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file, when the value came from one.
    pub file: Option<String>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The key, as `plugin.key`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error saying `message`, not tied to a file, line or key (yet).
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            key: None,
            message: message.into(),
        }
    }

    /// The same error, in `file`.
    #[must_use]
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// The same error, on the 1-based `line`.
    #[must_use]
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// The same error, about `key` (as `plugin.key`).
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// An error about `key` at `file:line`.
    #[must_use]
    pub fn at(file: &str, line: usize, key: Option<String>, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_owned()),
            line: Some(line),
            key,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            // Not from a file: whoever shows the error says it is about configuration.
            (None, _) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// How many lines of `text` come before byte `offset` (0 for the first line).
#[must_use]
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Whether `T` can be made from `section`: what `#[plugin(config = T)]` checks before the
/// plugin starts, and before a new configuration file is applied.
pub type ConfigCheck = fn(&ConfigSection, &str) -> Result<(), ConfigError>;

/// The [`ConfigCheck`] for `T`.
///
/// # Errors
///
/// As [`ConfigSection::deserialize`].
pub fn check_config<T: DeserializeOwned>(
    section: &ConfigSection,
    plugin: &str,
) -> Result<(), ConfigError> {
    section.deserialize::<T>(plugin).map(drop)
}
