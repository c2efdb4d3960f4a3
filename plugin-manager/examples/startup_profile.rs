//! Builds, starts and shuts down a set of no-op plugins, round after round, and prints the
//! median time of each part: the driver behind the instruction counts and size sweeps of
//! `docs/benchmarks.md`, for profilers (`valgrind --tool=callgrind`, `perf record`) and for
//! runs too quick for criterion.
//!
//! ```sh
//! cargo run --release -p plugin-manager --example startup_profile -- random_dag 10000 20
//! ```
//!
//! Arguments: the shape (`chain`: each plugin needs the one before; `star`: all need the
//! first; `random_dag`: each needs up to 3 random earlier ones, seeded; the sets of
//! `benches/startup.rs`, from `benches/support/shapes.rs`), the number of plugins (10,000) and of rounds (20), then any of
//! `--only-build` (no start), `--only-start` (no shutdown: the manager is dropped enabled),
//! `--inline` (`ManagerBuilder::inline_constructors`) and `--workers K` (the runtime's worker
//! threads; tokio's default otherwise). Each round makes its specs before its clock starts
//! and drops its manager after it stops, as the benchmarks do.

use std::time::{Duration, Instant};

use plugin_manager::PluginManager;

#[path = "../benches/support/shapes.rs"]
mod shapes;

use shapes::{Shape, specs};

/// What to run, from the command line.
struct Options {
    shape: Shape,
    plugins: usize,
    rounds: usize,
    only_build: bool,
    only_start: bool,
    inline: bool,
    workers: Option<usize>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Self {
            shape: Shape::RandomDag,
            plugins: 10_000,
            rounds: 20,
            only_build: false,
            only_start: false,
            inline: false,
            workers: None,
        };
        let mut args = args.peekable();
        let mut positional = 0;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--only-build" => options.only_build = true,
                "--only-start" => options.only_start = true,
                "--inline" => options.inline = true,
                "--workers" => {
                    let value = args.next().ok_or("--workers needs a number")?;
                    options.workers = Some(number(&value)?);
                }
                _ if arg.starts_with("--") => return Err(format!("unknown option `{arg}`")),
                _ => {
                    match positional {
                        0 => {
                            options.shape = Shape::from_id(&arg).ok_or_else(|| {
                                format!("unknown shape `{arg}` (chain, star, random_dag)")
                            })?;
                        }
                        1 => options.plugins = number(&arg)?,
                        2 => options.rounds = number(&arg)?.max(1),
                        _ => return Err(format!("unexpected argument `{arg}`")),
                    }
                    positional += 1;
                }
            }
        }
        Ok(options)
    }
}

fn number(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

/// The median of `times`, in milliseconds (none: not measured).
fn median_ms(mut times: Vec<Duration>) -> Option<f64> {
    times.sort();
    times.get(times.len() / 2).map(|d| d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = options.workers {
        runtime.worker_threads(workers.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    let (mut builds, mut waves, mut stops) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        let specs = specs(options.shape, options.plugins);
        let manager = runtime.block_on(async {
            let began = Instant::now();
            let mut builder = PluginManager::builder().plugins(specs);
            if options.inline {
                builder = builder.inline_constructors();
            }
            let manager = builder.build()?;
            builds.push(began.elapsed());
            if options.only_build {
                return Ok::<_, Box<dyn std::error::Error>>(manager);
            }
            let began = Instant::now();
            manager.start().await;
            waves.push(began.elapsed());
            let enabled = manager.enabled().len();
            if enabled != options.plugins {
                return Err(format!("{enabled} of {} plugins enabled", options.plugins).into());
            }
            if !options.only_start {
                let began = Instant::now();
                manager.shutdown().await;
                stops.push(began.elapsed());
            }
            Ok(manager)
        })?;
        drop(manager);
    }
    let show = |ms: Option<f64>| ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3} ms"));
    let (build, wave) = (median_ms(builds), median_ms(waves));
    let start = build.zip(wave).map(|(build, wave)| build + wave);
    println!(
        "{} of {}, median of {} rounds: build {}, start wave {}, build and start {}, shutdown {}",
        options.shape.id(),
        options.plugins,
        options.rounds,
        show(build),
        show(wave),
        show(start),
        show(median_ms(stops)),
    );
    Ok(())
}
