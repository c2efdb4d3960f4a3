use plugin_core::prelude::*;

#[plugin(name = "counter", new = Counter::starting_at_one)]
pub struct Counter {
    count: u64,
}

impl Counter {
    fn starting_at_one() -> Self {
        Counter { count: 1 }
    }
}

#[async_trait]
impl Plugin for Counter {}

fn main() {
    let descriptor = plugin_core::registered().find(|d| d.name() == "counter").unwrap();
    let instance = descriptor.instantiate().unwrap();
    drop(instance);
    assert_eq!(Counter::starting_at_one().count, 1);
}
