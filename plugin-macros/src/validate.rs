//! What the attribute's values mean: checks them against the item and gathers every mistake.
//!
//! Over 400 lines because it holds the check of every key of the attribute, so that every
//! diagnostic the attribute gives about a value is found in this one file.

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{Attribute, Error, ExprPath, Ident, Item, LitStr, Path, Result, Type};

use crate::args::{Args, Value};

/// A checked `#[plugin(...)]` on a struct: everything `expand` needs.
pub(crate) struct Plugin<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) name: LitStr,
    pub(crate) deps: Vec<Path>,
    pub(crate) optional: Vec<LitStr>,
    pub(crate) new: Option<ExprPath>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) config: Option<Type>,
    /// The path of `plugin-core` in the generated code: `crate = ...`, or `::plugin_core`.
    pub(crate) krate: TokenStream,
}

/// Several errors reported together, so that one build shows every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `result` if nothing was gathered; else every gathered error, then `result`'s own.
    pub(crate) fn finish<T>(self, result: Result<T>) -> Result<T> {
        match (self.0, result) {
            (None, result) => result,
            (Some(errors), Ok(_)) => Err(errors),
            (Some(mut errors), Err(error)) => {
                errors.combine(error);
                Err(errors)
            }
        }
    }
}

/// Takes every further `#[plugin]` off the item (so that it does not expand a second time),
/// with an error at each.
pub(crate) fn take_duplicates(item: &mut Item) -> Option<Error> {
    let attrs = match item {
        Item::Struct(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        _ => return None,
    };
    let is_plugin = |attr: &Attribute| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "plugin")
    };
    let mut errors = Errors::default();
    attrs.retain(|attr| {
        if !is_plugin(attr) {
            return true;
        }
        errors.push(Error::new_spanned(
            attr,
            "duplicate `#[plugin]` attribute: a struct is one plugin; remove this one",
        ));
        false
    });
    errors.0
}

/// Checks the attribute's arguments and the struct it is on.
pub(crate) fn plugin(args: TokenStream, item: &Item) -> Result<Plugin<'_>> {
    let parsed = syn::parse2::<Args>(args.clone());
    let mut errors = Errors::default();
    let Item::Struct(item) = item else {
        // Syntax errors in the arguments are worth adding; nothing else matters until the
        // attribute is on a struct.
        if let Err(error) = parsed {
            errors.push(error);
        }
        return errors.finish(Err(not_a_struct(item)));
    };
    // A `where` clause alone is fine: with no parameters its bounds are about concrete types,
    // which rustc checks on the struct itself.
    let generics = &item.generics;
    if !generics.params.is_empty() {
        errors.push(Error::new_spanned(
            quote!(#generics),
            "a plugin struct cannot have generic parameters or lifetimes: \
             `#[plugin]` registers one concrete type",
        ));
    }
    errors.finish(parsed.and_then(|parsed| check_args(parsed, &args, &item.ident)))
}

