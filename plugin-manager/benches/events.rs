//! Throughput of the event bus, next to its floor.
//!
//! - `publish`: one publisher sends 10 000 events to 1, 10 and 100 subscribers, each drained by
//!   its own task on a multi-thread runtime; timed from the first publish until every
//!   subscriber has read every event. The bus and the channels hold all 10 000, so nothing is
//!   dropped.
//! - `direct_call`: the floor: the same events handed to each subscriber's handler by a plain
//!   `dyn Fn` call, on one thread, with no queue and no task.
//! - `publishers8`: 8 publisher tasks send 10 000 events in all (1 250 each) to 10 subscriber
//!   tasks: `same_type`, all of one event type, each subscriber reading all 10 000; and
//!   `by_type`, each publisher its own type with 10 subscribers of its own (80 tasks, 1 250
//!   events each), so the deliveries are the same 100 000 and what differs is whether the
//!   publishers share a topic. Floors: `broadcast`, one channel with 8 senders; and
//!   `broadcast_by_channel`, 8 channels with 10 receivers each.
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
    targets = publish, broadcast, direct_call, publishers8, request_reply
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
        "publishers8/same_type over broadcast (time)".to_owned(),
        "publishers8/same_type".to_owned(),
        "publishers8/broadcast".to_owned(),
    ));
    pairs.push((
        "publishers8/by_type over broadcast_by_channel".to_owned(),
        "publishers8/by_type".to_owned(),
        "publishers8/broadcast_by_channel".to_owned(),
    ));
    pairs.push((
        "publishers8/by_type over same_type (time)".to_owned(),
        "publishers8/by_type".to_owned(),
        "publishers8/same_type".to_owned(),
    ));
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
/// Publisher tasks in `publishers8`, and subscribers per topic (or channel) there.
const PUBLISHERS: usize = 8;
const SUBSCRIBERS_PER_TOPIC: usize = 10;
const IN_FLIGHT: usize = 64;
const LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Tick(u64);

struct Echo(u64);

/// One of [`PUBLISHERS`] event types, for `publishers8/by_type`.
#[derive(Clone, Copy)]
struct Kind<const K: usize>(u64);

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

/// A task reading `events` events of `E` from a new subscription of `owner`.
fn spawn_drain<E: Clone + Send + Sync + 'static>(
    rt: &tokio::runtime::Runtime,
    bus: &EventBus,
    owner: &str,
    events: usize,
    value: fn(E) -> u64,
) -> JoinHandle<u64> {
    let mut sub = bus.subscribe::<E>(owner);
    rt.spawn(async move {
        let mut sum = 0;
        for _ in 0..events {
            sum += value(sub.recv().await.expect("open"));
        }
        sum
    })
}

/// A task publishing `events` events of `E`, numbered from `first`.
fn spawn_publisher<E: Clone + Send + Sync + 'static>(
    rt: &tokio::runtime::Runtime,
    bus: &EventBus,
    first: u64,
    events: usize,
    make: fn(u64) -> E,
) -> JoinHandle<()> {
    let bus = bus.clone();
    rt.spawn(async move {
        for i in first..first + events as u64 {
            bus.publish(make(i));
        }
    })
}

/// The subscriber tasks of `Kind<K>` for `by_type`.
fn kind_drains<const K: usize>(
    rt: &tokio::runtime::Runtime,
    bus: &EventBus,
) -> Vec<JoinHandle<u64>> {
    (0..SUBSCRIBERS_PER_TOPIC)
        .map(|i| {
            spawn_drain(
                rt,
                bus,
                &format!("k{K}s{i}"),
                EVENTS / PUBLISHERS,
                |k: Kind<K>| k.0,
            )
        })
        .collect()
}

/// The publisher task of `Kind<K>` for `by_type`.
fn kind_publisher<const K: usize>(rt: &tokio::runtime::Runtime, bus: &EventBus) -> JoinHandle<()> {
    spawn_publisher(rt, bus, 0, EVENTS / PUBLISHERS, Kind::<K>)
}

type KindDrains = fn(&tokio::runtime::Runtime, &EventBus) -> Vec<JoinHandle<u64>>;
type KindPublisher = fn(&tokio::runtime::Runtime, &EventBus) -> JoinHandle<()>;

