//! Sounds the alarm; only built on unix (a target-specific dependency of the application).

use plugin_core::prelude::*;

/// The siren.
#[plugin(name = "alarm")]
#[derive(Debug, Default)]
pub struct Alarm;

#[async_trait]
impl Plugin for Alarm {}