fn check_args<'a>(args: Args, tokens: &TokenStream, ident: &'a Ident) -> Result<Plugin<'a>> {
    let mut errors = Errors::default();
    let mut seen = HashSet::new();
    let mut name = None;
    let mut deps = Vec::new();
    let mut optional = Vec::new();
    let mut new = None;
    let mut timeout = None;
    let mut config = None;
    let mut krate = None;
    for entry in args.entries {
        if !seen.insert(entry.key) {
            let message = format!("duplicate `{}` key", entry.key);
            errors.push(Error::new(entry.key_span, message));
            continue;
        }
        match entry.value {
            Value::Name(lit) => {
                if let Err(error) = check_name(&lit, "") {
                    errors.push(error);
                }
                name = Some(lit);
            }
            Value::Deps(list) => deps = check_deps(list, ident, &mut errors),
            Value::Optional(list) => optional = check_optional(list, &mut errors),
            Value::New(path) => new = Some(replace_self(path, ident)),
            Value::Timeout(lit) => match timeout_of(&lit) {
                Ok(duration) => timeout = Some(duration),
                Err(error) => errors.push(error),
            },
            Value::Config(ty) => match check_config(&ty) {
                Ok(()) => config = Some(ty),
                Err(error) => errors.push(error),
            },
            Value::Crate(path) => krate = Some(path),
        }
    }
    let Some(name) = name else {
        return errors.finish(Err(missing_name(tokens, ident)));
    };
    for lit in &optional {
        if lit.value() == name.value() {
            errors.push(Error::new(
                lit.span(),
                "a plugin cannot depend on itself: remove its own name from `optional`",
            ));
        }
    }
    errors.finish(Ok(Plugin {
        ident,
        name,
        deps,
        optional,
        new,
        timeout,
        config,
        krate: krate.map_or_else(crate::link::contract_path, |path| quote!(#path)),
    }))
}

/// `new = Self::new` with the struct's name for `Self`, which means nothing outside an impl.
fn replace_self(path: ExprPath, ident: &Ident) -> ExprPath {
    fn replace(tokens: TokenStream, ident: &Ident) -> TokenStream {
        tokens
            .into_iter()
            .map(|token| match token {
                TokenTree::Ident(word) if word == "Self" => {
                    TokenTree::Ident(Ident::new(&ident.to_string(), word.span()))
                }
                TokenTree::Group(group) => {
                    let mut new =
                        proc_macro2::Group::new(group.delimiter(), replace(group.stream(), ident));
                    new.set_span(group.span());
                    TokenTree::Group(new)
                }
                other => other,
            })
            .collect()
    }
    let replaced = replace(path.to_token_stream(), ident);
    // The struct's name where `Self` was is a path just as well.
    syn::parse2(replaced).unwrap_or(path)
}

/// Refuses a `config` type that no TOML table can ever deserialize into (the section of a
/// plugin is always a table), under the whole type.
fn check_config(ty: &Type) -> Result<()> {
    let what = match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => "`()`",
        Type::Tuple(_) => "a tuple",
        Type::Array(_) | Type::Slice(_) => "an array",
        Type::Reference(_) | Type::Ptr(_) => "a reference",
        Type::Never(_) => "`!`",
        Type::FnPtr(_) | Type::ImplTrait(_) | Type::TraitObject(_) => "this type",
        Type::Path(path) if path.qself.is_none() && is_scalar(&path.path) => "a single value",
        Type::Paren(inner) => return check_config(&inner.elem),
        Type::Group(inner) => return check_config(&inner.elem),
        _ => return Ok(()),
    };
    let type_name = ty.to_token_stream().to_string().replace(' ', "");
    let type_name = type_name.replace("'static", "'static ");
    Err(Error::new_spanned(
        ty,
        format!(
            "`{type_name}` cannot be a plugin's configuration: its section of the \
             configuration file is a table of keys, which {what} can never be read from; use \
             a struct with `#[derive(serde::Deserialize)]` (or a map), or leave out `config`"
        ),
    ))
}

/// Whether `path` is a primitive, `String` or `Vec`: types that deserialize from one value,
/// never from a table.
fn is_scalar(path: &Path) -> bool {
    const SCALARS: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64", "String", "Vec",
    ];
    let Some(last) = path.segments.last() else {
        return false;
    };
    let from_std = path.segments.len() == 1
        || path
            .segments
            .first()
            .is_some_and(|first| ["std", "core", "alloc"].iter().any(|k| first.ident == k));
    from_std && SCALARS.iter().any(|scalar| last.ident == scalar)
}

/// The error for an attribute without `name`: under its arguments, or under the struct's name
/// when there are none.
fn missing_name(tokens: &TokenStream, ident: &Ident) -> Error {
    if tokens.is_empty() {
        let message =
            format!("`#[plugin]` needs a name: write `#[plugin(name = \"...\")]` above `{ident}`");
        return Error::new(ident.span(), message);
    }
    Error::new_spanned(
        tokens,
        "missing `name` key: every plugin needs one, like `name = \"dice\"`",
    )
}

/// A plugin name: non-empty, only `a-z`, `0-9`, `-` and `_`. `context` says where it was found.
fn check_name(lit: &LitStr, context: &str) -> Result<()> {
    let name = lit.value();
    if name.is_empty() {
        return Err(Error::new(
            lit.span(),
            format!("plugin name{context} must not be empty"),
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.chars().all(allowed) {
        return Ok(());
    }
    // "Dice Roller!" -> "dice-roller": lowercased, every run of other characters one `-`;
    // "Café" -> "cafe". No suggestion for a letter without an ASCII rendering here.
    let mut suggestion = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() && !c.is_ascii() {
            match ascii_of(c) {
                Some(ascii) => suggestion.push_str(ascii),
                None => {
                    suggestion.clear();
                    break;
                }
            }
        } else if allowed(c) {
            suggestion.push(c);
        } else if !suggestion.is_empty() && !suggestion.ends_with('-') {
            suggestion.push('-');
        }
    }
    let suggestion = suggestion.trim_end_matches('-');
    let like = match suggestion.is_empty() {
        true => String::new(),
        false => format!(", like {suggestion:?}"),
    };
    Err(Error::new(
        lit.span(),
        format!(
            "invalid plugin name {name:?}{context}: use only lowercase ASCII letters, \
             digits, `-` and `_`{like}"
        ),
    ))
}

/// The ASCII spelling of a lowercase Latin letter with a diacritic, or of a ligature.
fn ascii_of(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ť' | 'ţ' | 'ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        _ => return None,
    })
}

