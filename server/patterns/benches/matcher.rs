//! Matching throughput, ours vs. the `quamina` crate 0.7, side by side on the workload of
//! /work/shared/PERF-ANCHORS.md: 100,000 deterministic GeoJSON "city lot" records plus
//! the product's own status events; one thread; matching from raw bytes (parsing included).
//!
//! Before measuring, every row checks that both engines report the same total number of
//! matches over all events. A quick side-by-side table (events/s, ratio) is printed to
//! stderr; criterion then measures each row and engine (throughput in elements = events).
//!
//! Run: `cargo bench -p patterns` (set `QUICK_TABLE_ONLY=1` to print only the table).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use patterns::Matcher;
use quamina::{Quamina, QuaminaBuilder};
use std::hint::black_box;
use std::time::{Duration, Instant};

const STREETS: [&str; 8] = [
    "JESSIE", "MISSION", "FULTON", "HOWARD", "FOLSOM", "MARKET", "VAN NESS", "CLAY",
];
const ST_TYPES: [&str; 4] = ["ST", "AVE", "BLVD", "WAY"];

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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

fn rate(events: usize, f: impl Fn() -> usize) -> f64 {
    // Best of 3 passes.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed());
    }
    events as f64 / best.as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let lots = city_lots(100_000);
    let status = status_events(100_000);
    let mean = lots.iter().map(|e| e.len()).sum::<usize>() as f64 / lots.len() as f64;
    eprintln!("city lots: {} records, mean {:.0} bytes", lots.len(), mean);
    eprintln!("| Rule set | matches | ours, events/s | quamina 0.7, events/s | ours / quamina |");
    eprintln!("|---|---|---|---|---|");
    let rows = rows();
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
            "| {} | {a} | {:.2} M | {:.2} M | {:.2}x |",
            row.name,
            ro / 1e6,
            rq / 1e6,
            ro / rq
        );
        built.push((row, m, q));
    }
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
