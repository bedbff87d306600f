//! Vendor Mediator benchmarks: the whole service, over loopback.
//!
//! 1. **Recovery after a 1-hour outage** (`recovery`): `N` vouchers (default
//!    100,000) are held while the `voucher` part is down, their retry events
//!    spread over a 1-hour window and archived. The set-up drives the real
//!    code with backdated times: the monitor's own check step records the
//!    part going down an hour ago, the DataCache's insert and hold steps run
//!    with each voucher's (backdated) time, and the status outbox publisher
//!    puts the retry events on the embedded bus, whose archive keeps them.
//!    Then the real server — the `mediator` binary, `mediator serve` as a
//!    child process (`MEDIATOR_BENCH_BIN` for another build of it) — starts
//!    on that data directory with the simulated SaaS up: its monitor sees
//!    the part up, recovery starts the replay of
//!    `[down − margin, up + margin]`, the bus delivers to the resubmit rule
//!    and queue, the handler loads each voucher from the DataCache and
//!    resubmits it to the simulated SaaS over loopback HTTP. Timed: from the
//!    up transition (the monitor's recorded time) to the last voucher
//!    `submitted`; checked: every voucher `submitted`, the simulator accepted
//!    each exactly once, the replay's progress counts them all.
//!    The same run with the simulator called in-process (no HTTP) shows
//!    what loopback HTTP costs (`recovery-in-process`: the server runs inside
//!    the bench). Printed beside it: the server's peak resident memory
//!    (VmHWM of the `mediator serve` process; in process, of the bench
//!    process, reset when the server starts) and the ceiling, raw SQLite
//!    doing the rows the recovery writes per voucher with the same
//!    durability, in this run.
//! 2. **Throughput while up** (`throughput`): concurrent clients POST
//!    `/api/v1/vouchers` over loopback HTTP for a fixed time; every voucher
//!    goes DataCache → SaaS (loopback HTTP) → `submitted` + status event in
//!    the outbox before the 202. Reported: vouchers/s and latency
//!    percentiles; checked: each accepted exactly once by the simulator.
//!
//! Run with `cargo bench -p server --bench mediator` (or `make bench-mediator`).
//! Knobs (environment): `MEDIATOR_BENCH_ONLY` = `recovery` |
//! `recovery-in-process` | `throughput`,
//! `MEDIATOR_BENCH_DURABILITY` = `both` (default: each recovery run with
//! `--durability normal`, then `full`) | `full` | `normal`,
//! `MEDIATOR_BENCH_VOUCHERS` (100000), `MEDIATOR_BENCH_OUTAGE_SECS` (3600),
//! `MEDIATOR_BENCH_RATE` (resubmit rate per second, 100000),
//! `MEDIATOR_BENCH_CONCURRENCY` (resubmit concurrency, 64),
//! `MEDIATOR_BENCH_LOAD_SECS` (10), `MEDIATOR_BENCH_LOAD_CLIENTS` (32),
//! `MEDIATOR_BENCH_BIN` (the `mediator` binary the recovery starts).

#[path = "support/child.rs"]
mod child;
#[path = "support/memory.rs"]
mod memory;
use child::ServerProcess;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mediator_core::datacache::Hold;
use mediator_core::{
    DataCache, HealthProbe, Monitor, PartName, PartSettings, SaasSubmitter, StatusBoard,
    SubmitOutcome, VoucherRequest,
};
use serde_json::{json, Value};
use server::config::Durability;
use server::{Application, Settings};
use store::Database;
use tokio_util::sync::CancellationToken;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `mediator` binary's allocator (src/main.rs), so the in-process
/// server measured here allocates as the shipped one does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let only = std::env::var("MEDIATOR_BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "machine: {} cores available to this process",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        for durability in durabilities() {
            if only.is_empty() || only == "recovery" {
                recovery(Submitter::Http, durability).await;
            }
            if only.is_empty() || only == "recovery-in-process" {
                recovery(Submitter::InProcess, durability).await;
            }
        }
        if only.is_empty() || only == "throughput" {
            throughput().await;
        }
    });
}

