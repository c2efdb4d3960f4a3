//! Start-up and shutdown of large plugin sets: registry to all-enabled, and all-enabled to
//! all-torn-down, for no-op plugins in three shapes; and 100 independent plugins whose setup
//! sleeps 50 ms, which shows whether independent hooks really overlap (the wall time should be
//! close to one sleep, not a hundred).
//!
//! Criterion times only the part named: specs are built, and a set is started before its
//! shutdown, outside the timing, and every manager is dropped outside it too.
//!
//! Floors, in the same run: `floor/spawn_join/<n>` spawns `3 n` empty tasks and joins them
//! (the price of one task per constructor and hook, nothing else); `floor/bare_spawn_join/<n>`
//! spawns and joins `n`. At the end the run prints each case over its floor and the growth from
//! 1,000 to 10,000 plugins.
//!
//! The peer, in the same run: `peer/tgs_start/<n>` and `peer/tgs_shutdown/<n>` start and stop
//! `n` subsystems under one `tokio-graceful-shutdown` `Toplevel` (isolated tasks with graceful
//! shutdown, the crate a user would otherwise pick; no dependency order, no hooks): start is
//! until every subsystem runs, shutdown from the request until the `Toplevel` returns. Its
//! subsystems' names are made before its clock starts, as the manager's specs are.
//!
//! Paired with the peer, after the criterion groups: the manager's start and shutdown of 10,000
//! and the peer's, alternated round by round in one loop, so that the machine's drift from
//! minute to minute (which groups measured minutes apart each meet differently) falls on both
//! alike; it prints the medians, their ratio, and the median of each round's own ratio.
//!
//! Run with `cargo bench -p plugin-manager --bench startup` (add a filter such as `random_dag`
//! to run a part; the ratios then cover what ran; `paired` runs the paired rounds alone).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group};
use plugin_core::{Context, Plugin, PluginMetadata, Result, async_trait};
use plugin_manager::{PluginManager, PluginSpec};

#[path = "support/ratios.rs"]
mod ratios;
#[path = "support/shapes.rs"]
mod shapes;

use shapes::{Shape, name, specs};

criterion_group! {
    name = benches;
    // Each case runs for milliseconds to a third of a second: a few samples of a few
    // iterations are enough, and keep the whole run within minutes on two cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = floor, peer, start, start_inline_constructors, shutdown, hundred_sleeping_setups
}

fn main() {
    let since = std::time::SystemTime::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = filter(&args);
    if filter.as_deref() != Some("paired") {
        benches();
        Criterion::default().configure_from_args().final_summary();
        print_ratios(since);
    }
    // Only when benchmarking (`cargo bench` passes `--bench`; `cargo test --benches` does not,
    // and criterion then runs each case once, as a test), not to list the cases.
    let benchmarking = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list");
    if benchmarking && filter.as_deref().is_none_or(|f| f == "paired") {
        paired_with_peer(PAIRED_ROUNDS);
    }
}

/// The filter given to the run (`cargo bench -- <filter>`), if any: the first of `args` that is
/// neither an option nor an option's value.
fn filter(args: &[String]) -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--profile-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--format",
        "--color",
        "--plotting-backend",
    ];
    args.iter().enumerate().find_map(|(i, arg)| {
        let value_of_option = i > 0 && WITH_VALUE.contains(&args[i - 1].as_str());
        (!arg.starts_with('-') && !value_of_option).then(|| arg.clone())
    })
}

/// Each case over the floor of the same size, and the growth from 1,000 to 10,000.
fn print_ratios(since: std::time::SystemTime) {
    let mut floors = Vec::new();
    let mut growth = Vec::new();
    for case in ["start", "start_inline_constructors", "shutdown"] {
        for shape in [Shape::Chain, Shape::Star, Shape::RandomDag] {
            let id = |n: usize| format!("{case}/{}/{n}", shape.id());
            for &n in SIZES {
                floors.push((
                    format!("{case}/{}/{n} over 3n spawn+join", shape.id()),
                    id(n),
                    format!("floor/spawn_join/{n}"),
                ));
            }
            growth.push((
                format!("{case}/{} 10,000 over 1,000", shape.id()),
                id(10_000),
                id(1_000),
            ));
        }
    }
    for peer in ["tgs_start", "tgs_shutdown"] {
        growth.push((
            format!("peer/{peer} 10,000 over 1,000"),
            format!("peer/{peer}/10000"),
            format!("peer/{peer}/1000"),
        ));
    }
    let mut peers = Vec::new();
    for shape in [Shape::Chain, Shape::Star, Shape::RandomDag] {
        for (case, peer) in [("start", "tgs_start"), ("shutdown", "tgs_shutdown")] {
            peers.push((
                format!("{case}/{}/10000 over tokio-graceful-shutdown", shape.id()),
                format!("{case}/{}/10000", shape.id()),
                format!("peer/{peer}/10000"),
            ));
        }
    }
    ratios::print("over the floor (same run)", &floors, since);
    ratios::print("growth (linear is 10x)", &growth, since);
    ratios::print(
        "over the peer (same run; the aim is at most 0.5x)",
        &peers,
        since,
    );
}

