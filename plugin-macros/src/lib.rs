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
    let Ok(mut parsed) = syn::parse2::<syn::Item>(item.clone()) else {
        // rustc reports the item's own syntax error; anything said here would only repeat it.
        return item.into();
    };
    // A second `#[plugin]` is reported here and taken off, so that it does not register the
    // struct again (E0119 at the struct's name, nothing at the attribute).
    let duplicate = validate::take_duplicates(&mut parsed);
    let duplicate_taken = duplicate.is_some();
    let krate = args::crate_path(&args);
    let checked = validate::plugin(args, &parsed);
    let expansion = match (checked, duplicate) {
        (Ok(plugin), None) => expand::plugin(&plugin),
        (Ok(_), Some(error)) => expand::fallback(&parsed, &krate, error),
        (Err(mut error), duplicate) => {
            error.extend(duplicate);
            expand::fallback(&parsed, &krate, error)
        }
    };
    // The item as written (less a repeated `#[plugin]`), whatever happened, so that one
    // mistake in the attribute does not turn every use of the struct into an error too.
    let item = match duplicate_taken {
        true => quote::ToTokens::to_token_stream(&parsed),
        false => item,
    };
    quote::quote!(#item #expansion).into()
}

/// Links every plugin crate the application's Cargo features select. Documented in
/// `plugin-manager`, which re-exports it.
#[proc_macro]
pub fn link_plugins(input: TokenStream) -> TokenStream {
    link::link_plugins(input.into()).into()
}
