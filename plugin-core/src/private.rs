//! Not public API: what the code `#[plugin]` generates refers to, as `__private`.
//!
//! Each trait here carries a `diagnostic::on_unimplemented` worded for the attribute, so that
//! a mistake in `#[plugin(...)]` is reported in its terms, at the token the macro spans the
//! check with.

use std::error::Error as StdError;
use std::fmt;

pub use core::any::TypeId;
pub use core::convert::Infallible;
pub use core::time::Duration;
pub use inventory;

pub use crate::host::check_config;
pub use crate::{PluginDescriptor, PluginInstance, PluginType, Result};

/// The seal of [`PluginType`]: `#[plugin]` implements it next to `PluginType`, and nothing
/// else should, so that a hand-written `PluginType` (with a made-up `DEPTH`) does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugin: annotate it with `#[plugin]`",
    label = "`PluginType` is implemented by `#[plugin]` only",
    note = "put `#[plugin(name = \"...\")]` on `{Self}` instead of implementing `PluginType` by hand"
)]
pub trait Sealed {}

/// 1 + the deepest of `deps`: a plugin's `DEPTH`.
pub const fn depth(deps: &[usize]) -> usize {
    let mut deepest = 0;
    let mut i = 0;
    while i < deps.len() {
        if deps[i] > deepest {
            deepest = deps[i];
        }
        i += 1;
    }
    deepest + 1
}

/// Whether two strings are equal, in a constant: the duplicate checks of `deps`.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The length of `parts` joined: the size of the buffer [`join`] fills.
pub const fn text_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` joined, in a buffer of [`text_len`] bytes: a message naming a constant (a plugin's
/// `NAME`) for a constant's panic.
pub const fn join<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut buffer = [0; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i].as_bytes();
        let mut j = 0;
        while j < part.len() && at < N {
            buffer[at] = part[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    buffer
}

/// The text [`join`] made (whole strings joined are UTF-8).
pub const fn as_str(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => "",
    }
}

/// What `new = path` names: a function, of any number of arguments so far (`M` is its
/// `fn(...) -> R` type), so that [`construct`] can refuse one that takes some in the
/// attribute's words rather than as an arity mismatch.
#[diagnostic::on_unimplemented(
    message = "`new = ...` names a function that takes no arguments",
    label = "not a function that takes no arguments",
    note = "`new = path` is called as `path()`"
)]
pub trait Constructor<M> {
    /// What the function returns.
    type Output;
    /// Calls it, when it takes no arguments (which [`NoArguments`] makes sure of).
    fn construct(self) -> Self::Output;
}

impl<F: FnOnce() -> R, R> Constructor<fn() -> R> for F {
    type Output = R;
    fn construct(self) -> R {
        self()
    }
}

/// Implements [`Constructor`] for functions of the given arguments, never to be called.
macro_rules! constructor_with_arguments {
    ($($arg:ident),+) => {
        impl<F: FnOnce($($arg),+) -> R, $($arg,)+ R> Constructor<fn($($arg),+) -> R> for F {
            type Output = R;
            fn construct(self) -> R {
                unreachable!("`construct` requires `NoArguments`")
            }
        }
    };
}

constructor_with_arguments!(A);
constructor_with_arguments!(A, B);
constructor_with_arguments!(A, B, C);
constructor_with_arguments!(A, B, C, D);
constructor_with_arguments!(A, B, C, D, E);
constructor_with_arguments!(A, B, C, D, E, G);

/// A `fn() -> R`: the only kind of [`Constructor`] that [`construct`] calls.
#[diagnostic::on_unimplemented(
    message = "`new = ...` names a function that takes no arguments",
    label = "this is a `{Self}`",
    note = "`new = path` is called as `path()`; for a constructor that takes arguments, write a function that supplies them, like `fn make() -> Dice {{ Dice::with(6) }}`, and name that"
)]
pub trait NoArguments {}

impl<R> NoArguments for fn() -> R {}

/// Calls the constructor of `new = path`.
pub fn construct<M: NoArguments, F: Constructor<M>>(constructor: F) -> F::Output {
    constructor.construct()
}

/// What a `new = path` constructor may return: the plugin, or a `Result` of it.
#[diagnostic::on_unimplemented(
    message = "the constructor in `new = ...` returns `{Self}`, not `{P}` or `Result<{P}, E>`",
    label = "returns `{Self}`",
    note = "`new = path` names a `fn() -> {P}` or a `fn() -> Result<{P}, E>` whose `E` is an error"
)]
pub trait IntoPlugin<P> {
    /// The constructor's error.
    type Error;
    /// The plugin, or the constructor's error.
    fn into_plugin(self) -> core::result::Result<P, Self::Error>;
}

impl<P: crate::Plugin> IntoPlugin<P> for P {
    type Error = Infallible;
    fn into_plugin(self) -> core::result::Result<P, Infallible> {
        Ok(self)
    }
}

impl<P: crate::Plugin, E> IntoPlugin<P> for core::result::Result<P, E> {
    type Error = E;
    fn into_plugin(self) -> core::result::Result<P, E> {
        self
    }
}

/// The error a constructor may fail with: what converts into `Box<dyn Error + Send + Sync>`
/// (any `std::error::Error + Send + Sync + 'static`, such a box itself, `String`, `&str`), or
/// `plugin_core::Error`.
#[diagnostic::on_unimplemented(
    message = "the constructor in `new = ...` fails with `{Self}`, which is not an error type",
    label = "its error type is `{Self}`",
    note = "a constructor's `Result<_, E>` needs an `E` that is a `std::error::Error + Send + Sync + 'static`, a `Box<dyn Error + Send + Sync>`, a `String` or a `plugin_core::Error`"
)]
pub trait ConstructorError {
    /// The error, as a hook's.
    fn into_error(self) -> crate::Error;
}

