//! Everything that can be checked about a plugin set before anything of it runs, reported at
//! once: what [`ManagerBuilder::build`](crate::ManagerBuilder::build) would refuse
//! (duplicate names, missing dependencies, cycles, selected crates that registered nothing),
//! every configuration section against its plugin's configuration type, sections that name
//! no plugin, plugins that would be held off (on while a dependency they need is off), and
//! optional dependencies that name no plugin (warnings).
//!
//! No constructor and no hook runs: the check only reads metadata and deserializes the
//! configuration sections, as the manager does before it starts a plugin.
//!
//! ```
//! use plugin_core::{Plugin, PluginMetadata, async_trait};
//! use plugin_manager::check::{Outcome, check};
//! use plugin_manager::{PluginSpec, PluginsConfig};
//!
//! #[derive(Default)]
//! struct Noop;
//! #[async_trait]
//! impl Plugin for Noop {}
//!
//! let specs = [
//!     PluginSpec::with_default::<Noop>(PluginMetadata::new("commands")),
//!     PluginSpec::with_default::<Noop>(PluginMetadata::new("dice").with_deps(["commands"])),
//! ];
//! let report = check(&specs, None);
//! assert!(report.is_ok());
//! assert_eq!(report.to_string(), "ok: 2 plugins would start: commands, dice");
//!
//! let config = PluginsConfig::parse("plugins.toml", "[commands]\nenabled = false\n\n[dize]\n").unwrap();
//! let report = check(&specs, Some(&config));
//! assert!(!report.is_ok());
//! assert_eq!(report.outcome("dice"), Some(&Outcome::HeldOff { dependency: "commands".into() }));
//! assert_eq!(
//!     report.to_string(),
//!     "error: plugins.toml:4: key `dize`: no plugin is called `dize`; the plugins are commands, dice\n\
//!      error: plugins.toml:1: key `commands.enabled`: `dice` stays on and needs `commands`: switch `dice` off too\n\
//!      switched off: commands\n\
//!      held off: dice (needs `commands`)\n\
//!      failed: 2 problems; 0 of 2 plugins would start"
//! );
//! ```
//!
//! Over 400 lines because the report's types and their documented accessors live with the
//! check; splitting them from the one function that fills them would scatter one concept.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use plugin_core::host::ConfigCheck;
use plugin_core::{ConfigError, PluginMetadata};

use crate::config::PluginsConfig;
use crate::error::{GraphError, GraphWarning};
use crate::graph::{DependencyGraph, GraphView, NodeMark, unknown_optional_deps};
use crate::spec::PluginSpec;

/// What would become of one plugin if the set started now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It would be set up and enabled (unless its own hooks fail).
    Starts,
    /// The configuration switches it off (`enabled = false`).
    SwitchedOff,
    /// It is on, but `dependency`, which it requires, is switched off or held off.
    HeldOff {
        /// The first required dependency that is off.
        dependency: String,
    },
    /// Its configuration section is invalid: it would fail before its constructor runs.
    InvalidConfig,
    /// `dependency`, which it requires, would fail, so it would fail too.
    DependencyFails {
        /// The first required dependency that fails.
        dependency: String,
    },
    /// The set is invalid (see [`CheckReport::errors`]) and this plugin is named in a problem.
    Invalid,
    /// Nothing starts, for reasons that are not about this plugin: the set is invalid
    /// because of other plugins, or the configuration file cannot be read or parsed.
    NotStarted,
}

impl Outcome {
    fn mark(&self) -> NodeMark {
        match self {
            Outcome::Starts | Outcome::NotStarted => NodeMark::None,
            Outcome::SwitchedOff => NodeMark::SwitchedOff,
            Outcome::HeldOff { .. } => NodeMark::HeldOff,
            Outcome::InvalidConfig | Outcome::DependencyFails { .. } | Outcome::Invalid => {
                NodeMark::Failed
            }
        }
    }
}

