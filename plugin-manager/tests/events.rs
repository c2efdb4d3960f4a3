//! The event bus as plugins use it through the manager: events reach enabled plugins only (a
//! disabled plugin's backlog is discarded), a panicking subscriber fails alone, a stalled one
//! stalls nobody and its overflow is counted in its record; request/reply is answered, or
//! fails with the right error (no server, timed out, server disabled or failed mid-request).
//!
//! Everything runs on tokio's paused clock; the tests wait on what plugins report, never on
//! time.

mod common {
    pub(crate) mod clock;
    pub(crate) mod feed;
    pub(crate) mod records;
    pub(crate) use self::{clock::*, feed::*, records::*};
}

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use common::{HOOK_TIMEOUT, last_error, state, wait_for, within};
use plugin_core::{
    Context, EventBus, Plugin, PluginInstance, PluginMetadata, RequestError, Requests, Result,
    Subscription, async_trait,
};
use plugin_manager::{Failure, FailureKind, Phase, PluginManager, PluginSpec, PluginState};
use tokio::sync::{Semaphore, mpsc};

use PluginState::{Enabled, Failed};

/// The event every test publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ping(u32);

/// What a [`Listener`] reports for each event it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Heard {
    by: String,
    /// 1 for the subscription made by the first `on_enable`, 2 for the next, ...
    enable: u32,
    ping: u32,
}

/// A manager over `specs` whose subscriptions each hold `capacity` events.
fn manager(capacity: usize, specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    PluginManager::builder()
        .hook_timeout(HOOK_TIMEOUT)
        .bus(EventBus::with_capacity(capacity))
        .plugins(specs)
        .build()
        .expect("a valid plugin set")
}

async fn started(capacity: usize, specs: impl IntoIterator<Item = PluginSpec>) -> PluginManager {
    let manager = manager(capacity, specs);
    within("start", manager.start()).await;
    manager
}

// ----- a subscriber -------------------------------------------------------------------------

/// Subscribes to [`Ping`] in `on_enable` and reads it in a background task, as plugins do.
struct Listener {
    name: String,
    heard: mpsc::UnboundedSender<Heard>,
    /// When set, the task takes one permit before each read, so a test can hold it back.
    gate: Option<Arc<Semaphore>>,
    /// Panics on reading this ping.
    panics_on: Option<u32>,
    enables: u32,
}

/// A [`Listener`] spec; what it hears goes to `heard`.
fn listener(name: &str, heard: &mpsc::UnboundedSender<Heard>) -> ListenerSpec {
    ListenerSpec {
        name: name.to_owned(),
        heard: heard.clone(),
        gate: None,
        panics_on: None,
    }
}

struct ListenerSpec {
    name: String,
    heard: mpsc::UnboundedSender<Heard>,
    gate: Option<Arc<Semaphore>>,
    panics_on: Option<u32>,
}

impl ListenerSpec {
    fn gated(mut self, gate: &Arc<Semaphore>) -> Self {
        self.gate = Some(gate.clone());
        self
    }

    fn panics_on(mut self, ping: u32) -> Self {
        self.panics_on = Some(ping);
        self
    }

    fn spec(self) -> PluginSpec {
        PluginSpec::new(PluginMetadata::new(&self.name), move || {
            Ok(PluginInstance::new(Listener {
                name: self.name.clone(),
                heard: self.heard.clone(),
                gate: self.gate.clone(),
                panics_on: self.panics_on,
                enables: 0,
            }))
        })
    }
}

fn panic_text(plugin: &str, ping: u32) -> String {
    format!("{plugin}: cannot take ping {ping}")
}

#[async_trait]
impl Plugin for Listener {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.enables += 1;
        let mut pings = ctx.subscribe::<Ping>();
        let (name, enable, heard) = (self.name.clone(), self.enables, self.heard.clone());
        let (gate, panics_on) = (self.gate.clone(), self.panics_on);
        ctx.spawn(async move {
            loop {
                if let Some(gate) = &gate {
                    gate.acquire().await.expect("the gate stays open").forget();
                }
                let Some(Ping(ping)) = pings.recv().await else {
                    return Ok(());
                };
                if panics_on == Some(ping) {
                    panic!("{}", panic_text(&name, ping));
                }
                let _ = heard.send(Heard {
                    by: name.clone(),
                    enable,
                    ping,
                });
            }
        });
        Ok(())
    }
}

