//! Moved from mediator-core's `history` unit tests: they run on SQLite.

use crate::support::{self};
use async_trait::async_trait;
use chrono::Duration;
use chrono::NaiveDate;
use chrono::{DateTime, TimeZone, Utc};
use mediator_core::archives::ArchivedEvent;
use mediator_core::archives::{ArchiveBrowser, ArchiveCursor, ArchiveError, ArchiveSummary};
use mediator_core::history::*;
use mediator_core::*;
use mediator_core::{HealthProbe, Monitor, PartName, Thresholds};
use std::sync::Arc;
use store::Database;

struct NoProbe;

#[async_trait]
impl HealthProbe for NoProbe {
    async fn check(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

fn part(name: &str) -> PartSettings {
    let mut p = PartSettings::new(PartName::parse(name).unwrap());
    p.thresholds = Thresholds {
        failure: 1,
        recovery: 1,
    };
    p
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, h, m, s).unwrap()
}

/// Checks `p` every `every` from `from` to `to` (exclusive), failing in
/// `[down_from, down_to)`.
async fn run_checks(
    m: &Monitor,
    p: &PartSettings,
    every: Duration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    down: (DateTime<Utc>, DateTime<Utc>),
) {
    let mut t = from;
    while t < to {
        let err = (t >= down.0 && t < down.1).then(|| "503".to_string());
        m.record(p, t, err, 3).await.unwrap();
        t += every;
    }
}

async fn db() -> (tempfile::TempDir, Database) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    (tmp, db)
}

/// The split by runs of checked hours equals asking hour by hour.
#[tokio::test]
async fn the_same_outage_gives_the_same_minutes_down_whatever_the_poll_interval() {
    let (_tmp, db) = db().await;
    let (slow, fast) = (part("voucher"), part("member"));
    let m = support::monitor(db.clone(), Arc::new(NoProbe), vec![]);
    let outage = (at(10, 0, 30), at(10, 45, 30));
    run_checks(
        &m,
        &slow,
        Duration::minutes(5),
        at(9, 0, 30),
        at(12, 0, 0),
        outage,
    )
    .await;
    run_checks(
        &m,
        &fast,
        Duration::seconds(15),
        at(9, 0, 30),
        at(12, 0, 0),
        outage,
    )
    .await;
    let h = support::history(db, vec![slow, fast]);
    let now = at(12, 0, 0);
    for name in ["voucher", "member"] {
        let days = h.days(name, 90, now).await.unwrap();
        assert_eq!(days.bars.len(), 90);
        let today = days.bars.last().unwrap();
        assert_eq!(today.label, "2026-11-20");
        assert_eq!((today.down_secs, today.outages), (45 * 60, 1), "{name}");
        assert_eq!(today.down_minutes, 45.0);
        assert_eq!(today.up_secs, 3 * 3600 - 30 - 45 * 60, "{name}");
        assert_eq!(
            today.no_data_secs,
            86_400 - today.up_secs - today.down_secs,
            "before the first check and the future are no data"
        );
        assert!(days.bars[..89].iter().all(|b| b.no_data_secs == 86_400));
        assert_eq!(days.outages.len(), 1);
        let o = &days.outages[0];
        assert_eq!(
            (o.start, o.end, o.duration_secs),
            (outage.0, Some(outage.1), 2700)
        );

        let day = h
            .day(name, parse_date("2026-11-20", "date").unwrap(), now)
            .await
            .unwrap();
        let down: Vec<i64> = day.bars.iter().map(|b| b.down_secs).collect();
        assert_eq!(down[10], 45 * 60, "{name}");
        assert_eq!(down.iter().sum::<i64>(), 45 * 60);
        assert_eq!(day.bars[10].label, "10:00");
        assert_eq!(day.bars[8].no_data_secs, 3600, "before monitoring started");
        assert_eq!(day.bars[9].no_data_secs, 30);

        let hour = h
            .hour(name, parse_hour("2026-11-20T10", "hour").unwrap(), now)
            .await
            .unwrap();
        let down: Vec<i64> = hour.bars.iter().map(|b| b.down_secs).collect();
        assert_eq!(down[0], 30, "{name}: from 10:00:30");
        assert!(down[1..45].iter().all(|d| *d == 60), "{name}: {down:?}");
        assert_eq!(down[45], 30, "{name}: until 10:45:30");
        assert!(down[46..].iter().all(|d| *d == 0));
        assert_eq!(hour.bars[42].label, "10:42");
        assert_eq!(hour.bars[20].outages, 1);
        assert_eq!(hour.bars[50].outages, 0);

        let up = h.uptime(name, now).await.unwrap();
        let w24 = &up.windows[0];
        assert_eq!(w24.window, "24h");
        assert_eq!(w24.down_secs, 2700);
        assert_eq!(w24.up_secs + w24.down_secs + w24.no_data_secs, 86_400);
        let pct = w24.percent.unwrap();
        assert!(
            (pct - 100.0 * (10_770.0 - 2700.0) / 10_770.0).abs() < 1e-9,
            "{pct}"
        );
        assert_eq!(up.windows[3].window, "90d");
        assert_eq!(
            up.windows[3].percent, w24.percent,
            "no other data in 90 days"
        );
    }
}

