//! The host's configuration file: one section per plugin.
//!
//! ```toml
//! [dice]
//! enabled = true          # false keeps a compiled-in plugin off
//! timeout = "2s"          # this plugin's hook deadline
//! restart = "on-failure"  # or "never", or a table: see below
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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{ConfigError, ConfigSection, ConfigSource, line_of};

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
    pub fn parse(path: &str, text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|error| ConfigError {
            file: Some(path.to_owned()),
            line: error.span().map(|s| line_of(text, s.start) + 1),
            key: None,
            message: error.message().trim_end().to_owned(),
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

    /// Reads and parses the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            file: Some(shown.clone()),
            line: None,
            key: None,
            message: format!("cannot read it: {error}"),
        })?;
        Self::parse(&shown, &text)
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

    /// The section of `plugin`, or an empty one from the defaults.
    pub(crate) fn section_of(&self, plugin: &str) -> Arc<ConfigSection> {
        self.plugin(plugin)
            .map_or_else(|| Arc::new(ConfigSection::default()), |s| s.section.clone())
    }
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
    result.section = Arc::new(ConfigSection::new(source, values, lines));
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
                        backoff.within = duration(value).map_err(|e| format!("`within`: {e}"))?
                    }
                    "backoff" => {
                        backoff.initial = duration(value).map_err(|e| format!("`backoff`: {e}"))?
                    }
                    "max_backoff" => {
                        backoff.max = duration(value).map_err(|e| format!("`max_backoff`: {e}"))?
                    }
                    other => return Err(format!("unknown key `{other}`; {EXPECTED}")),
                }
            }
            Ok(RestartPolicy::OnFailure(backoff))
        }
        other => Err(format!("unknown policy `{other}`; {EXPECTED}")),
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
    fn syntax_errors_reject_the_file_with_its_line() {
        let error =
            PluginsConfig::parse("plugins.toml", "[dice]\nsides = 20\nsides = 21\n").unwrap_err();
        assert_eq!(error.line, Some(3), "{error}");
        let error = PluginsConfig::parse("p.toml", "loose = 1\n").unwrap_err();
        assert!(error.to_string().starts_with("p.toml:1: "), "{error}");
    }
}