fn voucher(id: &str) -> Value {
    json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": format!("ref-{id}"),
           "merchant_reference": "m-1", "loyalty_order_reference": "M101-S76-OP10-T65",
           "payload": {"points": 10, "sku": "GIFT-25"}})
}

/// The durabilities the recovery runs measure, in this order, in one run:
/// `MEDIATOR_BENCH_DURABILITY` = `full`, `normal` or `both` (default).
fn durabilities() -> Vec<Durability> {
    match std::env::var("MEDIATOR_BENCH_DURABILITY").as_deref() {
        Ok("full") => vec![Durability::Full],
        Ok("normal") => vec![Durability::Normal],
        _ => vec![Durability::Normal, Durability::Full],
    }
}

/// The server's settings for a bench run over `data`.
fn settings(data: &Path, rate: f64, concurrency: usize, durability: Durability) -> Settings {
    let site = data.join("site");
    std::fs::create_dir_all(site.join("pkg")).expect("site dir");
    Settings::resolve(server::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        events_listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_listen: Some("127.0.0.1:0".parse().unwrap()),
        poll_interval: Some(0.1),
        data_dir: Some(data.join("data")),
        site_root: Some(site),
        submit_timeout: Some(5.0),
        resubmit_rate: Some(rate),
        resubmit_concurrency: Some(concurrency),
        auth: Some(server::config::AuthMode::None),
        durability: Some(durability),
        ..Default::default()
    })
    .expect("bench settings")
}

/// Never asked: the set-up records backdated checks itself.
struct NoProbe;

#[async_trait]
impl HealthProbe for NoProbe {
    async fn check(&self, _part: &str) -> Result<(), String> {
        Err("not used".into())
    }
}

