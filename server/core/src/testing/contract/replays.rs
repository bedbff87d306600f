//! Replay records on two replicas.

use super::*;

/// Replay records on two handles of one storage (two replicas): unique
/// names per creation second, one record per recovered status change,
/// started/refused marks and the latest interval, listing by part and
/// time, window overlap, the cursor never going back, and each replayed
/// event counted once even when both replicas count it.
pub async fn check_replays(
    a: &dyn crate::storage::replays::ReplayStore,
    b: &dyn crate::storage::replays::ReplayStore,
) {
    use crate::recovery::ItemOutcome;
    use crate::storage::replays::{HandledEvent, NewReplay, Recorded};

    assert_eq!(a.cursor().await.expect("cursor"), 0, "cursor starts at 0");
    a.advance_cursor(7).await.expect("advance");
    b.advance_cursor(5).await.expect("advance");
    assert_eq!(b.cursor().await.expect("cursor"), 7, "never backwards");
    b.advance_cursor(9).await.expect("advance");
    assert_eq!(a.cursor().await.expect("cursor"), 9, "shared");

    let new = |part: &str, s: i64, e: i64, created: i64, change: Option<i64>| NewReplay {
        after: None,
        part: part.into(),
        archive: format!(
            "Loyalty{}Archive",
            if part == "voucher" {
                "Voucher"
            } else {
                "Member"
            }
        ),
        start: t(s),
        end: t(e),
        created_at: t(created),
        trigger: if change.is_some() {
            "recovery"
        } else {
            "manual"
        }
        .into(),
        change_id: change,
        expected: 3,
        by: if change.is_some() { "recovery" } else { "ann" }.into(),
    };
    let recorded = |r: Result<Recorded, crate::storage::StoreError>| match r.expect("create") {
        Recorded::Name(name) => name,
        other => panic!("not recorded: {other:?}"),
    };
    let newest_name = |r: Result<
        Option<crate::recovery::ReplayRecord>,
        crate::storage::StoreError,
    >| { r.expect("newest of part").map(|r| r.name) };
    assert_eq!(newest_name(a.newest_of_part("voucher").await), None);
    let r1 = recorded(a.create(&new("voucher", 0, 100, 200, Some(11))).await);
    assert_eq!(r1, new("voucher", 0, 100, 200, None).name_at(0));
    // The same outage recovered again (a retry, or another replica): same
    // name, no new record, whatever the caller last saw.
    let again = recorded(b.create(&new("voucher", 0, 100, 260, Some(11))).await);
    assert_eq!(again, r1, "one record per status change");
    // Recording after a check that did not see r1: refused, nothing recorded.
    assert_eq!(
        b.create(&new("voucher", 50, 150, 200, None))
            .await
            .expect("create"),
        Recorded::Superseded(r1.clone())
    );
    assert_eq!(
        newest_name(b.newest_of_part("voucher").await),
        Some(r1.clone())
    );
    // A manual replay in the same second gets the next second's name.
    let r2 = recorded(
        b.create(&NewReplay {
            after: Some(r1.clone()),
            ..new("voucher", 50, 150, 200, None)
        })
        .await,
    );
    assert_eq!(r2, new("voucher", 0, 0, 201, None).name_at(0));
    assert_eq!(
        newest_name(a.newest_of_part("voucher").await),
        Some(r2.clone())
    );
    let r3 = recorded(a.create(&new("member", 10, 20, 300, None)).await);
    assert_eq!(
        newest_name(b.newest_of_part("member").await),
        Some(r3.clone())
    );
    assert_eq!(newest_name(b.newest_of_part("points").await), None);

    let rec = b.get(&r1).await.expect("get").expect("recorded");
    assert_eq!(
        (
            rec.part.as_str(),
            rec.archive.as_str(),
            rec.window_start,
            rec.window_end
        ),
        ("voucher", "LoyaltyVoucherArchive", t(0), t(100))
    );
    assert_eq!(
        (rec.trigger.as_str(), rec.by.as_deref()),
        ("recovery", Some("recovery"))
    );
    assert_eq!(rec.created_at, t(200));
    assert!(!rec.started && rec.start_error.is_none());
    assert_eq!(rec.progress.expected, 3);
    assert!(a
        .get("LoyaltyVoucherReplay_19700101000000")
        .await
        .expect("get")
        .is_none());

    assert_eq!(a.latest_interval("voucher").await.expect("latest"), None);
    a.mark_started(&r1).await.expect("started");
    b.mark_refused(&r2, "window too old")
        .await
        .expect("refused");
    a.mark_started(&r3).await.expect("started");
    assert_eq!(
        b.latest_interval("voucher").await.expect("latest"),
        Some((t(0), t(100)))
    );
    assert_eq!(
        b.latest_interval("member").await.expect("latest"),
        Some((t(10), t(20)))
    );
    let refused = a.get(&r2).await.expect("get").expect("recorded");
    assert_eq!(refused.start_error.as_deref(), Some("window too old"));
    assert!(!refused.started);

    let names = |rs: Vec<crate::recovery::ReplayRecord>| -> Vec<String> {
        rs.into_iter().map(|r| r.name).collect()
    };
    assert_eq!(
        names(b.newest(None, false, 10).await.expect("newest")),
        [r3.as_str(), r2.as_str(), r1.as_str()]
    );
    assert_eq!(
        names(b.newest(None, false, 2).await.expect("newest")),
        [r3.as_str(), r2.as_str()]
    );
    assert_eq!(
        names(a.newest(Some("voucher"), false, 10).await.expect("newest")),
        [r2.as_str(), r1.as_str()]
    );
    assert_eq!(
        names(a.newest(Some("voucher"), true, 10).await.expect("newest")),
        [r1.as_str()]
    );
    assert!(a
        .newest(Some("points"), false, 10)
        .await
        .expect("newest")
        .is_empty());
    // Windows [0, 100] and [50, 150] against [100, 120] (inclusive ends): both.
    let ms = |s: i64| t(s).timestamp_millis();
    assert_eq!(
        names(
            b.overlapping("voucher", ms(100), ms(120))
                .await
                .expect("overlap")
        ),
        [r1.as_str(), r2.as_str()],
        "oldest first"
    );
    assert_eq!(
        names(
            b.overlapping("voucher", ms(101), ms(120))
                .await
                .expect("overlap")
        ),
        [r2.as_str()]
    );
    assert!(b
        .overlapping("voucher", ms(151), ms(160))
        .await
        .expect("overlap")
        .is_empty());

    // Counting: both replicas count an overlapping batch; each event once.
    let ev = |r: &str, e: &str, v: &str, o| HandledEvent {
        replay: r.into(),
        event_id: e.into(),
        loyalty_request_id: v.into(),
        outcome: o,
    };
    let pairs = vec![
        (r1.clone(), "e1".to_string()),
        (r1.clone(), "e2".to_string()),
    ];
    assert_eq!(a.seen(&pairs).await.expect("seen"), [false, false]);
    let counted = a
        .count(&[
            ev(&r1, "e1", "v1", ItemOutcome::Resubmitted),
            ev(&r1, "e2", "v2", ItemOutcome::Skipped),
        ])
        .await
        .expect("count");
    assert_eq!(counted.len(), 1);
    assert_eq!(
        (
            counted[0].replay.as_str(),
            counted[0].part.as_str(),
            counted[0].processed,
            counted[0].expected
        ),
        (r1.as_str(), "voucher", 2, 3)
    );
    assert_eq!(b.seen(&pairs).await.expect("seen"), [true, true]);
    let counted = b
        .count(&[
            ev(&r1, "e2", "v2", ItemOutcome::Resubmitted),
            ev(&r1, "e3", "v3", ItemOutcome::Failed),
            ev(&r3, "m1", "w1", ItemOutcome::Resubmitted),
        ])
        .await
        .expect("count");
    let mut progress: Vec<(String, i64)> = counted
        .iter()
        .map(|c| (c.replay.clone(), c.processed))
        .collect();
    progress.sort();
    let mut want = vec![(r1.clone(), 3), (r3.clone(), 1)];
    want.sort();
    assert_eq!(progress, want, "e2 counted once");
    assert!(b.count(&[]).await.expect("count").is_empty());
    let p = a.get(&r1).await.expect("get").expect("recorded").progress;
    assert_eq!(
        (p.processed, p.resubmitted, p.skipped, p.failed),
        (3, 1, 1, 1),
        "e2 keeps its first outcome"
    );
    let mut outcomes = b.outcomes(&r1).await.expect("outcomes");
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("v1".to_string(), "resubmitted".to_string()),
            ("v2".to_string(), "skipped".to_string()),
            ("v3".to_string(), "failed".to_string())
        ]
    );
    assert_eq!(a.resubmitted_total("voucher").await.expect("total"), 1);
    assert_eq!(a.resubmitted_total("member").await.expect("total"), 1);
    assert_eq!(a.resubmitted_total("points").await.expect("total"), 0);

    // Two replicas counting the same fresh events at once: counted once.
    let batch: Vec<HandledEvent> = (0..30)
        .map(|i| {
            ev(
                &r3,
                &format!("x{i}"),
                &format!("w{i}"),
                ItemOutcome::Skipped,
            )
        })
        .collect();
    let (x, y) = tokio::join!(a.count(&batch), b.count(&batch));
    x.expect("count");
    y.expect("count");
    let p = b.get(&r3).await.expect("get").expect("recorded").progress;
    assert_eq!((p.processed, p.skipped), (31, 30), "each event once");

    // Two replicas that both found the part idle record at once: one is
    // recorded, the other told which replay came first.
    let (px, py) = (
        new("points", 0, 10, 400, None),
        new("points", 5, 10, 400, None),
    );
    let (x, y) = tokio::join!(a.create(&px), b.create(&py));
    let (x, y) = (x.expect("create"), y.expect("create"));
    let first = match (&x, &y) {
        (Recorded::Name(n), Recorded::Superseded(m))
        | (Recorded::Superseded(m), Recorded::Name(n))
            if n == m =>
        {
            n.clone()
        }
        _ => panic!("one record and one refusal naming it: {x:?}, {y:?}"),
    };
    assert_eq!(newest_name(a.newest_of_part("points").await), Some(first));
    assert_eq!(
        a.newest(Some("points"), false, 10)
            .await
            .expect("newest")
            .len(),
        1
    );
}