#[tokio::test]
async fn hours_without_any_check_are_no_data_not_up_or_down() {
    let (_tmp, db) = db().await;
    let p = part("points");
    let m = support::monitor(db.clone(), Arc::new(NoProbe), vec![]);
    // Up from 08:00, down at 09:00, the mediator stops at 09:30 and is back
    // at 13:00, when the part is up again.
    run_checks(
        &m,
        &p,
        Duration::minutes(1),
        at(8, 0, 0),
        at(9, 30, 0),
        (at(9, 0, 0), at(23, 0, 0)),
    )
    .await;
    run_checks(
        &m,
        &p,
        Duration::minutes(1),
        at(13, 0, 0),
        at(14, 0, 0),
        (at(0, 0, 0), at(0, 0, 0)),
    )
    .await;
    let h = support::history(db, vec![p]);
    let day = h
        .day(
            "points",
            parse_date("2026-11-20", "d").unwrap(),
            at(14, 0, 0),
        )
        .await
        .unwrap();
    let b = |i: usize| {
        (
            day.bars[i].up_secs,
            day.bars[i].down_secs,
            day.bars[i].no_data_secs,
        )
    };
    assert_eq!(b(8), (3600, 0, 0));
    assert_eq!(b(9), (0, 3600, 0), "09:30–10:00 is still in a checked hour");
    for i in 10..13 {
        assert_eq!(b(i), (0, 0, 3600), "hour {i} had no check");
    }
    assert_eq!(b(13), (3600, 0, 0));
    assert_eq!(b(14), (0, 0, 3600), "the future");
    let o = &day.outages[0];
    assert_eq!((o.start, o.end), (at(9, 0, 0), Some(at(13, 0, 0))));
    assert!(h
        .day("nope", NaiveDate::default(), at(1, 0, 0))
        .await
        .is_err());
    assert!(matches!(
        h.days("points", 91, at(14, 0, 0)).await,
        Err(HistoryError::Invalid { field: "days", .. })
    ));
}

