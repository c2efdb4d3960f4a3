//! Applying a new configuration file to running plugins: validate the whole file first, then
//! apply the difference (the static counterpart of a runtime plugin loader's hot reload).

use std::fmt;
use std::sync::Arc;

use plugin_core::{ConfigError, Reconfigured};

use super::Shared;
use super::configuration::check_section;
use crate::config::PluginsConfig;
use crate::error::OperationError;
use crate::graph::DependencyGraph;
use crate::state::{Phase, PluginState};
use crate::task::run_isolated;

/// What a reload did to one plugin.
///
/// More fields may come: make one with [`ConfigChange::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigChange {
    /// The plugin.
    pub plugin: String,
    /// What the new file changed for it.
    pub action: ConfigAction,
    /// Whether applying it worked; a failure leaves the plugin as the error says.
    pub result: Result<(), OperationError>,
}

/// The kinds of change a reload applies.
///
/// More may come, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigAction {
    /// `enabled = false`: disabled, with the plugins that need it.
    SwitchedOff,
    /// `enabled` back on: enabled (started, if it never was).
    SwitchedOn,
    /// Its section changed and it applied it in place (`reconfigure` returned `Applied`).
    Reconfigured,
    /// Its section changed and it was restarted with it (and its dependents with it).
    Restarted,
    /// Only its deadline or restart policy changed; no hook ran.
    SettingsUpdated,
    /// Its section changed while it is not running: it takes the new one when it is next
    /// enabled (with a fresh instance).
    Deferred,
}

impl ConfigChange {
    /// What a reload did to `plugin`, and how applying it ended.
    ///
    /// ```
    /// use plugin_manager::{ConfigAction, ConfigChange};
    ///
    /// let change = ConfigChange::new("dice", ConfigAction::Reconfigured, Ok(()));
    /// assert_eq!(change.to_string(), "dice: reconfigured in place");
    /// ```
    #[must_use]
    pub fn new(
        plugin: impl Into<String>,
        action: ConfigAction,
        result: Result<(), OperationError>,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            action,
            result,
        }
    }
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.action {
            ConfigAction::SwitchedOff => "switched off",
            ConfigAction::SwitchedOn => "switched on",
            ConfigAction::Reconfigured => "reconfigured in place",
            ConfigAction::Restarted => "restarted with its new configuration",
            ConfigAction::SettingsUpdated => "deadline or restart policy updated",
            ConfigAction::Deferred => "takes its new configuration when next enabled",
        };
        match &self.result {
            Ok(()) => write!(f, "{}: {what}", self.plugin),
            Err(error) => write!(f, "{}: {what}: {error}", self.plugin),
        }
    }
}

/// The sections of `config` that name no plugin of `graph`
/// ([`PluginsConfig::unknown_sections`] over the graph's plugins).
pub(crate) fn unknown_sections(
    graph: &DependencyGraph,
    config: &PluginsConfig,
) -> Vec<ConfigError> {
    config.unknown_sections((0..graph.len()).map(|pos| graph.name(pos)))
}

/// Plugins `config` leaves on while switching off a dependency they need
/// ([`PluginsConfig::needs_switched_off`] over the graph, in start order).
pub(crate) fn needs_switched_off(
    graph: &DependencyGraph,
    config: &PluginsConfig,
) -> Vec<ConfigError> {
    let plugins = (0..graph.len()).map(|pos| {
        let deps = graph.deps(pos).iter().map(|&dep| graph.name(dep));
        (graph.name(pos), deps)
    });
    config.needs_switched_off(plugins)
}

impl Shared {
    /// Every reason `config` cannot be applied as a whole.
    pub(super) fn check_config(&self, config: &PluginsConfig) -> Vec<ConfigError> {
        let mut errors = unknown_sections(&self.graph, config);
        for pos in 0..self.graph.len() {
            let name = self.name(pos);
            let settings = config.plugin(name);
            if let Some(problem) = settings.and_then(|s| s.problem.clone()) {
                errors.push(problem);
            }
            if let Err(error) =
                check_section(self.slots[pos].config_check, &config.section_of(name), name)
            {
                errors.push(error);
            }
        }
        errors.extend(needs_switched_off(&self.graph, config));
        errors
    }

