//! Errors of the manager: an invalid plugin set, and refused or failed operations.

use std::fmt;

use crate::state::{Failure, PluginState};

/// A problem with the set of plugins, found before any of them runs; more kinds may come.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two plugins share a name.
    #[error(
        "plugin name `{name}` is registered twice: by {first} and by {second}; names must be \
         unique in one program: rename one with `#[plugin(name = ...)]` or leave one crate out"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// Where the first one comes from (type and crate).
        first: String,
        /// Where the second one comes from.
        second: String,
    },
    /// A plugin's name breaks the rules of `#[plugin(name = ...)]` (see
    /// [`plugin_core::check_name`]); names given in code are checked here.
    #[error("{} (given by {origin})", plugin_core::InvalidName { name: name.clone() })]
    InvalidName {
        /// The name as given.
        name: String,
        /// Where it comes from (type and crate).
        origin: String,
    },
    /// A plugin requires one that is not in the set.
    #[error("plugin `{plugin}` depends on `{dependency}`, which is not registered")]
    MissingDependency {
        /// The plugin that declared the dependency.
        plugin: String,
        /// The name nothing answers to.
        dependency: String,
    },
    /// Plugins depend on each other in a circle.
    #[error("dependency cycle: {}", path.join(" -> "))]
    DependencyCycle {
        /// The cycle, closed: `[a, b, c, a]` reads "a depends on b, b on c, c on a".
        path: Vec<String>,
    },
    /// A plugin crate the application selected (see [`link_plugins!`](crate::link_plugins))
    /// is linked but registered no plugin.
    #[error(
        "plugin crate `{package}` is selected but registered no plugin: put `#[plugin(...)]` \
         on a type in it, or leave it out of the application's features (a crate that uses \
         plugin-core without being a plugin crate says so in its Cargo.toml: \
         `[package.metadata.plugin-core] plugin-crate = false`)"
    )]
    NothingRegistered {
        /// The crate's package name.
        package: String,
    },
    /// No plugin is registered, and the application does not say which crates it selected:
    /// the crates may have been dropped by the linker.
    #[error(
        "no plugin is registered in this program: if it selects plugin crates, write \
         `plugin_manager::link_plugins!();` at the root of the binary crate so that they are \
         linked; if it means to run none, build the manager without `registered()`"
    )]
    NotLinked,
}

/// Something odd about the set of plugins that does not keep it from running.
///
/// ```
/// use plugin_manager::GraphWarning;
///
/// let warning = GraphWarning::unknown_optional_dependency("greeter", "dicee", Some("dice"));
/// assert_eq!(
///     warning.to_string(),
///     "plugin `greeter` lists `dicee` in `optional`, but no plugin is called that: did you \
///      mean `dice`? (`greeter` runs without it)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphWarning {
    /// An optional dependency names no plugin of the set: a typo, or a plugin that is
    /// legitimately left out of this build.
    #[error(
        "plugin `{plugin}` lists `{dependency}` in `optional`, but no plugin is called that{}",
        match suggestion {
            Some(name) => format!(": did you mean `{name}`? (`{plugin}` runs without it)"),
            None => format!(" (`{plugin}` runs without it)"),
        }
    )]
    #[non_exhaustive]
    UnknownOptionalDependency {
        /// The plugin that declared the optional dependency.
        plugin: String,
        /// The name nothing answers to.
        dependency: String,
        /// The registered name closest to it, if one is close (at most two edits away).
        suggestion: Option<String>,
    },
}

impl GraphWarning {
    /// [`GraphWarning::UnknownOptionalDependency`]: `plugin` lists `dependency` in `optional`,
    /// and no plugin is called that; `suggestion` is the closest name, if any.
    #[must_use]
    pub fn unknown_optional_dependency(
        plugin: impl Into<String>,
        dependency: impl Into<String>,
        suggestion: Option<impl Into<String>>,
    ) -> Self {
        Self::UnknownOptionalDependency {
            plugin: plugin.into(),
            dependency: dependency.into(),
            suggestion: suggestion.map(Into::into),
        }
    }
}

