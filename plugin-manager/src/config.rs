//! The host's configuration file: one section per plugin.
//!
//! ```toml
//! [dice]
//! enabled = true          # false keeps a compiled-in plugin off
//! timeout = "2s"          # this plugin's hook deadline
//! restart = "on-failure"  # or "never", or a table: see below
//! fail_when_unhealthy = true  # a report of `Health::Unhealthy` is a failure
//! max_dice = 20           # everything else is the plugin's own configuration
//!
//! [greeter.restart]
//! policy = "on-failure"
//! max_restarts = 5
//! within = "1m"
//! backoff = "200ms"
//! max_backoff = "30s"
//! ```
//!
//! [`PluginsConfig::parse`] checks the file's syntax and the keys the manager owns; the
//! manager then checks each plugin's own keys against its declared configuration type, and
//! that every section names a plugin. Every error names the file, the line and the key.
//!
//! Over 400 lines because the file format is documented here, key by key, with doctests, and
//! its unit tests follow; the parsing itself is a small part.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::host::line_of;
use plugin_core::{ConfigError, ConfigSection, ConfigSource};

use crate::restart_policy::{Backoff, RestartPolicy};

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub struct PluginsConfig {
    path: String,
    plugins: BTreeMap<String, PluginSettings>,
}

/// One plugin's section, split into what the manager uses and what the plugin gets.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PluginSettings {
    /// `enabled` (default `true`).
    pub enabled: bool,
    /// `timeout`, if set.
    pub timeout: Option<Duration>,
    /// `restart`, if set.
    pub restart: Option<RestartPolicy>,
    /// `fail_when_unhealthy` (default `false`): a report of
    /// [`Health::Unhealthy`](plugin_core::Health::Unhealthy) fails the plugin, and its restart
    /// policy applies.
    pub fail_when_unhealthy: bool,
    /// The plugin's own keys.
    pub section: Arc<ConfigSection>,
    /// A problem with the manager's keys of this section, if any (the plugin then fails).
    pub problem: Option<ConfigError>,
    /// The line of the section's header.
    pub line: usize,
}

type RawFile = BTreeMap<String, toml::Spanned<BTreeMap<String, toml::Spanned<toml::Value>>>>;