    /// Validates `config` as a whole, then applies what changed. An invalid file changes
    /// nothing and comes back as the list of its problems.
    ///
    /// Reloads take turns (invariant 5): each validates and applies against the records the
    /// one before it left.
    pub(crate) async fn reload(
        self: &Arc<Self>,
        config: PluginsConfig,
    ) -> Result<Vec<ConfigChange>, Vec<ConfigError>> {
        let _reloading = self.reloading.lock().await;
        let errors = self.check_config(&config);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut changes = Vec::new();
        let mut switched_off = Vec::new();
        let mut switched_on = Vec::new();
        let mut section_changed = Vec::new();
        {
            // The records change with the set lock held exclusively, so no operation sees half
            // a file (invariants 2 and 5); the operations below take their own locks.
            let _locks = self.lock_set().await;
            for pos in 0..self.graph.len() {
                let name = self.name(pos);
                let settings = config.plugin(name);
                let on = config.is_enabled(name);
                let mut live = self.live(pos);
                let replaced = live.config.replace(settings, config.section_of(name), on);
                let policy = settings.and_then(|s| s.restart);
                let policy = policy.unwrap_or_else(|| self.builder_policy(name));
                let policy_changed = live.supervision.reconfigure(policy);
                drop(live);
                if replaced.timeout_changed || policy_changed {
                    changes.push(ConfigChange::new(
                        name,
                        ConfigAction::SettingsUpdated,
                        Ok(()),
                    ));
                }
                match (replaced.was_on, on) {
                    (true, false) => switched_off.push(pos),
                    (false, true) => switched_on.push(pos),
                    _ if on && replaced.section_changed => section_changed.push(pos),
                    _ => {}
                }
            }
        }
        for &pos in switched_off.iter().rev() {
            if self.state(pos) == PluginState::Enabled {
                let result = self.disable(self.name(pos), true).await;
                changes.push(ConfigChange::new(
                    self.name(pos),
                    ConfigAction::SwitchedOff,
                    result,
                ));
            }
        }
        for pos in section_changed {
            let (action, result) = self.apply_section(pos).await;
            changes.push(ConfigChange::new(self.name(pos), action, result));
        }
        for pos in switched_on {
            let name = self.name(pos);
            // `enable` replaces an instance set up with a section edited since.
            let result = match self.state(pos) {
                PluginState::Enabled => Ok(()),
                PluginState::Failed | PluginState::TornDown => self.restart(name).await,
                _ => self.enable(name).await,
            };
            changes.push(ConfigChange::new(name, ConfigAction::SwitchedOn, result));
        }
        // Plugins held off at start because a dependency was off, now that it is on again.
        for pos in 0..self.graph.len() {
            let held_off = {
                let live = self.live(pos);
                live.config.is_on() && live.state == PluginState::Unloaded
            };
            if held_off {
                let result = self.enable(self.name(pos)).await;
                changes.push(ConfigChange::new(
                    self.name(pos),
                    ConfigAction::SwitchedOn,
                    result,
                ));
            }
        }
        Ok(changes)
    }

    /// Hands a changed section to `pos`: through `reconfigure` if it is enabled and takes it
    /// in place, else by a restart (a failed plugin, e.g. one whose old section was invalid,
    /// is restarted too).
    pub(super) async fn apply_section(
        self: &Arc<Self>,
        pos: usize,
    ) -> (ConfigAction, Result<(), OperationError>) {
        let name = self.name(pos).to_owned();
        match self.state(pos) {
            PluginState::Enabled => {}
            PluginState::Failed => return (ConfigAction::Restarted, self.restart(&name).await),
            // Not running: enabling it later gives it a fresh instance with the new section.
            _ => return (ConfigAction::Deferred, Ok(())),
        }
        let outcome = {
            // The dependents' locks too: a failing `reconfigure` stops them (invariant 2).
            let dependents = self.graph.dependents_closure(pos);
            let _locks = self.lock_all(&dependents).await;
            let (handles, section) = {
                let live = self.live(pos);
                let handles = (live.state == PluginState::Enabled)
                    .then(|| live.instance.handles())
                    .flatten();
                (handles, live.config.section())
            };
            match handles {
                Some((instance, context)) => {
                    context.set_config(section);
                    let applied =
                        run_isolated(&name, Phase::Reconfigure, self.timeout(pos), async move {
                            instance.reconfigure(&context).await
                        })
                        .await;
                    if let Err(failure) = &applied {
                        self.fail_with_dependents(pos, &dependents, failure.clone())
                            .await;
                    }
                    applied
                }
                None => Ok(Reconfigured::NeedsRestart),
            }
        };
        match outcome {
            Ok(Reconfigured::Applied) => (ConfigAction::Reconfigured, Ok(())),
            Ok(Reconfigured::NeedsRestart) => (ConfigAction::Restarted, self.restart(&name).await),
            Err(failure) => (
                ConfigAction::Reconfigured,
                Err(self.operation_failed(pos, failure)),
            ),
        }
    }
}
