//! Profiling driver: `prof <row> <passes>` runs one single-field row (ours against
//! quamina), `prof cloudtrail:<n> <passes>` or `prof lots:<n> <passes>` only our engine
//! over a multi-field rule set of the benchmark's workloads (for `perf record -g`).
//! `prof ratio:cloudtrail:<n> <rounds>` (or `ratio:lots:<n>`) measures the throughput
//! with `n` rules relative to 10 rules, alternating passes of the two so that a machine
//! whose load changes slows both alike (best pass of each). `prof build:cloudtrail:<n>
//! <rounds>` times adding the `n` rules and removing one (200 removals, as the bench).
#[allow(dead_code)]
#[path = "../benches/workloads/mod.rs"]
mod workloads;

use patterns::Matcher;
use std::hint::black_box;

const STREETS: [&str; 8] = [
    "JESSIE", "MISSION", "FULTON", "HOWARD", "FOLSOM", "MARKET", "VAN NESS", "CLAY",
];
const ST_TYPES: [&str; 4] = ["ST", "AVE", "BLVD", "WAY"];
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
fn city_lot(rng: &mut Rng) -> String {
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
    format!(
        r#"{{"type":"Feature","properties":{{"MAPBLKLOT":"{blklot}","BLKLOT":"{blklot}","BLOCK_NUM":"{block:04}","LOT_NUM":"{lot:03}","FROM_ST":"{from}","TO_ST":"{}","STREET":"{street}","ST_TYPE":{st_type},"ODD_EVEN":"{odd_even}"}},"geometry":{{"type":"Polygon","coordinates":[[{coords}]]}}}}"#,
        from + 10
    )
}
fn rules(row: &str) -> Vec<String> {
    let f =
        |vals: &[&str], t: &dyn Fn(&str) -> String| vals.iter().map(|v| t(v)).collect::<Vec<_>>();
    let exact = f(
        &["0001001", "1002010", "2100100", "3500015", "4800050"],
        &|v| format!(r#"{{"properties":{{"MAPBLKLOT":["{v}"]}}}}"#),
    );
    let prefix = f(&["J", "MI", "FUL", "HOW", "VAN "], &|v| {
        format!(r#"{{"properties":{{"STREET":[{{"prefix":"{v}"}}]}}}}"#)
    });
    let ab = f(&["JESSIE", "MISSION", "FULTON", "HOWARD", "CLAY"], &|v| {
        format!(r#"{{"properties":{{"STREET":[{{"anything-but":["{v}","MARKET"]}}]}}}}"#)
    });
    let ic = f(
        &["jessie", "Mission", "fulton", "hOWARD", "van ness"],
        &|v| format!(r#"{{"properties":{{"STREET":[{{"equals-ignore-case":"{v}"}}]}}}}"#),
    );
    let wc = f(&["*E*", "M*T", "*ON", "F*S*M", "*AN N*"], &|v| {
        format!(r#"{{"properties":{{"STREET":[{{"wildcard":"{v}"}}]}}}}"#)
    });
    match row {
        "exact" => exact,
        "prefix" => prefix,
        "ab" => ab,
        "ic" => ic,
        "wc" => wc,
        "all" => [exact, prefix, ab, ic, wc].concat(),
        _ => panic!("row"),
    }
}
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let row = args.get(1).map(String::as_str).unwrap_or("all");
    let passes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    if let Some(spec) = row.strip_prefix("build:") {
        let (kind, n) = spec.split_once(':').expect("build:<kind>:<n>");
        build_cost(kind, n.parse().expect("rule count"), passes);
        return;
    }
    if let Some(spec) = row.strip_prefix("ratio:") {
        let (kind, n) = spec.split_once(':').expect("ratio:<kind>:<n>");
        ratio(kind, n.parse().expect("rule count"), passes);
        return;
    }
    if let Some((kind, n)) = row.split_once(':') {
        multi_field(kind, n.parse().expect("rule count"), passes);
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let lots: Vec<Vec<u8>> = (0..100_000)
        .map(|_| city_lot(&mut rng).into_bytes())
        .collect();
    let mut m = Matcher::new();
    for (i, r) in rules(row).iter().enumerate() {
        m.add_rule(i, r).unwrap();
    }
    let only_ours = std::env::var("ONLY_OURS").is_ok();
    let mut q = quamina::QuaminaBuilder::new()
        .with_arena_byte_budget(1 << 34)
        .build()
        .unwrap();
    for (i, r) in rules(row).iter().enumerate() {
        q.add_pattern(i, r).unwrap();
    }
    // In this thread's CPU time, as the multi-field modes.
    let (mut best_o, mut best_q) = (0f64, 0f64);
    for _ in 0..passes {
        let t = thread_cpu_seconds();
        let mut n = 0;
        for e in &lots {
            n += black_box(m.matches_for_event(e).unwrap()).len();
        }
        best_o = best_o.max(lots.len() as f64 / (thread_cpu_seconds() - t) / 1e6);
        let _ = black_box(n);
        if only_ours {
            continue;
        }
        let t = thread_cpu_seconds();
        let mut n2 = 0;
        for e in &lots {
            n2 += black_box(q.matches_for_event(e).unwrap()).len();
        }
        best_q = best_q.max(lots.len() as f64 / (thread_cpu_seconds() - t) / 1e6);
        assert_eq!(n, n2);
    }
    eprintln!(
        "{row:6}: ours {best_o:.2} M/s  quamina {best_q:.2} M/s  ratio {:.2}",
        best_o / best_q
    );
}

/// The rules and events of a multi-field workload.
fn workload(kind: &str, n: usize) -> (Vec<workloads::Rule>, Vec<Vec<u8>>) {
    match kind {
        "cloudtrail" => (
            workloads::cloudtrail_rules(n),
            workloads::cloudtrail_events(50_000),
        ),
        "lots" => {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            (
                workloads::city_lot_rules(n),
                (0..100_000)
                    .map(|_| city_lot(&mut rng).into_bytes())
                    .collect(),
            )
        }
        _ => panic!("kind: cloudtrail or lots"),
    }
}

fn build(rules: &[workloads::Rule]) -> Matcher<usize> {
    let mut m = Matcher::new();
    for (i, r) in rules.iter().enumerate() {
        m.add_rule(i, &r.ours).unwrap();
    }
    m
}

/// Events per second of one pass over `events`, in this thread's CPU time.
fn pass(m: &Matcher<usize>, events: &[Vec<u8>]) -> f64 {
    let t = thread_cpu_seconds();
    let mut found = 0;
    for e in events {
        found += black_box(m.matches_for_event(e).unwrap()).len();
    }
    let _ = black_box(found);
    events.len() as f64 / (thread_cpu_seconds() - t)
}

/// Throughput with `n` rules relative to 10 rules, from alternating passes.
fn ratio(kind: &str, n: usize, rounds: usize) {
    let (rules, events) = workload(kind, n);
    let (small, large) = (build(&rules[..10]), build(&rules));
    let (mut best_small, mut best_large) = (0f64, 0f64);
    for _ in 0..rounds {
        best_small = best_small.max(pass(&small, &events));
        best_large = best_large.max(pass(&large, &events));
    }
    eprintln!(
        "{kind}: 10 rules {:.3} M/s, {n} rules {:.3} M/s, ratio {:.2} (best of {rounds} alternating passes, CPU time)",
        best_small / 1e6,
        best_large / 1e6,
        best_large / best_small
    );
}

/// Time to add `n` rules (CPU time, best of `rounds`) and to remove one with all loaded
/// (200 removals, each rule added back).
fn build_cost(kind: &str, n: usize, rounds: usize) {
    let (rules, _) = workload(kind, n);
    let mut best = f64::MAX;
    let mut m = Matcher::new();
    for _ in 0..rounds.max(1) {
        let t = thread_cpu_seconds();
        m = black_box(build(&rules));
        best = best.min(thread_cpu_seconds() - t);
    }
    let mut times = Vec::new();
    for k in 0..200 {
        let id = (k * 7_919) % rules.len();
        let t = std::time::Instant::now();
        assert!(m.remove_rule(&id));
        times.push(t.elapsed().as_secs_f64());
        m.add_rule(id, &rules[id].ours).unwrap();
    }
    times.sort_unstable_by(f64::total_cmp);
    eprintln!(
        "{kind}:{n}: adding all {:.0} ms (CPU time, best of {rounds}); removing one: median {:.1} µs, worst {:.1} µs",
        best * 1e3,
        times[100] * 1e6,
        times[199] * 1e6
    );
}

/// Our engine alone over `n` multi-field rules of the benchmark's workloads.
fn multi_field(kind: &str, n: usize, passes: usize) {
    let (rules, events) = workload(kind, n);
    let m = build(&rules);
    // In this thread's CPU time: the machine is shared, and waiting for a core is not
    // the matcher's cost.
    let best = (0..passes).map(|_| pass(&m, &events)).fold(0f64, f64::max) / 1e6;
    eprintln!("{kind}:{n}: ours {best:.3} M/s (CPU time)");
}

/// CPU time consumed by the calling thread, in seconds (Linux).
fn thread_cpu_seconds() -> f64 {
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
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
