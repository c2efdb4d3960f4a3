//! `link_plugins!()`: a `use <crate> as _;` for every plugin crate the application's Cargo
//! features select, so that the linker keeps the crate and the plugins it registered.
//!
//! The macro runs while the application's crate compiles, reads its `Cargo.toml` (Cargo sets
//! `CARGO_MANIFEST_DIR`), and finds its plugin crates: path dependencies whose package depends
//! on `plugin-core` directly. Which of them are selected is not known here (a proc macro does
//! not see the enabled features), so each `use` is put under the `#[cfg]` that turns the
//! dependency on: its features and its target. The compiler then keeps exactly the selected
//! ones, and each of them is also announced to the manager, which refuses to run when one of
//! them registered no plugin.

mod condition;
mod manifest;

use std::collections::BTreeMap;
use std::env;
use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

use condition::{Condition, activating_features, any_of, target_predicate};
use manifest::{Dependency, Manifest, is_plugin_crate, renamed_contract};

/// A plugin crate the application depends on, and when it does.
struct PluginCrate {
    /// The name the application's code knows it by.
    extern_name: String,
    /// Its package name, as its plugins' records carry it.
    package: String,
    /// Each way it can be part of the build (one per dependency table naming it).
    conditions: Vec<Condition>,
}

/// Expands `link_plugins!(input)`.
pub(crate) fn link_plugins(input: TokenStream) -> TokenStream {
    if let Some(token) = input.into_iter().next() {
        return syn::Error::new(token.span(), "`link_plugins!` takes no arguments")
            .to_compile_error();
    }
    match application() {
        Ok((manifests, crates)) => expand(&manifests, &crates),
        Err(message) => {
            let message = format!("link_plugins!: {message}");
            syn::Error::new(Span::call_site(), message).to_compile_error()
        }
    }
}

/// Reads the application's manifest and those of its path dependencies: the manifests read
/// (so that an edit of one recompiles the application) and the plugin crates found.
fn application() -> Result<(Vec<PathBuf>, Vec<PluginCrate>), String> {
    let dir = env::var_os("CARGO_MANIFEST_DIR")
        .ok_or("CARGO_MANIFEST_DIR is not set: build with Cargo")?;
    let app = Manifest::read(Path::new(&dir))?;
    let workspace = app.workspace_root();
    let features = app.features();
    let mut manifests = vec![app.path.clone()];
    let mut crates: BTreeMap<String, PluginCrate> = BTreeMap::new();
    for (target, table) in app.dependency_tables() {
        let target = target
            .as_deref()
            .map(target_predicate)
            .transpose()
            .map_err(|error| format!("{}: {error}", app.path.display()))?;
        for (key, spec) in table {
            let dependency = Dependency::resolve(key, spec, &app, workspace.as_ref());
            let Some(path) = &dependency.path else {
                continue;
            };
            let manifest =
                Manifest::read(path).map_err(|error| format!("dependency `{key}`: {error}"))?;
            manifests.push(manifest.path.clone());
            if !is_plugin_crate(&manifest) {
                continue;
            }
            let extern_name = if dependency.renamed {
                key.replace('-', "_")
            } else {
                manifest
                    .lib_name()
                    .ok_or_else(|| format!("{}: no package name", manifest.path.display()))?
            };
            let package = manifest
                .package_name()
                .unwrap_or(&dependency.package)
                .to_owned();
            let condition = Condition {
                target: target.clone(),
                features: dependency
                    .optional
                    .then(|| activating_features(key, &features)),
            };
            crates
                .entry(key.clone())
                .or_insert_with(|| PluginCrate {
                    extern_name,
                    package,
                    conditions: Vec::new(),
                })
                .conditions
                .push(condition);
        }
    }
    Ok((manifests, crates.into_values().collect()))
}

/// The path generated code names `plugin-core` by: `::plugin_core`, or the name the crate
/// being compiled gives it in its `Cargo.toml` when it renames it. (`#[plugin(crate = path)]`
/// overrides this, for a path no manifest says.)
pub(crate) fn contract_path() -> TokenStream {
    let renamed = env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| Manifest::read(Path::new(&dir)).ok())
        .and_then(|manifest| renamed_contract(&manifest));
    match renamed {
        Some(name) => {
            let name = format_ident!("{name}");
            quote!(::#name)
        }
        None => quote!(::plugin_core),
    }
}

fn expand(manifests: &[PathBuf], crates: &[PluginCrate]) -> TokenStream {
    let manifests = manifests.iter().map(|path| path.display().to_string());
    let links = crates.iter().map(|krate| {
        let predicate = any_of(&krate.conditions);
        let name = format_ident!("{}", krate.extern_name);
        let package = &krate.package;
        quote! {
            #[cfg(#predicate)]
            use ::#name as _;
            #[cfg(#predicate)]
            ::plugin_manager::__private::inventory::submit! {
                ::plugin_manager::__private::SelectedCrate::new(#package)
            }
        }
    });
    quote! {
        #(const _: &[u8] = ::core::include_bytes!(#manifests);)*
        #(#links)*
        ::plugin_manager::__private::inventory::submit! {
            ::plugin_manager::__private::LinkLine
        }
    }
}
