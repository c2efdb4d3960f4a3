//! Parked plugin tasks in the start wave, at random: random DAGs with random faults,
//! holds and deadlines, on a paused current-thread runtime and on a 2-worker multi-thread
//! runtime, many seeds. Checks per seed:
//!
//! - `start` ends (guarded by a timeout on tokio's clock);
//! - every plugin ends in the state its own plan and its required dependencies lead to, with
//!   the right failure (phase and kind) and exactly the transitions of that outcome;
//! - each constructor ran exactly once if every required dependency was enabled, never
//!   otherwise (a start run twice, or run after being failed, would show here);
//! - at most `max_in_flight` plugins in `setup` at once (counted for non-hanging setups);
//! - every hung hook was dropped (its task aborted), and no task is left alive once the
//!   runtime gets a moment (a parked task never woken would stay).

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_core::host::Hook;
use plugin_core::{Context, Error, Plugin, PluginInstance, PluginMetadata, Result, async_trait};
use plugin_manager::{Failure, FailureKind, Phase, PluginManager, PluginSpec, PluginState};

use PluginState::{Enabled, Failed, Loaded, Setup};

const HOOK: Duration = Duration::from_secs(30);
const GUARD: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Ok,
    Error,
    Panic,
    Hang,
}

#[derive(Clone, Copy, Debug)]
enum Hold {
    None,
    Sleep(Duration),
    Yields(u32),
}

#[derive(Clone, Debug)]
struct Plan {
    ctor: Act,
    setup: (Hold, Act),
    enable: (Hold, Act),
    timeout: Option<Duration>,
}

#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    most: AtomicUsize,
    hangs_started: AtomicUsize,
    hangs_dropped: AtomicUsize,
}

struct Guard<'a>(&'a AtomicUsize);
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct InSetup<'a>(&'a Meter);
impl Drop for InSetup<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

struct P {
    name: String,
    plan: Plan,
    meter: Arc<Meter>,
}

