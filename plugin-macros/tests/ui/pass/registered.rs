use std::time::Duration;

use plugin_core::PluginType;
use plugin_core::prelude::*;

#[plugin(name = "clock")]
#[derive(Default)]
pub struct Clock;

#[plugin(name = "alarm", deps = [Clock], optional = ["snooze"], timeout = "1500ms")]
#[derive(Default)]
pub struct Alarm;

#[async_trait]
impl Plugin for Clock {}

#[async_trait]
impl Plugin for Alarm {}

fn main() {
    let alarm = plugin_core::registered().find(|d| d.name() == "alarm").unwrap();
    assert_eq!(alarm.deps(), ["clock"]);
    assert_eq!(alarm.optional_deps(), ["snooze"]);
    assert_eq!(alarm.timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(alarm.depth(), 2);
    assert_eq!(alarm.crate_name(), env!("CARGO_PKG_NAME"));
    assert_eq!(alarm.version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(alarm.description(), env!("CARGO_PKG_DESCRIPTION"));
    assert_eq!(alarm.type_name(), concat!(module_path!(), "::Alarm"));
    assert_eq!(alarm.type_id(), std::any::TypeId::of::<Alarm>());
    assert!(alarm.instantiate().is_ok());

    let clock = plugin_core::registered().find(|d| d.name() == "clock").unwrap();
    assert!(clock.deps().is_empty());
    assert_eq!(clock.timeout(), None);
    assert_eq!(clock.depth(), 1);

    // The trait's view agrees with the registered record.
    assert_eq!(Alarm::NAME, "alarm");
    assert_eq!(Alarm::descriptor().name(), "alarm");
    assert_eq!(Alarm::descriptor().deps(), [Clock::NAME]);
}
