use plugin_core::prelude::*;

#[plugin(name = "unit", config = ())]
#[derive(Default)]
pub struct Unit;

#[plugin(name = "number", config = u32)]
#[derive(Default)]
pub struct Number;

#[plugin(name = "borrowed", config = &'static str)]
#[derive(Default)]
pub struct Borrowed;

#[plugin(name = "pair", config = (String, u32))]
#[derive(Default)]
pub struct Pair;

#[plugin(name = "list", config = Vec<String>)]
#[derive(Default)]
pub struct List;

#[async_trait]
impl Plugin for Unit {}

#[async_trait]
impl Plugin for Number {}

#[async_trait]
impl Plugin for Borrowed {}

#[async_trait]
impl Plugin for Pair {}

#[async_trait]
impl Plugin for List {}

fn main() {}