async fn hold(h: Hold) {
    match h {
        Hold::None => {}
        Hold::Sleep(d) => tokio::time::sleep(d).await,
        Hold::Yields(n) => {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn act(meter: &Meter, name: &str, what: &str, a: Act) -> Result<()> {
    match a {
        Act::Ok => Ok(()),
        Act::Error => Err(Error::msg(format!("{name}: {what} broke on purpose"))),
        Act::Panic => panic!("{name}: {what} exploded on purpose"),
        Act::Hang => {
            meter.hangs_started.fetch_add(1, Ordering::SeqCst);
            let _g = Guard(&meter.hangs_dropped);
            std::future::pending().await
        }
    }
}

#[async_trait]
impl Plugin for P {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        let (h, a) = self.plan.setup;
        let _in = (a != Act::Hang).then(|| {
            let now = self.meter.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.meter.most.fetch_max(now, Ordering::SeqCst);
            InSetup(&self.meter)
        });
        hold(h).await;
        act(&self.meter, &self.name, "setup", a).await
    }
    async fn on_enable(&mut self, _ctx: &Context) -> Result<()> {
        let (h, a) = self.plan.enable;
        hold(h).await;
        act(&self.meter, &self.name, "on_enable", a).await
    }
}

struct World {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    opt: Vec<Vec<usize>>,
    plans: Vec<Plan>,
    max_in_flight: Option<usize>,
    inline: bool,
}

fn random_world(rng: &mut fastrand::Rng, paused: bool) -> World {
    let n = rng.usize(2..=120);
    let mut labels: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut labels);
    let names: Vec<String> = labels.iter().map(|l| format!("p{l:03}")).collect();
    let mut deps = Vec::new();
    let mut opt = Vec::new();
    let mut plans = Vec::new();
    let fault_rate = rng.u8(0..4); // 0: none, else 1 in (8 - 2*rate)
    for i in 0..n {
        let mut d: Vec<usize> = Vec::new();
        let mut o: Vec<usize> = Vec::new();
        if i > 0 {
            if rng.u8(0..3) == 0 {
                d.push(i - 1); // chains
            }
            for _ in 0..rng.usize(0..=3) {
                let x = rng.usize(0..i);
                if !d.contains(&x) && !o.contains(&x) {
                    if rng.u8(0..4) == 0 {
                        o.push(x);
                    } else {
                        d.push(x);
                    }
                }
            }
        }
        let faulty =
            |rng: &mut fastrand::Rng| fault_rate > 0 && rng.u8(0..(8 - 2 * fault_rate)) == 0;
        let pick = |rng: &mut fastrand::Rng, hang: bool| match rng.u8(0..if hang { 3 } else { 2 }) {
            0 => Act::Error,
            1 => Act::Panic,
            _ => Act::Hang,
        };
        let ctor = if faulty(rng) {
            pick(rng, false)
        } else {
            Act::Ok
        };
        let timeout = if paused {
            match rng.u8(0..4) {
                0 => Some(Duration::from_millis(rng.u64(2..50))),
                _ => None,
            }
        } else {
            None
        };
        let limit = timeout.unwrap_or(HOOK);
        let hook = |rng: &mut fastrand::Rng| {
            let h = if paused {
                match rng.u8(0..3) {
                    0 => Hold::None,
                    1 => Hold::Yields(rng.u32(1..4)),
                    // strictly below the deadline: deterministic on the paused clock
                    _ => Hold::Sleep(Duration::from_micros(
                        rng.u64(0..(limit.as_micros() as u64 / 2)),
                    )),
                }
            } else {
                match rng.u8(0..3) {
                    0 => Hold::None,
                    _ => Hold::Yields(rng.u32(1..4)),
                }
            };
            let a = if faulty(rng) {
                pick(rng, true)
            } else {
                Act::Ok
            };
            (h, a)
        };
        let setup = hook(rng);
        let enable = hook(rng);
        let mut plan = Plan {
            ctor,
            setup,
            enable,
            timeout,
        };
        if !paused && (plan.setup.1 == Act::Hang || plan.enable.1 == Act::Hang) {
            // a hang on the real clock: a short deadline of its own
            plan.timeout = Some(Duration::from_millis(rng.u64(1..20)));
        }
        deps.push(d);
        opt.push(o);
        plans.push(plan);
    }
    World {
        names,
        deps,
        opt,
        plans,
        max_in_flight: match rng.u8(0..3) {
            0 => None,
            _ => Some(rng.usize(1..=6)),
        },
        inline: rng.bool(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Enabled,
    Own(Option<Phase>, Act, Duration),
    Dep(Vec<String>),
}

fn expectations(w: &World) -> Vec<Expect> {
    let mut out: Vec<Expect> = Vec::new();
    for (i, plan) in w.plans.iter().enumerate() {
        let failed: Vec<String> = w.deps[i]
            .iter()
            .filter(|&&d| out[d] != Expect::Enabled)
            .map(|&d| w.names[d].clone())
            .collect();
        let limit = plan.timeout.unwrap_or(HOOK);
        let e = if !failed.is_empty() {
            Expect::Dep(failed)
        } else if plan.ctor != Act::Ok {
            Expect::Own(Some(Phase::Constructor), plan.ctor, limit)
        } else if plan.setup.1 != Act::Ok {
            Expect::Own(Some(Phase::Hook(Hook::Setup)), plan.setup.1, limit)
        } else if plan.enable.1 != Act::Ok {
            Expect::Own(Some(Phase::Hook(Hook::Enable)), plan.enable.1, limit)
        } else {
            Expect::Enabled
        };
        out.push(e);
    }
    out
}

fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            if !msg.contains("on purpose") {
                default(info);
            }
        }));
    });
}

