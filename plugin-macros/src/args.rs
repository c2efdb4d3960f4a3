//! The syntax of `#[plugin(...)]`: `key = value` entries separated by commas.
//!
//! Only the shape is checked here; what the values mean (name rules, duplicates, durations) is
//! `validate`'s job. A malformed entry is reported and skipped up to the next comma, so every
//! syntax mistake of the attribute shows at once.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Error, ExprPath, Ident, Lit, LitStr, Path, Result, Token, Type, bracketed, token};

use crate::validate::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(deps);
    syn::custom_keyword!(optional);
    syn::custom_keyword!(new);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(config);
}

/// The keys, as listed in the error for an unknown one.
const KEYS: &str = "`name`, `deps`, `optional`, `new`, `timeout`, `config`, `crate`";

/// The attribute's entries, in source order.
pub(crate) struct Args {
    pub(crate) entries: Vec<Entry>,
}

/// One `key = value` entry.
pub(crate) struct Entry {
    /// The key as written, e.g. `deps`.
    pub(crate) key: &'static str,
    pub(crate) key_span: Span,
    pub(crate) value: Value,
}

/// The value of an entry, by key.
pub(crate) enum Value {
    Name(LitStr),
    Deps(Punctuated<Path, Token![,]>),
    Optional(Punctuated<LitStr, Token![,]>),
    New(ExprPath),
    Timeout(LitStr),
    Config(Type),
    Crate(Path),
}

