//! Throughput of the event bus, next to its floor.
//!
//! - `publish`: one publisher sends 10 000 events to 1, 10 and 100 subscribers, each drained by
//!   its own task on a multi-thread runtime; timed from the first publish until every
//!   subscriber has read every event. Queues hold all 10 000, so nothing is dropped.
//! - `direct_call`: the floor: the same events handed to each subscriber's handler by a plain
//!   `dyn Fn` call, on one thread, with no queue and no task.
//! - `request_reply`: round trips through `EventBus::request` to a server task, one at a time
//!   (each waits for the previous answer) and with 64 in flight.
//!
//! - floors in the same run: `broadcast`, the same events through a `tokio::sync::broadcast`
//!   channel to as many receiver tasks; and `request_reply/mpsc_oneshot`, a bare round trip (an
//!   `mpsc` request carrying a `oneshot` for its answer) to a server task. At the end the run
//!   prints the bus over each floor.
//!
//! Throughput is in deliveries (one event reaching one subscriber) or round trips per second.
//! The event is a `u64`, so the clone per subscriber costs nothing; the figures are the bus's.
//!
//! Criterion reports each case's throughput next to its time. Building the bus and starting the
//! subscriber tasks of `publish` stays outside the timing, and so does dropping the bus.
//!
//! Run with `cargo bench -p plugin-manager --bench events`.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
};
use plugin_core::EventBus;
use tokio::task::JoinHandle;

criterion_group! {
    name = benches;
    // Each case runs for microseconds to tens of milliseconds: short warm-ups and measurements
    // keep the whole run within a minute or two on two cores.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = publish, broadcast, direct_call, request_reply
}

#[path = "support/ratios.rs"]
mod ratios;

fn main() {
    let since = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    let mut pairs = Vec::new();
    for &n in SUBSCRIBERS {
        pairs.push((
            format!("publish/{n} over broadcast/{n} (time)"),
            format!("publish/{n}"),
            format!("broadcast/{n}"),
        ));
        pairs.push((
            format!("publish/{n} over direct_call/{n} (time)"),
            format!("publish/{n}"),
            format!("direct_call/{n}"),
        ));
    }
    pairs.push((
        "request_reply one_at_a_time over mpsc_oneshot".to_owned(),
        "request_reply/one_at_a_time".to_owned(),
        "request_reply/mpsc_oneshot".to_owned(),
    ));
    ratios::print(
        "the bus over its floors (same run; below 1 is faster)",
        &pairs,
        since,
    );
}

const SUBSCRIBERS: &[usize] = &[1, 10, 100];
const EVENTS: usize = 10_000;
const ROUND_TRIPS: usize = 1_000;
const IN_FLIGHT: usize = 64;
const LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Tick(u64);

struct Echo(u64);

