//! Implementation detail of `plugin-core`: the `#[plugin]` attribute.
//!
//! Depend on `plugin-core` instead; it re-exports the attribute, documents it, and provides
//! the `__private` items the generated code refers to.

mod args;
mod expand;
mod link;
mod validate;

use proc_macro::TokenStream;

/// Registers a struct as a plugin. Documented in `plugin-core`, which re-exports it.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    let Ok(parsed) = syn::parse2::<syn::Item>(item.clone()) else {
        // rustc reports the item's own syntax error; anything said here would only repeat it.
        return item.into();
    };
    let expansion = match validate::plugin(args, &parsed) {
        Ok(plugin) => expand::plugin(&plugin),
        Err(error) => expand::fallback(&parsed, error),
    };
    // The item exactly as written, whatever happened, so that one mistake in the attribute
    // does not turn every use of the struct into an error too.
    quote::quote!(#item #expansion).into()
}

/// Links every plugin crate the application's Cargo features select. Documented in
/// `plugin-manager`, which re-exports it.
#[proc_macro]
pub fn link_plugins(input: TokenStream) -> TokenStream {
    link::link_plugins(input.into()).into()
}