impl Parse for Args {
    fn parse(input: ParseStream) -> Result<Self> {
        let mut entries = Vec::new();
        let mut errors = Errors::default();
        while !input.is_empty() {
            match Entry::parse(input) {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    errors.push(error);
                    rest_of_entry(input)?;
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        errors.finish(Ok(Args { entries }))
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> Result<Self> {
        let (key, key_span) = parse_key(input)?;
        let Some(eq) = input.parse::<Option<Token![=]>>()? else {
            let key_ident = Ident::new(key, key_span);
            let rest = rest_of_entry(input)?;
            return Err(Error::new_spanned(quote!(#key_ident #rest), expected(key)));
        };
        // A value of the right shape that ends the entry, parsed from the input itself so that
        // a comma inside it (`HashMap<String, u32>`, `make::<A, B>`) is part of it.
        let fork = input.fork();
        if let Ok(Some(_)) = parse_value(key, &fork)
            && (fork.is_empty() || fork.peek(Token![,]))
            && let Some(value) = parse_value(key, input)?
        {
            return Ok(Entry {
                key,
                key_span,
                value,
            });
        }
        // Anything else: the whole value up to the next comma, so that a wrong one is
        // underlined entirely.
        let tokens = rest_of_entry(input)?;
        let shape_error = || match tokens.is_empty() {
            true => Error::new(eq.span, expected(key)),
            false => Error::new_spanned(&tokens, expected(key)),
        };
        let value = syn::parse::Parser::parse2(
            |input: ParseStream| {
                match parse_value(key, input)? {
                    Some(value) if input.is_empty() => Ok(value),
                    // `name = "dice" deps = [...]`: the next entry, not more of this value.
                    Some(_) if input.peek(Ident::peek_any) => {
                        let next = input.call(Ident::parse_any)?;
                        Err(Error::new(
                            next.span(),
                            format!("missing `,` before `{next}`"),
                        ))
                    }
                    _ => Err(shape_error()),
                }
            },
            tokens.clone(),
        )?;
        Ok(Entry {
            key,
            key_span,
            value,
        })
    }
}

/// The key of an entry, or an error at the token that should have been one.
fn parse_key(input: ParseStream) -> Result<(&'static str, Span)> {
    Ok(if input.peek(kw::name) {
        ("name", input.parse::<kw::name>()?.span)
    } else if input.peek(kw::deps) {
        ("deps", input.parse::<kw::deps>()?.span)
    } else if input.peek(kw::optional) {
        ("optional", input.parse::<kw::optional>()?.span)
    } else if input.peek(kw::new) {
        ("new", input.parse::<kw::new>()?.span)
    } else if input.peek(kw::timeout) {
        ("timeout", input.parse::<kw::timeout>()?.span)
    } else if input.peek(kw::config) {
        ("config", input.parse::<kw::config>()?.span)
    } else if input.peek(Token![crate]) {
        ("crate", input.parse::<Token![crate]>()?.span)
    } else if input.peek(Ident::peek_any) {
        let unknown = input.call(Ident::parse_any)?;
        return Err(Error::new(
            unknown.span(),
            format!("unknown key `{unknown}`; the keys are {KEYS}"),
        ));
    } else {
        let token: TokenTree = input.parse()?;
        return Err(Error::new(
            token.span(),
            format!("expected a key like `name = \"...\"`; the keys are {KEYS}"),
        ));
    })
}

/// Parses the value of `key`, or `None` if it does not have the expected shape at all.
fn parse_value(key: &str, input: ParseStream) -> Result<Option<Value>> {
    Ok(Some(match key {
        "name" if input.peek(LitStr) => Value::Name(input.parse()?),
        "timeout" if input.peek(LitStr) => Value::Timeout(input.parse()?),
        "deps" if input.peek(token::Bracket) => {
            let content;
            bracketed!(content in input);
            Value::Deps(Punctuated::parse_terminated_with(&content, dep)?)
        }
        "optional" if input.peek(token::Bracket) => {
            let content;
            bracketed!(content in input);
            Value::Optional(Punctuated::parse_terminated_with(&content, optional_dep)?)
        }
        "new" if input.fork().parse::<ExprPath>().is_ok() => Value::New(input.parse()?),
        "config" if input.fork().parse::<Type>().is_ok() => Value::Config(input.parse()?),
        "crate" if input.fork().call(Path::parse_mod_style).is_ok() => {
            Value::Crate(input.call(Path::parse_mod_style)?)
        }
        _ => return Ok(None),
    }))
}

/// One element of `deps = [...]`: the path of a plugin type.
fn dep(input: ParseStream) -> Result<Path> {
    if input.peek(Lit) {
        let lit: Lit = input.parse()?;
        return Err(Error::new(
            lit.span(),
            "`deps` lists plugin types by path, like `deps = [Commands]`; \
             put plugin names in `optional = [\"...\"]`",
        ));
    }
    input.parse()
}

/// One element of `optional = [...]`: a plugin name.
fn optional_dep(input: ParseStream) -> Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let token: TokenTree = input.parse()?;
    Err(Error::new(
        token.span(),
        "`optional` lists plugin names as string literals, like `optional = [\"stats\"]`",
    ))
}

/// What `key` takes, with an example.
fn expected(key: &str) -> String {
    let (what, example) = match key {
        "name" => ("a string literal", "name = \"dice\""),
        "deps" => ("a bracketed list of plugin types", "deps = [Commands]"),
        "optional" => ("a bracketed list of plugin names", "optional = [\"stats\"]"),
        "new" => ("the path of a constructor function", "new = Dice::new"),
        "config" => ("the plugin's configuration type", "config = DiceConfig"),
        "crate" => ("the path of the `plugin-core` crate", "crate = plugin_core"),
        _ => ("a duration string", "timeout = \"2s\""),
    };
    format!("`{key}` takes {what}, like `{example}`")
}

/// The path of `crate = path` in the attribute's tokens, read even when the rest has
/// mistakes (for the stand-in the errors come with), or the crate's own name for
/// `plugin-core` ([`contract_path`](crate::link::contract_path)).
pub(crate) fn crate_path(tokens: &TokenStream) -> TokenStream {
    let found = syn::parse::Parser::parse2(
        |input: ParseStream| {
            while !input.is_empty() {
                if input.peek(Token![crate]) && input.peek2(Token![=]) {
                    input.parse::<Token![crate]>()?;
                    input.parse::<Token![=]>()?;
                    return Ok(input.call(Path::parse_mod_style).ok());
                }
                input.parse::<TokenTree>()?;
            }
            Ok(None)
        },
        tokens.clone(),
    );
    match found {
        Ok(Some(path)) => path.to_token_stream(),
        _ => crate::link::contract_path(),
    }
}

/// Consumes the tokens up to the next top-level comma (or the end).
fn rest_of_entry(input: ParseStream) -> Result<TokenStream> {
    let mut rest = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?.to_tokens(&mut rest);
    }
    Ok(rest)
}