const SIZES: &[usize] = &[100, 1_000, 10_000];

#[derive(Default)]
struct Sleeper;

#[async_trait]
impl Plugin for Sleeper {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
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

/// Times `build` and `start` of a set of `shape`, for each of [`SIZES`], in `group`.
///
/// Only those two are timed: the specs are built before the clock starts, and the check that
/// every plugin is enabled and the manager's drop come after it stops.
fn bench_start_with(
    group: &mut BenchmarkGroup<'_, WallTime>,
    shape: Shape,
    build: fn(Vec<PluginSpec>) -> PluginManager,
) {
    for &n in SIZES {
        let rt = runtime();
        group.bench_with_input(BenchmarkId::new(shape.id(), n), &n, |b, &n| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let specs = specs(shape, n);
                        let (took, manager) = rt.block_on(async {
                            let began = std::time::Instant::now();
                            let manager = build(specs);
                            manager.start().await;
                            (began.elapsed(), manager)
                        });
                        assert_eq!(manager.enabled().len(), n);
                        took
                    })
                    .sum()
            });
        });
    }
}

/// The floor: `3 n` empty tasks spawned from a task on the runtime, then joined (one task per
/// constructor and hook); and `n`, one task per plugin.
fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.sampling_mode(SamplingMode::Flat);
    for (name, per_plugin) in [("spawn_join", 3), ("bare_spawn_join", 1)] {
        for &n in SIZES {
            let rt = runtime();
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| {
                    rt.block_on(async {
                        tokio::spawn(async move {
                            let tasks: Vec<_> = (0..per_plugin * n)
                                .map(|_| tokio::spawn(async {}))
                                .collect();
                            for task in tasks {
                                task.await.expect("an empty task");
                            }
                        })
                        .await
                        .expect("the spawning task");
                    });
                });
            });
        }
    }
    group.finish();
}

/// `n` subsystems under one `tokio-graceful-shutdown` `Toplevel`: each counts itself running,
/// then waits for the shutdown request. Returns the `Toplevel`'s task (running, every
/// subsystem started), its shutdown token, and how long the start took.
async fn tgs_started(
    n: usize,
) -> (
    tokio::task::JoinHandle<()>,
    tokio_util::sync::CancellationToken,
    Duration,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};

    let running = Arc::new(AtomicUsize::new(0));
    let all_running = Arc::new(tokio::sync::Notify::new());
    let token = tokio_util::sync::CancellationToken::new();
    // Named before the clock starts, as the manager's specs are.
    let names: Vec<String> = (0..n).map(name).collect();
    let began = std::time::Instant::now();
    let (count, all) = (running.clone(), all_running.clone());
    let toplevel = Toplevel::new_with_shutdown_token(
        async move |top: &mut SubsystemHandle| {
            for name in names {
                let (count, all) = (count.clone(), all.clone());
                top.start(SubsystemBuilder::new(
                    name,
                    async move |sub: &mut SubsystemHandle| {
                        if count.fetch_add(1, Ordering::AcqRel) + 1 == n {
                            all.notify_one();
                        }
                        sub.on_shutdown_requested().await;
                        Ok::<(), std::convert::Infallible>(())
                    },
                ));
            }
        },
        token.clone(),
    );
    let task = tokio::spawn(async move {
        toplevel
            .handle_shutdown_requests(Duration::from_secs(60))
            .await
            .expect("every subsystem stops cleanly");
    });
    all_running.notified().await;
    (task, token, began.elapsed())
}

/// The peer: start, and shutdown, of `n` subsystems in `tokio-graceful-shutdown`.
fn peer(c: &mut Criterion) {
    let mut group = c.benchmark_group("peer");
    group.sampling_mode(SamplingMode::Flat);
    for &n in SIZES {
        let rt = runtime();
        group.bench_with_input(BenchmarkId::new("tgs_start", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        rt.block_on(async {
                            let (task, token, took) = tgs_started(n).await;
                            token.cancel();
                            task.await.expect("the toplevel");
                            took
                        })
                    })
                    .sum()
            });
        });
        group.bench_with_input(BenchmarkId::new("tgs_shutdown", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        rt.block_on(async {
                            let (task, token, _) = tgs_started(n).await;
                            let began = std::time::Instant::now();
                            token.cancel();
                            task.await.expect("the toplevel");
                            began.elapsed()
                        })
                    })
                    .sum()
            });
        });
    }
    group.finish();
}