/// A subscriber's handler, as a plugin would register it if events were plain calls.
type Handler<'a> = Box<dyn Fn(&Tick) + 'a>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One publisher, `subscribers` subscription tasks, [`EVENTS`] events each.
fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    // Up to tens of milliseconds an iteration: flat sampling, as criterion advises for those.
    group.sampling_mode(SamplingMode::Flat);
    for &subscribers in SUBSCRIBERS {
        let rt = runtime();
        group.throughput(Throughput::Elements((EVENTS * subscribers) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, &subscribers| {
                b.iter_batched(
                    || {
                        let bus = EventBus::with_capacity(EVENTS);
                        let drains: Vec<JoinHandle<u64>> = (0..subscribers)
                            .map(|i| {
                                let mut ticks = bus.subscribe::<Tick>(&format!("s{i}"));
                                rt.spawn(async move {
                                    let mut sum = 0;
                                    for _ in 0..EVENTS {
                                        sum += ticks.recv().await.expect("open").0;
                                    }
                                    sum
                                })
                            })
                            .collect();
                        (bus, drains)
                    },
                    |(bus, drains)| {
                        rt.block_on(async {
                            for i in 0..EVENTS {
                                bus.publish(Tick(i as u64));
                            }
                            for drain in drains {
                                black_box(drain.await.expect("a drain task"));
                            }
                        });
                        bus // dropped outside the timing
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

/// A floor: the same events through one `tokio::sync::broadcast` channel, each receiver in its
/// own task.
fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    group.sampling_mode(SamplingMode::Flat);
    for &subscribers in SUBSCRIBERS {
        let rt = runtime();
        group.throughput(Throughput::Elements((EVENTS * subscribers) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, &subscribers| {
                b.iter_batched(
                    || {
                        let (sender, _) = tokio::sync::broadcast::channel::<Tick>(EVENTS);
                        let drains: Vec<JoinHandle<u64>> = (0..subscribers)
                            .map(|_| {
                                let mut ticks = sender.subscribe();
                                rt.spawn(async move {
                                    let mut sum = 0;
                                    for _ in 0..EVENTS {
                                        sum += ticks.recv().await.expect("open").0;
                                    }
                                    sum
                                })
                            })
                            .collect();
                        (sender, drains)
                    },
                    |(sender, drains)| {
                        rt.block_on(async {
                            for i in 0..EVENTS {
                                let _ = sender.send(Tick(i as u64));
                            }
                            for drain in drains {
                                black_box(drain.await.expect("a drain task"));
                            }
                        });
                        sender
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

/// The floor: each event handed to each subscriber's handler by a direct `dyn Fn` call.
fn direct_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct_call");
    for &subscribers in SUBSCRIBERS {
        let sums: Vec<Cell<u64>> = (0..subscribers).map(|_| Cell::new(0)).collect();
        let handlers: Vec<Handler<'_>> = sums
            .iter()
            .map(|sum| Box::new(move |tick: &Tick| sum.set(sum.get() + tick.0)) as Handler<'_>)
            .collect();
        group.throughput(Throughput::Elements((EVENTS * subscribers) as u64));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter(|| {
                for i in 0..EVENTS {
                    let tick = black_box(Tick(i as u64));
                    for handler in black_box(&handlers) {
                        handler(&tick);
                    }
                }
            });
        });
        black_box(sums.iter().map(Cell::get).sum::<u64>());
    }
    group.finish();
}

/// A server task answering [`Echo`] requests until the bus closes it.
fn serve(rt: &tokio::runtime::Runtime, bus: &EventBus) -> JoinHandle<()> {
    let mut requests = bus.serve::<Echo, u64>("server").expect("no other server");
    rt.spawn(async move {
        while let Some(request) = requests.recv().await {
            let n = request.payload().0;
            // A requester that gave up has nothing to be answered.
            let _ = request.reply(n + 1);
        }
    })
}

/// Request/reply round trips.
fn request_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_reply");
    group.throughput(Throughput::Elements(ROUND_TRIPS as u64));

    // [`ROUND_TRIPS`] requests, each sent when the previous one is answered.
    bench_round_trips(&mut group, "one_at_a_time", |rt, bus| {
        rt.block_on(async {
            for i in 0..ROUND_TRIPS as u64 {
                let answer = bus.request::<Echo, u64>(Echo(i), LIMIT).await;
                assert_eq!(answer, Ok(i + 1));
            }
        });
    });

    // [`ROUND_TRIPS`] requests from [`IN_FLIGHT`] client tasks at once.
    bench_round_trips(&mut group, "many_in_flight", |rt, bus| {
        rt.block_on(async {
            let clients: Vec<JoinHandle<()>> = (0..IN_FLIGHT)
                .map(|c| {
                    let bus = bus.clone();
                    rt.spawn(async move {
                        for i in (c..ROUND_TRIPS).step_by(IN_FLIGHT) {
                            let answer = bus.request::<Echo, u64>(Echo(i as u64), LIMIT).await;
                            assert_eq!(answer, Ok(i as u64 + 1));
                        }
                    })
                })
                .collect();
            for client in clients {
                client.await.expect("a client task");
            }
        });
    });

    // The floor: the same round trips, one at a time, over a bare `mpsc` + `oneshot`.
    {
        type Ask = (u64, tokio::sync::oneshot::Sender<u64>);
        let rt = runtime();
        let (asks, mut served) = tokio::sync::mpsc::channel::<Ask>(IN_FLIGHT);
        let server = rt.spawn(async move {
            while let Some((n, answer)) = served.recv().await {
                let _ = answer.send(n + 1);
            }
        });
        group.bench_function("mpsc_oneshot", |b| {
            b.iter(|| {
                rt.block_on(async {
                    for i in 0..ROUND_TRIPS as u64 {
                        let (answer, answered) = tokio::sync::oneshot::channel();
                        asks.send((i, answer)).await.expect("the server runs");
                        assert_eq!(answered.await, Ok(i + 1));
                    }
                });
            });
        });
        drop(asks);
        rt.block_on(server).expect("the server task");
    }

    group.finish();
}

/// Times `round_trips` against a server task on a runtime of its own, then closes the server.
fn bench_round_trips(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    round_trips: impl Fn(&tokio::runtime::Runtime, &EventBus),
) {
    let rt = runtime();
    let bus = EventBus::new();
    let server = serve(&rt, &bus);
    group.bench_function(id, |b| b.iter(|| round_trips(&rt, &bus)));
    bus.close_owner("server");
    rt.block_on(server).expect("the server task");
}
