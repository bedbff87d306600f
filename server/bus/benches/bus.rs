//! Benchmarks of the embedded EventBridge (a plain bench binary; run with
//! `cargo bench -p bus --bench bus`; `BUS_BENCH_EVENTS` changes the archive size):
//!
//! 1. durable ingest: PutEvents from 64 concurrent callers (10 entries of
//!    ~600 bytes each), group-committed, each event matched and archived;
//! 2. the same with one more rule delivering every event to a queue;
//! 3. counting the events of a window (1/9 of the archive) by event time;
//! 4. replaying the whole archive into an embedded queue;
//! 5. resident memory with the archive in place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::types::*;
use bus::{Bus, BusConfig, Database, QueueConfig, Timestamp};
use store::Durability;

fn callers() -> usize {
    std::env::var("BUS_BENCH_CALLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// `field` (`VmRSS:` now, `VmHWM:` peak) of this process, in MB.
fn memory_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn detail(i: i64) -> String {
    let pad = "x".repeat(210); // envelopes of ~600 bytes, as in PERF-ANCHORS
    format!(
        r#"{{"metadata": {{"domain": "LEGO-LOYALTY", "service": "service-loyalty-vendor-mediator", "type": "voucher", "status": "retry"}}, "data": {{"i": {i}, "pad": "{pad}"}}}}"#
    )
}

/// Puts `n` events (event time `base + i * step_ms`) from `BUS_BENCH_CALLERS` (64) tasks; returns events/s.
async fn ingest(bus: &Bus, n: i64, base: i64, step_ms: i64) -> f64 {
    let next = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers() {
        let (bus, next) = (bus.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(10, std::sync::atomic::Ordering::Relaxed);
                if first >= n {
                    break;
                }
                let entries = (first..(first + 10).min(n))
                    .map(|i| PutEventsRequestEntry {
                        time: Some(Timestamp(base + i * step_ms)),
                        source: Some("service-loyalty-vendor-mediator".into()),
                        detail_type: Some("task-status".into()),
                        detail: Some(detail(i)),
                        ..Default::default()
                    })
                    .collect();
                let r = bus
                    .put_events(PutEventsRequest {
                        entries,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(r.failed_entry_count, 0);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

async fn open(dir: &std::path::Path, durability: Durability) -> Bus {
    let bus = Bus::open(
        Database::open_with(dir, durability).unwrap(),
        BusConfig::default(),
    )
    .await
    .unwrap();
    bus.create_archive(CreateArchiveRequest {
        archive_name: "LoyaltyVoucherArchive".into(),
        event_source_arn: bus.bus_arn("default"),
        event_pattern: Some(
            r#"{"detail": {"metadata": {"type": ["voucher"], "status": ["retry"]}}}"#.into(),
        ),
        ..Default::default()
    })
    .await
    .unwrap();
    bus
}

/// Raw SQLite inserts, 600-byte bodies, 1,000 rows a transaction: rows/s.
async fn raw_inserts(n: i64, durability: Durability) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open_with(tmp.path(), durability).unwrap();
    db.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE raw (seq INTEGER PRIMARY KEY, archive INTEGER, event_time INTEGER, body BLOB);
             CREATE INDEX raw_time ON raw (archive, event_time);",
        )
    })
    .await
    .unwrap();
    let t0 = Instant::now();
    for chunk in 0..n / 1000 {
        db.write(move |tx| {
            let mut ins = tx
                .prepare_cached("INSERT INTO raw (archive, event_time, body) VALUES (1, ?1, ?2)")?;
            let body = vec![b'x'; 600];
            for i in 0..1000 {
                ins.execute(store::rusqlite::params![chunk * 1000 + i, body])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    (n / 1000 * 1000) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let n: i64 = std::env::var("BUS_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let base = (Timestamp::now().0 / 60_000 - 60 * 24) * 60_000;
        let step = 10; // 1M events span 10,000 s of event time

        // 2. archive + queue rule (smaller run, separate database)
        {
            let tmp = tempfile::tempdir().unwrap();
            let bus = open(tmp.path(), Durability::Full).await;
            let q = bus.create_queue("all", QueueConfig::default()).await.unwrap();
            bus.put_rule(PutRuleRequest { name: "all".into(), event_pattern: Some(r#"{"source": ["service-loyalty-vendor-mediator"]}"#.into()), ..Default::default() })
                .await
                .unwrap();
            bus.put_targets(PutTargetsRequest { rule: "all".into(), targets: vec![Target { id: "q".into(), arn: q, ..Default::default() }], ..Default::default() })
                .await
                .unwrap();
            let m = (n / 5).max(10_000);
            let rate = ingest(&bus, m, base, step).await;
            println!("ingest_archive_and_queue   {m:>9} events  {rate:>10.0} events/s  (2 rows per event)");
        }

        // 0. the ceiling: raw SQLite inserts like PERF-ANCHORS (600-byte
        // bodies, 1,000 rows a transaction), and 1. durable ingest into the
        // archive — each with both durabilities, in this one run (the
        // product's default is full: an fsync per commit).
        let mut full_bus = None;
        for durability in [Durability::Normal, Durability::Full] {
            let raw = raw_inserts(n, durability).await;
            println!("raw_sqlite_insert {durability:<6?} {n:>9} rows    {raw:>10.0} rows/s  (same run, the ceiling)");
            let tmp = tempfile::tempdir().unwrap();
            let bus = open(tmp.path(), durability).await;
            let rate = ingest(&bus, n, base, step).await;
            println!("ingest_archive    {durability:<6?} {n:>9} events  {rate:>10.0} events/s  ({:.0}% of raw SQLite {durability:?})", rate * 100.0 / raw);
            full_bus = Some((tmp, bus));
        }
        let (_tmp, bus) = full_bus.unwrap();
        let a = bus.describe_archive("LoyaltyVoucherArchive").await.unwrap();
        assert_eq!(a.event_count, Some(n));
        println!("archive                    EventCount {} SizeBytes {}", n, a.size_bytes.unwrap_or(0));
        bus.database().checkpoint().await.unwrap();

        // 3. window counts: 1/9 of the archive at several offsets
        let span = n * step;
        let mut worst = Duration::ZERO;
        let mut total = Duration::ZERO;
        for k in 0..8 {
            let start = base + span * k / 9;
            let t0 = Instant::now();
            let c = bus.count_archive_events("LoyaltyVoucherArchive", Timestamp(start), Timestamp(start + span / 9)).await.unwrap();
            let el = t0.elapsed();
            assert!((c - n / 9).abs() <= 1, "count {c}");
            worst = worst.max(el);
            total += el;
        }
        println!("count_window               {:>9} events  mean {:.2} ms, worst {:.2} ms", n / 9, total.as_secs_f64() * 1000.0 / 8.0, worst.as_secs_f64() * 1000.0);

        // 4. replay everything into an embedded queue
        let q = bus.create_queue("replayed", QueueConfig::default()).await.unwrap();
        bus.put_rule(PutRuleRequest { name: "resubmit".into(), event_pattern: Some(r#"{"replay-name": [{"prefix": "LoyaltyVoucherReplay"}]}"#.into()), ..Default::default() })
            .await
            .unwrap();
        bus.put_targets(PutTargetsRequest { rule: "resubmit".into(), targets: vec![Target { id: "q".into(), arn: q, ..Default::default() }], ..Default::default() })
            .await
            .unwrap();
        bus.start_replay(StartReplayRequest {
            replay_name: "LoyaltyVoucherReplay_bench".into(),
            event_source_arn: bus.archive_arn("LoyaltyVoucherArchive"),
            event_start_time: Some(Timestamp(base)),
            event_end_time: Some(Timestamp(base + span)),
            destination: ReplayDestination { arn: bus.bus_arn("default"), filter_arns: None },
            ..Default::default()
        })
        .await
        .unwrap();
        let t0 = Instant::now();
        while bus.replay_step("LoyaltyVoucherReplay_bench").await.unwrap() == bus::ReplayProgress::Running {}
        let el = t0.elapsed();
        let depth = bus.queue_depth("replayed").await.unwrap();
        assert_eq!(depth.visible, n);
        println!("replay_into_queue          {n:>9} events  {:>10.0} events/s  ({:.2} s)", n as f64 / el.as_secs_f64(), el.as_secs_f64());
        assert_eq!(bus.describe_replay("LoyaltyVoucherReplay_bench").await.unwrap().state, "COMPLETED");

        // 5. memory
        println!(
            "resident_memory            {n:>9} archived  {:.1} MB RSS, peak {:.1} MB (VmHWM)",
            memory_mb("VmRSS:"),
            memory_mb("VmHWM:")
        );
        drop(bus);
    });
}
