use plugin_core::prelude::*;

#[derive(Debug)]
struct NoConfig;

impl std::fmt::Display for NoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no configuration")
    }
}

impl std::error::Error for NoConfig {}

#[plugin(name = "configured", new = make)]
pub struct Configured;

fn make() -> std::result::Result<Configured, NoConfig> {
    Err(NoConfig)
}

#[plugin(name = "fallible", new = fallible)]
pub struct Fallible;

fn fallible() -> Result<Fallible> {
    Ok(Fallible)
}

#[async_trait]
impl Plugin for Configured {}

#[async_trait]
impl Plugin for Fallible {}

fn main() {
    let find = |name| plugin_core::registered().find(|d| d.name() == name).unwrap();
    assert!(find("configured").instantiate().is_err());
    assert!(find("fallible").instantiate().is_ok());
}
