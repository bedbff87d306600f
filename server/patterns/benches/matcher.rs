//! Matching throughput, ours vs. the `quamina` crate 0.7, side by side on the workload of
//! /work/shared/PERF-ANCHORS.md: 100,000 deterministic GeoJSON "city lot" records plus
//! the product's own status events; one thread; matching from raw bytes (parsing included).
//! Then multi-field rule sets of 10 to 20,000 rules from shared vocabularies (see
//! `workloads`), over CloudTrail-shaped events and over the city lots, with the memory
//! each engine holds per rule, the time to add the whole set and to remove one rule.
//!
//! Before measuring, every row checks that both engines report the same total number of
//! matches over all events (multi-field rows also check ours against single-pattern
//! matching on a sample of events). A quick side-by-side table (events/s, ratio) is
//! printed to stderr, its times in CPU time of the measuring thread (on Linux), so that
//! a machine busy with other work slows the figures less; criterion then measures each
//! row and engine (throughput in elements = events, wall time).
//!
//! Run: `cargo bench -p patterns` (set `QUICK_TABLE_ONLY=1` to print only the tables,
//! `MULTI_FIELD_ONLY=1` or `SINGLE_FIELD_ONLY=1` for one half).

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use patterns::{EventPattern, Matcher};
use quamina::{Quamina, QuaminaBuilder};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use workloads::Rule;

/// The system allocator, counting live bytes so the memory an engine holds per rule can
/// be read off as the difference before and after building it.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE_BYTES.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() {
            LIVE_BYTES.fetch_add(new_size, Relaxed);
            LIVE_BYTES.fetch_sub(l.size(), Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const STREETS: [&str; 8] = [
    "JESSIE", "MISSION", "FULTON", "HOWARD", "FOLSOM", "MARKET", "VAN NESS", "CLAY",
];
const ST_TYPES: [&str; 4] = ["ST", "AVE", "BLVD", "WAY"];

use workloads::Rng;

/// One city-lot record, shaped like SF's citylots GeoJSON.
fn city_lot(i: u64, rng: &mut Rng) -> String {
    let block = rng.below(9000) + 1;
    let lot = rng.below(200) + 1;
    let blklot = format!("{block:04}{lot:03}");
    let street = STREETS[rng.below(8) as usize];
    let st_type = if rng.below(5) == 0 {
        "null".to_string()
    } else {
        format!("\"{}\"", ST_TYPES[rng.below(4) as usize])
    };
    let from = rng.below(3000);
    let odd_even = if from.is_multiple_of(2) { "E" } else { "O" };
    let lon0 = -122.52 + rng.below(150_000) as f64 / 1e6;
    let lat0 = 37.70 + rng.below(120_000) as f64 / 1e6;
    let mut coords = String::new();
    for k in 0..24 {
        if k > 0 {
            coords.push(',');
        }
        let dx = rng.below(2000) as f64 / 1e7;
        let dy = rng.below(2000) as f64 / 1e7;
        coords.push_str(&format!("[{:.6},{:.6},0.0]", lon0 + dx, lat0 + dy));
    }
    let _ = i;
    format!(
        r#"{{"type":"Feature","properties":{{"MAPBLKLOT":"{blklot}","BLKLOT":"{blklot}","BLOCK_NUM":"{block:04}","LOT_NUM":"{lot:03}","FROM_ST":"{from}","TO_ST":"{}","STREET":"{street}","ST_TYPE":{st_type},"ODD_EVEN":"{odd_even}"}},"geometry":{{"type":"Polygon","coordinates":[[{coords}]]}}}}"#,
        from + 10
    )
}

fn city_lots(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n as u64)
        .map(|i| city_lot(i, &mut rng).into_bytes())
        .collect()
}