async fn run_seed(seed: u64, paused: bool) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let w = random_world(&mut rng, paused);
    let meter = Arc::new(Meter::default());
    let ctor_calls: Arc<Vec<AtomicUsize>> =
        Arc::new((0..w.names.len()).map(|_| AtomicUsize::new(0)).collect());
    let mut specs = Vec::new();
    for (i, name) in w.names.iter().enumerate() {
        let mut md = PluginMetadata::new(name)
            .with_deps(w.deps[i].iter().map(|&d| w.names[d].clone()))
            .with_optional_deps(w.opt[i].iter().map(|&d| w.names[d].clone()));
        if let Some(t) = w.plans[i].timeout {
            md = md.with_timeout(t);
        }
        let (plan, meter, calls, name) = (
            w.plans[i].clone(),
            meter.clone(),
            ctor_calls.clone(),
            name.clone(),
        );
        specs.push(PluginSpec::new(md, move || {
            calls[i].fetch_add(1, Ordering::SeqCst);
            match plan.ctor {
                Act::Error => Err(Error::msg(format!("{name}: constructor broke on purpose"))),
                Act::Panic => panic!("{name}: constructor exploded on purpose"),
                _ => Ok(PluginInstance::new(P {
                    name: name.clone(),
                    plan: plan.clone(),
                    meter: meter.clone(),
                })),
            }
        }));
    }
    let mut b = PluginManager::builder().hook_timeout(HOOK).plugins(specs);
    if let Some(m) = w.max_in_flight {
        b = b.max_in_flight(m);
    }
    if w.inline {
        b = b.inline_constructors();
    }
    let manager = b.build().expect("valid set");
    let ctx = format!(
        "seed {seed:#x} paused={paused} n={} mif={:?}",
        w.names.len(),
        w.max_in_flight
    );
    tokio::time::timeout(if paused { GUARD * 300 } else { GUARD }, manager.start())
        .await
        .unwrap_or_else(|_| panic!("{ctx}: start did not end"));

    let expect = expectations(&w);
    for (i, e) in expect.iter().enumerate() {
        let name = &w.names[i];
        let rec = manager.record(name).unwrap();
        let trail: Vec<PluginState> = rec.history.iter().map(|c| c.to).collect();
        let calls = ctor_calls[i].load(Ordering::SeqCst);
        match e {
            Expect::Enabled => {
                assert_eq!(rec.state, Enabled, "{ctx}: {name} {:?}", rec.last_error);
                assert_eq!(trail, vec![Loaded, Setup, Enabled], "{ctx}: {name}");
                assert_eq!(calls, 1, "{ctx}: {name} constructor calls");
            }
            Expect::Own(phase, a, limit) => {
                assert_eq!(rec.state, Failed, "{ctx}: {name}");
                let f: Failure = rec.last_error.clone().expect("a failure");
                assert_eq!(f.phase, *phase, "{ctx}: {name} {f:?}");
                let kind_ok = match (a, &f.kind) {
                    (Act::Error, FailureKind::Error(_)) => true,
                    (Act::Panic, FailureKind::Panic(_)) => true,
                    (Act::Hang, FailureKind::Timeout(t)) => t == limit,
                    _ => false,
                };
                assert!(kind_ok, "{ctx}: {name} expected {a:?} got {f:?}");
                let want = match phase {
                    Some(Phase::Hook(Hook::Setup)) => vec![Loaded, Failed],
                    Some(Phase::Hook(Hook::Enable)) => vec![Loaded, Setup, Failed],
                    _ => vec![Failed],
                };
                assert_eq!(trail, want, "{ctx}: {name}");
                assert_eq!(calls, 1, "{ctx}: {name} constructor calls");
            }
            Expect::Dep(failed) => {
                assert_eq!(rec.state, Failed, "{ctx}: {name}");
                let f = rec.last_error.clone().expect("a failure");
                match &f.kind {
                    FailureKind::DependencyFailed(d) => {
                        assert!(
                            failed.contains(d),
                            "{ctx}: {name} names {d}, not in {failed:?}"
                        )
                    }
                    other => panic!("{ctx}: {name}: expected a dependency failure, got {other:?}"),
                }
                assert_eq!(trail, vec![Failed], "{ctx}: {name}");
                assert_eq!(
                    calls, 0,
                    "{ctx}: {name} constructed though a dependency failed"
                );
            }
        }
    }
    let limit = w.max_in_flight.unwrap_or(usize::MAX);
    assert!(
        meter.most.load(Ordering::SeqCst) <= limit,
        "{ctx}: {} in setup at once",
        meter.most.load(Ordering::SeqCst)
    );
    // Every hung hook dropped, and no task left, within a bounded number of short sleeps.
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut rounds = 0;
    while metrics.num_alive_tasks() > 0
        || meter.hangs_dropped.load(Ordering::SeqCst) < meter.hangs_started.load(Ordering::SeqCst)
    {
        rounds += 1;
        assert!(
            rounds < 20_000,
            "{ctx}: {} tasks alive, hangs {} started {} dropped",
            metrics.num_alive_tasks(),
            meter.hangs_started.load(Ordering::SeqCst),
            meter.hangs_dropped.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(manager);
}

fn seeds(base: u64, count: u64) -> impl Iterator<Item = u64> {
    (0..count).map(move |i| {
        base.wrapping_mul(6364136223846793005)
            .wrapping_add(i * 0x9e37_79b9)
    })
}

fn iterations(default: u64) -> u64 {
    std::env::var("PARKING_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_dags_paused_current_thread() {
    quiet_panics();
    for seed in seeds(1, iterations(300)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run_seed(seed, true));
    }
}

#[test]
fn random_dags_two_workers() {
    quiet_panics();
    for seed in seeds(2, iterations(300)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_seed(seed, false));
    }
}

