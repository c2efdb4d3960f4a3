//! The error a plugin hook returns.

use std::error::Error as StdError;
use std::fmt;

/// What a hook returns: `Ok` or an [`Error`] that the manager records on the plugin.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error raised by a plugin.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it, so `?` works on I/O
/// errors, parse errors and the plugin's own error types alike. [`Error::msg`] makes one from
/// a message. Its `Display` shows the whole chain of causes, `outer: inner: innermost`, which is
/// what the manager records as the plugin's last error.
///
/// `Error` deliberately does not implement `std::error::Error` itself (that would conflict with
/// the blanket `From` that makes `?` work); [`Error::as_std`] and [`Error::into_std`] give the
/// standard view when one is needed. It is `Send + Sync + 'static`, and `?` converts it into
/// `Box<dyn std::error::Error + Send + Sync>` (and the `Send`-only and plain boxes), keeping the
/// chain of causes; for `anyhow` or another error type, go through [`Error::into_std`].
///
/// ```
/// # fn hook() -> plugin_core::Result<()> { Err(plugin_core::Error::msg("no dice")) }
/// fn host() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     hook()?; // a plugin_core::Error converts
///     Ok(())
/// }
/// assert_eq!(host().unwrap_err().to_string(), "no dice");
/// ```
///
/// ```
/// use plugin_core::{Error, Result};
///
/// fn parse(text: &str) -> Result<u32> {
///     let n: u32 = text.parse()?; // a ParseIntError converts
///     if n == 0 {
///         return Err(Error::msg("zero dice"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("3").unwrap(), 3);
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero dice");
/// assert_eq!(parse("x").unwrap_err().to_string(), "invalid digit found in string");
/// ```
pub struct Error {
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

impl Error {
    /// Makes an error from a message.
    #[must_use]
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            inner: message.to_string().into(),
        }
    }

    /// Wraps a standard error, keeping it as the source chain.
    #[must_use]
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            inner: Box::new(error),
        }
    }

    /// Adds context in front of this error: `context: original`.
    ///
    /// ```
    /// let err = plugin_core::Error::msg("file missing").context("loading quotes");
    /// assert_eq!(err.to_string(), "loading quotes: file missing");
    /// ```
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(Contextual {
            context: context.to_string(),
            source: self.inner,
        })
    }

    /// The standard-library view of this error.
    #[must_use]
    pub fn as_std(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// Turns this error into a boxed standard error, e.g. to keep it as a `#[source]`.
    #[must_use]
    pub fn into_std(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        Self::new(error)
    }
}

impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: Error) -> Self {
        error.inner
    }
}

impl From<Error> for Box<dyn StdError + Send + 'static> {
    fn from(error: Error) -> Self {
        error.inner
    }
}

impl From<Error> for Box<dyn StdError + 'static> {
    fn from(error: Error) -> Self {
        error.inner
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for Error {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let mut source = self.inner.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Error").field(&self.to_string()).finish()
    }
}

/// An error with a line of context in front; `Display` shows only the context, the rest of the
/// chain comes from `source`.
#[derive(Debug)]
struct Contextual {
    context: String,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl fmt::Display for Contextual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl StdError for Contextual {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn display_shows_the_whole_chain() {
        let err = Error::from(Outer(std::io::Error::other("disk on fire")));
        assert_eq!(err.to_string(), "outer: disk on fire");
        assert!(err.as_std().source().is_some());
    }

    #[test]
    fn it_is_send_sync_static_and_boxes_with_its_chain() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
        let boxed: Box<dyn StdError + Send + Sync> =
            Error::from(Outer(std::io::Error::other("disk on fire"))).into();
        assert_eq!(boxed.to_string(), "outer");
        assert_eq!(boxed.source().unwrap().to_string(), "disk on fire");
        let plain: Box<dyn StdError> = Error::msg("plain").into();
        assert_eq!(plain.to_string(), "plain");
    }
}
