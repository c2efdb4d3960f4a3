//! Keeps a log of the greenhouse. Its manifest calls `plugin-core` `pc`.

use pc::prelude::*;

/// The log book.
#[plugin(name = "logger")]
#[derive(Debug, Default)]
pub struct Logger;

#[async_trait]
impl Plugin for Logger {}