/// `Kind<0>` to `Kind<7>`: one type per publisher.
const KINDS: [(KindDrains, KindPublisher); PUBLISHERS] = [
    (kind_drains::<0>, kind_publisher::<0>),
    (kind_drains::<1>, kind_publisher::<1>),
    (kind_drains::<2>, kind_publisher::<2>),
    (kind_drains::<3>, kind_publisher::<3>),
    (kind_drains::<4>, kind_publisher::<4>),
    (kind_drains::<5>, kind_publisher::<5>),
    (kind_drains::<6>, kind_publisher::<6>),
    (kind_drains::<7>, kind_publisher::<7>),
];

/// Awaits the publishers, then the drains, on `rt`.
fn join_all(
    rt: &tokio::runtime::Runtime,
    publishers: Vec<JoinHandle<()>>,
    drains: Vec<JoinHandle<u64>>,
) {
    rt.block_on(async {
        for publisher in publishers {
            publisher.await.expect("a publisher task");
        }
        for drain in drains {
            black_box(drain.await.expect("a drain task"));
        }
    });
}

/// [`PUBLISHERS`] publisher tasks; see the module notes.
fn publishers8(c: &mut Criterion) {
    let mut group = c.benchmark_group("publishers8");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(
        (EVENTS * SUBSCRIBERS_PER_TOPIC) as u64,
    ));
    let per_publisher = EVENTS / PUBLISHERS;

    let rt = runtime();
    group.bench_function("same_type", |b| {
        b.iter_batched(
            || {
                let bus = EventBus::with_capacity(EVENTS);
                let drains: Vec<_> = (0..SUBSCRIBERS_PER_TOPIC)
                    .map(|i| spawn_drain(&rt, &bus, &format!("s{i}"), EVENTS, |t: Tick| t.0))
                    .collect();
                (bus, drains)
            },
            |(bus, drains)| {
                let publishers = (0..PUBLISHERS)
                    .map(|p| {
                        spawn_publisher(&rt, &bus, (p * per_publisher) as u64, per_publisher, Tick)
                    })
                    .collect();
                join_all(&rt, publishers, drains);
                bus
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("by_type", |b| {
        b.iter_batched(
            || {
                let bus = EventBus::with_capacity(EVENTS);
                let drains: Vec<_> = KINDS
                    .iter()
                    .flat_map(|(drains, _)| drains(&rt, &bus))
                    .collect();
                (bus, drains)
            },
            |(bus, drains)| {
                let publishers = KINDS
                    .iter()
                    .map(|(_, publisher)| publisher(&rt, &bus))
                    .collect();
                join_all(&rt, publishers, drains);
                bus
            },
            BatchSize::PerIteration,
        );
    });

    // The floors: `channels` broadcast channels, [`SUBSCRIBERS_PER_TOPIC`] receivers each, the
    // [`PUBLISHERS`] senders spread over them.
    for (id, channels) in [("broadcast", 1), ("broadcast_by_channel", PUBLISHERS)] {
        let events_per_receiver = EVENTS / channels;
        group.bench_function(id, |b| {
            b.iter_batched(
                || {
                    let mut senders = Vec::new();
                    let mut drains = Vec::new();
                    for _ in 0..channels {
                        let (sender, _) = tokio::sync::broadcast::channel::<Tick>(EVENTS);
                        for _ in 0..SUBSCRIBERS_PER_TOPIC {
                            let mut ticks = sender.subscribe();
                            drains.push(rt.spawn(async move {
                                let mut sum = 0;
                                for _ in 0..events_per_receiver {
                                    sum += ticks.recv().await.expect("open").0;
                                }
                                sum
                            }));
                        }
                        senders.push(sender);
                    }
                    (senders, drains)
                },
                |(senders, drains)| {
                    let publishers = (0..PUBLISHERS)
                        .map(|p| {
                            let sender = senders[p % channels].clone();
                            let first = (p * per_publisher) as u64;
                            rt.spawn(async move {
                                for i in first..first + per_publisher as u64 {
                                    let _ = sender.send(Tick(i));
                                }
                            })
                        })
                        .collect();
                    join_all(&rt, publishers, drains);
                    senders
                },
                BatchSize::PerIteration,
            );
        });
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
