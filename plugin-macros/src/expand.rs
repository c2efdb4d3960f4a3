//! The code `#[plugin]` adds after the struct: the `PluginType` impl, the descriptor and its
//! registration, all through `::plugin_core::__private` so the caller's imports never matter.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, Item, Path};

use crate::validate::Plugin;

/// The registration of a checked plugin.
pub(crate) fn plugin(plugin: &Plugin) -> TokenStream {
    let Plugin {
        ident,
        name,
        deps,
        optional,
        new,
        timeout,
        config,
    } = plugin;
    let dep_depths = deps.iter().map(|dep| dep_const(dep, quote!(DEPTH)));
    let dep_names = deps.iter().map(|dep| dep_const(dep, quote!(NAME)));
    let make = match new {
        // Spanned at the constructor: a wrong return type is reported there.
        Some(ctor) => {
            let (first, last) = first_and_last_span(ctor, ident.span());
            let call = quote_spanned!(last=> (#ctor()));
            quote_spanned!(first=> ::plugin_core::__private::instantiate::<#ident>#call)
        }
        // Spanned at the struct's name: "the trait bound `Dice: Default` is not satisfied"
        // is then reported there, with rustc's hint to derive it.
        None => quote_spanned! {ident.span()=>
            ::plugin_core::__private::instantiate::<#ident>(
                <#ident as ::plugin_core::__private::DefaultPlugin>::make(),
            )
        },
    };
    let timeout = timeout.map(|duration| {
        let (secs, nanos) = (duration.as_secs(), duration.subsec_nanos());
        quote!(.with_timeout(::plugin_core::__private::Duration::new(#secs, #nanos)))
    });
    // Spanned at the type: "`X: Deserialize` is not satisfied" is reported under it.
    let config = config.as_ref().map(|ty| {
        let type_name = ty.to_token_stream().to_string().replace(' ', "");
        let check = quote_spanned!(ty.span()=> ::plugin_core::__private::config_check::<#ty>());
        quote!(.with_config(#check, #type_name))
    });
    let dep_count = deps.len();
    let type_name = ident.to_string();
    // Spanned at the struct's name, so that the notes of a dependency cycle (E0391) each
    // point at a plugin of the cycle. The array is a local, not promoted, which keeps those
    // notes to the few steps that matter.
    let plugin_type = quote_spanned! {ident.span()=>
        impl ::plugin_core::__private::PluginType for #ident {
            const NAME: &'static str = #name;
            const DEPTH: usize = {
                let __deps: [usize; #dep_count] = [#(#dep_depths),*];
                ::plugin_core::__private::depth(&__deps)
            };
            fn descriptor() -> &'static ::plugin_core::__private::PluginDescriptor {
                &DESCRIPTOR
            }
        }
    };
    quote! {
        const _: () = {
            #plugin_type

            fn __factory()
                -> ::plugin_core::__private::Result<::plugin_core::__private::PluginInstance>
            {
                #make
            }

            const DESCRIPTOR: ::plugin_core::__private::PluginDescriptor =
                ::plugin_core::__private::PluginDescriptor::new(
                    #name,
                    ::core::concat!(::core::module_path!(), "::", #type_name),
                    || ::plugin_core::__private::TypeId::of::<#ident>(),
                    __factory,
                )
                .with_crate(
                    ::core::env!("CARGO_PKG_NAME"),
                    ::core::env!("CARGO_PKG_VERSION"),
                    ::core::env!("CARGO_PKG_DESCRIPTION"),
                    ::core::env!("CARGO_PKG_AUTHORS"),
                )
                .with_deps(&[#(#dep_names),*])
                .with_optional_deps(&[#(#optional),*])
                #timeout
                #config
                // Evaluating `DEPTH` here is what makes a dependency cycle a build error.
                .with_depth(<#ident as ::plugin_core::__private::PluginType>::DEPTH);

            ::plugin_core::__private::inventory::submit! { DESCRIPTOR }
        };
    }
}

/// `<#dep as PluginType>::#item`, spanned over the path in `deps = [...]` so that "`X` is not
/// a plugin" (the `on_unimplemented` of `PluginType`) is reported under it.
fn dep_const(dep: &Path, item: TokenStream) -> TokenStream {
    let (first, last) = first_and_last_span(dep, dep.span());
    let as_plugin = quote_spanned!(last=> as ::plugin_core::__private::PluginType>::#item);
    quote_spanned!(first=> < #dep #as_plugin)
}

/// The spans of the first and last tokens of a path: rustc joins them into one that covers
/// the whole path, which a single `Span` cannot do on stable.
fn first_and_last_span(path: &impl ToTokens, fallback: Span) -> (Span, Span) {
    let mut tokens = path.to_token_stream().into_iter();
    let first = tokens.next().map_or(fallback, |token| token.span());
    let last = tokens.last().map_or(first, |token| token.span());
    (first, last)
}

/// The errors, plus a stand-in `PluginType` impl when the item is a plain struct, so that code
/// naming it (`deps = [Dice]`, `ctx.dep::<Dice>()`) does not add errors of its own.
pub(crate) fn fallback(item: &Item, error: Error) -> TokenStream {
    let error = error.into_compile_error();
    let ident = match item {
        Item::Struct(item) if item.generics.params.is_empty() => Some(&item.ident),
        _ => None,
    };
    let stand_in = ident.map(|ident| {
        quote! {
            const _: () = {
                impl ::plugin_core::__private::PluginType for #ident {
                    const NAME: &'static str = "";
                    const DEPTH: usize = 1;
                    fn descriptor() -> &'static ::plugin_core::__private::PluginDescriptor {
                        ::core::unreachable!("`#[plugin]` reported an error for this type")
                    }
                }
            };
        }
    });
    quote!(#error #stand_in)
}