impl PluginsConfig {
    /// No file: every plugin on, with its defaults.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the text of the file called `path`.
    ///
    /// Fails only if the file is not TOML or not a set of tables; a bad value of `enabled`,
    /// `timeout` or `restart` is kept as that plugin's [`PluginSettings::problem`].
    ///
    /// ```
    /// use plugin_manager::PluginsConfig;
    ///
    /// let config = PluginsConfig::parse("plugins.toml", "[dice]\nenabled = false\nsides = 20\n").unwrap();
    /// let dice = config.plugin("dice").unwrap();
    /// assert!(!dice.enabled);
    /// assert_eq!(dice.section.values()["sides"].as_integer(), Some(20));
    /// assert_eq!(dice.section.source().to_string(), "plugins.toml:1");
    ///
    /// let error = PluginsConfig::parse("plugins.toml", "[dice]\nsides = \n").unwrap_err();
    /// assert!(error.to_string().starts_with("plugins.toml:2: "), "{error}");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] with `path` and the line when the text is not valid TOML, or a
    /// top-level value is not a plugin's section.
    pub fn parse(path: &str, text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|error| {
            let problem = ConfigError::new(error.message().trim_end()).with_file(path);
            match error.span() {
                Some(span) => problem.with_line(line_of(text, span.start) + 1),
                None => problem,
            }
        })?;
        let plugins = raw
            .into_iter()
            .map(|(name, table)| {
                let settings = settings(path, text, &name, table);
                (name, settings)
            })
            .collect();
        Ok(Self {
            path: path.to_owned(),
            plugins,
        })
    }

    /// The largest file [`PluginsConfig::load`] reads: 1 MiB. A configuration file is a few
    /// kilobytes; anything this big is the wrong file, and reading it whole would only cost
    /// memory before the parser rejects it.
    pub const MAX_SIZE: u64 = 1024 * 1024;

    /// Reads and parses the file at `path`, of at most [`PluginsConfig::MAX_SIZE`] bytes.
    ///
    /// Every error names the file, and the line when there is one (a syntax error, or a byte
    /// that is not UTF-8). Only a regular file (or a symbolic link to one) is read: a FIFO, a
    /// directory or a device is refused with a message saying what it is, without opening it
    /// for a read that could wait forever for a writer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file when it cannot be read (missing, not a regular file,
    /// over [`PluginsConfig::MAX_SIZE`], not UTF-8), or with its line and key when it is not a
    /// valid configuration (as [`PluginsConfig::parse`]).
    ///
    /// ```
    /// use plugin_manager::PluginsConfig;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("plugins.toml");
    /// std::fs::write(&path, "[dice]\nsides = 20\n").unwrap();
    /// let config = PluginsConfig::load(&path).unwrap();
    /// assert_eq!(config.plugin("dice").unwrap().section.values()["sides"].as_integer(), Some(20));
    ///
    /// std::fs::write(&path, "[dice]\nsides = = 20\n").unwrap();
    /// let error = PluginsConfig::load(&path).unwrap_err();
    /// assert_eq!(error.line, Some(2));
    /// assert!(error.to_string().starts_with(&format!("{}:2: ", path.display())), "{error}");
    ///
    /// let error = PluginsConfig::load(dir.path()).unwrap_err();
    /// assert!(error.to_string().ends_with("cannot read it: it is a directory, not a regular file"), "{error}");
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::load_limited(path, Self::MAX_SIZE)
    }

    /// [`PluginsConfig::load`] with another size limit, in bytes.
    ///
    /// # Errors
    ///
    /// As [`PluginsConfig::load`], with `max_size` as the limit.
    ///
    /// ```
    /// use plugin_manager::PluginsConfig;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("plugins.toml");
    /// std::fs::write(&path, "[dice]\nsides = 20\n").unwrap();
    /// let error = PluginsConfig::load_limited(&path, 8).unwrap_err();
    /// assert!(error.to_string().ends_with("is 18 bytes, more than the limit of 8"), "{error}");
    /// ```
    pub fn load_limited(path: impl AsRef<Path>, max_size: u64) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = read_text(path, max_size)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The file's name as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The section of `plugin`, if the file has one.
    pub fn plugin(&self, plugin: &str) -> Option<&PluginSettings> {
        self.plugins.get(plugin)
    }

    /// Every section, by plugin name.
    pub fn plugins(&self) -> impl Iterator<Item = (&str, &PluginSettings)> {
        self.plugins.iter().map(|(name, s)| (name.as_str(), s))
    }

    /// Whether the file switches `plugin` on (no section: on).
    pub fn is_enabled(&self, plugin: &str) -> bool {
        self.plugin(plugin).is_none_or(|s| s.enabled)
    }

    /// The section of `plugin`, or an empty one from the defaults (one for the process: a
    /// section is never changed once made).
    pub(crate) fn section_of(&self, plugin: &str) -> Arc<ConfigSection> {
        static EMPTY: std::sync::OnceLock<Arc<ConfigSection>> = std::sync::OnceLock::new();
        self.plugin(plugin).map_or_else(
            || EMPTY.get_or_init(Default::default).clone(),
            |s| s.section.clone(),
        )
    }

    /// The sections that name none of `plugins`, each listing the plugins there are: what the
    /// manager reports at build time and refuses a reload for, and what the check reports.
    pub(crate) fn unknown_sections<'a>(
        &self,
        plugins: impl IntoIterator<Item = &'a str>,
    ) -> Vec<ConfigError> {
        if self.plugins.is_empty() {
            return Vec::new(); // no section names anything
        }
        let mut known: Vec<&str> = plugins.into_iter().collect();
        known.sort_unstable();
        self.plugins()
            .filter(|(name, _)| known.binary_search(name).is_err())
            .map(|(name, settings)| {
                ConfigError::at(
                    &self.path,
                    settings.line,
                    Some(name.to_owned()),
                    format!(
                        "no plugin is called `{name}`; the plugins are {}",
                        known.join(", ")
                    ),
                )
            })
            .collect()
    }

    /// The plugins the file leaves on while switching off a dependency they need, one error
    /// per such dependency at the line of its section. `plugins` are each plugin's name with
    /// the names of its required dependencies, in the order the errors should come.
    pub(crate) fn needs_switched_off<'a, D: IntoIterator<Item = &'a str>>(
        &self,
        plugins: impl IntoIterator<Item = (&'a str, D)>,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.plugins.values().all(|settings| settings.enabled) {
            return errors; // nothing is switched off
        }
        for (name, deps) in plugins {
            if !self.is_enabled(name) {
                continue;
            }
            for dep in deps {
                if !self.is_enabled(dep) {
                    let line = self.plugin(dep).map_or(0, |s| s.line);
                    errors.push(ConfigError::at(
                        &self.path,
                        line,
                        Some(format!("{dep}.enabled")),
                        format!("`{name}` stays on and needs `{dep}`: switch `{name}` off too"),
                    ));
                }
            }
        }
        errors
    }
}