/// The plugin set cannot be run; every problem found is listed.
///
/// `?` turns it into a `Box<dyn Error + Send + Sync>` whose message lists every problem:
///
/// ```
/// use plugin_core::PluginMetadata;
/// use plugin_manager::DependencyGraph;
///
/// fn order() -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
///     let graph = DependencyGraph::new(&[PluginMetadata::new("dice").with_deps(["commands"])])?;
///     Ok(graph.start_order().into_iter().map(String::from).collect())
/// }
/// assert_eq!(
///     order().unwrap_err().to_string(),
///     "invalid plugin set\n  - plugin `dice` depends on `commands`, which is not registered"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct InvalidPluginSet {
    /// The problems, in a stable order.
    pub errors: Vec<GraphError>,
}

impl InvalidPluginSet {
    /// The set is invalid for these reasons.
    #[must_use]
    pub fn new(errors: Vec<GraphError>) -> Self {
        Self { errors }
    }

    /// The problems, in a stable order.
    #[must_use]
    pub fn errors(&self) -> &[GraphError] {
        &self.errors
    }
}

impl From<Vec<GraphError>> for InvalidPluginSet {
    fn from(errors: Vec<GraphError>) -> Self {
        Self::new(errors)
    }
}

impl IntoIterator for InvalidPluginSet {
    type Item = GraphError;
    type IntoIter = std::vec::IntoIter<GraphError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a InvalidPluginSet {
    type Item = &'a GraphError;
    type IntoIter = std::slice::Iter<'a, GraphError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for InvalidPluginSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid plugin set")?;
        for error in &self.errors {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

/// An operator's request, as [`OperationError`] names it.
///
/// ```
/// assert_eq!(plugin_manager::Operation::Restart.to_string(), "restart");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`PluginManager::enable`](crate::PluginManager::enable).
    Enable,
    /// [`PluginManager::disable`](crate::PluginManager::disable) (with or without the cascade).
    Disable,
    /// [`PluginManager::restart`](crate::PluginManager::restart).
    Restart,
}

impl Operation {
    /// The verb: `"enable"`, `"disable"`, `"restart"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Enable => "enable",
            Operation::Disable => "disable",
            Operation::Restart => "restart",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator request (enable, disable, restart) that was refused or that failed; more kinds
/// may come.
///
/// A refused request changed nothing.
///
/// ```
/// # use plugin_manager::PluginManager;
/// async fn enable(manager: &PluginManager) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     manager.enable("dice").await?; // an OperationError converts
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// No plugin has this name.
    #[error("no plugin named `{name}`")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// The plugin's state does not allow the operation.
    #[error("cannot {operation} plugin `{plugin}`: it is {state}")]
    InvalidTransition {
        /// The plugin.
        plugin: String,
        /// Its state when asked.
        state: PluginState,
        /// What was asked.
        operation: Operation,
    },
    /// Enabled plugins depend on the one to disable, and no cascade was asked for.
    #[error(
        "cannot disable plugin `{plugin}`: enabled plugins depend on it: {} (disable them first, or ask for the cascade)",
        dependents.join(", ")
    )]
    HasEnabledDependents {
        /// The plugin.
        plugin: String,
        /// The enabled plugins that require it, in start order.
        dependents: Vec<String>,
    },
    /// A dependency is in a state from which it cannot be enabled.
    #[error("cannot {operation} plugin `{plugin}`: its dependency `{dependency}` is {state}")]
    DependencyUnavailable {
        /// The plugin.
        plugin: String,
        /// The dependency in the way.
        dependency: String,
        /// The dependency's state.
        state: PluginState,
        /// What was asked.
        operation: Operation,
    },
    /// The operation ran and a hook failed; the plugin is now `failed`.
    #[error("plugin `{plugin}` failed: {failure}")]
    Failed {
        /// The plugin that failed (the one asked for, or one the operation had to touch).
        plugin: String,
        /// What went wrong.
        failure: Failure,
    },
    /// The manager is shutting down and takes no more requests.
    #[error("the manager is shutting down")]
    ShuttingDown,
}
