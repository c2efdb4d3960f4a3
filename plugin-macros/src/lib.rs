//! Placeholder while the attribute is written.
use proc_macro::TokenStream;
/// The `#[plugin]` attribute.
#[proc_macro_attribute]
pub fn plugin(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