/// Holds `n` vouchers of the `voucher` part during an outage that began
/// `outage` ago, through the real monitor, DataCache and outbox code with
/// backdated times, and archives their retry events. Returns the down time.
async fn hold_during_outage(data_dir: &Path, n: usize, outage: Duration) -> DateTime<Utc> {
    // Set-up, not measured: no fsync per commit.
    let db = Database::open_with(data_dir, store::Durability::Normal).expect("database");
    let parts: Vec<PartSettings> = PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect();
    let bus = bus::Bus::open(db.clone(), bus::BusConfig::default())
        .await
        .expect("bus");
    server::backend::provision(&bus, &parts)
        .await
        .expect("provision");
    let down_at = Utc::now() - chrono::Duration::from_std(outage).unwrap();
    let ports = mediator_sqlite::ports(&db);
    StatusBoard::new(ports.status.clone(), parts.clone())
        .seed(down_at - chrono::Duration::seconds(30))
        .await
        .expect("seed");
    // The monitor's own step: two good checks (up), then failures until the
    // threshold (down at `down_at`).
    let monitor = Monitor::new(ports.status.clone(), Arc::new(NoProbe), parts.clone())
        .with_replica(mediator_core::monitor::EMBEDDED_REPLICA);
    let voucher_part = &parts[0];
    for s in [20, 19] {
        let at = down_at - chrono::Duration::seconds(s);
        monitor.record(voucher_part, at, None, 1).await.unwrap();
    }
    for s in [2, 1, 0] {
        let at = down_at - chrono::Duration::seconds(s);
        let r = monitor
            .record(voucher_part, at, Some("HTTP 503".into()), 1)
            .await
            .unwrap();
        if s == 0 {
            assert_eq!(
                r.change.map(|c| c.status.as_str().to_owned()).as_deref(),
                Some("down"),
                "the part went down"
            );
        }
    }
    let cache = DataCache::new(ports.vouchers.clone());
    let names = PartName::defaults();
    let step_ms = (outage.as_millis() as i64 - 1_000).max(1) as f64 / n as f64;
    let started = Instant::now();
    let workers = 8;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (cache, names) = (cache.clone(), names.clone());
        set.spawn(async move {
            for i in (w..n).step_by(workers) {
                let id = format!("held-{i:06}");
                let req = VoucherRequest::parse(&voucher(&id), &names).unwrap();
                let at =
                    down_at + chrono::Duration::milliseconds(500 + (i as f64 * step_ms) as i64);
                let (_, new) = cache.insert(&req, at).await.unwrap();
                assert!(new);
                assert_eq!(cache.hold_if_open(&id, at).await.unwrap(), Hold::Held);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("holding task");
    }
    let held = started.elapsed();
    let started = Instant::now();
    let publisher = server::backend::EmbeddedEvents::new(bus.clone(), server::backend::BUS_NAME);
    while mediator_core::submit::publish_status_step(&cache, &publisher)
        .await
        .expect("publish")
        > 0
    {}
    let published = started.elapsed();
    let archived = bus
        .count_archive_events(
            &PartName::parse("voucher").unwrap().default_archive_name(),
            bus::Timestamp((down_at - chrono::Duration::minutes(1)).timestamp_millis()),
            bus::Timestamp(Utc::now().timestamp_millis()),
        )
        .await
        .expect("count");
    assert_eq!(archived, n as i64, "every retry event archived");
    println!(
        "set-up: {n} vouchers held in {:.1} s, {archived} retry events archived over {} s in {:.1} s (not timed below)",
        held.as_secs_f64(),
        outage.as_secs(),
        published.as_secs_f64()
    );
    down_at
}

/// How the mediator reaches the simulated SaaS.
#[derive(Clone, Copy, PartialEq)]
enum Submitter {
    /// Loopback HTTP, as `mediator serve` does.
    Http,
    /// The simulator's decision called in-process (no HTTP), to show what
    /// loopback HTTP costs.
    InProcess,
}

/// The simulated SaaS without HTTP.
struct InProcessSaas(saas_sim::Simulator);

#[async_trait]
impl SaasSubmitter for InProcessSaas {
    async fn submit(&self, part: &str, body: &Value) -> SubmitOutcome {
        let (code, answer) = self.0.submit(part, body);
        match code.as_u16() {
            s @ 200..=299 => SubmitOutcome::Accepted { status: s },
            s @ 400..=499 if s != 408 && s != 429 => SubmitOutcome::Rejected {
                status: s,
                reason: answer.to_string(),
            },
            s => SubmitOutcome::Unavailable {
                reason: format!("HTTP {s}"),
            },
        }
    }
}

/// Resets this process's `VmHWM` to its current resident memory.
fn reset_peak_memory() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        println!("(cannot reset the peak resident memory: {e})");
    }
}

