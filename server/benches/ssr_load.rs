//! Console pages under load (docs/performance.md): each page support staff
//! open during an outage, and the embeds, from the real `mediator` binary
//! with 90 days of status history for 3 parts, 1,000,000 archived events and
//! 100,000 vouchers, at 100 concurrent connections.
//!
//! 1. **Seed** a temporary data directory through the real code paths:
//!    `StatusBoard::seed` 90 days ago, then the monitor's own record step
//!    (`Monitor::record`) with backdated checks every
//!    `MEDIATOR_BENCH_CHECK_SECS` (300) seconds for each part — so the
//!    checks, the minute/hour/day roll-ups and the status changes are what
//!    the monitor writes — with one outage a day per part (a few failed
//!    checks: down, then up again); `MEDIATOR_BENCH_ARCHIVED` (1,000,000)
//!    `retry` status events published through the embedded bus's PutEvents
//!    path (`EmbeddedEvents`, as the mediator's outbox publishes them),
//!    spread over the three parts' archives and the 90 days; and
//!    `MEDIATOR_BENCH_VOUCHERS` (100,000) vouchers received over the 90 days
//!    and submitted (the DataCache's insert, claim and finish steps).
//! 2. **Serve**: starts the binary `MEDIATOR_BENCH_BIN` (default
//!    `target/release/mediator`, as `cargo leptos build --release` leaves
//!    it) on that data directory, on free loopback ports, with the
//!    simulated SaaS and `--poll-interval 1` (checks go on during the run).
//! 3. **Load**, page after page (`MEDIATOR_BENCH_PAGES=overview,timeline,…`
//!    picks some): `MEDIATOR_BENCH_REQUESTS` (20,000) GETs over
//!    `MEDIATOR_BENCH_CONNECTIONS` (100) concurrent keep-alive connections
//!    after 200 warm-up requests; each answer must be 200 with a piece of the
//!    page's content. One table: throughput, p50 / p90 / p99 / max latency,
//!    errors, bytes per answer as sent, and the server's CPU time per
//!    request (the figure that does not depend on what else the machine
//!    runs), with the load average.
//!
//!    `MEDIATOR_BENCH_ACCEPT_ENCODING` (default: none, as an API client)
//!    sends that `Accept-Encoding` with every GET, e.g. `gzip, deflate, br,
//!    zstd` as a browser does; the answers then come compressed (gzip or br)
//!    and the load tool decodes the first of each connection and every
//!    8th after it to look for the page's content (decoding all would take
//!    the load tool's CPU from the server it shares the cores with).
//!
//! Before the load, and after it, the server's resident memory (`VmRSS`)
//! and peak (`VmHWM`) from `/proc/<pid>/status`; the first after
//! `MEDIATOR_BENCH_IDLE_SECS` (5) seconds idle (only the monitor's checks).
//! `MEDIATOR_BENCH_IDLE_ONLY=1` stops there.
//!
//! Run with `make bench-ssr` (= `cargo bench -p server --bench ssr_load`);
//! not part of `make test`.

#[path = "support/child.rs"]
mod child;
#[path = "support/memory.rs"]
mod memory;
use child::ServerProcess;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mediator_core::datacache::Claim;
use mediator_core::events::voucher_status_event;
use mediator_core::{
    DataCache, EventPublisher, HealthProbe, Monitor, PartName, PartSettings, StatusBoard,
    VoucherKeys, VoucherRequest, VoucherStatus,
};
use store::Database;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Never asked: the seeding records backdated checks itself.
struct NoProbe;

