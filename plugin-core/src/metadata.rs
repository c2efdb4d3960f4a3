//! What is known about a plugin without running it.

use std::time::Duration;

use crate::descriptor::PluginDescriptor;

/// A plugin's identity and declared relations.
///
/// Name and dependencies come from the `#[plugin]` attribute; version, description and authors
/// from the plugin crate's own `Cargo.toml`, so nothing is written twice.
///
/// ```
/// use plugin_core::PluginMetadata;
///
/// let meta = PluginMetadata::new("dice").with_version("1.2.0").with_deps(["commands"]);
/// assert_eq!(meta.name, "dice");
/// assert_eq!(meta.deps, ["commands"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginMetadata {
    /// The unique name, e.g. `"dice"`.
    pub name: String,
    /// The plugin crate's version.
    pub version: String,
    /// The plugin crate's description (empty when the manifest has none).
    pub description: String,
    /// The plugin crate's authors.
    pub authors: Vec<String>,
    /// The crate the plugin lives in (its package name), or empty for plugins built in code.
    pub crate_name: String,
    /// The Rust type that implements the plugin.
    pub type_name: String,
    /// Names of the plugins this one needs; they are enabled before it.
    pub deps: Vec<String>,
    /// Names of plugins this one uses when they are present; ordered before it if they are.
    pub optional_deps: Vec<String>,
    /// The plugin's own deadline for each hook, overriding the manager's default.
    pub timeout: Option<Duration>,
}

impl PluginMetadata {
    /// Metadata with only a name; everything else empty.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: String::new(),
            description: String::new(),
            authors: Vec::new(),
            crate_name: String::new(),
            type_name: String::new(),
            deps: Vec::new(),
            optional_deps: Vec::new(),
            timeout: None,
        }
    }

    /// Sets the version.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the required dependencies, by name.
    pub fn with_deps<S: Into<String>>(mut self, deps: impl IntoIterator<Item = S>) -> Self {
        self.deps = deps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the optional dependencies, by name.
    pub fn with_optional_deps<S: Into<String>>(
        mut self,
        deps: impl IntoIterator<Item = S>,
    ) -> Self {
        self.optional_deps = deps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the per-hook deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether `name` is among this plugin's required or optional dependencies.
    pub fn declares(&self, name: &str) -> bool {
        self.deps
            .iter()
            .chain(&self.optional_deps)
            .any(|d| d == name)
    }
}

impl From<&PluginDescriptor> for PluginMetadata {
    fn from(d: &PluginDescriptor) -> Self {
        Self {
            name: d.name().to_owned(),
            version: d.version().to_owned(),
            description: d.description().to_owned(),
            authors: d.authors().map(str::to_owned).collect(),
            crate_name: d.crate_name().to_owned(),
            type_name: d.type_name().to_owned(),
            deps: d.deps().iter().map(|s| (*s).to_owned()).collect(),
            optional_deps: d.optional_deps().iter().map(|s| (*s).to_owned()).collect(),
            timeout: d.timeout(),
        }
    }
}
