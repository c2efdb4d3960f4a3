//! Keeps a log of the greenhouse.

use plugin_core::prelude::*;

/// The log book.
#[plugin(name = "logger")]
#[derive(Debug, Default)]
pub struct Logger;

#[async_trait]
impl Plugin for Logger {}