/// Subscribes to `E` in `on_enable` and keeps the subscription without ever reading it.
struct Stalled<E = Ping> {
    pings: Option<Subscription<E>>,
}

impl<E> Default for Stalled<E> {
    fn default() -> Self {
        Self { pings: None }
    }
}

#[async_trait]
impl<E: Clone + Send + Sync + 'static> Plugin for Stalled<E> {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.pings = Some(ctx.subscribe());
        Ok(())
    }
}

fn stalled(name: &str) -> PluginSpec {
    PluginSpec::with_default::<Stalled>(PluginMetadata::new(name))
}

/// The next event someone reported hearing.
async fn next(heard: &mut mpsc::UnboundedReceiver<Heard>) -> Heard {
    within("an event to be heard", heard.recv())
        .await
        .expect("a listener holds a sender")
}

fn heard(by: &str, enable: u32, ping: u32) -> Heard {
    Heard {
        by: by.to_owned(),
        enable,
        ping,
    }
}

// ----- delivery follows the lifecycle -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_disabled_plugin_receives_nothing_its_backlog_is_discarded_and_it_hears_again_once_re_enabled()
 {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let manager = started(
        16,
        [
            listener("listener", &tx).gated(&gate).spec(),
            stalled("keeper"),
        ],
    )
    .await;
    let bus = manager.bus();

    assert_eq!(bus.publish(Ping(1)), 2);
    assert_eq!(bus.publish(Ping(2)), 2);
    gate.add_permits(1);
    assert_eq!(next(&mut rx).await, heard("listener", 1, 1));
    // `listener` has ping 2 queued, `keeper` pings 1 and 2.

    within("disable", manager.disable("listener"))
        .await
        .unwrap();
    within("disable", manager.disable("keeper")).await.unwrap();
    assert_eq!(bus.subscriptions_of("listener"), 0);
    assert_eq!(bus.publish(Ping(3)), 0, "nobody enabled listens");

    // A subscription kept past the disable yields nothing: its backlog is gone, not late.
    let keeper = manager.get_named::<Stalled>("keeper").unwrap();
    let mut keeper = within("keeper", keeper.write()).await;
    let kept = keeper.pings.as_mut().unwrap();
    assert!(!kept.is_open());
    assert_eq!(within("kept subscription", kept.recv()).await, None);
    drop(keeper);

    // Re-enabled, it subscribes again in `on_enable` and hears what is published from then on:
    // neither the discarded ping 2 nor ping 3, published while it was disabled.
    within("enable", manager.enable("listener")).await.unwrap();
    gate.add_permits(100);
    assert_eq!(bus.publish(Ping(4)), 1);
    assert_eq!(next(&mut rx).await, heard("listener", 2, 4));
    assert_eq!(bus.publish(Ping(5)), 1);
    assert_eq!(next(&mut rx).await, heard("listener", 2, 5));
    assert!(rx.try_recv().is_err());
    // Discarded on a disable is not dropped on overflow.
    assert_eq!(manager.record("listener").unwrap().dropped_events, 0);
    assert_eq!(manager.record("keeper").unwrap().dropped_events, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_subscriber_fails_its_plugin_while_the_others_keep_receiving() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let manager = started(
        16,
        [
            listener("fragile", &tx).panics_on(2).spec(),
            listener("steady-a", &tx).spec(),
            listener("steady-b", &tx).spec(),
        ],
    )
    .await;
    let mut feed = manager.state_changes();
    for ping in 0..5 {
        assert_eq!(manager.bus().publish(Ping(ping)), 3, "all still subscribed");
    }

    let change = wait_for(&mut feed, "fragile fails", |c| {
        c.plugin == "fragile" && c.to == Failed
    })
    .await;
    let failure = Failure::new(
        Phase::Background,
        FailureKind::Panic(panic_text("fragile", 2)),
    );
    assert_eq!(change.cause, Some(failure.clone()));
    assert_eq!(last_error(&manager, "fragile"), Some(failure));

    // Published after the failure: only the two steady plugins are subscribed.
    assert_eq!(manager.bus().publish(Ping(5)), 2);
    let mut by = std::collections::BTreeMap::<String, Vec<u32>>::new();
    while by.get("steady-a").map_or(0, Vec::len) < 6 || by.get("steady-b").map_or(0, Vec::len) < 6 {
        let event = next(&mut rx).await;
        by.entry(event.by).or_default().push(event.ping);
    }
    assert_eq!(by["steady-a"], [0, 1, 2, 3, 4, 5]);
    assert_eq!(by["steady-b"], [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        by["fragile"],
        [0, 1],
        "it read up to the ping that killed it"
    );
    for plugin in ["steady-a", "steady-b"] {
        assert_eq!(state(&manager, plugin), Enabled);
        assert_eq!(last_error(&manager, plugin), None);
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_subscriber_stalls_nobody_and_its_overflow_is_counted_exactly() {
    const CAPACITY: usize = 4;
    const EVENTS: u32 = 25;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let manager = started(
        CAPACITY,
        [stalled("stalled"), listener("reader", &tx).spec()],
    )
    .await;

    for ping in 0..EVENTS {
        // `publish` never waits and always stores; once `stalled` is `CAPACITY` behind, each
        // new ping pushes its oldest unread one out, for it alone.
        assert_eq!(manager.bus().publish(Ping(ping)), 2, "ping {ping}");
        assert_eq!(next(&mut rx).await, heard("reader", 1, ping));
        let behind = (ping as usize + 1).saturating_sub(CAPACITY);
        assert_eq!(
            manager.record("stalled").unwrap().dropped_events,
            behind as u64
        );
    }
    // A burst the reader cannot keep up with (it runs only when this test awaits): it keeps
    // the newest `CAPACITY` events, and the older ones are dropped for it and counted too.
    let burst = EVENTS..EVENTS + 2 * CAPACITY as u32;
    for ping in burst.clone() {
        manager.bus().publish(Ping(ping));
    }
    for ping in burst.skip(CAPACITY) {
        assert_eq!(next(&mut rx).await, heard("reader", 1, ping));
    }

    let stalled_overflow = (EVENTS as usize - CAPACITY) + 2 * CAPACITY;
    let record = |name| manager.record(name).unwrap().dropped_events;
    assert_eq!(record("stalled"), stalled_overflow as u64);
    assert_eq!(record("reader"), CAPACITY as u64);
    assert_eq!(
        state(&manager, "stalled"),
        Enabled,
        "a full queue is not a fault"
    );
    assert_eq!(state(&manager, "reader"), Enabled);
}

// ----- request/reply ------------------------------------------------------------------------

/// A request: roll `n` dice; the answer is their total.
#[derive(Debug)]
struct Roll(u32);

const LIMIT: Duration = Duration::from_secs(30);

/// What a [`Server`] does with the requests it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// Answers `10 * n` from its background task.
    Answers,
    /// Takes each request in its background task and keeps it unanswered.
    Holds,
    /// Keeps its [`Requests`] in a field and never reads it: requests stay queued.
    Queues,
    /// Panics on the first request.
    Panics,
}

/// Serves [`Roll`] in `on_enable`; reports each request it takes to `took`.
struct Server {
    serving: Serving,
    took: mpsc::UnboundedSender<u32>,
    kept: Option<Requests<Roll, u32>>,
}

fn server(name: &str, serving: Serving, took: &mpsc::UnboundedSender<u32>) -> PluginSpec {
    let took = took.clone();
    PluginSpec::new(PluginMetadata::new(name), move || {
        Ok(PluginInstance::new(Server {
            serving,
            took: took.clone(),
            kept: None,
        }))
    })
}

fn server_panic(n: u32) -> String {
    format!("server: cannot roll {n} dice")
}

#[async_trait]
impl Plugin for Server {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        let mut requests = ctx.serve::<Roll, u32>()?;
        let (serving, took) = (self.serving, self.took.clone());
        if serving == Serving::Queues {
            self.kept = Some(requests);
            return Ok(());
        }
        ctx.spawn(async move {
            let mut held = Vec::new();
            while let Some(request) = requests.recv().await {
                let n = request.payload().0;
                let _ = took.send(n);
                match serving {
                    Serving::Answers => {
                        let _ = request.reply(10 * n);
                    }
                    Serving::Holds => held.push(request),
                    Serving::Panics => panic!("{}", server_panic(n)),
                    Serving::Queues => unreachable!(),
                }
            }
            Ok(())
        });
        Ok(())
    }
}

/// Asks for a roll in `on_enable` and keeps the answer: a plugin as a client.
#[derive(Default)]
struct Client {
    answer: Option<u32>,
}

#[async_trait]
impl Plugin for Client {
    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.answer = Some(ctx.request::<Roll, u32>(Roll(4), LIMIT).await?);
        Ok(())
    }
}

fn roll_name() -> &'static str {
    std::any::type_name::<Roll>()
}

