//! What is known about a plugin without running it.

use std::fmt;
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
    ///
    /// The name is not checked here, so that a literal stays a one-liner; the manager's
    /// builder refuses a plugin whose name breaks the rules of [`check_name`]. Use
    /// [`PluginMetadata::try_new`] for a name that comes from outside the program.
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

    /// Metadata with only a name, if the name follows the rules of [`check_name`].
    ///
    /// ```
    /// use plugin_core::PluginMetadata;
    ///
    /// assert!(PluginMetadata::try_new("dice-stats").is_ok());
    /// let error = PluginMetadata::try_new("dice\u{1b}[31m").unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid plugin name \"dice\\u{1b}[31m\": use only lowercase ASCII letters, digits, `-` and `_`"
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// An [`InvalidName`] when `name` breaks the rules of [`check_name`].
    pub fn try_new(name: impl Into<String>) -> Result<Self, InvalidName> {
        let name = name.into();
        check_name(&name)?;
        Ok(Self::new(name))
    }

    /// Sets the version.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the required dependencies, by name.
    #[must_use]
    pub fn with_deps<S: Into<String>>(mut self, deps: impl IntoIterator<Item = S>) -> Self {
        self.deps = deps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the optional dependencies, by name.
    #[must_use]
    pub fn with_optional_deps<S: Into<String>>(
        mut self,
        deps: impl IntoIterator<Item = S>,
    ) -> Self {
        self.optional_deps = deps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the per-hook deadline.
    #[must_use]
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

/// Checks a plugin name: not empty, and only lowercase ASCII letters, digits, `-` and `_`, as
/// `#[plugin(name = "...")]` requires at compile time. Names are shown in logs, reports and
/// chat, so spaces, newlines and terminal escapes are refused.
///
/// # Errors
///
/// An [`InvalidName`] saying what is wrong with `name`.
///
/// ```
/// use plugin_core::check_name;
///
/// assert!(check_name("dice_2-roller").is_ok());
/// for bad in ["", "a b", "Dice", "x\ny", "\u{1b}[2J"] {
///     assert!(check_name(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn check_name(name: &str) -> Result<(), InvalidName> {
    // Bytes, not chars: every allowed character is ASCII, and no byte of a non-ASCII one is.
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if !name.is_empty() && name.bytes().all(allowed) {
        Ok(())
    } else {
        Err(InvalidName {
            name: name.to_owned(),
        })
    }
}

/// A plugin name that breaks the rules of [`check_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    /// The name as given.
    pub name: String,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str("a plugin name must not be empty")
        } else {
            // Debug formatting escapes newlines and control characters, so the error cannot
            // itself break a log line or a terminal.
            write!(
                f,
                "invalid plugin name {:?}: use only lowercase ASCII letters, digits, `-` and `_`",
                self.name
            )
        }
    }
}

impl std::error::Error for InvalidName {}