/// The ceiling of a recovery's writes: raw SQLite (WAL, `durability`'s
/// `synchronous`) doing, for each of `n` vouchers, the rows a recovery
/// writes — a queue message inserted then deleted (~600 bytes), a ledger
/// row, the claim (an UPDATE and a history row), the outcome (an UPDATE, a
/// history row and an outbox event of ~400 bytes) — 1,000 vouchers a
/// transaction, no reads, no HTTP. Returns the seconds it took.
async fn raw_recovery_ceiling(n: usize, durability: Durability) -> f64 {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = Database::open_with(tmp.path(), durability.into()).expect("raw database");
    db.write(move |tx| {
        tx.execute_batch(
            "CREATE TABLE v (id TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL,
                             lease_ms INTEGER, updated_ms INTEGER NOT NULL, payload TEXT NOT NULL);
             CREATE INDEX v_status ON v (status, updated_ms);
             CREATE TABLE h (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, status TEXT NOT NULL,
                             at_ms INTEGER NOT NULL, detail TEXT NOT NULL);
             CREATE INDEX h_id ON h (id, at_ms);
             CREATE TABLE ledger (replay TEXT NOT NULL, event_id TEXT NOT NULL, outcome TEXT NOT NULL,
                                  PRIMARY KEY (replay, event_id)) WITHOUT ROWID;
             CREATE TABLE outbox (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
             CREATE TABLE q (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);",
        )?;
        let mut ins = tx.prepare("INSERT INTO v VALUES (?1, 'retry', 0, NULL, 0, ?2)")?;
        for i in 0..n {
            ins.execute(store::rusqlite::params![format!("held-{i:06}"), "x".repeat(200)])?;
        }
        Ok(())
    })
    .await
    .expect("raw set-up");
    let t0 = Instant::now();
    for chunk in 0..n.div_ceil(1000) {
        db.write(move |tx| {
            let ids = (chunk * 1000..((chunk + 1) * 1000).min(n)).map(|i| format!("held-{i:06}"));
            for id in ids {
                let q = tx
                    .prepare_cached("INSERT INTO q (body) VALUES (?1)")?
                    .insert([vec![b'x'; 600]])?;
                tx.prepare_cached("INSERT INTO ledger VALUES ('r', ?1, 'resubmitted')")?
                    .execute([&id])?;
                for status in ["submitting", "submitted"] {
                    tx.prepare_cached(
                        "UPDATE v SET status = ?2, attempts = attempts + 1, updated_ms = 1 WHERE id = ?1",
                    )?
                    .execute([&id, status])?;
                    tx.prepare_cached(
                        "INSERT INTO h (id, status, at_ms, detail) VALUES (?1, ?2, 1, 'attempt 1: resubmitted by replay r')",
                    )?
                    .execute([&id, status])?;
                }
                tx.prepare_cached("INSERT INTO outbox (body) VALUES (?1)")?
                    .execute(["x".repeat(400)])?;
                tx.prepare_cached("DELETE FROM q WHERE seq = ?1")?
                    .execute([q])?;
            }
            Ok(())
        })
        .await
        .expect("raw writes");
    }
    t0.elapsed().as_secs_f64()
}

/// The server under test: the `mediator` binary started as a child process
/// (its own resident memory, the shipped allocator and start-up), or the
/// same [`Application`] inside this process (to call the simulator without
/// HTTP).
enum RunningServer {
    Child(ChildServer),
    InProcess {
        shutdown: CancellationToken,
        handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    },
}

/// `mediator serve` on the bench's data directory; killed if the bench
/// panics.
struct ChildServer {
    child: ServerProcess,
}

