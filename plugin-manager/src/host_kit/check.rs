//! `check` and `graph` for any host: the plugin set and the configuration file the host
//! would use (`--config PATH`, else [`DEFAULT_PATH`](super::DEFAULT_PATH) if it exists),
//! checked or drawn without running any constructor or hook. See [`crate::check`].
//!
//! ```
//! use plugin_core::{Plugin, PluginMetadata, async_trait};
//! use plugin_manager::host_kit::{HostOptions, check};
//! use plugin_manager::{GraphFormat, PluginSpec};
//!
//! #[derive(Default)]
//! struct Noop;
//! #[async_trait]
//! impl Plugin for Noop {}
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("app.toml");
//! std::fs::write(&path, "[noop]\nenabled = false\n\n[nope]\n").unwrap();
//! let options = HostOptions::new("app").config(Some(path.clone()));
//! let specs = [PluginSpec::with_default::<Noop>(PluginMetadata::new("noop"))];
//!
//! let report = check::check_plugins(&specs, &options);
//! assert_eq!(report.exit_status(), 2);
//! assert!(
//!     report.to_string().starts_with(&format!("error: {}:4: key `nope`: no plugin is called `nope`", path.display())),
//!     "{report}"
//! );
//!
//! let dot = check::graph_plugins(&specs, &options, GraphFormat::Dot).unwrap();
//! assert!(dot.contains(r#""noop" [label="noop\nswitched off""#), "{dot}");
//!
//! std::fs::write(&path, "[noop\n").unwrap();
//! let error = check::graph_plugins(&specs, &options, GraphFormat::Dot).unwrap_err();
//! assert!(error.to_string().starts_with(&format!("{}:1: ", path.display())), "{error}");
//! ```

use plugin_core::ConfigError;

use super::HostOptions;
use super::config_file::ConfigFile;
use crate::check::{CheckReport, check_with};
use crate::config::PluginsConfig;
use crate::graph::GraphFormat;
use crate::spec::PluginSpec;

/// The configuration file `options` point to, loaded: `Ok(None)` when there is none (no
/// `--config` and no [`DEFAULT_PATH`](super::DEFAULT_PATH)). Blocks on the file system.
///
/// # Errors
///
/// A [`ConfigError`] naming the file when it cannot be read (missing, too large, not a regular
/// file) or parsed.
pub fn load_config(options: &HostOptions) -> Result<Option<PluginsConfig>, ConfigError> {
    ConfigFile::locate(options.config.clone())
        .map(|file| file.with_max_size(options.max_config_size).load())
        .transpose()
}

/// Checks every plugin compiled into this program (with the registry checked as
/// [`Host::new`](super::Host::new) does) against the configuration file of `options`. A file
/// that cannot be read or parsed is the report's first configuration problem; the plugins
/// are then checked on their defaults.
pub fn check(options: &HostOptions) -> CheckReport {
    report(&registered(), options, true)
}

/// [`check`] for the plugins `specs` (what a host built with
/// [`Host::with_builder`](super::Host::with_builder) runs).
pub fn check_plugins(specs: &[PluginSpec], options: &HostOptions) -> CheckReport {
    report(specs, options, false)
}

/// The dependency graph of every plugin compiled into this program in `format`, each node
/// marked as [`check`] finds it (failed, switched off, held off). Fails only when the
/// configuration file cannot be read or parsed.
///
/// # Errors
///
/// As [`load_config`]: only when the configuration file cannot be read or parsed.
pub fn graph(options: &HostOptions, format: GraphFormat) -> Result<String, ConfigError> {
    graph_of(&registered(), options, format, true)
}

/// [`graph`] for the plugins `specs`.
///
/// # Errors
///
/// As [`load_config`].
pub fn graph_plugins(
    specs: &[PluginSpec],
    options: &HostOptions,
    format: GraphFormat,
) -> Result<String, ConfigError> {
    graph_of(specs, options, format, false)
}

fn registered() -> Vec<PluginSpec> {
    plugin_core::registered()
        .map(PluginSpec::from_descriptor)
        .collect()
}

fn linking(registry: bool) -> Vec<crate::error::GraphError> {
    if registry {
        crate::linking::check(plugin_core::registered())
    } else {
        Vec::new()
    }
}

fn report(specs: &[PluginSpec], options: &HostOptions, registry: bool) -> CheckReport {
    match load_config(options) {
        Ok(config) => check_with(specs, config.as_ref(), linking(registry)),
        Err(error) => check_with(specs, None, linking(registry)).with_file_error(error),
    }
}

fn graph_of(
    specs: &[PluginSpec],
    options: &HostOptions,
    format: GraphFormat,
    registry: bool,
) -> Result<String, ConfigError> {
    let config = load_config(options)?;
    Ok(check_with(specs, config.as_ref(), linking(registry))
        .graph()
        .render(format))
}