/// Rounds of the paired measurement, after as many again to warm up.
const PAIRED_ROUNDS: usize = 25;

/// Start and shutdown of 10,000 plugins of each shape and of 10,000 `tokio-graceful-shutdown`
/// subsystems, alternated in one loop (which goes first alternates too), on one runtime; prints
/// each median, the ratio of the medians, and the median of the rounds' own ratios (each round
/// measures both sides within milliseconds of each other, so a ratio of one round sees the
/// machine as it was then, on both sides).
fn paired_with_peer(rounds: usize) {
    const N: usize = 10_000;
    let rt = runtime();
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let ours = |shape: Shape| {
        let specs = specs(shape, N);
        let (start, stop, manager) = rt.block_on(async {
            let began = std::time::Instant::now();
            let manager = build(specs);
            manager.start().await;
            let start = began.elapsed();
            assert_eq!(manager.enabled().len(), N);
            let began = std::time::Instant::now();
            manager.shutdown().await;
            (start, began.elapsed(), manager)
        });
        assert!(manager.enabled().is_empty());
        drop(manager);
        (start, stop)
    };
    let peer = || {
        rt.block_on(async {
            let (task, token, start) = tgs_started(N).await;
            let began = std::time::Instant::now();
            token.cancel();
            task.await.expect("the toplevel");
            (start, began.elapsed())
        })
    };
    println!(
        "\npaired with the peer ({rounds} rounds alternated; medians, their ratio, and the median \
         of the rounds' ratios; the aim is at most 0.5x)"
    );
    for shape in [Shape::Chain, Shape::Star, Shape::RandomDag] {
        // Per round: our start, our shutdown, the peer's start, the peer's shutdown (ms).
        let mut rounds_seen: Vec<[f64; 4]> = Vec::with_capacity(rounds);
        for round in 0..2 * rounds {
            let (ours, peer) = if round % 2 == 0 {
                (ours(shape), peer())
            } else {
                let peer = peer();
                (ours(shape), peer)
            };
            if round >= rounds {
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                rounds_seen.push([ms(ours.0), ms(ours.1), ms(peer.0), ms(peer.1)]);
            }
        }
        for (case, ours, theirs) in [("start", 0, 2), ("shutdown", 1, 3)] {
            let column = |i: usize| rounds_seen.iter().map(|r| r[i]).collect::<Vec<_>>();
            let (ours_ms, peer_ms) = (median(column(ours)), median(column(theirs)));
            let of_rounds = median(rounds_seen.iter().map(|r| r[ours] / r[theirs]).collect());
            let label = format!("{case}/{}/10000 over the peer", shape.id());
            println!(
                "  {label:<44} {ours_ms:>10.3} ms / {peer_ms:>10.3} ms = {:>6.2}x   rounds' median {of_rounds:>6.2}x",
                ours_ms / peer_ms,
            );
        }
    }
}

/// Registry to all-enabled: validation, ordering, a constructor and two hooks per plugin.
fn start(c: &mut Criterion) {
    let mut group = c.benchmark_group("start");
    group.sampling_mode(SamplingMode::Flat);
    for shape in [Shape::Chain, Shape::Star, Shape::RandomDag] {
        bench_start_with(&mut group, shape, build);
    }
    group.finish();
}

/// The same, with constructors run in place instead of on the blocking pool.
fn start_inline_constructors(c: &mut Criterion) {
    let mut group = c.benchmark_group("start_inline_constructors");
    group.sampling_mode(SamplingMode::Flat);
    for shape in [Shape::Chain, Shape::RandomDag] {
        bench_start_with(&mut group, shape, build_inline);
    }
    group.finish();
}

/// All-enabled to all-torn-down.
fn shutdown(c: &mut Criterion) {
    let mut group = c.benchmark_group("shutdown");
    group.sampling_mode(SamplingMode::Flat);
    for shape in [Shape::Chain, Shape::Star, Shape::RandomDag] {
        for &n in SIZES {
            let rt = runtime();
            group.bench_with_input(BenchmarkId::new(shape.id(), n), &n, |b, &n| {
                b.iter_batched(
                    || {
                        rt.block_on(async {
                            let manager = build(specs(shape, n));
                            manager.start().await;
                            manager
                        })
                    },
                    |manager| {
                        rt.block_on(manager.shutdown());
                        manager
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    group.finish();
}

/// 100 independent plugins whose setup sleeps 50 ms: about 50 ms if they overlap.
fn hundred_sleeping_setups(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sleeping_setups");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("hundred", |b| {
        b.iter_batched(
            || {
                (0..100)
                    .map(|i| PluginSpec::with_default::<Sleeper>(PluginMetadata::new(name(i))))
                    .collect::<Vec<_>>()
            },
            |specs| {
                rt.block_on(async {
                    let manager = build(specs);
                    manager.start().await;
                    manager
                })
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}
