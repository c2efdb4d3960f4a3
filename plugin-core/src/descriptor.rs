//! The link-time registration record that `#[plugin]` submits to `inventory`.

use std::any::TypeId;
use std::fmt;
use std::time::Duration;

use crate::config::ConfigCheck;
use crate::error::Result;
use crate::instance::PluginInstance;

/// Everything the manager needs to know about a compiled-in plugin, built at compile time.
///
/// `#[plugin]` creates one per plugin type and submits it with `inventory`; [`registered`]
/// iterates them. The manager never relies on their iteration order. Only `#[plugin]` builds
/// them (in a `static`, with `const` methods that are not public API).
///
/// ```
/// use plugin_core::prelude::*;
///
/// #[plugin(name = "probe", deps = [Clock])]
/// #[derive(Default)]
/// pub struct Probe;
/// #[async_trait]
/// impl Plugin for Probe {}
/// # #[plugin(name = "clock")]
/// # #[derive(Default)]
/// # pub struct Clock;
/// # #[async_trait]
/// # impl Plugin for Clock {}
///
/// let probe = <Probe as plugin_core::PluginType>::descriptor();
/// assert_eq!((probe.name(), probe.deps()), ("probe", &["clock"][..]));
/// ```
pub struct PluginDescriptor {
    name: &'static str,
    type_name: &'static str,
    type_id: fn() -> TypeId,
    factory: fn() -> Result<PluginInstance>,
    crate_name: &'static str,
    version: &'static str,
    description: &'static str,
    authors: &'static str,
    deps: &'static [&'static str],
    optional_deps: &'static [&'static str],
    timeout: Option<Duration>,
    depth: usize,
    config: Option<(ConfigCheck, &'static str)>,
}

impl PluginDescriptor {
    /// A descriptor with a name, the plugin type's name and id, and its constructor.
    #[doc(hidden)]
    #[must_use]
    pub const fn new(
        name: &'static str,
        type_name: &'static str,
        type_id: fn() -> TypeId,
        factory: fn() -> Result<PluginInstance>,
    ) -> Self {
        Self {
            name,
            type_name,
            type_id,
            factory,
            crate_name: "",
            version: "",
            description: "",
            authors: "",
            deps: &[],
            optional_deps: &[],
            timeout: None,
            depth: 0,
            config: None,
        }
    }

    /// Sets the crate facts, as Cargo gives them (`authors` separated by `:`).
    #[doc(hidden)]
    #[must_use]
    pub const fn with_crate(
        mut self,
        crate_name: &'static str,
        version: &'static str,
        description: &'static str,
        authors: &'static str,
    ) -> Self {
        self.crate_name = crate_name;
        self.version = version;
        self.description = description;
        self.authors = authors;
        self
    }

    /// Sets the names of the required dependencies.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_deps(mut self, deps: &'static [&'static str]) -> Self {
        self.deps = deps;
        self
    }

    /// Sets the names of the optional dependencies.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_optional_deps(mut self, deps: &'static [&'static str]) -> Self {
        self.optional_deps = deps;
        self
    }

    /// Sets the plugin's own hook deadline.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the length of the longest dependency chain below this plugin (1 for no deps).
    ///
    /// `#[plugin]` computes it in a `const`, which is what turns a dependency cycle inside one
    /// crate into a compile error (rustc refuses a cyclic constant evaluation).
    #[doc(hidden)]
    #[must_use]
    pub const fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Sets the plugin's configuration type: the check of a section against it, and its name.
    #[doc(hidden)]
    #[must_use]
    pub const fn with_config(mut self, check: ConfigCheck, type_name: &'static str) -> Self {
        self.config = Some((check, type_name));
        self
    }

    /// The check of a configuration section against the plugin's configuration type.
    #[must_use]
    pub const fn config_check(&self) -> Option<ConfigCheck> {
        match self.config {
            Some((check, _)) => Some(check),
            None => None,
        }
    }

    /// The name of the plugin's configuration type, if it declared one.
    #[must_use]
    pub const fn config_type(&self) -> Option<&'static str> {
        match self.config {
            Some((_, name)) => Some(name),
            None => None,
        }
    }

    /// The plugin's unique name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The Rust type implementing the plugin.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The `TypeId` of the plugin type.
    #[must_use]
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// Makes a fresh instance (the plugin's `Default` or its `new = ...` constructor).
    ///
    /// # Errors
    ///
    /// The constructor's error (`#[plugin(new = ...)]` returning `Err`).
    pub fn instantiate(&self) -> Result<PluginInstance> {
        (self.factory)()
    }

    /// The constructor, as a function pointer.
    #[must_use]
    pub const fn factory(&self) -> fn() -> Result<PluginInstance> {
        self.factory
    }

    /// The package that defines the plugin.
    #[must_use]
    pub const fn crate_name(&self) -> &'static str {
        self.crate_name
    }

    /// The plugin crate's version.
    #[must_use]
    pub const fn version(&self) -> &'static str {
        self.version
    }

    /// The plugin crate's description.
    #[must_use]
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The plugin crate's authors.
    pub fn authors(&self) -> impl Iterator<Item = &'static str> {
        self.authors.split(':').filter(|a| !a.is_empty())
    }

    /// Names of the required dependencies.
    #[must_use]
    pub const fn deps(&self) -> &'static [&'static str] {
        self.deps
    }

    /// Names of the optional dependencies.
    #[must_use]
    pub const fn optional_deps(&self) -> &'static [&'static str] {
        self.optional_deps
    }

    /// The plugin's own hook deadline, if it set one.
    #[must_use]
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The length of the longest dependency chain below this plugin.
    #[must_use]
    pub const fn depth(&self) -> usize {
        self.depth
    }
}

impl fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("crate_name", &self.crate_name)
            .field("version", &self.version)
            .field("deps", &self.deps)
            .field("optional_deps", &self.optional_deps)
            .field("timeout", &self.timeout)
            .field("config", &self.config_type())
            .finish_non_exhaustive()
    }
}

inventory::collect!(PluginDescriptor);

/// Every plugin compiled into this binary, in no particular order.
///
/// A plugin crate is only linked if the binary refers to it: an application writes
/// `plugin_manager::link_plugins!();` so that every plugin crate its features select is.
pub fn registered() -> impl Iterator<Item = &'static PluginDescriptor> {
    inventory::iter::<PluginDescriptor>.into_iter()
}
