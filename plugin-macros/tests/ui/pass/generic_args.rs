//! A comma inside generic arguments belongs to the value: `config = HashMap<String, u32>`,
//! `new = make::<A, B>`.

use std::collections::HashMap;
use std::marker::PhantomData;

use plugin_core::ConfigSection;
use plugin_core::prelude::*;

#[plugin(name = "limits", config = HashMap<String, u32>, new = make::<u8, u16>, timeout = "1s")]
pub struct Limits {
    made_with: PhantomData<(u8, u16)>,
}

fn make<A, B>() -> Limits {
    Limits {
        made_with: PhantomData,
    }
}

#[async_trait]
impl Plugin for Limits {}

fn main() {
    let limits = plugin_core::registered()
        .find(|d| d.name() == "limits")
        .unwrap();
    assert_eq!(limits.config_type(), Some("HashMap<String,u32>"));
    assert!(limits.timeout().is_some());
    let check = limits.config_check().unwrap();
    let good = ConfigSection::parse_toml("p.toml", 1, "a = 1\nb = 2").unwrap();
    assert!(check(&good, "limits").is_ok());
    let bad = ConfigSection::parse_toml("p.toml", 1, "a = \"many\"").unwrap();
    assert!(check(&bad, "limits").is_err());
    assert!(limits.instantiate().is_ok());
}
