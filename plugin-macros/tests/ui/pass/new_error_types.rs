//! A constructor may fail with any error that converts into `Box<dyn Error + Send + Sync>`,
//! or with `plugin_core::Error`; its message and causes are kept.

use std::error::Error as StdError;

use plugin_core::prelude::*;

type BoxError = Box<dyn StdError + Send + Sync>;

#[plugin(name = "boxed", new = Self::new)]
pub struct Boxed;

impl Boxed {
    fn new() -> std::result::Result<Self, BoxError> {
        Err("no sides".into())
    }
}

#[plugin(name = "boxed-io", new = boxed_io)]
pub struct BoxedIo;

fn boxed_io() -> std::result::Result<BoxedIo, Box<dyn StdError + Send + Sync>> {
    let io = std::io::Error::other("disk on fire");
    Err(Box::new(io))
}

#[plugin(name = "text", new = text)]
pub struct Text;

fn text() -> std::result::Result<Text, String> {
    Err(String::from("said no"))
}

#[plugin(name = "io", new = io)]
pub struct Io;

fn io() -> std::io::Result<Io> {
    Ok(Io)
}

#[plugin(name = "contextual", new = contextual)]
pub struct Contextual;

fn contextual() -> Result<Contextual> {
    Err(Error::msg("inner").context("outer"))
}

#[async_trait]
impl Plugin for Boxed {}

#[async_trait]
impl Plugin for BoxedIo {}

#[async_trait]
impl Plugin for Text {}

#[async_trait]
impl Plugin for Io {}

#[async_trait]
impl Plugin for Contextual {}

fn error_of(name: &str) -> Option<String> {
    let descriptor = plugin_core::registered()
        .find(|d| d.name() == name)
        .unwrap();
    descriptor
        .instantiate()
        .err()
        .map(|error| error.to_string())
}

fn main() {
    assert_eq!(error_of("boxed").as_deref(), Some("no sides"));
    assert_eq!(error_of("boxed-io").as_deref(), Some("disk on fire"));
    assert_eq!(error_of("text").as_deref(), Some("said no"));
    assert_eq!(error_of("io"), None);
    assert_eq!(error_of("contextual").as_deref(), Some("outer: inner"));
}