fn check_deps(
    list: syn::punctuated::Punctuated<Path, syn::Token![,]>,
    ident: &Ident,
    errors: &mut Errors,
) -> Vec<Path> {
    let mut seen = HashSet::new();
    let mut deps = Vec::new();
    for path in list {
        let text = path_text(&path);
        if is_self(&path, ident) {
            errors.push(Error::new_spanned(
                &path,
                format!("a plugin cannot depend on itself: remove `{text}` from `deps`"),
            ));
        } else if looks_like_self(&path, ident) {
            errors.push(Error::new_spanned(
                &path,
                format!(
                    "a plugin cannot depend on itself: `{text}` names `{ident}`; remove it from \
                     `deps` (if it is another plugin of the same name, import it as another name)"
                ),
            ));
        } else if !seen.insert(text.clone()) {
            errors.push(Error::new_spanned(
                &path,
                format!("duplicate `{text}` in `deps`"),
            ));
        } else {
            deps.push(path);
        }
    }
    deps
}

/// Whether `path` is a path inside this crate whose last segment is the struct's own name,
/// like `crate::Dice` on `Dice`: almost surely the plugin itself (which would otherwise be a
/// raw dependency cycle, E0391).
fn looks_like_self(path: &Path, ident: &Ident) -> bool {
    let first = path.segments.first().map(|segment| &segment.ident);
    path.leading_colon.is_none()
        && first.is_some_and(|first| first == "crate" || first == "self" || first == "super")
        && path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == *ident)
}

/// Whether `path` obviously names the plugin itself. Any other route to itself (through a
/// re-export, say) still fails to build, as a dependency cycle.
fn is_self(path: &Path, ident: &Ident) -> bool {
    if path.leading_colon.is_some() {
        return false;
    }
    let segments: Vec<&Ident> = path.segments.iter().map(|segment| &segment.ident).collect();
    match segments.as_slice() {
        [only] => *only == "Self" || *only == ident,
        [module, only] => *module == "self" && *only == ident,
        _ => false,
    }
}

fn check_optional(
    list: syn::punctuated::Punctuated<LitStr, syn::Token![,]>,
    errors: &mut Errors,
) -> Vec<LitStr> {
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for lit in list {
        if let Err(error) = check_name(&lit, " in `optional`") {
            errors.push(error);
        } else if !seen.insert(lit.value()) {
            let message = format!("duplicate {:?} in `optional`", lit.value());
            errors.push(Error::new(lit.span(), message));
        } else {
            names.push(lit);
        }
    }
    names
}

/// A `timeout` value, in the grammar of `humantime` (as the manager's configuration file and
/// the host's command line read it): `"500ms"`, `"1m30s"`, `"1us"`; zero is refused.
fn timeout_of(lit: &LitStr) -> Result<Duration> {
    let text = lit.value();
    match humantime::parse_duration(&text) {
        Ok(duration) if duration.is_zero() => Err(Error::new(
            lit.span(),
            "`timeout` must be greater than zero",
        )),
        Ok(duration) => Ok(duration),
        Err(error) => Err(Error::new(
            lit.span(),
            format!(
                "invalid `timeout` {text:?}: {error}; write a duration like \"500ms\", \"2s\" \
                 or \"1m30s\""
            ),
        )),
    }
}

/// A path as written, without the spaces of its token form: `plugin_commands::Commands`.
fn path_text(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The error for `#[plugin]` on something other than a struct, under its keyword and name.
fn not_a_struct(item: &Item) -> Error {
    let (what, tokens) = match item {
        Item::Enum(i) => ("an enum", pair(&i.enum_token, &i.ident)),
        Item::Union(i) => ("a union", pair(&i.union_token, &i.ident)),
        Item::Fn(i) => ("a function", pair(&i.sig.fn_token, &i.sig.ident)),
        Item::Trait(i) => ("a trait", pair(&i.trait_token, &i.ident)),
        Item::TraitAlias(i) => ("a trait alias", pair(&i.trait_token, &i.ident)),
        Item::Impl(i) => ("an impl block", pair(&i.impl_token, &i.self_ty)),
        Item::Mod(i) => ("a module", pair(&i.mod_token, &i.ident)),
        Item::Const(i) => ("a constant", pair(&i.const_token, &i.ident)),
        Item::Static(i) => ("a static", pair(&i.static_token, &i.ident)),
        Item::Type(i) => ("a type alias", pair(&i.type_token, &i.ident)),
        other => ("this item", other.to_token_stream()),
    };
    Error::new_spanned(
        tokens,
        format!("`#[plugin]` goes on a struct, not on {what}"),
    )
}

fn pair(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    quote!(#keyword #name)
}
