//! The code `#[plugin]` adds after the struct: the `PluginType` impl, the descriptor and its
//! registration, all through `#private` (or the `crate = ...` path's) so the
//! caller's imports never matter.

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
        krate,
    } = plugin;
    let private = quote!(#krate::__private);
    let dep_depths = deps
        .iter()
        .map(|dep| dep_const(dep, &private, quote!(DEPTH)));
    let dep_names = deps
        .iter()
        .map(|dep| dep_const(dep, &private, quote!(NAME)));
    let make = match new {
        // Each step spanned over the whole constructor path: a constructor that takes
        // arguments, a wrong return type and an error type that is not one are reported there.
        Some(ctor) => {
            let (first, last) = first_and_last_span(ctor, ident.span());
            let spanned = |tokens: TokenStream| {
                let mut tokens = tokens.into_iter();
                let head: TokenStream = tokens.by_ref().take(1).collect();
                let tail: TokenStream = tokens.collect();
                let tail = respan(tail, last);
                let head = respan(head, first);
                quote!(#head #tail)
            };
            let construct = spanned(quote!(#private::construct(#ctor)));
            let into_plugin = spanned(quote!(#private::IntoPlugin::<#ident>::into_plugin(__made)));
            let instantiate = spanned(quote!(#private::instantiate(__made)));
            quote! {
                let __made = #construct;
                let __made = #into_plugin;
                #instantiate
            }
        }
        // Spanned at the struct's name: "the trait bound `Dice: Default` is not satisfied"
        // is then reported there, with rustc's hint to derive it.
        None => quote_spanned! {ident.span()=>
            #private::instantiate::<#ident, #private::Infallible>(
                ::core::result::Result::Ok(<#ident as #private::DefaultPlugin>::make()),
            )
        },
    };
    let timeout = timeout.map(|duration| {
        let (secs, nanos) = (duration.as_secs(), duration.subsec_nanos());
        quote!(.with_timeout(#private::Duration::new(#secs, #nanos)))
    });
    // Spanned over the whole type: "`X: Deserialize` is not satisfied" is reported under it.
    let config = config.as_ref().map(|ty| {
        let type_name = ty.to_token_stream().to_string().replace(' ', "");
        let (first, last) = first_and_last_span(ty, ty.span());
        let args = quote_spanned!(last=> ::<#ty>());
        let check = quote_spanned!(first=> #private::config_check #args);
        quote!(.with_config(#check, #type_name))
    });
    let dep_checks = dep_checks(deps, name, &private);
    let dep_count = deps.len();
    let type_name = ident.to_string();
    // Spanned at the struct's name, so that the notes of a dependency cycle (E0391) each
    // point at a plugin of the cycle. The array is a local, not promoted, which keeps those
    // notes to the few steps that matter.
    let plugin_type = quote_spanned! {ident.span()=>
        impl #private::Sealed for #ident {}
        impl #private::PluginType for #ident {
            const NAME: &'static str = #name;
            const DEPTH: usize = {
                let __deps: [usize; #dep_count] = [#(#dep_depths),*];
                #private::depth(&__deps)
            };
            fn descriptor() -> &'static #private::PluginDescriptor {
                &DESCRIPTOR
            }
        }
    };
    quote! {
        // A deprecated plugin struct is the user's to allow; what is generated here names it
        // only because it must.
        #[allow(deprecated)]
        const _: () = {
            #plugin_type

            fn __factory()
                -> #private::Result<#private::PluginInstance>
            {
                #make
            }

            const DESCRIPTOR: #private::PluginDescriptor =
                #private::PluginDescriptor::new(
                    #name,
                    ::core::concat!(::core::module_path!(), "::", #type_name),
                    || #private::TypeId::of::<#ident>(),
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
                .with_depth(<#ident as #private::PluginType>::DEPTH);

            #private::inventory::submit! { DESCRIPTOR }

            #dep_checks
        };
    }
}

/// `<#dep as PluginType>::#item`, spanned over the path in `deps = [...]` so that "`X` is not
/// a plugin" (the `on_unimplemented` of `PluginType`) is reported under it.
fn dep_const(dep: &Path, private: &TokenStream, item: TokenStream) -> TokenStream {
    let (first, last) = first_and_last_span(dep, dep.span());
    let as_plugin = quote_spanned!(last=> as #private::PluginType>::#item);
    quote_spanned!(first=> < #dep #as_plugin)
}

/// Constant checks over the `NAME`s of `deps`, which only the compiler knows: two paths that
/// are the same plugin (`Base` and `crate::Base`, or an alias), and a dependency with this
/// plugin's own name (itself through an alias, or another crate's namesake). Each panics,
/// failing the build, under the later path.
fn dep_checks(deps: &[Path], name: &syn::LitStr, private: &TokenStream) -> TokenStream {
    let names: Vec<TokenStream> = deps
        .iter()
        .map(|dep| dep_const(dep, private, quote!(NAME)))
        .collect();
    let texts: Vec<String> = deps
        .iter()
        .map(|dep| dep.to_token_stream().to_string().replace(' ', ""))
        .collect();
    let mut checks = Vec::new();
    for (j, dep) in deps.iter().enumerate() {
        let (first, last) = first_and_last_span(dep, dep.span());
        let panic = |message: TokenStream| {
            let args = quote_spanned!(last=> !(#message));
            quote_spanned!(first=> ::core::panic #args)
        };
        let this = &names[j];
        let own = format!(
            "`{}` is a plugin named {:?}, like this one: a plugin cannot depend on itself \
             (nor share its name with another)",
            texts[j],
            name.value()
        );
        let own_panic = panic(quote!(#own));
        checks.push(quote! {
            if #private::str_eq(#this, #name) {
                #own_panic;
            }
        });
        for i in 0..j {
            let earlier = &names[i];
            let tail = format!(
                "` is listed twice in `deps`: `{}` and `{}` are the same plugin",
                texts[i], texts[j]
            );
            let message_panic = panic(quote!("{}", #private::as_str(&__TEXT)));
            checks.push(quote! {
                {
                    const __PARTS: &[&str] = &["`", #this, #tail];
                    const __TEXT: [u8; #private::text_len(__PARTS)] = #private::join(__PARTS);
                    if #private::str_eq(#earlier, #this) {
                        #message_panic;
                    }
                }
            });
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

/// `tokens` with every token (inside groups too) at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                token = proc_macro2::TokenTree::Group(new);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
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
/// naming it (`deps = [Dice]`, `ctx.dep::<Dice>()`) does not add errors of its own. `krate`
/// is the `crate = ...` path, as far as it could be read.
pub(crate) fn fallback(item: &Item, krate: &TokenStream, error: Error) -> TokenStream {
    let private = quote!(#krate::__private);
    let error = error.into_compile_error();
    let ident = match item {
        Item::Struct(item) if item.generics.params.is_empty() => Some(&item.ident),
        _ => None,
    };
    let stand_in = ident.map(|ident| {
        quote! {
            #[allow(deprecated)]
            const _: () = {
                impl #private::Sealed for #ident {}
                impl #private::PluginType for #ident {
                    const NAME: &'static str = "";
                    const DEPTH: usize = 1;
                    fn descriptor() -> &'static #private::PluginDescriptor {
                        ::core::unreachable!("`#[plugin]` reported an error for this type")
                    }
                }
            };
        }
    });
    quote!(#error #stand_in)
}
