//! `timeout` takes what humantime parses, as the configuration file and the command line do.

use std::time::Duration;

use plugin_core::prelude::*;

#[plugin(name = "slow", timeout = "1m30s")]
#[derive(Default)]
pub struct Slow;

#[plugin(name = "quick", timeout = "1us")]
#[derive(Default)]
pub struct Quick;

#[plugin(name = "spelled", timeout = "2 seconds")]
#[derive(Default)]
pub struct Spelled;

#[plugin(name = "fraction", timeout = "1.5s")]
#[derive(Default)]
pub struct Fraction;

#[async_trait]
impl Plugin for Fraction {}

#[async_trait]
impl Plugin for Slow {}

#[async_trait]
impl Plugin for Quick {}

#[async_trait]
impl Plugin for Spelled {}

fn timeout_of(name: &str) -> Option<Duration> {
    plugin_core::registered()
        .find(|d| d.name() == name)
        .unwrap()
        .timeout()
}

fn main() {
    assert_eq!(timeout_of("slow"), Some(Duration::from_secs(90)));
    assert_eq!(timeout_of("quick"), Some(Duration::from_micros(1)));
    assert_eq!(timeout_of("fraction"), Some(Duration::from_millis(1500)));
    assert_eq!(timeout_of("spelled"), Some(Duration::from_secs(2)));
}