/// Long chains of instantaneous plugins (no await in any hook): the carrying task runs out
/// of its cooperative budget, and starts are handed to parked tasks or spawned instead.
#[test]
fn budget_exhausting_fans_two_workers() {
    quiet_panics();
    for round in 0..iterations(30) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // Roots r0..r7, each a chain of 300, each link also letting a leaf go.
            let made = Arc::new(AtomicUsize::new(0));
            let mut specs = Vec::new();
            #[derive(Default)]
            struct Nop;
            #[async_trait]
            impl Plugin for Nop {}
            let mut names = Vec::new();
            for r in 0..8 {
                for k in 0..300 {
                    let name = format!("c{r}_{k:03}");
                    let mut md = PluginMetadata::new(&name);
                    if k > 0 {
                        md = md.with_deps([format!("c{r}_{:03}", k - 1)]);
                    }
                    let m = made.clone();
                    specs.push(PluginSpec::new(md, move || {
                        m.fetch_add(1, Ordering::SeqCst);
                        Ok(PluginInstance::new(Nop))
                    }));
                    names.push(name.clone());
                    if k % 3 == 0 {
                        let leaf = format!("l{r}_{k:03}");
                        let m = made.clone();
                        specs.push(PluginSpec::new(
                            PluginMetadata::new(&leaf).with_deps([name.clone()]),
                            move || {
                                m.fetch_add(1, Ordering::SeqCst);
                                Ok(PluginInstance::new(Nop))
                            },
                        ));
                        names.push(leaf);
                    }
                }
            }
            let n = names.len();
            let manager = PluginManager::builder()
                .hook_timeout(HOOK)
                .plugins(specs)
                .max_in_flight(if round % 2 == 0 { 3 } else { 1024 })
                .build()
                .unwrap();
            tokio::time::timeout(GUARD, manager.start())
                .await
                .expect("start ends");
            assert_eq!(manager.enabled().len(), n, "round {round}");
            assert_eq!(made.load(Ordering::SeqCst), n, "round {round}");
            let metrics = tokio::runtime::Handle::current().metrics();
            let mut rounds = 0;
            while metrics.num_alive_tasks() > 0 {
                rounds += 1;
                assert!(rounds < 20_000, "{} tasks alive", metrics.num_alive_tasks());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }
}

/// The runtime shut down while the wave runs (hooks still sleeping): nothing panics and
/// the shutdown ends.
#[test]
fn runtime_dropped_mid_wave() {
    quiet_panics();
    for seed in seeds(3, iterations(100)) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let w = random_world(&mut rng, false);
        let meter = Arc::new(Meter::default());
        let mut specs = Vec::new();
        for (i, name) in w.names.iter().enumerate() {
            let md =
                PluginMetadata::new(name).with_deps(w.deps[i].iter().map(|&d| w.names[d].clone()));
            let (meter, name) = (meter.clone(), name.clone());
            let y = rng.u32(0..50);
            specs.push(PluginSpec::new(md, move || {
                Ok(PluginInstance::new(P {
                    name: name.clone(),
                    plan: Plan {
                        ctor: Act::Ok,
                        setup: (Hold::Yields(y), Act::Ok),
                        enable: (Hold::Yields(1), Act::Ok),
                        timeout: None,
                    },
                    meter: meter.clone(),
                }))
            }));
        }
        let manager = Arc::new(PluginManager::builder().plugins(specs).build().unwrap());
        let m = manager.clone();
        let started = Arc::new(Mutex::new(()));
        let _s = started.clone();
        rt.spawn(async move { m.start().await });
        std::thread::sleep(Duration::from_micros(rng.u64(0..3000)));
        drop(rt); // shuts down with the wave in flight
    }
}