/// Reads the text of the configuration file at `path`: a regular file of at most `max_size`
/// bytes, in UTF-8. Errors name the file (and the line of a byte that is not UTF-8).
pub(crate) fn read_text(path: &Path, max_size: u64) -> Result<String, ConfigError> {
    let shown = path.display().to_string();
    let fail = |message: String| ConfigError::new(message).with_file(shown.clone());
    let cannot_read = |error: std::io::Error| fail(format!("cannot read it: {error}"));
    // Looked at before opening: opening a FIFO for reading waits for a writer.
    regular_file(&fs::metadata(path).map_err(cannot_read)?).map_err(&fail)?;
    let file = open_without_waiting(path).map_err(cannot_read)?;
    // Again on what was opened, in case the path was replaced in between.
    let metadata = file.metadata().map_err(cannot_read)?;
    regular_file(&metadata).map_err(&fail)?;
    let too_large = |size: u64| {
        fail(format!(
            "is {size} bytes, more than the limit of {max_size}"
        ))
    };
    if metadata.len() > max_size {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    // Bounded even if the file grows while it is read.
    file.take(max_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > max_size {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let line = error.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ConfigError::at(&shown, line, None, "not UTF-8 text")
    })
}

/// Opens `path` for reading; on unix with `O_NONBLOCK`, so that a FIFO swapped in after the
/// check cannot make the open wait. Reading a regular file is not affected by the flag.
fn open_without_waiting(path: &Path) -> std::io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// `Ok` for a regular file; otherwise says what it is instead.
fn regular_file(metadata: &Metadata) -> Result<(), String> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        Some("a directory")
    } else {
        special_file(kind)
    };
    Err(match what {
        Some(what) => format!("cannot read it: it is {what}, not a regular file"),
        None => "cannot read it: not a regular file".to_owned(),
    })
}

#[cfg(unix)]
fn special_file(kind: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

#[cfg(not(unix))]
fn special_file(_: fs::FileType) -> Option<&'static str> {
    None
}

