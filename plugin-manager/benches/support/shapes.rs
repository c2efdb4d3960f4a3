//! The sets of no-op plugins the start-up benchmark and the `startup_profile` example run: the
//! same shapes, names and seed in both, so that their figures describe the same sets.

use plugin_core::{Plugin, PluginMetadata, async_trait};
use plugin_manager::PluginSpec;

/// A plugin whose hooks do nothing.
#[derive(Default)]
pub(crate) struct Noop;

#[async_trait]
impl Plugin for Noop {}

/// How the plugins of a set depend on one another.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// p1 needs p0, p2 needs p1, ...: nothing can overlap.
    Chain,
    /// Every plugin needs p0.
    Star,
    /// Each plugin needs up to 3 random earlier ones (seeded, so every run builds the same).
    RandomDag,
}

impl Shape {
    /// The name of the shape, as a benchmark id and the example's argument spell it.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::Star => "star",
            Shape::RandomDag => "random_dag",
        }
    }

    /// The shape [`id`](Self::id) names, if any.
    #[allow(dead_code)] // the example's, not the benchmark's
    pub(crate) fn from_id(id: &str) -> Option<Self> {
        [Shape::Chain, Shape::Star, Shape::RandomDag]
            .into_iter()
            .find(|shape| shape.id() == id)
    }
}

/// The specs of `n` no-op plugins of `shape`.
pub(crate) fn specs(shape: Shape, n: usize) -> Vec<PluginSpec> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n)
        .map(|i| {
            let deps: Vec<String> = match shape {
                Shape::Chain if i > 0 => vec![name(i - 1)],
                Shape::Star if i > 0 => vec![name(0)],
                Shape::RandomDag if i > 0 => {
                    let mut deps: Vec<String> = (0..rng.usize(0..=3))
                        .map(|_| name(rng.usize(0..i)))
                        .collect();
                    deps.sort();
                    deps.dedup();
                    deps
                }
                _ => Vec::new(),
            };
            PluginSpec::with_default::<Noop>(PluginMetadata::new(name(i)).with_deps(deps))
        })
        .collect()
}

/// The name of the `i`-th plugin of a set.
pub(crate) fn name(i: usize) -> String {
    format!("p{i:05}")
}