/// What [`check`] found: problems (which keep the set from starting cleanly), warnings
/// (which do not), and what would become of each plugin.
///
/// Its `Display` is the report a host prints: one `error: ...` or `warning: ...` line per
/// finding, who is switched or held off, and a last line that starts with `ok:` when
/// [`CheckReport::is_ok`], else with `failed:`. Control characters in it (from a
/// configuration file, say) are escaped, so that no finding can start a line of its own.
#[derive(Debug, Clone)]
pub struct CheckReport {
    plugins: Vec<PluginMetadata>,
    outcomes: Vec<Outcome>,
    errors: Vec<GraphError>,
    config_errors: Vec<ConfigError>,
    warnings: Vec<GraphWarning>,
}

impl CheckReport {
    /// Whether the set would start cleanly: no problem of the set, none of the configuration.
    /// Warnings and switched-off plugins do not count.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.config_errors.is_empty()
    }

    /// The exit status a command-line check returns: 0 when [`CheckReport::is_ok`], else 2.
    pub fn exit_status(&self) -> u8 {
        if self.is_ok() { 0 } else { 2 }
    }

    /// What [`ManagerBuilder::build`](crate::ManagerBuilder::build) would refuse the set for.
    pub fn errors(&self) -> &[GraphError] {
        &self.errors
    }

    /// The configuration's problems, each with file, line and key: the file itself (when it
    /// cannot be read or parsed), sections naming no plugin, invalid sections, plugins left
    /// on while a dependency is switched off. Ordered as
    /// [`PluginManager::reload_config`](crate::PluginManager::reload_config) reports them.
    pub fn config_errors(&self) -> &[ConfigError] {
        &self.config_errors
    }

    /// Findings that do not keep the set from starting (optional dependencies naming no
    /// plugin, with the closest name).
    pub fn warnings(&self) -> &[GraphWarning] {
        &self.warnings
    }

    /// The plugins checked, in start order (by name when the set is invalid), each once.
    pub fn plugins(&self) -> &[PluginMetadata] {
        &self.plugins
    }

    /// What would become of `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        let i = self.plugins.iter().position(|p| p.name == name)?;
        Some(&self.outcomes[i])
    }

    /// The plugins that would start, in start order.
    pub fn would_start(&self) -> Vec<&str> {
        self.with_outcome(|o| *o == Outcome::Starts)
    }

    fn with_outcome(&self, keep: impl Fn(&Outcome) -> bool) -> Vec<&str> {
        self.plugins
            .iter()
            .zip(&self.outcomes)
            .filter(|(_, o)| keep(o))
            .map(|(p, _)| p.name.as_str())
            .collect()
    }

    /// The set as a graph, each node marked with its outcome (failed, switched off, held
    /// off), ready to [`render`](GraphView::render).
    ///
    /// ```
    /// use plugin_core::{Plugin, PluginMetadata, async_trait};
    /// use plugin_manager::{GraphFormat, PluginSpec, PluginsConfig, check::check};
    ///
    /// #[derive(Default)]
    /// struct Noop;
    /// #[async_trait]
    /// impl Plugin for Noop {}
    ///
    /// let specs = [
    ///     PluginSpec::with_default::<Noop>(PluginMetadata::new("commands")),
    ///     PluginSpec::with_default::<Noop>(PluginMetadata::new("dice").with_deps(["commands"])),
    /// ];
    /// let config = PluginsConfig::parse("plugins.toml", "[dice]\nenabled = false\n").unwrap();
    /// let dot = check(&specs, Some(&config)).graph().render(GraphFormat::Dot);
    /// assert!(dot.contains(r#""dice" [label="dice\nswitched off""#), "{dot}");
    /// assert!(dot.contains(r#""dice" -> "commands";"#), "{dot}");
    /// ```
    pub fn graph(&self) -> GraphView {
        let mut view = GraphView::new(&self.plugins);
        for (plugin, outcome) in self.plugins.iter().zip(&self.outcomes) {
            view.mark(&plugin.name, outcome.mark());
        }
        view
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<String> = Vec::new();
        lines.extend(self.errors.iter().map(|e| format!("error: {e}")));
        lines.extend(self.config_errors.iter().map(|e| format!("error: {e}")));
        lines.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        let off = self.with_outcome(|o| *o == Outcome::SwitchedOff);
        if !off.is_empty() {
            lines.push(format!("switched off: {}", off.join(", ")));
        }
        let held: Vec<String> = self
            .plugins
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(p, o)| match o {
                Outcome::HeldOff { dependency } => {
                    Some(format!("{} (needs `{dependency}`)", p.name))
                }
                _ => None,
            })
            .collect();
        if !held.is_empty() {
            lines.push(format!("held off: {}", held.join(", ")));
        }
        let starting = self.would_start();
        let names = |names: &[&str]| {
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            }
        };
        let total = self.plugins.len();
        if self.is_ok() {
            let plural = if starting.len() == 1 { "" } else { "s" };
            lines.push(format!(
                "ok: {} plugin{plural} would start{}",
                starting.len(),
                names(&starting)
            ));
        } else {
            let problems = self.errors.len() + self.config_errors.len();
            let plural = if problems == 1 { "" } else { "s" };
            lines.push(format!(
                "failed: {problems} problem{plural}; {} of {total} plugins would start{}",
                starting.len(),
                names(&starting)
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write_escaped(f, line)?;
        }
        Ok(())
    }
}