impl ChildServer {
    /// Starts `MEDIATOR_BENCH_BIN` (default: this package's `mediator`
    /// binary, built with the bench) on `dir`'s data directory; returns it
    /// with its simulator's address.
    fn start(
        dir: &Path,
        rate: f64,
        concurrency: usize,
        durability: Durability,
    ) -> (ChildServer, String) {
        let bin = std::env::var("MEDIATOR_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mediator").to_owned());
        let [addr, events, sim] = child::free_addrs();
        let site = dir.join("site");
        std::fs::create_dir_all(site.join("pkg")).expect("site dir");
        let durability = match durability {
            Durability::Full => "full",
            Durability::Normal => "normal",
        };
        let child = std::process::Command::new(&bin)
            .arg("serve")
            .args(["--listen", &addr, "--events-listen", &events])
            .args(["--sim-listen", &sim, "--poll-interval", "0.1"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--site-root")
            .arg(site)
            .args(["--submit-timeout", "5", "--auth", "none"])
            .args(["--resubmit-rate", &rate.to_string()])
            .args(["--resubmit-concurrency", &concurrency.to_string()])
            .args(["--durability", durability])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        (
            ChildServer {
                child: ServerProcess(child),
            },
            format!("http://{sim}"),
        )
    }
}

async fn recovery(via: Submitter, durability: Durability) {
    let n: usize = env("MEDIATOR_BENCH_VOUCHERS", 100_000);
    let outage = Duration::from_secs(env("MEDIATOR_BENCH_OUTAGE_SECS", 3600));
    let rate: f64 = env("MEDIATOR_BENCH_RATE", 100_000.0);
    let concurrency: usize = env("MEDIATOR_BENCH_CONCURRENCY", 64);
    let tmp = tempfile::tempdir().expect("temp dir");
    let data_dir = tmp.path().join("data");
    let down_at = hold_during_outage(&data_dir, n, outage).await;
    let ceiling = raw_recovery_ceiling(n, durability).await;
    reset_peak_memory();

    let in_process = saas_sim::Simulator::new(PartName::defaults().iter().map(|p| p.to_string()));
    let (mut server, sim) = match via {
        Submitter::Http => {
            let (child, sim) = ChildServer::start(tmp.path(), rate, concurrency, durability);
            (RunningServer::Child(child), sim)
        }
        Submitter::InProcess => {
            let app = Application::build_with_submitter(
                settings(tmp.path(), rate, concurrency, durability),
                Some(Arc::new(InProcessSaas(in_process.clone()))),
            )
            .await
            .expect("build");
            let sim = format!("http://{}", app.sim_addr().expect("simulator"));
            let shutdown = CancellationToken::new();
            let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
            (RunningServer::InProcess { shutdown, handle }, sim)
        }
    };
    let db = Database::open(&data_dir).expect("reader");

    let deadline = Instant::now() + Duration::from_secs(600);
    let up_ms: i64 = loop {
        let d = down_at.timestamp_millis();
        let up: Option<i64> = db
            .read(move |c| {
                use store::rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT changed_ms FROM mon_status_changes
                     WHERE part = 'voucher' AND status = 'up' AND changed_ms > ?1",
                    [d],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
            .unwrap();
        if let Some(t) = up {
            break t;
        }
        if let RunningServer::Child(c) = &mut server {
            assert!(
                matches!(c.child.0.try_wait(), Ok(None)),
                "the mediator exited"
            );
        }
        assert!(Instant::now() < deadline, "the part never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Waits until no voucher is left to resubmit: a seek in the status index
    // (counting 100,000 `submitted` every 50 ms took a good part of a core
    // from the server under test). The time measured comes from the
    // vouchers' own `updated_ms`, not from this loop.
    loop {
        let pending: bool = db
            .read(|c| {
                c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM vouchers
                     WHERE status IN ('received', 'retry', 'submitting'))",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap();
        if !pending || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let submitted: i64 = db
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM vouchers WHERE status = 'submitted'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        submitted as usize, n,
        "every voucher submitted within 600 s"
    );
    // The drain counts a batch into the replay's progress after recording
    // its outcomes: the last batch's count may land just after its vouchers.
    loop {
        let counted: i64 = db
            .read(|c| c.query_row("SELECT resubmitted FROM rec_replays", [], |r| r.get(0)))
            .await
            .unwrap();
        if counted as usize >= n || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (last_ms, replay_start, replay_end, name, resubmitted): (i64, i64, i64, String, i64) = db
        .read(|c| {
            let last: i64 = c.query_row(
                "SELECT max(updated_ms) FROM vouchers WHERE status = 'submitted'",
                [],
                |r| r.get(0),
            )?;
            let (s, e, name) = c.query_row(
                "SELECT started_ms, coalesce(ended_ms, 0), name FROM eb_replays",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let resubmitted: i64 =
                c.query_row("SELECT resubmitted FROM rec_replays", [], |r| r.get(0))?;
            Ok((last, s, e, name, resubmitted))
        })
        .await
        .unwrap();
    let subs: Vec<Value> = match via {
        Submitter::Http => reqwest::get(format!("{sim}/sim/submissions"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
        Submitter::InProcess => in_process
            .submissions()
            .into_iter()
            .map(|s| json!({"accepted": s.accepted}))
            .collect(),
    };
    let once = subs.iter().filter(|s| s["accepted"] == 1).count();
    assert_eq!(subs.len(), n, "the simulator saw every voucher");
    assert_eq!(once, n, "each accepted exactly once");
    assert_eq!(
        resubmitted as usize, n,
        "the replay's progress counts them all"
    );
    // The server's own memory (a child process: its peak over its whole
    // life, i.e. this recovery); in process, the bench's, which holds the
    // set-up's memory too.
    let (rss_mb, peak_mb, whose) = match &mut server {
        RunningServer::Child(c) => {
            let (rss, peak) = memory::resident_and_peak_mb(&c.child.id().to_string());
            (rss, peak, "VmHWM of the `mediator serve` process")
        }
        RunningServer::InProcess { .. } => {
            let (rss, peak) = memory::resident_and_peak_mb("self");
            (
                rss,
                peak,
                "VmHWM of the bench process, which holds the set-up's memory too, reset at the server's start",
            )
        }
    };
    match server {
        RunningServer::Child(mut c) => c.child.stop().await,
        RunningServer::InProcess { shutdown, handle } => {
            shutdown.cancel();
            let _ = handle.await;
        }
    }

    let secs = (last_ms - up_ms) as f64 / 1000.0;
    println!(
        "recovery: {n} vouchers held over a {} s outage, up → last submitted {secs:.2} s \
         ({:.0} vouchers/s); replay {name} started +{:.2} s, read out +{:.2} s after up; \
         simulator accepted {once} exactly once; rate {rate}/s, concurrency {concurrency}, {}, \
         durability {durability:?}",
        outage.as_secs(),
        n as f64 / secs,
        (replay_start - up_ms) as f64 / 1000.0,
        (replay_end - up_ms) as f64 / 1000.0,
        match via {
            Submitter::Http => "`mediator serve`, SaaS over loopback HTTP",
            Submitter::InProcess => "SaaS in-process (no HTTP)",
        }
    );
    println!(
        "recovery ceiling: raw SQLite ({durability:?} sync) writes a recovery's rows for {n} vouchers \
         in {ceiling:.2} s: the recovery took {:.1}× that; peak resident memory during the \
         recovery {peak_mb:.0} MB ({whose}; {rss_mb:.0} MB at the end)",
        secs / ceiling
    );
}

async fn throughput() {
    let secs: f64 = env("MEDIATOR_BENCH_LOAD_SECS", 10.0);
    let clients: usize = env("MEDIATOR_BENCH_LOAD_CLIENTS", 32);
    let tmp = tempfile::tempdir().expect("temp dir");
    let app = Application::build(settings(tmp.path(), 50.0, 4, Durability::Full))
        .await
        .expect("build");
    let base = format!("http://{}", app.local_addr());
    let sim = format!("http://{}", app.sim_addr().expect("simulator"));
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    // Wait for the monitor to see the part up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let parts: Value = client
            .get(format!("{base}/api/v1/parts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let up = parts["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "voucher" && p["status"] == "up");
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "part never up: {parts}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, base) = (client.clone(), base.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut statuses: HashMap<String, usize> = HashMap::new();
            let mut i = 0usize;
            while Instant::now() < stop {
                let id = format!("load-{c:03}-{i:07}");
                i += 1;
                let t = Instant::now();
                let res = client
                    .post(format!("{base}/api/v1/vouchers"))
                    .json(&voucher(&id))
                    .send()
                    .await
                    .expect("POST /api/v1/vouchers");
                let code = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                lat.push(t.elapsed());
                let status = body["status"].as_str().unwrap_or("?").to_owned();
                *statuses.entry(format!("{code} {status}")).or_default() += 1;
            }
            (lat, statuses)
        });
    }
    let mut lat = Vec::new();
    let mut statuses: HashMap<String, usize> = HashMap::new();
    while let Some(r) = set.join_next().await {
        let (l, s) = r.unwrap();
        lat.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let ok = statuses.get("202 submitted").copied().unwrap_or(0);
    let subs: Vec<Value> = client
        .get(format!("{sim}/sim/submissions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let once = subs.iter().filter(|s| s["accepted"] == 1).count();
    assert_eq!(subs.len(), ok, "the simulator saw every submitted voucher");
    assert_eq!(once, ok, "each accepted exactly once");
    shutdown.cancel();
    let _ = handle.await;
    println!(
        "throughput: {ok} vouchers submitted in {elapsed:.1} s = {:.0} vouchers/s \
         ({clients} clients over loopback HTTP; p50 {:.1} ms, p99 {:.1} ms); outcomes {statuses:?}",
        ok as f64 / elapsed,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}
