//! Operator commands: controlling the plugins of a running host by typed lines, whatever the
//! host reads them from (a chat, a terminal, a socket).
//!
//! | line | effect |
//! |------|--------|
//! | `!plugins` | the table of every plugin |
//! | `!enable NAME` | enables `NAME`, its disabled dependencies first |
//! | `!disable NAME` | disables `NAME`; refused while enabled plugins need it |
//! | `!disable NAME --cascade` | disables `NAME` and, first, the plugins that need it |
//! | `!restart NAME` | fresh instances of `NAME` and of the plugins running on it |
//! | `!reload-config` | reads the configuration file again and applies it |
//!
//! Each answer is one text to show the operator: `ok: dice disabled`, `error: ...`, the
//! table, or what a reload changed. What it repeats of the line (a plugin name in an error)
//! is [escaped and shortened](super::text::echo).
//!
//! ```
//! use plugin_core::{Plugin, PluginMetadata, async_trait};
//! use plugin_manager::host_kit::operator;
//! use plugin_manager::{PluginManager, PluginSpec};
//!
//! #[derive(Default)]
//! struct Noop;
//! #[async_trait]
//! impl Plugin for Noop {}
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let manager = PluginManager::builder()
//!     .plugin(PluginSpec::with_default::<Noop>(PluginMetadata::new("dice")))
//!     .build()
//!     .unwrap();
//! manager.start().await;
//! let answer = operator::answer(&manager, None, "!disable dice").await;
//! assert_eq!(answer.as_deref(), Some("ok: dice disabled"));
//! assert_eq!(operator::answer(&manager, None, "!roll 2d6").await, None);
//! # });
//! ```

use super::config_file::{ConfigFile, DEFAULT_PATH};
use super::report::{self, Took};
use super::text::echo;
use crate::manager::PluginManager;

/// The commands, as a host shows them in its greeting.
pub const HELP: &str =
    "`!plugins`, `!enable NAME`, `!disable NAME [--cascade]`, `!restart NAME`, `!reload-config`";

/// An operator command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `!plugins`.
    Plugins,
    /// `!enable NAME`.
    Enable(&'a str),
    /// `!disable NAME`, with `--cascade` or not.
    Disable {
        /// The plugin.
        name: &'a str,
        /// Whether the plugins that need it are disabled first.
        cascade: bool,
    },
    /// `!restart NAME`.
    Restart(&'a str),
    /// `!reload-config`.
    ReloadConfig,
    /// `!enable`, `!disable` or `!restart` without a name: the answer is how to use it.
    Usage(&'a str),
}

impl<'a> Command<'a> {
    /// The command on `line` (`!name args`), or `None` if it is not an operator command.
    ///
    /// ```
    /// use plugin_manager::host_kit::operator::Command;
    ///
    /// assert_eq!(
    ///     Command::parse("!disable dice --cascade"),
    ///     Some(Command::Disable { name: "dice", cascade: true })
    /// );
    /// assert_eq!(Command::parse("!restart"), Some(Command::Usage("restart")));
    /// assert_eq!(Command::parse("!roll 3d6"), None);
    /// assert_eq!(Command::parse("plugins"), None);
    /// ```
    pub fn parse(line: &'a str) -> Option<Self> {
        let rest = line.trim().strip_prefix('!')?;
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        Self::from_parts(name, args)
    }

    /// The command called `command` (without the `!`) with arguments `args`, or `None` if
    /// there is no such operator command.
    pub fn from_parts(command: &'a str, args: &'a str) -> Option<Self> {
        let mut words = args.split_whitespace();
        let name = words.next();
        Some(match (command, name) {
            ("plugins", _) => Command::Plugins,
            ("reload-config", _) => Command::ReloadConfig,
            ("enable" | "disable" | "restart", None) => Command::Usage(command),
            ("enable", Some(name)) => Command::Enable(name),
            ("disable", Some(name)) => Command::Disable {
                name,
                cascade: words.any(|w| w == "--cascade"),
            },
            ("restart", Some(name)) => Command::Restart(name),
            _ => return None,
        })
    }

    /// Carries the command out and returns the answer. `config` is the host's configuration
    /// file, if it has one (`!reload-config` needs it).
    pub async fn run(self, manager: &PluginManager, config: Option<&ConfigFile>) -> String {
        let outcome = match self {
            Command::Plugins => return report::table("plugins:", &manager.records(), Took::Start),
            Command::ReloadConfig => {
                return match config {
                    Some(file) => file.reload(manager).await.to_string(),
                    None => format!(
                        "config: no configuration file (give --config PATH or create {DEFAULT_PATH})"
                    ),
                };
            }
            Command::Usage(command) => return format!("usage: !{command} NAME"),
            Command::Enable(name) => manager.enable(name).await.map(|()| (name, "enabled")),
            Command::Disable {
                name,
                cascade: true,
            } => manager
                .disable_cascade(name)
                .await
                .map(|()| (name, "disabled")),
            Command::Disable {
                name,
                cascade: false,
            } => manager.disable(name).await.map(|()| (name, "disabled")),
            Command::Restart(name) => manager.restart(name).await.map(|()| (name, "restarted")),
        };
        // Names and errors echo what the operator typed: escaped and shortened.
        match outcome {
            Ok((name, done)) => format!("ok: {} {done}", echo(name)),
            Err(error) => format!("error: {}", echo(&error.to_string())),
        }
    }
}

/// Answers `line` if it is an operator command; `None` if it is not one (the host then
/// handles it as it would any other line).
pub async fn answer(
    manager: &PluginManager,
    config: Option<&ConfigFile>,
    line: &str,
) -> Option<String> {
    Some(Command::parse(line)?.run(manager, config).await)
}
