//! Makes the host refer to every plugin crate selected by a Cargo feature.
//!
//! `inventory` registrations live in the plugin crate's object code, and a crate the binary
//! never names is not linked at all: its plugins would silently vanish. This script reads the
//! host's `[dependencies]`, takes every optional one whose feature is on, and writes a
//! `use <crate> as _;` for it, plus the list of selected packages the host checks at startup.
//! So adding a plugin stays a one-line change in `Cargo.toml`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=Cargo.toml");
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let manifest = fs::read_to_string(Path::new(&dir).join("Cargo.toml")).expect("read Cargo.toml");
    let manifest: toml::Table = manifest.parse().expect("Cargo.toml is valid TOML");
    let deps = manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();

    let mut uses = String::new();
    let mut packages = Vec::new();
    for (key, spec) in &deps {
        let optional = spec.get("optional").and_then(toml::Value::as_bool) == Some(true);
        let feature = format!("CARGO_FEATURE_{}", key.to_uppercase().replace('-', "_"));
        if !optional || env::var_os(&feature).is_none() {
            continue;
        }
        let package = spec
            .get("package")
            .and_then(toml::Value::as_str)
            .unwrap_or(key);
        writeln!(uses, "use {} as _;", key.replace('-', "_")).unwrap();
        packages.push(format!("{package:?}"));
    }
    let code = format!(
        "{uses}\n/// Packages of the plugin crates selected by Cargo features.\n\
         pub(crate) const SELECTED_PLUGIN_CRATES: &[&str] = &[{}];\n",
        packages.join(", ")
    );
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out).join("selected_plugins.rs"), code)
        .expect("write selected_plugins.rs");
}
