//! One plugin's part of the configuration file: its section, whether the file switches it on,
//! what is wrong with it, and its hook deadline.

use std::sync::Arc;
use std::time::Duration;

use plugin_core::host::ConfigCheck;
use plugin_core::{ConfigError, ConfigSection};

use crate::config::{PluginSettings, PluginsConfig};

/// What the configuration says of one plugin.
///
/// # Invariants
///
/// - Changed only by the builder and by a reload holding the set lock exclusively
///   (ARCHITECTURE.md, invariant 5); so an operation that holds a plugin's lock sees one
///   configuration from start to end.
/// - `error` is set only while the plugin's section (or settings) is invalid: a plugin with
///   an error is never started.
pub(super) struct Configuration {
    /// The section handed to each new context.
    section: Arc<ConfigSection>,
    /// The file switches it on.
    on: bool,
    /// Boxed: most plugins have none, and each plugin's slot is 80 bytes smaller for it (the
    /// slots of thousands are written at build and read again at their start).
    error: Option<Box<ConfigError>>,
    /// The file's hook deadline, over the plugin's own.
    timeout: Option<Duration>,
    /// `fail_when_unhealthy`: a report of `Health::Unhealthy` fails the plugin.
    fail_when_unhealthy: bool,
}

impl Configuration {
    /// What `config` says of `name`, with its section checked by `check`.
    pub(super) fn from_file(
        config: &PluginsConfig,
        name: &str,
        check: Option<ConfigCheck>,
    ) -> Self {
        let settings = config.plugin(name);
        let section = config.section_of(name);
        let error = settings
            .and_then(|s| s.problem.clone())
            .or_else(|| check_section(check, &section, name).err())
            .map(Box::new);
        Self {
            section,
            on: settings.is_none_or(|s| s.enabled),
            error,
            timeout: settings.and_then(|s| s.timeout),
            fail_when_unhealthy: settings.is_some_and(|s| s.fail_when_unhealthy),
        }
    }

    /// Whether a report of `Health::Unhealthy` fails the plugin.
    pub(super) fn fail_when_unhealthy(&self) -> bool {
        self.fail_when_unhealthy
    }

    /// The section for a new context.
    pub(super) fn section(&self) -> Arc<ConfigSection> {
        self.section.clone()
    }

    /// Whether the file switches the plugin on.
    pub(super) fn is_on(&self) -> bool {
        self.on
    }

    /// What keeps the plugin from starting, if anything.
    pub(super) fn error(&self) -> Option<&ConfigError> {
        self.error.as_deref()
    }

    /// The deadline of a hook: the file's, else the plugin's `own`, else the manager's.
    pub(super) fn deadline(&self, own: Option<Duration>, default: Duration) -> Duration {
        self.timeout.or(own).unwrap_or(default)
    }

    /// Whether an instance set up with `current` must be replaced to see this configuration.
    pub(super) fn differs_from(&self, current: &ConfigSection) -> bool {
        current.values() != self.section.values()
    }

    /// Takes the new file's word for the plugin (checked as a whole beforehand).
    pub(super) fn replace(
        &mut self,
        settings: Option<&PluginSettings>,
        section: Arc<ConfigSection>,
        on: bool,
    ) -> Replaced {
        let timeout = settings.and_then(|s| s.timeout);
        let replaced = Replaced {
            was_on: self.on,
            section_changed: self.error.is_some() || self.differs_from(&section),
            timeout_changed: self.timeout != timeout,
        };
        *self = Self {
            section,
            on,
            error: None,
            timeout,
            fail_when_unhealthy: settings.is_some_and(|s| s.fail_when_unhealthy),
        };
        replaced
    }
}

/// What [`Configuration::replace`] changed.
pub(super) struct Replaced {
    /// The old file switched it on.
    pub(super) was_on: bool,
    /// Its section differs, or the old one was invalid.
    pub(super) section_changed: bool,
    pub(super) timeout_changed: bool,
}

/// Runs a plugin's configuration check, if it declared a configuration type.
pub(super) fn check_section(
    check: Option<ConfigCheck>,
    section: &ConfigSection,
    plugin: &str,
) -> Result<(), ConfigError> {
    check.map_or(Ok(()), |check| check(section, plugin))
}