fn settings(
    path: &str,
    text: &str,
    plugin: &str,
    table: toml::Spanned<BTreeMap<String, toml::Spanned<toml::Value>>>,
) -> PluginSettings {
    let header = line_of(text, table.span().start) + 1;
    let mut result = PluginSettings {
        enabled: true,
        timeout: None,
        restart: None,
        fail_when_unhealthy: false,
        section: Arc::new(ConfigSection::default()),
        problem: None,
        line: header,
    };
    let mut values = toml::Table::new();
    let mut lines = BTreeMap::new();
    for (key, value) in table.into_inner() {
        let line = line_of(text, value.span().start) + 1;
        let error =
            |message: String| ConfigError::at(path, line, Some(format!("{plugin}.{key}")), message);
        let value = value.into_inner();
        let outcome = match key.as_str() {
            "enabled" => value
                .as_bool()
                .map(|on| result.enabled = on)
                .ok_or_else(|| error(format!("expected `true` or `false`, found {value}"))),
            "timeout" => duration(&value)
                .map(|d| result.timeout = Some(d))
                .map_err(error),
            "restart" => restart_policy(&value)
                .map(|p| result.restart = Some(p))
                .map_err(error),
            "fail_when_unhealthy" => value
                .as_bool()
                .map(|on| result.fail_when_unhealthy = on)
                .ok_or_else(|| error(format!("expected `true` or `false`, found {value}"))),
            _ => {
                lines.insert(key.clone(), line);
                values.insert(key, value);
                Ok(())
            }
        };
        if let (Err(problem), None) = (outcome, &result.problem) {
            result.problem = Some(problem);
        }
    }
    let source = ConfigSource::File {
        path: path.to_owned(),
        line: header,
    };
    result.section = Arc::new(plugin_core::host::config_section(source, values, lines));
    result
}

fn duration(value: &toml::Value) -> Result<Duration, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("expected a duration like \"2s\" or \"500ms\", found {value}"))?;
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"2s\" or \"500ms\""))?;
    if duration.is_zero() {
        return Err("a duration must be longer than zero".to_owned());
    }
    Ok(duration)
}

fn restart_policy(value: &toml::Value) -> Result<RestartPolicy, String> {
    const EXPECTED: &str = "expected \"never\", \"on-failure\" or a table with `policy`, \
                            `max_restarts`, `within`, `backoff`, `max_backoff`";
    let (policy, table) = match value {
        toml::Value::String(policy) => (policy.as_str(), None),
        toml::Value::Table(table) => match table.get("policy") {
            Some(toml::Value::String(policy)) => (policy.as_str(), Some(table)),
            _ => return Err(format!("{EXPECTED}; the table needs `policy`")),
        },
        other => return Err(format!("{EXPECTED}, found {other}")),
    };
    match policy {
        "never" => Ok(RestartPolicy::Never),
        "on-failure" => {
            let mut backoff = Backoff::default();
            for (key, value) in table.into_iter().flatten() {
                match key.as_str() {
                    "policy" => {}
                    "max_restarts" => {
                        backoff.max_restarts = value
                            .as_integer()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                format!("`max_restarts`: expected a count, found {value}")
                            })?;
                    }
                    "within" => {
                        backoff.within = duration(value).map_err(|e| format!("`within`: {e}"))?;
                    }
                    "backoff" => {
                        backoff.initial = duration(value).map_err(|e| format!("`backoff`: {e}"))?;
                    }
                    "max_backoff" => {
                        backoff.max = duration(value).map_err(|e| format!("`max_backoff`: {e}"))?;
                    }
                    other => return Err(format!("unknown key `{other}`; {EXPECTED}")),
                }
            }
            Ok(RestartPolicy::OnFailure(backoff))
        }
        other => Err(format!("unknown policy `{other}`; {EXPECTED}")),
    }
}

/// Why [`PluginManager::reload_config`](crate::PluginManager::reload_config) changed
/// nothing: every problem found in the new configuration.
///
/// Its message lists them all, so `?` into a `Box<dyn Error + Send + Sync>` keeps each one:
///
/// ```
/// use plugin_core::ConfigError;
/// use plugin_manager::ReloadError;
///
/// fn apply() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     Err(ReloadError::new(vec![
///         ConfigError::new("no plugin is called that").with_file("plugins.toml").with_line(3),
///         ConfigError::new("expected a boolean").with_file("plugins.toml").with_line(7),
///     ]))?;
///     Ok(())
/// }
/// assert_eq!(
///     apply().unwrap_err().to_string(),
///     "the configuration was not applied:\n  \
///      - plugins.toml:3: no plugin is called that\n  \
///      - plugins.toml:7: expected a boolean"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadError {
    /// The problems, in the order they were found.
    pub errors: Vec<ConfigError>,
}

