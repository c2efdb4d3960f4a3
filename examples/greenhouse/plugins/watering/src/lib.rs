//! Waters the plants when it is warm; needs the sensor, by type.

use plugin_core::prelude::*;
use sensor::Sensor;

/// Opens the valves above 20 °C.
#[plugin(name = "watering", deps = [Sensor])]
#[derive(Debug, Default)]
pub struct Watering {
    open: bool,
}

#[async_trait]
impl Plugin for Watering {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.open = ctx.dep::<Sensor>()?.celsius() > 20;
        Ok(())
    }
}
