//! A plugin as the manager takes it: metadata plus a constructor.

use std::fmt;
use std::sync::Arc;

use plugin_core::host::ConfigCheck;
use plugin_core::{Plugin, PluginDescriptor, PluginInstance, PluginMetadata, Result};

/// How the manager makes a fresh instance of a plugin.
pub(crate) type Factory = Arc<dyn Fn() -> Result<PluginInstance> + Send + Sync>;

/// A plugin as the builder hands it to the manager.
pub(crate) struct PluginParts {
    /// Shared from the outset: the slot and every context of the plugin hold it, and a
    /// plugin's parts stay small to move (the manager orders them by start position).
    pub(crate) metadata: Arc<PluginMetadata>,
    pub(crate) factory: Factory,
    pub(crate) config_check: Option<ConfigCheck>,
}

/// One plugin to run: its metadata and how to make an instance.
///
/// Registered plugins become specs through [`PluginSpec::from_descriptor`]; tests and
/// embedders can also assemble plugins in code:
///
/// ```
/// use plugin_core::{Plugin, PluginMetadata, async_trait};
/// use plugin_manager::PluginSpec;
///
/// #[derive(Default)]
/// struct Noop;
/// #[async_trait]
/// impl Plugin for Noop {}
///
/// let spec = PluginSpec::with_default::<Noop>(PluginMetadata::new("noop"));
/// assert_eq!(spec.metadata().name, "noop");
/// ```
#[derive(Clone)]
pub struct PluginSpec {
    metadata: PluginMetadata,
    factory: Factory,
    config_check: Option<ConfigCheck>,
}

impl PluginSpec {
    /// A plugin made by `factory`, which may fail (or panic: the manager catches it).
    pub fn new(
        metadata: PluginMetadata,
        factory: impl Fn() -> Result<PluginInstance> + Send + Sync + 'static,
    ) -> Self {
        Self {
            metadata,
            factory: Arc::new(factory),
            config_check: None,
        }
    }

    /// A plugin whose instances are `P::default()`.
    pub fn with_default<P: Plugin + Default>(mut metadata: PluginMetadata) -> Self {
        if metadata.type_name.is_empty() {
            std::any::type_name::<P>().clone_into(&mut metadata.type_name);
        }
        Self::new(metadata, || Ok(PluginInstance::new(P::default())))
    }

    /// The plugin a `#[plugin]` attribute registered.
    pub fn from_descriptor(descriptor: &'static PluginDescriptor) -> Self {
        Self {
            metadata: PluginMetadata::from(descriptor),
            factory: Arc::new(|| descriptor.instantiate()),
            config_check: descriptor.config_check(),
        }
    }

    /// Checks the plugin's configuration section with `check` (see
    /// [`plugin_core::host::check_config`]) before it starts and before a reload.
    #[must_use]
    pub fn with_config_check(mut self, check: ConfigCheck) -> Self {
        self.config_check = Some(check);
        self
    }

    /// The plugin's metadata.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// Makes a fresh instance.
    ///
    /// # Errors
    ///
    /// The constructor's error. A constructor that panics unwinds through this call.
    pub fn instantiate(&self) -> Result<PluginInstance> {
        (self.factory)()
    }

    pub(crate) fn into_parts(self) -> PluginParts {
        PluginParts {
            metadata: Arc::new(self.metadata),
            factory: self.factory,
            config_check: self.config_check,
        }
    }
}

impl fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSpec")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use plugin_core::{Plugin, PluginMetadata, async_trait};

    use super::PluginSpec;
    use crate::{GraphError, PluginManager};

    #[derive(Default)]
    struct Noop;
    #[async_trait]
    impl Plugin for Noop {}

    #[test]
    fn the_builder_refuses_names_the_attribute_would_refuse() {
        let bad = ["", "a b", "Dice", "two\nlines", "\u{1b}[31mred"];
        let specs = bad
            .iter()
            .map(|name| PluginSpec::with_default::<Noop>(PluginMetadata::new(*name)));
        let error = PluginManager::builder()
            .plugins(specs)
            .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new(
                "fine",
            )))
            .build()
            .unwrap_err();
        let mut refused: Vec<&str> = error
            .errors
            .iter()
            .filter_map(|e| match e {
                GraphError::InvalidName { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        refused.sort_unstable();
        let mut expected = bad.to_vec();
        expected.sort_unstable();
        assert_eq!(refused, expected);
        let shown = error.to_string();
        assert!(
            shown.contains(r#"invalid plugin name "two\nlines""#),
            "{shown}"
        );
        assert!(shown.contains("a plugin name must not be empty"), "{shown}");
        assert!(
            !shown.contains('\u{1b}'),
            "escapes are shown escaped: {shown}"
        );
        assert!(!shown.contains("`fine`"), "{shown}");
    }
}