impl ReloadError {
    /// A refused reload, for these reasons.
    #[must_use]
    pub fn new(errors: Vec<ConfigError>) -> Self {
        Self { errors }
    }

    /// The problems, in the order they were found.
    #[must_use]
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }
}

impl From<Vec<ConfigError>> for ReloadError {
    fn from(errors: Vec<ConfigError>) -> Self {
        Self::new(errors)
    }
}

impl IntoIterator for ReloadError {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ReloadError {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("the configuration was not applied"),
            [only] => write!(f, "the configuration was not applied: {only}"),
            all => {
                f.write_str("the configuration was not applied:")?;
                for error in all {
                    write!(f, "\n  - {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.errors.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
[dice]
timeout = \"2s\"
sides = 20

[greeter]
enabled = false
restart = { policy = \"on-failure\", max_restarts = 5, within = \"1m\" }
welcome = \"hi\"

[chaos]
timeout = \"soon\"
";

    #[test]
    fn splits_manager_keys_from_plugin_keys_with_lines() {
        let config = PluginsConfig::parse("plugins.toml", FILE).unwrap();
        let dice = config.plugin("dice").unwrap();
        assert_eq!(dice.timeout, Some(Duration::from_secs(2)));
        assert_eq!(dice.line, 1);
        assert_eq!(dice.section.values().len(), 1);
        let greeter = config.plugin("greeter").unwrap();
        assert!(!greeter.enabled);
        assert_eq!(
            greeter.restart,
            Some(RestartPolicy::OnFailure(Backoff {
                max_restarts: 5,
                within: Duration::from_secs(60),
                ..Backoff::default()
            }))
        );
        assert!(config.is_enabled("dice") && !config.is_enabled("greeter"));
        assert!(config.is_enabled("not-in-the-file"));
    }

    #[test]
    fn a_bad_manager_key_is_that_plugins_problem_with_file_line_and_key() {
        let config = PluginsConfig::parse("plugins.toml", FILE).unwrap();
        let problem = config.plugin("chaos").unwrap().problem.clone().unwrap();
        let text = problem.to_string();
        assert!(
            text.starts_with("plugins.toml:11: key `chaos.timeout`: `soon` is not a duration"),
            "{text}"
        );
    }

    #[test]
    fn sections_naming_no_plugin_are_reported_with_the_plugins_there_are() {
        let config = PluginsConfig::parse("plugins.toml", FILE).unwrap();
        let errors = config.unknown_sections(["greeter", "dice", "help"]);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "plugins.toml:10: key `chaos`: no plugin is called `chaos`; the plugins are dice, greeter, help"
            ]
        );
        assert_eq!(config.unknown_sections(["chaos", "dice", "greeter"]), []);
    }

    #[test]
    fn a_plugin_left_on_without_its_dependency_is_reported_at_the_dependency() {
        let config = PluginsConfig::parse("plugins.toml", FILE).unwrap();
        // `greeter` is off: `help`, on by default, needs it; `greeter` itself needs `dice`,
        // but is off, so that is no problem; `dice` needs an unconfigured (on) plugin.
        let errors = config.needs_switched_off([
            ("greeter", vec!["dice"]),
            ("help", vec!["dice", "greeter"]),
            ("dice", vec!["commands"]),
        ]);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "plugins.toml:5: key `greeter.enabled`: `help` stays on and needs `greeter`: switch `help` off too"
            ]
        );
    }

    #[test]
    fn syntax_errors_reject_the_file_with_its_line() {
        let error =
            PluginsConfig::parse("plugins.toml", "[dice]\nsides = 20\nsides = 21\n").unwrap_err();
        assert_eq!(error.line, Some(3), "{error}");
        let error = PluginsConfig::parse("p.toml", "loose = 1\n").unwrap_err();
        assert!(error.to_string().starts_with("p.toml:1: "), "{error}");
    }
}
