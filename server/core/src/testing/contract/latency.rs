//! The roll-ups' latency histograms: each recorded check counts once in its
//! latency bin of its minute, hour and day, whichever replica reads.

use super::*;
use crate::latency::{bin_of, LatencyHistogram};
use crate::storage::history::MonitorHistory;

/// Records one check of `latency_ms` at `at` (single writer).
async fn timed(s: &dyn StatusStore, part: &str, at: DateTime<Utc>, latency_ms: u64, ok: bool) {
    let snap = s.load(part).await.expect("load");
    let write = CheckWrite {
        latency_ms,
        ..observe(&snap, at, (!ok).then_some("HTTP 503"))
    };
    match s.record(part, &snap, &write).await.expect("record") {
        RecordOutcome::Recorded { .. } => {}
        RecordOutcome::Stale => panic!("{part}: stale with a single writer"),
    }
}

fn histogram(values: &[u64]) -> LatencyHistogram {
    let mut h = LatencyHistogram::default();
    for v in values {
        h.record(*v);
    }
    h
}

/// Latency roll-ups: per minute, hour and day, bins counted exactly (failed
/// checks included), only roll-ups with checks, in `[lo, hi)`, by part.
pub async fn check_latency_rollups(s: &dyn StatusStore, h: &dyn MonitorHistory) {
    let part = "latency-part";
    // t(0) = 1_800_000_000 s is 08:00:00 UTC: minute and hour starts.
    let at = |secs: i64| t(secs);
    let ms = |secs: i64| t(secs).timestamp_millis();
    let script: [(i64, u64, bool); 6] = [
        (0, 3, true),
        (10, 3, true),
        (20, 120, true),
        (30, 5_000, false),
        (60, 450, true),
        (3_600, 0, true),
    ];
    for (secs, latency, ok) in script {
        timed(s, part, at(secs), latency, ok).await;
    }
    timed(s, "other-part", at(0), 999, true).await;

    let minutes = h
        .latency_rollups(part, "minute", ms(0), ms(3_660))
        .await
        .expect("minute roll-ups");
    let got: Vec<(i64, LatencyHistogram)> = minutes
        .into_iter()
        .map(|r| (r.bucket_ms, r.histogram))
        .collect();
    assert_eq!(
        got,
        [
            (ms(0), histogram(&[3, 3, 120, 5_000])),
            (ms(60), histogram(&[450])),
            (ms(3_600), histogram(&[0])),
        ],
        "minute roll-ups with checks, in order, failed checks counted"
    );
    assert_eq!(
        h.latency_rollups(part, "minute", ms(60), ms(3_600))
            .await
            .expect("minute roll-ups")
            .iter()
            .map(|r| r.bucket_ms)
            .collect::<Vec<_>>(),
        [ms(60)],
        "only roll-ups starting in [lo, hi)"
    );
    let hours = h
        .latency_rollups(part, "hour", ms(-3_600), ms(7_200))
        .await
        .expect("hour roll-ups");
    assert_eq!(hours.len(), 2, "{hours:?}");
    assert_eq!(hours[0].bucket_ms, ms(0));
    assert_eq!(hours[0].histogram, histogram(&[3, 3, 120, 5_000, 450]));
    assert_eq!(hours[1].histogram, histogram(&[0]));
    let day_start = ms(0) - ms(0).rem_euclid(86_400_000);
    let days = h
        .latency_rollups(part, "day", day_start, day_start + 86_400_000)
        .await
        .expect("day roll-ups");
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].bucket_ms, day_start);
    assert_eq!(days[0].histogram.total(), 6);
    assert_eq!(
        days[0].histogram.bins().collect::<Vec<_>>(),
        [
            (bin_of(0), 1),
            (bin_of(3), 2),
            (bin_of(120), 1),
            (bin_of(450), 1),
            (bin_of(5_000), 1)
        ]
    );
    assert!(h
        .latency_rollups("no-such-part", "day", day_start, day_start + 86_400_000)
        .await
        .expect("day roll-ups")
        .is_empty());
}
