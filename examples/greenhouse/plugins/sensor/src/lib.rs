//! Reads the temperature.

use plugin_core::prelude::*;

/// The greenhouse's thermometer.
#[plugin(name = "sensor")]
#[derive(Debug, Default)]
pub struct Sensor;

impl Sensor {
    /// Degrees Celsius.
    pub fn celsius(&self) -> i32 {
        24
    }
}

#[async_trait]
impl Plugin for Sensor {}