/// The product's status events (archive / replay / SAAS_STATUS traffic).
fn status_events(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(42);
    (0..n)
        .map(|i| {
            let status = ["retry", "done", "failed"][rng.below(3) as usize];
            let replay = match rng.below(4) {
                0 => format!(r#","replay-name":"LoyaltyVoucherReplay-{i}""#),
                1 => r#","replay-name":"Other""#.to_string(),
                _ => String::new(),
            };
            if rng.below(5) == 0 {
                let (p, c) = [("down", "up"), ("up", "down"), ("up", "up")][rng.below(3) as usize];
                format!(r#"{{"version":"0","id":"{i}","detail-type":"SAAS_STATUS","source":"vendor-mediator","account":"123456789012","time":"2024-05-01T10:00:00Z","region":"eu-west-1","resources":[],"detail":{{"vendor":"v{}","previous":"{p}","current":"{c}"}}}}"#, i % 7).into_bytes()
            } else {
                format!(r#"{{"version":"0","id":"{i}","detail-type":"task-status","source":"service-loyalty-vendor-mediator","account":"123456789012","time":"2024-05-01T10:00:00Z","region":"eu-west-1","resources":[],"detail":{{"metadata":{{"domain":"LEGO-LOYALTY","service":"service-loyalty-vendor-mediator","category":"task-status","type":"voucher","status":"{status}"}},"data":{{"voucherId":"v-{i}","attempt":{}}}}}{replay}}}"#, rng.below(5)).into_bytes()
            }
        })
        .collect()
}

fn exact_rules() -> Vec<String> {
    ["0001001", "1002010", "2100100", "3500015", "4800050"]
        .iter()
        .map(|v| format!(r#"{{"properties":{{"MAPBLKLOT":["{v}"]}}}}"#))
        .collect()
}
fn prefix_rules() -> Vec<String> {
    ["J", "MI", "FUL", "HOW", "VAN "]
        .iter()
        .map(|v| format!(r#"{{"properties":{{"STREET":[{{"prefix":"{v}"}}]}}}}"#))
        .collect()
}
fn anything_but_rules() -> Vec<String> {
    ["JESSIE", "MISSION", "FULTON", "HOWARD", "CLAY"]
        .iter()
        .map(|v| format!(r#"{{"properties":{{"STREET":[{{"anything-but":["{v}","MARKET"]}}]}}}}"#))
        .collect()
}
fn numeric_rules() -> Vec<String> {
    [
        (-122.52, -122.50),
        (-122.45, -122.44),
        (-122.41, -122.405),
        (-122.40, -122.39),
        (-122.38, -122.37),
    ]
    .iter()
    .map(|(a, b)| format!(r#"{{"geometry":{{"coordinates":[{{"numeric":[">",{a},"<",{b}]}}]}}}}"#))
    .collect()
}
fn ignore_case_rules() -> Vec<String> {
    ["jessie", "Mission", "fulton", "hOWARD", "van ness"]
        .iter()
        .map(|v| format!(r#"{{"properties":{{"STREET":[{{"equals-ignore-case":"{v}"}}]}}}}"#))
        .collect()
}
fn wildcard_rules() -> Vec<String> {
    ["*E*", "M*T", "*ON", "F*S*M", "*AN N*"]
        .iter()
        .map(|v| format!(r#"{{"properties":{{"STREET":[{{"wildcard":"{v}"}}]}}}}"#))
        .collect()
}
/// N rules: alternately exact MAPBLKLOT values and MAPBLKLOT prefixes.
fn many_rules(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let block = (i * 7919) % 9000 + 1;
            if i.is_multiple_of(2) {
                let lot = (i * 31) % 200 + 1;
                format!(r#"{{"properties":{{"MAPBLKLOT":["{block:04}{lot:03}"]}}}}"#)
            } else {
                format!(r#"{{"properties":{{"MAPBLKLOT":[{{"prefix":"{block:04}1"}}]}}}}"#)
            }
        })
        .collect()
}
fn status_rules() -> Vec<String> {
    vec![
        r#"{"detail":{"metadata":{"domain":["LEGO-LOYALTY"],"service":["service-loyalty-vendor-mediator"],"category":["task-status"],"type":["voucher"],"status":["retry"]}},"replay-name":[{"exists":false}]}"#.into(),
        r#"{"detail":{"metadata":{"domain":["LEGO-LOYALTY"],"service":["service-loyalty-vendor-mediator"],"type":["voucher"],"status":["retry"]}},"replay-name":[{"prefix":"LoyaltyVoucherReplay"}]}"#.into(),
        r#"{"detail-type":["SAAS_STATUS"],"detail":{"previous":["down"],"current":["up"]}}"#.into(),
        r#"{"detail-type":["SAAS_STATUS"],"detail":{"previous":["up"],"current":["down"]}}"#.into(),
    ]
}

struct Row {
    name: String,
    rules: Vec<String>,
    status: bool,
}

fn rows() -> Vec<Row> {
    let mut v = vec![
        Row {
            name: "5 exact".into(),
            rules: exact_rules(),
            status: false,
        },
        Row {
            name: "5 prefix".into(),
            rules: prefix_rules(),
            status: false,
        },
        Row {
            name: "5 anything-but".into(),
            rules: anything_but_rules(),
            status: false,
        },
        Row {
            name: "5 numeric ranges (coordinates)".into(),
            rules: numeric_rules(),
            status: false,
        },
        Row {
            name: "5 equals-ignore-case".into(),
            rules: ignore_case_rules(),
            status: false,
        },
        Row {
            name: "5 wildcard".into(),
            rules: wildcard_rules(),
            status: false,
        },
    ];
    let mut all25 = Vec::new();
    for r in [
        exact_rules(),
        prefix_rules(),
        anything_but_rules(),
        ignore_case_rules(),
        wildcard_rules(),
    ] {
        all25.extend(r);
    }
    v.push(Row {
        name: "25 non-numeric together".into(),
        rules: all25,
        status: false,
    });
    for n in [10, 100, 1_000, 10_000] {
        v.push(Row {
            name: format!("{n} exact/prefix"),
            rules: many_rules(n),
            status: false,
        });
    }
    v.push(Row {
        name: "status events, 4 product rules".into(),
        rules: status_rules(),
        status: true,
    });
    v
}

fn ours(rules: &[String]) -> Matcher<usize> {
    let mut m = Matcher::new();
    for (i, r) in rules.iter().enumerate() {
        m.add_rule(i, r).unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    m
}

fn theirs(rules: &[String]) -> Quamina<usize> {
    let mut q = QuaminaBuilder::new()
        .with_arena_byte_budget(1 << 34)
        .build()
        .expect("quamina builds");
    for (i, r) in rules.iter().enumerate() {
        q.add_pattern(i, r)
            .unwrap_or_else(|e| panic!("quamina rejects {r}: {e:?}"));
    }
    q
}

fn count_ours(m: &Matcher<usize>, events: &[Vec<u8>]) -> usize {
    events
        .iter()
        .map(|e| m.matches_for_event(e).unwrap().len())
        .sum()
}

fn count_theirs(q: &Quamina<usize>, events: &[Vec<u8>]) -> usize {
    events
        .iter()
        .map(|e| q.matches_for_event(e).unwrap().len())
        .sum()
}

/// CPU time consumed by the calling thread (Linux), so that figures taken on a machine
/// busy with other work count the matcher's work rather than the time the thread waited
/// for a CPU; `None` where unavailable (wall time is used then).
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` from the C library std links against, given a valid clock
    // id and a pointer to a live `timespec` (two 64-bit fields on 64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Run `f` and return its result and duration: this thread's CPU time where
/// available, else wall time.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let (cpu, wall) = (thread_cpu_time(), Instant::now());
    let r = f();
    let took = match (cpu, thread_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall.elapsed(),
    };
    (r, took)
}

fn rate(events: usize, f: impl Fn() -> usize) -> f64 {
    // Best of 3 passes.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let (n, took) = timed(&f);
        black_box(n);
        best = best.min(took);
    }
    events as f64 / best.as_secs_f64()
}

/// `quamina` over a multi-field rule set, or why it has none.
enum Theirs {
    Built {
        q: Box<Quamina<usize>>,
        add_all: Duration,
        bytes: usize,
    },
    Refused(String),
    Panicked,
}

/// Run `f`, turning a panic into `None` (without the panic message on stderr).
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f)).ok();
    std::panic::set_hook(hook);
    r
}

fn try_theirs(rules: &[Rule]) -> Theirs {
    let before = LIVE_BYTES.load(Relaxed);
    let (built, add_all) = timed(|| {
        quietly(|| {
            let mut q = QuaminaBuilder::new()
                .with_arena_byte_budget(1 << 34)
                .build()
                .expect("quamina builds");
            for (i, r) in rules.iter().enumerate() {
                for p in &r.quamina {
                    if let Err(e) = q.add_pattern(i, p) {
                        return Err(format!("{e}"));
                    }
                }
            }
            Ok(q)
        })
    });
    match built {
        None => Theirs::Panicked,
        Some(Err(e)) => Theirs::Refused(e),
        Some(Ok(q)) => Theirs::Built {
            bytes: LIVE_BYTES.load(Relaxed).saturating_sub(before),
            q: Box::new(q),
            add_all,
        },
    }
}

/// Ours over a multi-field rule set: the matcher, the time to add every rule and the
/// bytes it holds.
fn build_ours(rules: &[Rule]) -> (Matcher<usize>, Duration, usize) {
    let before = LIVE_BYTES.load(Relaxed);
    let (m, add_all) = timed(|| {
        let mut m = Matcher::new();
        for (i, r) in rules.iter().enumerate() {
            m.add_rule(i, &r.ours)
                .unwrap_or_else(|e| panic!("{}: {e}", r.ours));
        }
        m
    });
    let bytes = LIVE_BYTES.load(Relaxed).saturating_sub(before);
    (m, add_all, bytes)
}

/// Ours must agree with single-pattern matching, rule by rule, on a sample of events.
fn check_against_single(m: &Matcher<usize>, rules: &[Rule], events: &[Vec<u8>]) {
    let pats: Vec<EventPattern> = rules
        .iter()
        .map(|r| EventPattern::parse(&r.ours).expect("valid rule"))
        .collect();
    for e in events.iter().step_by(events.len() / 50) {
        let want: Vec<usize> = (0..pats.len())
            .filter(|&i| pats[i].matches_bytes(e).unwrap())
            .collect();
        let mut got = m.matches_for_event(e).unwrap();
        got.sort_unstable();
        assert_eq!(got, want, "{}", String::from_utf8_lossy(e));
    }
}

/// Median and worst time to remove one rule from `m` (each is added back afterwards, so
/// every removal sees the whole set).
fn removal_times(m: &mut Matcher<usize>, rules: &[Rule]) -> (Duration, Duration) {
    let mut times = Vec::new();
    for k in 0..200 {
        let id = (k * 7_919) % rules.len();
        let (removed, took) = timed(|| m.remove_rule(&id));
        assert!(removed);
        times.push(took);
        m.add_rule(id, &rules[id].ours).unwrap();
    }
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() - 1])
}

/// Events per second, in millions down to 0.1 M, else in thousands.
fn per_second(r: f64) -> String {
    if r >= 1e5 {
        format!("{:.3} M", r / 1e6)
    } else {
        format!("{:.2} k", r / 1e3)
    }
}

fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The multi-field tables: throughput per rule-set size on one kind of event, then
/// memory and build times; returns the built matchers for criterion.
fn multi_field(
    label: &str,
    make: fn(usize) -> Vec<Rule>,
    events: &[Vec<u8>],
) -> Vec<(String, Matcher<usize>)> {
    let mut out = Vec::new();
    let mut cost = Vec::new();
    let mut rates = Vec::new();
    eprintln!();
    eprintln!(
        "| {label} | matches/event | ours, events/s | quamina 0.7, events/s | ours / quamina |"
    );
    eprintln!("|---|---|---|---|---|");
    for n in [10, 100, 1_000, 5_000, 20_000] {
        let rules = make(n);
        let (mut m, add_all, bytes) = build_ours(&rules);
        check_against_single(&m, &rules, events);
        // As many events as ours matches in about a second (all of them if it can), so
        // that a slow tree still finishes; both engines see the same events.
        let probe = &events[..events.len().min(500)];
        let (probed, took) = timed(|| count_ours(&m, probe));
        black_box(probed);
        let per_event = took.as_secs_f64() / probe.len() as f64;
        let events = &events[..((1.0 / per_event) as usize).clamp(probe.len(), events.len())];
        let a = count_ours(&m, events);
        let ro = rate(events.len(), || count_ours(&m, events));
        rates.push((n, ro));
        let theirs = try_theirs(&rules);
        let (col, ratio, q_cost) = match &theirs {
            Theirs::Built { q, add_all, bytes } => match quietly(|| count_theirs(q, events)) {
                None => ("panics while matching".to_string(), "–".to_string(), None),
                Some(b) if b != a => (format!("disagrees ({b} matches)"), "–".into(), None),
                Some(_) => {
                    let rq = rate(events.len(), || count_theirs(q, events));
                    (
                        per_second(rq),
                        format!("{:.2}x", ro / rq),
                        Some((*add_all, *bytes)),
                    )
                }
            },
            Theirs::Refused(e) => (format!("refuses: {e}"), "–".into(), None),
            Theirs::Panicked => ("panics while adding".into(), "–".into(), None),
        };
        eprintln!(
            "| {} rules | {:.2} | {} | {col} | {ratio} |",
            group(n),
            a as f64 / events.len() as f64,
            per_second(ro)
        );
        let removal = (n == 20_000).then(|| removal_times(&mut m, &rules));
        cost.push((n, bytes, add_all, removal, q_cost));
        out.push((format!("{label}, {} rules", group(n)), m));
    }
    let base = rates[0].1;
    let rel: Vec<String> = rates[1..]
        .iter()
        .map(|(n, r)| format!("{}: {:.2}", group(*n), r / base))
        .collect();
    eprintln!("throughput relative to 10 rules: {}", rel.join(", "));
    eprintln!();
    eprintln!(
        "| {label} | ours, bytes/rule | ours, add all | quamina, bytes/rule | quamina, add all |"
    );
    eprintln!("|---|---|---|---|---|");
    for (n, bytes, add_all, _, q) in &cost {
        let (qb, qt) = match q {
            Some((t, b)) => (
                format!("{}", b / n),
                format!("{:.1} ms", t.as_secs_f64() * 1e3),
            ),
            None => ("–".into(), "–".into()),
        };
        eprintln!(
            "| {} rules | {} | {:.1} ms | {qb} | {qt} |",
            group(*n),
            bytes / n,
            add_all.as_secs_f64() * 1e3
        );
    }
    for (n, _, _, removal, _) in &cost {
        if let Some((median, worst)) = removal {
            eprintln!(
                "removing one rule with {} loaded (200 removals): median {:.1} µs, worst {:.1} µs",
                group(*n),
                median.as_secs_f64() * 1e6,
                worst.as_secs_f64() * 1e6
            );
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let lots = city_lots(100_000);
    let status = status_events(100_000);
    let mean = lots.iter().map(|e| e.len()).sum::<usize>() as f64 / lots.len() as f64;
    eprintln!("city lots: {} records, mean {:.0} bytes", lots.len(), mean);
    eprintln!("| Rule set | matches | ours, events/s | quamina 0.7, events/s | ours / quamina |");
    eprintln!("|---|---|---|---|---|");
    let rows = if std::env::var("MULTI_FIELD_ONLY").is_ok() {
        Vec::new()
    } else {
        rows()
    };
    let mut built = Vec::new();
    for row in &rows {
        let events = if row.status { &status } else { &lots };
        let m = ours(&row.rules);
        let q = theirs(&row.rules);
        let (a, b) = (count_ours(&m, events), count_theirs(&q, events));
        assert_eq!(
            a, b,
            "{}: match counts disagree (ours {a}, quamina {b})",
            row.name
        );
        let ro = rate(events.len(), || count_ours(&m, events));
        let rq = rate(events.len(), || count_theirs(&q, events));
        eprintln!(
            "| {} | {a} | {:.3} M | {:.3} M | {:.2}x |",
            row.name,
            ro / 1e6,
            rq / 1e6,
            ro / rq
        );
        built.push((row, m, q));
    }
    let single_only = std::env::var("SINGLE_FIELD_ONLY").is_ok();
    let trail = workloads::cloudtrail_events(if single_only { 10_000 } else { 50_000 });
    let (mut multi, lot_multi) = if single_only {
        (Vec::new(), Vec::new())
    } else {
        let mean = trail.iter().map(|e| e.len()).sum::<usize>() as f64 / trail.len() as f64;
        eprintln!();
        eprintln!(
            "CloudTrail-shaped events: {} records, mean {mean:.0} bytes",
            trail.len()
        );
        (
            multi_field(
                "CloudTrail events, multi-field rules",
                workloads::cloudtrail_rules,
                &trail,
            ),
            multi_field(
                "city lots, multi-field rules",
                workloads::city_lot_rules,
                &lots,
            ),
        )
    };
    if std::env::var("QUICK_TABLE_ONLY").is_ok() {
        return;
    }
    let mut g = c.benchmark_group("match");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    for (row, m, q) in &built {
        // 10,000 events per iteration keeps each row to a few seconds.
        let events = if row.status {
            &status[..10_000]
        } else {
            &lots[..10_000]
        };
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_with_input(BenchmarkId::new("ours", &row.name), events, |b, ev| {
            b.iter(|| count_ours(m, ev))
        });
        g.bench_with_input(BenchmarkId::new("quamina", &row.name), events, |b, ev| {
            b.iter(|| count_theirs(q, ev))
        });
    }
    multi.extend(lot_multi);
    for (name, m) in &multi {
        let events = if name.starts_with("CloudTrail") {
            &trail[..10_000]
        } else {
            &lots[..10_000]
        };
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_with_input(BenchmarkId::new("ours", name), events, |b, ev| {
            b.iter(|| count_ours(m, ev))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