#[async_trait]
impl HealthProbe for NoProbe {
    async fn check(&self, _part: &str) -> Result<(), String> {
        Err("not used".into())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let bin: PathBuf = std::env::var("MEDIATOR_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target/release/mediator"));
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo leptos build --release`, or set MEDIATOR_BENCH_BIN",
        bin.display()
    );
    println!(
        "machine: {} cores; binary: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bin.display()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let t0 = Instant::now();
    seed(&data).await;
    println!("seeding: {:.1} s", t0.elapsed().as_secs_f64());

    let mut server = Server::start(&bin, &data, &workspace).await;
    tokio::time::sleep(Duration::from_secs(env("MEDIATOR_BENCH_IDLE_SECS", 5))).await;
    println!("server memory idle: {}", memory(server.child.id()));
    if env("MEDIATOR_BENCH_IDLE_ONLY", 0) == 1 {
        server.child.stop().await;
        return;
    }
    let requests: usize = env("MEDIATOR_BENCH_REQUESTS", 20_000);
    let encoding = std::env::var("MEDIATOR_BENCH_ACCEPT_ENCODING").unwrap_or_default();
    let connections: usize = env("MEDIATOR_BENCH_CONNECTIONS", 100);
    let only = std::env::var("MEDIATOR_BENCH_PAGES").unwrap_or_default();
    let pages: Vec<Page> = pages(Utc::now())
        .into_iter()
        .filter(|p| only.is_empty() || only.split(',').any(|o| o.trim() == p.name))
        .collect();
    assert!(!pages.is_empty(), "MEDIATOR_BENCH_PAGES names no page");
    println!(
        "{requests} requests a page over {connections} keep-alive connections, Accept-Encoding: \
         {}; CPU per request is the server's CPU time over the run divided by its requests",
        if encoding.is_empty() {
            "(none)"
        } else {
            encoding.as_str()
        }
    );
    println!(
        "| page | path | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | bytes/answer | server CPU/req | load before → after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut errors = 0;
    for page in &pages {
        let url = format!("http://{}{}", server.addr, page.path);
        load(&url, &encoding, page.marker, 200, connections.min(20)).await;
        let load_before = loadavg();
        let (server0, t0) = (process_cpu_secs(server.child.id()), Instant::now());
        let r = load(&url, &encoding, page.marker, requests, connections).await;
        let _wall = t0.elapsed().as_secs_f64();
        let server_cpu = process_cpu_secs(server.child.id()) - server0;
        println!(
            "| {} | `{}` | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {}{} | {:.2} ms | {load_before} → {} |",
            page.name,
            page.path,
            r.per_sec,
            r.p50,
            r.p90,
            r.p99,
            r.max,
            r.errors,
            r.bytes,
            r.encoding.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
            1000.0 * server_cpu / requests as f64,
            loadavg()
        );
        errors += r.errors;
    }
    // Client and server share the machine's cores: the load tool's share
    // tells whether the figures measure the server or the load tool.
    println!("load tool CPU over all pages: {:.1} s", self_cpu_secs());
    println!(
        "server memory after the load: {}",
        memory(server.child.id())
    );
    server.child.stop().await;
    assert_eq!(
        errors, 0,
        "every request answered 200 with its page's content"
    );
}

/// A page the bench loads, and a piece of its content that shows it was
/// rendered with its data (not a fallback or an error page).
struct Page {
    name: &'static str,
    path: String,
    marker: &'static str,
}

/// The pages support staff open during an outage, and the embeds.
fn pages(now: DateTime<Utc>) -> Vec<Page> {
    let day = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    // A one-hour window of the voucher archive, 30 days ago.
    let window_end = now - chrono::Duration::days(30);
    let window_start = window_end - chrono::Duration::hours(1);
    let t = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let page = |name, path: String, marker| Page { name, path, marker };
    vec![
        page("overview", "/".into(), "part-card"),
        page("timeline", "/timeline".into(), "bar-cell"),
        page("timeline-day", format!("/timeline?at={day}"), "bar-cell"),
        page("incidents", "/incidents".into(), "<td"),
        page("replays", "/replays".into(), "<table"),
        page(
            "vouchers",
            format!(
                "/vouchers?part=voucher&status=submitted&from={}&to={}",
                t(now - chrono::Duration::days(60)),
                t(now - chrono::Duration::days(30))
            ),
            "<td",
        ),
        page(
            "archive-window",
            format!(
                "/archives?name=LoyaltyVoucherArchive&start={}&end={}",
                t(window_start),
                t(window_end)
            ),
            "<td",
        ),
        page("audit", "/audit".into(), "<table"),
        page("embed-status", "/embed/status".into(), "class=\"part"),
        page("embed-part", "/embed/parts/voucher".into(), "class=\"bars"),
    ]
}

/// CPU time (user + system) a process has used so far, in seconds.
fn process_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// CPU time (user + system) this process (the load tool) has used so far.
fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// The 1-minute load average, as `uptime` shows it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// 90 days of checks, roll-ups and status changes per part (one outage a
/// day) and the archived events, through the real record and publish paths.
async fn seed(data: &Path) {
    // Seeding's own commits need not be fsynced: the server measured
    // below opens the checkpointed file with its default durability.
    let db = Database::open_with(data, store::Durability::Normal).expect("database");
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
    let now = Utc::now();
    let start = now - chrono::Duration::days(90);
    let ports = mediator_sqlite::ports(&db);
    StatusBoard::new(ports.status.clone(), parts.clone())
        .seed(start)
        .await
        .expect("status board");

    let every = chrono::Duration::seconds(env("MEDIATOR_BENCH_CHECK_SECS", 300));
    let monitor = Arc::new(
        Monitor::new(ports.status.clone(), Arc::new(NoProbe), parts.clone())
            .with_replica(mediator_core::monitor::EMBEDDED_REPLICA),
    );
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, part) in parts.iter().cloned().enumerate() {
        let monitor = monitor.clone();
        tasks.spawn(async move {
            let (mut at, mut n, mut changes) = (start, 0u64, 0u64);
            while at < now - chrono::Duration::minutes(5) {
                // One outage a day, at a different time of day per part:
                // 6 failed checks (down after the third), then good ones.
                let slot = (at - start).num_seconds() / every.num_seconds();
                let per_day = 86_400 / every.num_seconds();
                let in_day = (slot + k as i64 * per_day / 3) % per_day;
                let error = (in_day < 6).then(|| "HTTP 503".to_string());
                let r = monitor.record(&part, at, error, 3).await.expect("record");
                changes += u64::from(r.change.is_some());
                n += 1;
                at += every;
            }
            (n, changes)
        });
    }
    let (mut checks, mut changes) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (n, c) = r.expect("seeding task");
        checks += n;
        changes += c;
    }
    println!(
        "  {checks} checks ({changes} status changes) over 90 days for {} parts in {:.1} s",
        parts.len(),
        t0.elapsed().as_secs_f64()
    );

    // The history is the past: a running mediator would have published
    // these status changes and run their recoveries long ago. Mark them
    // done (the outbox flag and the recovery trigger's cursor), so the
    // server measured below does not replay 90 days of outages.
    db.write(|tx| {
        tx.execute("UPDATE mon_status_changes SET published = 1", [])?;
        tx.execute(
            "UPDATE rec_cursor SET value = (SELECT coalesce(max(id), 0) FROM mon_status_changes)
             WHERE name = 'status_changes'",
            [],
        )
    })
    .await
    .expect("mark the history done");

    let archived: i64 = env("MEDIATOR_BENCH_ARCHIVED", 1_000_000);
    let t0 = Instant::now();
    let publisher = Arc::new(server::backend::EmbeddedEvents::new(
        bus.clone(),
        server::backend::BUS_NAME,
    ));
    let span_ms = (now - start).num_milliseconds() - 60_000;
    let next = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (publisher, next, parts) = (publisher.clone(), next.clone(), parts.clone());
        tasks.spawn(async move {
            const BATCH: i64 = 500;
            loop {
                let first = next.fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
                if first >= archived {
                    break;
                }
                let events: Vec<_> = (first..(first + BATCH).min(archived))
                    .map(|i| {
                        let part = &parts[(i % parts.len() as i64) as usize];
                        let at: DateTime<Utc> =
                            start + chrono::Duration::milliseconds(i * span_ms / archived);
                        let keys = VoucherKeys {
                            loyalty_request_id: format!("bench-{i:07}"),
                            loyalty_reference: format!("L{i}"),
                            merchant_reference: format!("M{i}"),
                            loyalty_order_reference: format!("M101-S76-OP10-T{i}"),
                        };
                        voucher_status_event(part.name.as_str(), VoucherStatus::Retry, &keys, at)
                    })
                    .collect();
                publisher.publish(&events).await.expect("publish");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("publishing task");
    }
    let mut total = 0;
    for part in &parts {
        let a = bus
            .describe_archive(&part.archive_name)
            .await
            .expect("archive");
        total += a.event_count.unwrap_or(0);
    }
    assert_eq!(total, archived, "every event archived");
    println!(
        "  {total} events archived over 90 days in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    seed_vouchers(&db, &publisher, start, now).await;
    db.checkpoint().await.expect("checkpoint");
}

/// `MEDIATOR_BENCH_VOUCHERS` (100,000) vouchers received over the 90 days
/// and submitted, through the DataCache's insert, claim and finish steps,
/// their status events published (the outbox drained) so the server starts
/// with nothing to do for them.
async fn seed_vouchers(
    db: &Database,
    publisher: &Arc<server::backend::EmbeddedEvents>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let n: i64 = env("MEDIATOR_BENCH_VOUCHERS", 100_000);
    let t0 = Instant::now();
    let cache = DataCache::new(mediator_sqlite::ports(db).vouchers.clone());
    let names = PartName::defaults();
    let span_ms = (now - start).num_milliseconds() - 3_600_000;
    let next = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (cache, names, next) = (cache.clone(), names.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let part = names[(i % names.len() as i64) as usize].as_str();
                let id = format!("seeded-{i:07}");
                let body = serde_json::json!({
                    "part": part, "loyalty_request_id": id,
                    "loyalty_reference": format!("ref-{i}"), "merchant_reference": "m-1",
                    "loyalty_order_reference": format!("M101-S76-OP10-T{i}"),
                    "payload": {"points": 10, "sku": "GIFT-25"}
                });
                let req = VoucherRequest::parse(&body, &names).expect("voucher");
                let at = start + chrono::Duration::milliseconds(i * span_ms / n);
                cache.insert(&req, at).await.expect("insert");
                let lease = Duration::from_secs(30);
                let token = match cache.claim(&id, at, lease, "seeded".into()).await {
                    Ok(Claim::Claimed { token, .. }) => token,
                    other => panic!("claim {id}: {other:?}"),
                };
                let done = at + chrono::Duration::milliseconds(120);
                let finished = cache
                    .finish(
                        &id,
                        token,
                        VoucherStatus::Submitted,
                        "HTTP 200".into(),
                        done,
                    )
                    .await
                    .expect("finish");
                assert!(finished, "{id} finished");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("voucher task");
    }
    while mediator_core::submit::publish_status_step(&cache, publisher.as_ref())
        .await
        .expect("publish status events")
        > 0
    {}
    println!(
        "  {n} vouchers received and submitted over 90 days in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// `VmRSS` and `VmHWM` of process `pid`, in words.
fn memory(pid: u32) -> String {
    let (rss, peak) = memory::resident_and_peak_mb(&pid.to_string());
    format!("resident {rss:.0} MB, peak {peak:.0} MB (VmRSS, VmHWM)")
}

/// The mediator binary, running on the seeded data directory.
struct Server {
    child: ServerProcess,
    addr: String,
}

impl Server {
    async fn start(bin: &Path, data: &Path, workspace: &Path) -> Server {
        let [addr, events, sim] = child::free_addrs();
        let child = std::process::Command::new(bin)
            .arg("serve")
            .args(["--listen", &addr, "--events-listen", &events])
            .args(["--sim-listen", &sim, "--poll-interval", "1"])
            .arg("--data-dir")
            .arg(data)
            .arg("--site-root")
            .arg(workspace.join("target/site"))
            .args(["--auth", "none"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the mediator");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("http://{addr}/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the mediator did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server {
            child: ServerProcess(child),
            addr,
        }
    }
}

struct LoadResult {
    per_sec: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    errors: usize,
    /// Mean body bytes per answer, as sent.
    bytes: usize,
    /// The answers' `Content-Encoding`, if any.
    encoding: Option<String>,
}

/// The page's text from a body sent with `encoding` (gzip, br or none).
fn decode(encoding: Option<&str>, body: &[u8]) -> Option<String> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .ok()?;
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .ok()?;
        }
        Some(_) => return None,
    }
    String::from_utf8(out).ok()
}

/// `n` GETs of `url` (each must answer 200 with `marker` in its body) over
/// `connections` concurrent keep-alive connections, with `Accept-Encoding:
/// encoding` unless empty.
async fn load(
    url: &str,
    encoding: &str,
    marker: &'static str,
    n: usize,
    connections: usize,
) -> LoadResult {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        // One client per connection: its own keep-alive connection.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let (url, next, encoding) = (url.to_string(), next.clone(), encoding.to_string());
        tasks.spawn(async move {
            let (mut lat, mut errors, mut bytes) = (Vec::new(), 0usize, 0usize);
            let mut sent_encoding = None;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let t = Instant::now();
                let mut req = client.get(&url);
                if !encoding.is_empty() {
                    req = req.header(reqwest::header::ACCEPT_ENCODING, &encoding);
                }
                let check = encoding.is_empty() || lat.len() % 8 == 0;
                let ok = match req.send().await {
                    Ok(r) if r.status() == 200 => {
                        let enc = r
                            .headers()
                            .get(reqwest::header::CONTENT_ENCODING)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        match r.bytes().await {
                            Ok(body) => {
                                bytes += body.len();
                                let ok = !check
                                    || decode(enc.as_deref(), &body)
                                        .is_some_and(|page| page.contains(marker));
                                sent_encoding = enc;
                                ok
                            }
                            Err(_) => false,
                        }
                    }
                    _ => false,
                };
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (lat, errors, bytes, sent_encoding)
        });
    }
    let (mut lat, mut errors, mut bytes, mut encoding) = (Vec::with_capacity(n), 0, 0, None);
    while let Some(r) = tasks.join_next().await {
        let (l, e, b, enc) = r.expect("load task");
        lat.extend(l);
        errors += e;
        bytes += b;
        encoding = encoding.or(enc);
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    LoadResult {
        per_sec: lat.len() as f64 / secs,
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        max: *lat.last().unwrap_or(&0.0),
        errors,
        bytes: bytes / lat.len().max(1),
        encoding,
    }
}