impl CheckReport {
    /// The report with `error` (the configuration file could not be loaded) first among the
    /// configuration's problems.
    #[cfg(feature = "host-kit")]
    pub(crate) fn with_file_error(mut self, error: ConfigError) -> Self {
        self.config_errors.insert(0, error);
        // A host does not start with a file it cannot read.
        for outcome in &mut self.outcomes {
            if *outcome == Outcome::Starts {
                *outcome = Outcome::NotStarted;
            }
        }
        self
    }
}

/// Writes `line` with control and bidirectional characters as Rust escapes.
fn write_escaped(f: &mut fmt::Formatter<'_>, line: &str) -> fmt::Result {
    for c in line.chars() {
        let bidi = matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        );
        if c.is_control() || bidi {
            write!(f, "{}", c.escape_default())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

/// Checks `specs` with `config` (none: every plugin on, on its defaults) without running
/// any of them. See the [module](self).
pub fn check(specs: &[PluginSpec], config: Option<&PluginsConfig>) -> CheckReport {
    check_with(specs, config, Vec::new())
}

/// [`check`] over every plugin compiled into this binary, with the registry checked against
/// what [`link_plugins!`](crate::link_plugins) says the application selected, as
/// [`ManagerBuilder::registered`](crate::ManagerBuilder::registered) does.
pub fn check_registered(config: Option<&PluginsConfig>) -> CheckReport {
    let specs: Vec<PluginSpec> = plugin_core::registered()
        .map(PluginSpec::from_descriptor)
        .collect();
    check_with(
        &specs,
        config,
        crate::linking::check(plugin_core::registered()),
    )
}

/// [`check`], with `errors` found beforehand (the registry's) reported first.
pub(crate) fn check_with(
    specs: &[PluginSpec],
    config: Option<&PluginsConfig>,
    mut errors: Vec<GraphError>,
) -> CheckReport {
    let empty = PluginsConfig::empty();
    let config = config.unwrap_or(&empty);
    let parts: Vec<(Arc<PluginMetadata>, Option<ConfigCheck>)> = specs
        .iter()
        .map(|spec| {
            let parts = spec.clone().into_parts();
            (parts.metadata, parts.config_check)
        })
        .collect();
    let metadata: Vec<&PluginMetadata> = parts.iter().map(|(m, _)| &**m).collect();
    let warnings = unknown_optional_deps(&metadata);
    let graph = DependencyGraph::new(&metadata);
    // The plugins in start order, or by name (then origin, as the graph resolves duplicates)
    // when the set is invalid; each name once.
    let order: Vec<usize> = match &graph {
        Ok(graph) => (0..graph.len()).map(|p| graph.source_index(p)).collect(),
        Err(graph_errors) => {
            errors.extend(graph_errors.errors.iter().cloned());
            let mut order: Vec<usize> = (0..parts.len()).collect();
            order.sort_by(|&a, &b| {
                let (a, b) = (metadata[a], metadata[b]);
                (&a.name, &a.crate_name, &a.type_name).cmp(&(&b.name, &b.crate_name, &b.type_name))
            });
            order.dedup_by(|a, b| metadata[*a].name == metadata[*b].name);
            order
        }
    };
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(pos, &i)| (metadata[i].name.as_str(), pos))
        .collect();

    // The configuration, in the order `reload_config` reports it.
    let mut config_errors = config.unknown_sections(position.keys().copied());
    let mut invalid = vec![false; order.len()];
    for (pos, &i) in order.iter().enumerate() {
        let name = metadata[i].name.as_str();
        if let Some(problem) = config.plugin(name).and_then(|s| s.problem.clone()) {
            config_errors.push(problem);
            invalid[pos] = true;
        }
        if let Some(check) = parts[i].1
            && let Err(error) = check(&config.section_of(name), name)
        {
            config_errors.push(error);
            invalid[pos] = true;
        }
    }
    // Dependencies that are missing are the set's problem, reported above.
    config_errors.extend(config.needs_switched_off(order.iter().map(|&i| {
        let deps = metadata[i].deps.iter().map(String::as_str);
        let present = deps.filter(|dep| position.contains_key(dep));
        (metadata[i].name.as_str(), present)
    })));

    let outcomes = match &graph {
        Ok(_) => {
            // Start order: every dependency's outcome is known before its dependents'.
            let mut outcomes: Vec<Outcome> = Vec::with_capacity(order.len());
            for (pos, &i) in order.iter().enumerate() {
                let plugin = metadata[i];
                let deps = || {
                    plugin
                        .deps
                        .iter()
                        .map(|d| (d, &outcomes[position[d.as_str()]]))
                };
                let outcome = if !config.is_enabled(&plugin.name) {
                    Outcome::SwitchedOff
                } else if let Some((dep, _)) = deps()
                    .find(|(_, o)| matches!(o, Outcome::SwitchedOff | Outcome::HeldOff { .. }))
                {
                    Outcome::HeldOff {
                        dependency: dep.clone(),
                    }
                } else if invalid[pos] {
                    Outcome::InvalidConfig
                } else if let Some((dep, _)) = deps().find(|(_, o)| {
                    matches!(o, Outcome::InvalidConfig | Outcome::DependencyFails { .. })
                }) {
                    Outcome::DependencyFails {
                        dependency: dep.clone(),
                    }
                } else {
                    Outcome::Starts
                };
                outcomes.push(outcome);
            }
            outcomes
        }
        Err(graph_errors) => {
            let named = named_in(graph_errors.errors());
            order
                .iter()
                .enumerate()
                .map(|(pos, &i)| {
                    let name = metadata[i].name.as_str();
                    if named.contains(name) || invalid[pos] {
                        Outcome::Invalid
                    } else if !config.is_enabled(name) {
                        Outcome::SwitchedOff
                    } else {
                        Outcome::NotStarted
                    }
                })
                .collect()
        }
    };
    CheckReport {
        plugins: order.iter().map(|&i| metadata[i].clone()).collect(),
        outcomes,
        errors,
        config_errors,
        warnings,
    }
}

/// The plugins a problem of the set is about.
fn named_in(errors: &[GraphError]) -> BTreeSet<&str> {
    let mut named = BTreeSet::new();
    for error in errors {
        match error {
            GraphError::DuplicateName { name, .. } | GraphError::InvalidName { name, .. } => {
                named.insert(name.as_str());
            }
            GraphError::MissingDependency { plugin, .. } => {
                named.insert(plugin.as_str());
            }
            GraphError::DependencyCycle { path } => named.extend(path.iter().map(String::as_str)),
            GraphError::NothingRegistered { .. } | GraphError::NotLinked => {}
        }
    }
    named
}
