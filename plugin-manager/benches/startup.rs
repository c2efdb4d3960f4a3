//! Start-up and shutdown of large plugin sets: registry to all-enabled, and all-enabled to
//! all-torn-down, for no-op plugins in three shapes; and 100 independent plugins whose setup
//! sleeps 50 ms, which shows whether independent hooks really overlap (the wall time should be
//! close to one sleep, not a hundred).
//!
//! Run with `cargo bench -p plugin-manager --bench startup`.

use std::time::Duration;

use plugin_core::{Context, Plugin, PluginMetadata, Result, async_trait};
use plugin_manager::{PluginManager, PluginSpec};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[100, 1_000, 10_000];

#[derive(Default)]
struct Noop;

#[async_trait]
impl Plugin for Noop {}

#[derive(Default)]
struct Sleeper;

#[async_trait]
impl Plugin for Sleeper {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// p1 needs p0, p2 needs p1, ...: nothing can overlap.
    Chain,
    /// Every plugin needs p0.
    Star,
    /// Each plugin needs up to 3 random earlier ones (seeded, so every run builds the same).
    RandomDag,
}

fn specs(shape: Shape, n: usize) -> Vec<PluginSpec> {
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

fn name(i: usize) -> String {
    format!("p{i:05}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn build(specs: Vec<PluginSpec>) -> PluginManager {
    PluginManager::builder()
        .plugins(specs)
        .build()
        .expect("a valid set")
}

fn build_inline(specs: Vec<PluginSpec>) -> PluginManager {
    PluginManager::builder()
        .plugins(specs)
        .inline_constructors()
        .build()
        .expect("a valid set")
}

fn bench_start(bencher: divan::Bencher<'_, '_>, shape: Shape, n: usize) {
    bench_start_with(bencher, shape, n, build);
}

fn bench_start_with(
    bencher: divan::Bencher<'_, '_>,
    shape: Shape,
    n: usize,
    build: fn(Vec<PluginSpec>) -> PluginManager,
) {
    let rt = runtime();
    bencher
        .with_inputs(|| specs(shape, n))
        .bench_local_values(|specs| {
            rt.block_on(async {
                let manager = build(specs);
                manager.start().await;
                assert_eq!(manager.enabled().len(), n);
                manager // dropped outside the timing
            })
        });
}

fn bench_shutdown(bencher: divan::Bencher<'_, '_>, shape: Shape, n: usize) {
    let rt = runtime();
    bencher
        .with_inputs(|| {
            rt.block_on(async {
                let manager = build(specs(shape, n));
                manager.start().await;
                manager
            })
        })
        .bench_local_values(|manager| {
            rt.block_on(manager.shutdown());
            manager
        });
}

/// Registry to all-enabled: validation, ordering, a constructor and two hooks per plugin.
mod start {
    use super::*;

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn chain(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_start(bencher, Shape::Chain, n);
    }

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn star(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_start(bencher, Shape::Star, n);
    }

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn random_dag(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_start(bencher, Shape::RandomDag, n);
    }
}

/// The same, with constructors run in place instead of on the blocking pool.
mod start_inline_constructors {
    use super::*;

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn chain(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_start_with(bencher, Shape::Chain, n, build_inline);
    }

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn random_dag(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_start_with(bencher, Shape::RandomDag, n, build_inline);
    }
}

/// All-enabled to all-torn-down.
mod shutdown {
    use super::*;

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn chain(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_shutdown(bencher, Shape::Chain, n);
    }

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn star(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_shutdown(bencher, Shape::Star, n);
    }

    #[divan::bench(args = SIZES, sample_count = 10)]
    fn random_dag(bencher: divan::Bencher<'_, '_>, n: usize) {
        bench_shutdown(bencher, Shape::RandomDag, n);
    }
}

/// 100 independent plugins whose setup sleeps 50 ms: about 50 ms if they overlap.
#[divan::bench(sample_count = 10)]
fn hundred_sleeping_setups(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    bencher
        .with_inputs(|| {
            (0..100)
                .map(|i| PluginSpec::with_default::<Sleeper>(PluginMetadata::new(name(i))))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|specs| {
            rt.block_on(async {
                let manager = build(specs);
                manager.start().await;
                manager
            })
        });
}