// `plugin_core::Error` is among them: it converts into the box, keeping its chain.
impl<E: Into<Box<dyn StdError + Send + Sync>>> ConstructorError for E {
    fn into_error(self) -> crate::Error {
        crate::Error::new(Boxed(self.into()))
    }
}

/// A boxed error as a `std::error::Error` (a `Box<dyn Error>` is not one), keeping its
/// message and its chain of causes.
#[derive(Debug)]
struct Boxed(Box<dyn StdError + Send + Sync>);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for Boxed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// How `#[plugin]` without `new = ...` makes the plugin: with `Default`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `Default`: derive it or name a constructor with `new = ...`",
    label = "`#[plugin]` makes `{Self}` with `Default::default()`",
    note = "add `#[derive(Default)]` to `{Self}`, or write `#[plugin(name = \"...\", new = {Self}::new)]`"
)]
pub trait DefaultPlugin: Sized {
    /// `Default::default()`.
    fn make() -> Self;
}

impl<T: Default> DefaultPlugin for T {
    fn make() -> Self {
        T::default()
    }
}

/// A type `#[plugin(config = T)]` can use: anything serde can deserialize.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin's configuration: it does not implement `serde::Deserialize`",
    label = "not deserializable",
    note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
)]
pub trait ConfigType: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> ConfigType for T {}

/// The configuration check of `T`, for the descriptor.
pub const fn config_check<T: ConfigType>() -> crate::host::ConfigCheck {
    crate::host::check_config::<T>
}

/// Wraps what a constructor made into an instance, or its error into a hook's.
pub fn instantiate<P: crate::Plugin, E: ConstructorError>(
    made: core::result::Result<P, E>,
) -> crate::Result<PluginInstance> {
    made.map(PluginInstance::new)
        .map_err(ConstructorError::into_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boxed_error_keeps_its_chain() {
        let io = std::io::Error::other("disk on fire");
        let boxed: Box<dyn StdError + Send + Sync> = crate::Error::new(io).into_std();
        assert_eq!(boxed.into_error().to_string(), "disk on fire");
        assert_eq!("plain".into_error().to_string(), "plain");
        let outer = crate::Error::msg("inner").context("outer");
        assert_eq!(outer.into_std().into_error().to_string(), "outer: inner");
    }

    #[test]
    fn messages_are_joined_in_constants() {
        const PARTS: &[&str] = &["`", "base", "` twice"];
        const TEXT: [u8; text_len(PARTS)] = join(PARTS);
        assert_eq!(as_str(&TEXT), "`base` twice");
        assert!(str_eq("base", "base") && !str_eq("base", "bass") && !str_eq("a", "ab"));
    }
}