async fn exec(db: &Database, sql: String) {
    db.write(move |tx| tx.execute_batch(&sql)).await.unwrap();
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[tokio::test]
async fn incidents_link_changes_held_retries_replays_and_outcome() {
    let (_tmp, db) = db().await;
    let p = part("voucher");
    let m = support::monitor(db.clone(), Arc::new(NoProbe), vec![]);
    run_checks(
        &m,
        &p,
        Duration::minutes(1),
        at(9, 0, 0),
        at(11, 30, 0),
        (at(10, 0, 0), at(10, 30, 0)),
    )
    .await;
    run_checks(
        &m,
        &p,
        Duration::minutes(1),
        at(11, 30, 0),
        at(11, 40, 0),
        (at(11, 30, 0), at(12, 0, 0)),
    )
    .await;
    let mut sql = String::new();
    for (id, t, status) in [
        ("v1", at(10, 5, 0), "submitted"),
        ("v2", at(10, 10, 0), "dead_lettered"),
        ("v3", at(10, 20, 0), "retry"),
        ("v4", at(11, 35, 0), "retry"),
    ] {
        sql += &format!(
            "INSERT INTO vouchers (loyalty_request_id, part, loyalty_reference, merchant_reference,
               loyalty_order_reference, payload, status, received_ms, updated_ms)
             VALUES ('{id}', 'voucher', 'r', 'm', 'o', '{{}}', '{status}', {t}, {t});
             INSERT INTO voucher_events (loyalty_request_id, part, status, at_ms, published)
             VALUES ('{id}', 'voucher', 'retry', {t}, 1);",
            t = ms(t)
        );
    }
    sql += &format!(
        "INSERT INTO rec_replays (name, part, archive, start_ms, end_ms, created_ms, trigger, started,
           expected, processed, resubmitted, skipped, failed)
         VALUES ('R1', 'voucher', 'LoyaltyVoucherArchive', {}, {}, {}, 'recovery', 1, 3, 2, 1, 0, 1);
         INSERT INTO rec_replay_items VALUES ('R1', 'e1', 'v1', 'resubmitted', 0), ('R1', 'e2', 'v2', 'failed', 0);",
        ms(at(9, 59, 0)),
        ms(at(10, 31, 0)),
        ms(at(10, 31, 5))
    );
    exec(&db, sql).await;
    let h = support::history(db, vec![p]);
    let now = at(11, 40, 0);
    let page = h.incidents(None, 1, None, now).await.unwrap();
    assert_eq!(page.incidents.len(), 1);
    let newest = &page.incidents[0];
    assert!(newest.ongoing && newest.end.is_none());
    assert_eq!(
        (
            newest.state.as_str(),
            newest.retries_held,
            newest.duration_secs
        ),
        ("ongoing", 1, 600)
    );
    assert!(newest.replays.is_empty());
    let token = page.next_token.clone().expect("an older incident");
    let page = h
        .incidents(Some("voucher"), 1, Some(&token), now)
        .await
        .unwrap();
    assert!(page.next_token.is_none());
    let inc = &page.incidents[0];
    assert_eq!(
        (inc.start, inc.end, inc.duration_secs),
        (at(10, 0, 0), Some(at(10, 30, 0)), 1800)
    );
    assert_eq!(inc.retries_held, 3);
    let statuses: Vec<_> = inc
        .status_changes
        .iter()
        .map(|c| (c.prev_status.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(statuses, [("up", "down"), ("down", "up")]);
    assert_eq!(inc.replays.len(), 1);
    assert_eq!(
        (inc.replays[0].name.as_str(), inc.replays[0].state.as_str()),
        ("R1", "UNKNOWN")
    );
    assert_eq!(
        inc.outcome,
        IncidentOutcome {
            resubmitted: 1,
            skipped: 0,
            failed: 1,
            dead_lettered: 1,
            pending: 1
        }
    );
    assert_eq!(inc.state, "recovering", "v3 is still pending");
    assert_eq!(h.incident(inc.id, now).await.unwrap().as_ref(), Some(inc));
    assert_eq!(
        h.incident(inc.status_changes[1].id, now).await.unwrap(),
        None,
        "an up change is no incident"
    );
    assert!(matches!(
        h.incidents(None, 10, Some("x"), now).await,
        Err(HistoryError::Invalid {
            field: "next_token",
            ..
        })
    ));
    assert!(matches!(
        h.incidents(Some("nope"), 10, None, now).await,
        Err(HistoryError::UnknownPart(_))
    ));

    let outages = h
        .outages("voucher", at(10, 15, 0), at(11, 31, 0), now)
        .await
        .unwrap();
    assert_eq!(
        outages.iter().map(|o| o.retries_held).collect::<Vec<_>>(),
        [3, 1]
    );

    let c = h.counters("voucher").await.unwrap();
    assert_eq!(
        (
            c.pending_retries,
            c.dead_lettered,
            c.resubmitted,
            c.archived
        ),
        (2, 1, 1, None)
    );
    let r = c.latest_replay.unwrap();
    assert_eq!((r.name.as_str(), r.expected, r.processed), ("R1", 3, 2));
}

struct FakeArchive(Vec<ArchivedEvent>);

#[async_trait]
impl ArchiveBrowser for FakeArchive {
    async fn archives(&self) -> Result<Vec<ArchiveSummary>, ArchiveError> {
        Ok(vec![ArchiveSummary {
            name: "LoyaltyVoucherArchive".into(),
            part: None,
            pattern: Some("{}".into()),
            retention_days: 10,
            state: "ENABLED".into(),
            event_count: self.0.len() as i64,
            size_bytes: 100,
            oldest: self.0.first().map(|e| e.time),
            newest: self.0.last().map(|e| e.time),
        }])
    }
    async fn archive_events(
        &self,
        archive: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        after: Option<ArchiveCursor>,
        limit: usize,
    ) -> Result<Vec<ArchivedEvent>, ArchiveError> {
        if archive != "LoyaltyVoucherArchive" {
            return Err(ArchiveError::NotFound(archive.into()));
        }
        Ok(self
            .0
            .iter()
            .filter(|e| start.is_none_or(|s| e.time >= s) && end.is_none_or(|x| e.time < x))
            .filter(|e| {
                after.is_none_or(|a| (e.time.timestamp_millis(), e.seq) > (a.time_ms, a.seq))
            })
            .take(limit)
            .cloned()
            .collect())
    }
}

#[tokio::test]
async fn archives_name_their_part_and_pages_chain() {
    let (_tmp, db) = db().await;
    let events: Vec<ArchivedEvent> = (0..5)
        .map(|i| ArchivedEvent {
            seq: i + 1,
            time: at(10, i as u32, 0),
            event: serde_json::json!({"id": i}),
        })
        .collect();
    let h =
        support::history(db, vec![part("voucher")]).with_archives(Arc::new(FakeArchive(events)));
    let list = h.archives().await.unwrap();
    assert_eq!(list[0].part.as_deref(), Some("voucher"));
    assert_eq!(h.all_counters().await.unwrap()[0].archived, Some(5));
    let p1 = h
        .archive_events("LoyaltyVoucherArchive", Some(at(10, 1, 0)), None, 2, None)
        .await
        .unwrap();
    assert_eq!(p1.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    let p2 = h
        .archive_events(
            "LoyaltyVoucherArchive",
            Some(at(10, 1, 0)),
            None,
            2,
            p1.next_token.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(p2.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(p2.next_token.is_none());
    assert!(matches!(
        h.archive_events("Nope", None, None, 2, None).await,
        Err(HistoryError::UnknownArchive(_))
    ));
    assert!(matches!(
        h.archive_events("LoyaltyVoucherArchive", None, None, 0, None)
            .await,
        Err(HistoryError::Invalid { field: "limit", .. })
    ));
}

/// Response time per slot of each range and over the last hour, from the
/// roll-ups' histograms: a known distribution per hour gives its p50 and
/// p95 (exact below 8 ms, within a quarter above), slots without checks
/// have none.
#[tokio::test]
async fn response_time_per_slot_comes_from_the_rollups_histograms() {
    let (_tmp, db) = db().await;
    let p = part("voucher");
    let m = support::monitor(db.clone(), Arc::new(NoProbe), vec![]);
    // 08:00–08:59: every 10 s (360 checks), 1..=360 ms in turn: p50 180,
    // p95 342. 10:00–10:05: 5 ms each minute. No check at 09:00.
    for i in 0..360u32 {
        let t = at(8, 0, 0) + Duration::seconds(i64::from(i) * 10);
        m.record(&p, t, None, u64::from(i) + 1).await.unwrap();
    }
    for minute in 0..5 {
        m.record(&p, at(10, minute, 0), None, 5).await.unwrap();
    }
    let h = support::history(db, vec![p]);
    let now = at(10, 4, 30);
    let day = h
        .latency(
            "voucher",
            Range::Day(parse_date("2026-11-20", "d").unwrap()),
            now,
        )
        .await
        .unwrap();
    assert_eq!((day.granularity.as_str(), day.points.len()), ("hour", 24));
    let eight = &day.points[8];
    assert_eq!((eight.label.as_str(), eight.checks), ("08:00", 360));
    let (p50, p95) = (eight.p50_ms.unwrap(), eight.p95_ms.unwrap());
    assert!(p50.abs_diff(180) <= 180 / 4, "p50 {p50}");
    assert!(p95.abs_diff(342) <= 342 / 4, "p95 {p95}");
    assert_eq!(day.points[9].checks, 0);
    assert_eq!((day.points[9].p50_ms, day.points[9].p95_ms), (None, None));
    assert_eq!(
        (day.points[10].p50_ms, day.points[10].p95_ms),
        (Some(5), Some(5)),
        "exact below 8 ms"
    );
    assert_eq!(day.overall.checks, 365);

    let hour = h
        .latency("voucher", Range::Hour(at(8, 30, 0)), now)
        .await
        .unwrap();
    assert_eq!(
        (hour.granularity.as_str(), hour.points.len()),
        ("minute", 60)
    );
    assert!(
        hour.points.iter().all(|pt| pt.checks == 6),
        "six checks a minute"
    );
    assert_eq!(hour.points[0].p50_ms, Some(3), "1..=6 ms: exact");
    assert_eq!(hour.overall.checks, 360);

    let days = h.latency("voucher", Range::Days(3), now).await.unwrap();
    assert_eq!(days.points.len(), 3);
    assert_eq!(days.points[2].label, "2026-11-20");
    assert_eq!(days.points[2].checks, 365);
    assert_eq!(days.points[0].checks, 0);

    let recent = h.recent_latency("voucher", now).await.unwrap();
    assert_eq!(recent.points.len(), RECENT_MINUTES as usize);
    assert_eq!(
        recent.points.last().unwrap().label,
        "10:04",
        "the current minute last"
    );
    let with_checks: Vec<&str> = recent
        .points
        .iter()
        .filter(|pt| pt.checks > 0)
        .map(|pt| pt.label.as_str())
        .collect();
    assert_eq!(with_checks, ["10:00", "10:01", "10:02", "10:03", "10:04"]);
    assert_eq!(recent.overall.p95_ms, Some(5));

    assert!(matches!(
        h.latency("nope", Range::Days(1), now).await,
        Err(HistoryError::UnknownPart(_))
    ));
    assert!(matches!(
        h.latency("voucher", Range::Days(0), now).await,
        Err(HistoryError::Invalid { field: "days", .. })
    ));
}
