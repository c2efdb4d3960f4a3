//! A plugin crate whose author forgot `#[plugin]`: it registers nothing.

/// Would be a plugin.
#[derive(Debug, Default)]
pub struct Forgotten;