/// Polls `future` once, so that a request is queued before the test goes on.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn a_request_is_answered_by_the_plugin_that_serves_it() {
    let (took, _) = mpsc::unbounded_channel();
    let manager = started(
        16,
        [
            server("dice", Serving::Answers, &took),
            PluginSpec::with_default::<Client>(PluginMetadata::new("client").with_deps(["dice"])),
        ],
    )
    .await;
    let client = manager.get_named::<Client>("client").unwrap();
    assert_eq!(within("client", client.read()).await.answer, Some(40));
    let answer = manager.bus().request::<Roll, u32>(Roll(6), LIMIT);
    assert_eq!(within("request", answer).await, Ok(60));
    assert_eq!(manager.bus().subscriptions_of("dice"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_nobody_serves_fails_at_once() {
    let (took, _) = mpsc::unbounded_channel();
    let manager = started(16, [server("dice", Serving::Answers, &took)]).await;
    let no_server = RequestError::NoServer {
        request: roll_name(),
    };
    let began = tokio::time::Instant::now();
    // Another answer type is another request type.
    let wrong_answer = manager.bus().request::<Roll, String>(Roll(1), LIMIT);
    assert_eq!(wrong_answer.await, Err(no_server.clone()));
    within("disable", manager.disable("dice")).await.unwrap();
    let after_disable = manager.bus().request::<Roll, u32>(Roll(1), LIMIT);
    assert_eq!(after_disable.await, Err(no_server));
    assert_eq!(began.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_second_server_of_a_request_type_is_refused() {
    let (took, _) = mpsc::unbounded_channel();
    let manager = started(
        16,
        [
            server("dice", Serving::Answers, &took),
            // Ordered after `dice`, so which of the two is refused does not depend on a race.
            PluginSpec::new(PluginMetadata::new("rival").with_deps(["dice"]), {
                let took = took.clone();
                move || {
                    Ok(PluginInstance::new(Server {
                        serving: Serving::Answers,
                        took: took.clone(),
                        kept: None,
                    }))
                }
            }),
        ],
    )
    .await;
    assert_eq!(state(&manager, "rival"), Failed);
    assert_eq!(
        last_error(&manager, "rival").map(|f| f.kind),
        Some(FailureKind::Error(format!(
            "`dice` already serves `{}` requests",
            roll_name()
        )))
    );
    assert_eq!(
        within(
            "request",
            manager.bus().request::<Roll, u32>(Roll(1), LIMIT)
        )
        .await,
        Ok(10)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_times_out_at_its_limit() {
    let (took, mut taken) = mpsc::unbounded_channel();
    let manager = started(16, [server("dice", Serving::Holds, &took)]).await;
    let began = tokio::time::Instant::now();
    let limit = Duration::from_millis(750);
    assert_eq!(
        manager.bus().request::<Roll, u32>(Roll(3), limit).await,
        Err(RequestError::TimedOut {
            request: roll_name(),
            server: "dice".into(),
            after: limit,
        })
    );
    assert_eq!(began.elapsed(), limit);
    assert_eq!(taken.try_recv(), Ok(3), "the server had it, and kept it");
    assert_eq!(state(&manager, "dice"), Enabled);
}

/// Disabling the server fails the request it holds or has queued at once, not at the limit;
/// enabled again, it serves again.
async fn server_disabled_mid_request(serving: Serving) {
    let (took, mut taken) = mpsc::unbounded_channel();
    let manager = started(16, [server("dice", serving, &took)]).await;
    let began = tokio::time::Instant::now();
    let mut request = pin!(manager.bus().request::<Roll, u32>(Roll(2), LIMIT));
    assert!(poll_once(request.as_mut()).is_pending());
    if serving == Serving::Holds {
        assert_eq!(within("server takes it", taken.recv()).await, Some(2));
    }

    within("disable", manager.disable("dice")).await.unwrap();
    let dropped = Err(RequestError::Dropped {
        request: roll_name(),
        server: "dice".into(),
    });
    // A request that outlived the disable would end at the limit, as `TimedOut`.
    assert_eq!(request.await, dropped);
    assert!(began.elapsed() < LIMIT);

    if serving == Serving::Queues {
        let server = manager.get_named::<Server>("dice").unwrap();
        let server = within("server", server.read()).await;
        assert!(!server.kept.as_ref().unwrap().is_open(), "kept, but closed");
    }

    // Its server was closed with it, so the plugin may serve again once re-enabled.
    within("enable", manager.enable("dice")).await.unwrap();
    assert_eq!(manager.bus().subscriptions_of("dice"), 1);
    if serving == Serving::Holds {
        let mut again = pin!(manager.bus().request::<Roll, u32>(Roll(5), LIMIT));
        assert!(poll_once(again.as_mut()).is_pending());
        assert_eq!(within("server takes it", taken.recv()).await, Some(5));
    }
}

#[tokio::test(start_paused = true)]
async fn disabling_the_server_fails_the_request_it_holds_at_once() {
    server_disabled_mid_request(Serving::Holds).await;
}

#[tokio::test(start_paused = true)]
async fn disabling_the_server_fails_the_requests_queued_at_it_at_once() {
    server_disabled_mid_request(Serving::Queues).await;
}

#[tokio::test(start_paused = true)]
async fn a_server_that_panics_fails_the_request_and_its_plugin() {
    let (took, _) = mpsc::unbounded_channel();
    let manager = started(16, [server("dice", Serving::Panics, &took)]).await;
    let mut feed = manager.state_changes();
    let began = tokio::time::Instant::now();
    assert_eq!(
        manager.bus().request::<Roll, u32>(Roll(9), LIMIT).await,
        Err(RequestError::Dropped {
            request: roll_name(),
            server: "dice".into(),
        })
    );
    assert!(began.elapsed() < LIMIT);
    let change = wait_for(&mut feed, "dice fails", |c| c.to == Failed).await;
    assert_eq!(
        change.cause,
        Some(Failure::new(
            Phase::Background,
            FailureKind::Panic(server_panic(9))
        ))
    );
    assert_eq!(
        manager.bus().request::<Roll, u32>(Roll(1), LIMIT).await,
        Err(RequestError::NoServer {
            request: roll_name()
        })
    );
}

// ----- the ring: overflow, isolation, order, concurrency -------------------------------------

/// What the module notes of `plugin_core::bus` promise one subscription, written out: the
/// type keeps its last `capacity` events; a read with nothing in hand copies up to
/// [`BATCH`] unread events; what the ring let go unread is dropped and counted at once.
struct Model {
    capacity: u64,
    /// The number of the next event the subscription copies.
    next: u64,
    in_hand: std::collections::VecDeque<u64>,
    skipped: u64,
    open: bool,
}

/// How many unread events `recv` copies out at once (the bus's documented batch).
const BATCH: u64 = 256;

impl Model {
    fn new(capacity: usize, tail: u64) -> Self {
        Self {
            capacity: capacity as u64,
            next: tail,
            in_hand: std::collections::VecDeque::new(),
            skipped: 0,
            open: true,
        }
    }

    fn oldest(&self, tail: u64) -> u64 {
        tail.saturating_sub(self.capacity)
    }

    fn read(&mut self, tail: u64) -> Option<u64> {
        if !self.open {
            return None;
        }
        if self.in_hand.is_empty() {
            let oldest = self.oldest(tail);
            if self.next < oldest {
                self.skipped += oldest - self.next;
                self.next = oldest;
            }
            let end = tail.min(self.next + BATCH);
            self.in_hand.extend(self.next..end);
            self.next = end;
        }
        self.in_hand.pop_front()
    }

    fn dropped(&self, tail: u64) -> u64 {
        if self.open {
            self.skipped + self.oldest(tail).saturating_sub(self.next)
        } else {
            self.skipped
        }
    }

    fn close(&mut self, tail: u64) {
        self.skipped = self.dropped(tail);
        self.open = false;
        self.in_hand.clear();
    }
}

/// One seeded run: subscribers that read at random paces, one subscribing late and one closed
/// part way; after every step each one's reads and its owner's drop count match the model.
fn lapping_run(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let capacity = [1, 2, 3, 5, 8, 300][rng.usize(..6)];
    let bus = EventBus::with_capacity(capacity);
    // An owner that keeps reading throughout, so the type never runs out of subscribers.
    let mut keeper = bus.subscribe::<u64>("keeper");
    let mut keeper_model = Model::new(capacity, 0);
    // Each subscriber: its owner, its subscription, its model, and how many events it read.
    let mut subs: Vec<(String, Subscription<u64>, Model, u64)> = (0..4)
        .map(|i| {
            let name = format!("s{i}");
            let sub = bus.subscribe::<u64>(&name);
            (name, sub, Model::new(capacity, 0), 0)
        })
        .collect();
    let mut tail = 0_u64;
    let steps = 2_000;
    let (late_at, close_at) = (rng.usize(..steps), rng.usize(..steps));
    // The tail at the start of each step.
    let mut published_at = Vec::with_capacity(steps);
    for step in 0..steps {
        published_at.push(tail);
        if step == late_at {
            let name = "late".to_owned();
            let sub = bus.subscribe::<u64>(&name);
            subs.push((name, sub, Model::new(capacity, tail), 0));
        }
        if step == close_at {
            bus.close_owner("s0");
            subs[0].2.close(tail);
        }
        match rng.u32(..10) {
            // Publish a burst, up to twice the capacity.
            0..=4 => {
                let open = 1 + subs.iter().filter(|(_, _, model, _)| model.open).count();
                for _ in 0..rng.usize(1..=2 * capacity) {
                    assert_eq!(
                        bus.publish(tail),
                        open,
                        "seed {seed}: every open subscriber"
                    );
                    tail += 1;
                }
            }
            // One subscriber reads a few.
            _ => {
                let which = rng.usize(..subs.len());
                let (name, sub, model, reads) = &mut subs[which];
                for _ in 0..rng.usize(1..=capacity + 1) {
                    let got = sub.try_recv();
                    assert_eq!(got, model.read(tail), "seed {seed}: {name} at step {step}");
                    *reads += u64::from(got.is_some());
                }
            }
        }
        while let Some(got) = keeper.try_recv() {
            assert_eq!(Some(got), keeper_model.read(tail));
        }
        for (name, _, model, _) in &subs {
            assert_eq!(
                bus.dropped(name),
                model.dropped(tail),
                "seed {seed}: {name}'s drops at step {step} (capacity {capacity})"
            );
        }
    }
    // Read to the end: what an open subscriber did not read was dropped and counted.
    for (name, sub, model, reads) in &mut subs {
        while let Some(got) = sub.try_recv() {
            assert_eq!(Some(got), model.read(tail));
            *reads += 1;
        }
        assert_eq!(model.read(tail), None);
        if model.open {
            let start = if name == "late" { late_at } else { 0 };
            let since = tail - published_at[start];
            assert_eq!(*reads + bus.dropped(name), since, "seed {seed}: {name}");
        }
    }
    assert_eq!(bus.dropped("keeper"), keeper_model.dropped(tail));
}

#[test]
fn lapped_subscribers_lose_their_oldest_and_each_owner_s_count_is_exact_at_every_step() {
    for seed in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233] {
        lapping_run(seed);
    }
}

/// Events of [`concurrent_publishers`]: which publisher, and its own count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Numbered {
    publisher: usize,
    n: u64,
}

/// `publishers` tasks publish `each` events of one type at once, while `readers` tasks read;
/// returns, per reader, what it read (in order) and its owner's drop count.
async fn concurrent_publishers(
    capacity: usize,
    publishers: usize,
    each: u64,
    readers: usize,
) -> Vec<(Vec<Numbered>, u64)> {
    let bus = EventBus::with_capacity(capacity);
    let total = publishers as u64 * each;
    let subs: Vec<_> = (0..readers)
        .map(|r| bus.subscribe::<Numbered>(&format!("r{r}")))
        .collect();
    // A marker published once every publisher is done tells each reader to stop: events of
    // another type are not ordered with these, so the marker is a `Numbered` too.
    let end = Numbered {
        publisher: usize::MAX,
        n: 0,
    };
    let reading: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            tokio::spawn(async move {
                let mut read = Vec::new();
                while let Some(event) = sub.recv().await {
                    if event == end {
                        return read;
                    }
                    read.push(event);
                }
                panic!("the subscription stays open");
            })
        })
        .collect();
    let publishing: Vec<_> = (0..publishers)
        .map(|publisher| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0..each {
                    assert_eq!(bus.publish(Numbered { publisher, n }), readers);
                    if n % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for publishing in publishing {
        publishing.await.unwrap();
    }
    // The marker itself may push unread events out for a reader that is `capacity` behind.
    bus.publish(end);
    let mut out = Vec::new();
    for (r, reading) in reading.into_iter().enumerate() {
        let read = reading.await.unwrap();
        let dropped = bus.dropped(&format!("r{r}"));
        assert_eq!(
            read.len() as u64 + dropped,
            total,
            "reader {r}: every event is read or counted as dropped"
        );
        out.push((read, dropped));
    }
    out
}

/// Each publisher's events in the order they were published, with gaps only where some were
/// dropped.
fn assert_each_publisher_in_order(read: &[Numbered], publishers: usize) {
    let mut last: Vec<Option<u64>> = vec![None; publishers];
    for event in read {
        let last = &mut last[event.publisher];
        assert!(
            last.is_none_or(|last| last < event.n),
            "{event:?} after {last:?}"
        );
        *last = Some(event.n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_lose_no_event_and_each_one_s_order_is_kept() {
    const PUBLISHERS: usize = 8;
    const EACH: u64 = 2_000;
    // Room for everything: nothing may be dropped.
    for (read, dropped) in concurrent_publishers(16_001, PUBLISHERS, EACH, 4).await {
        assert_eq!(dropped, 0);
        assert_eq!(read.len() as u64, PUBLISHERS as u64 * EACH);
        assert_each_publisher_in_order(&read, PUBLISHERS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_overflow_from_concurrent_publishers_every_event_is_read_or_counted() {
    const PUBLISHERS: usize = 8;
    // A small ring: readers are lapped as the scheduler lets them fall behind; whatever
    // happens, `concurrent_publishers` checks read + dropped = published for each.
    for (read, _) in concurrent_publishers(8, PUBLISHERS, 2_000, 4).await {
        assert_each_publisher_in_order(&read, PUBLISHERS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_s_overflow_is_its_own() {
    const CAPACITY: usize = 16;
    const ROUNDS: u64 = 50;
    let bus = EventBus::with_capacity(CAPACITY);
    let _slow = bus.subscribe::<u64>("slow");
    let (read_tx, mut read_rx) = mpsc::unbounded_channel();
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let mut sub = bus.subscribe::<u64>(&format!("fast{r}"));
            let read_tx = read_tx.clone();
            tokio::spawn(async move {
                let mut expected = 0;
                while let Some(n) = sub.recv().await {
                    assert_eq!(n, expected, "fast{r} reads every event, in order");
                    expected += 1;
                    let _ = read_tx.send(n);
                }
            })
        })
        .collect();
    // Rounds of `CAPACITY` events; each round waits until the fast readers have read it, so
    // they never fall behind, while the slow one never reads.
    for round in 0..ROUNDS {
        for i in 0..CAPACITY as u64 {
            assert_eq!(bus.publish(round * CAPACITY as u64 + i), 4);
        }
        for _ in 0..3 * CAPACITY {
            read_rx.recv().await.unwrap();
        }
    }
    let published = ROUNDS * CAPACITY as u64;
    assert_eq!(bus.dropped("slow"), published - CAPACITY as u64);
    for r in 0..3 {
        assert_eq!(bus.dropped(&format!("fast{r}")), 0);
    }
    for r in 0..3 {
        bus.close_owner(&format!("fast{r}"));
    }
    for reader in readers {
        reader.await.unwrap();
    }
}

// ----- an event's own code ------------------------------------------------------------------

/// An event whose drop panics while its flag is set.
#[derive(Clone)]
struct Fuse(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Fuse {
    fn drop(&mut self) {
        if self.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("a fuse blew as it was dropped");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_events_drop_that_panics_as_its_plugin_is_disabled_leaves_the_disable_whole() {
    let holder = PluginSpec::with_default::<Stalled<Fuse>>(PluginMetadata::new("holder"));
    let manager = started(16, [holder, stalled("bystander")]).await;
    let mut changes = manager.state_changes();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    assert_eq!(manager.bus().publish(Fuse(armed.clone())), 1);
    // Disabling closes the holder's subscription: the unread fuse is discarded and blows.
    within("disable", manager.disable("holder")).await.unwrap();
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "it was dropped"
    );
    assert_eq!(state(&manager, "holder"), PluginState::Disabled);
    assert_eq!(state(&manager, "bystander"), Enabled);
    assert_eq!(manager.bus().subscriptions_of("holder"), 0);
    let change = changes
        .try_recv()
        .unwrap()
        .expect("the disable was announced");
    assert_eq!(
        (change.plugin.as_str(), change.to),
        ("holder", PluginState::Disabled)
    );
    within("enable", manager.enable("holder")).await.unwrap();
    assert_eq!(manager.bus().subscriptions_of("holder"), 1);
}
