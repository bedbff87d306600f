//! Vouchers: insert and find, claims and their tokens, dead letters and
//! redrive.

use super::*;

/// Insert and duplicates, get, lookup by each reference with paging, and
/// the lifecycle's order.
pub async fn check_voucher_insert_and_find(v: &dyn VoucherStore) {
    assert_eq!(v.get("x1").await.unwrap(), None, "starts empty");
    let rows = [
        voucher("voucher", "x1", "L", "m1", "o1"),
        voucher("voucher", "x2", "L", "M", "o2"),
        voucher("member", "x3", "L", "m3", "o3"),
        voucher("voucher", "x4", "l4", "m4", "L"),
        voucher("voucher", "x5", "x1", "m5", "o5"),
    ];
    for (i, r) in rows.iter().enumerate() {
        let (rec, new) = v.insert(r, t(i as i64)).await.unwrap();
        assert!(new, "{i}: new");
        assert_eq!(rec.status, crate::voucher::VoucherStatus::Received);
        assert_eq!(
            (rec.received_at, rec.updated_at),
            (t(i as i64), t(i as i64))
        );
        assert_eq!(&rec.keys, r.keys());
        assert_eq!(rec.part, r.part().to_string());
        assert_eq!(rec.attempts, 0);
        assert_eq!(rec.last_error, None);
        assert_eq!(rec.payload["amount"], 5, "payload round-trips");
    }
    // A duplicate id (even with other fields) returns the stored voucher.
    let (dup, new) = v
        .insert(&voucher("points", "x1", "zz", "zz", "zz"), t(99))
        .await
        .unwrap();
    assert!(!new, "duplicate");
    assert_eq!(
        (
            dup.part.as_str(),
            dup.keys.loyalty_reference.as_str(),
            dup.received_at
        ),
        ("voucher", "L", t(0)),
        "the stored one, untouched"
    );
    assert_eq!(v.get("x1").await.unwrap().unwrap(), dup);
    assert_eq!(lifecycle_statuses(v, "x1").await, ["received"]);
    assert!(v.lifecycle("nope").await.unwrap().is_empty());

    let find = |f, val: &'static str, after, limit| async move {
        ids(&v.find(f, val, after, limit).await.unwrap())
    };
    assert_eq!(
        find(VoucherRef::Any, "L", None, 100).await,
        ["x4", "x3", "x2", "x1"],
        "any reference, newest first"
    );
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", None, 10).await,
        ["x3", "x2", "x1"]
    );
    assert_eq!(
        find(VoucherRef::MerchantReference, "M", None, 10).await,
        ["x2"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyOrderReference, "L", None, 10).await,
        ["x4"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyRequestId, "x1", None, 10).await,
        ["x1"]
    );
    assert_eq!(find(VoucherRef::Any, "x1", None, 10).await, ["x5", "x1"]);
    assert!(
        find(VoucherRef::Any, "l", None, 10).await.is_empty(),
        "exact"
    );
    assert!(find(VoucherRef::MerchantReference, "L", None, 10)
        .await
        .is_empty());
    // Pages continue strictly after the cursor, for each kind of lookup.
    let cursor = |id: &str, s: i64| Some((t(s).timestamp_millis(), id.to_string()));
    assert_eq!(find(VoucherRef::Any, "L", None, 2).await, ["x4", "x3"]);
    assert_eq!(
        find(VoucherRef::Any, "L", cursor("x3", 2), 2).await,
        ["x2", "x1"]
    );
    assert!(find(VoucherRef::Any, "L", cursor("x1", 0), 2)
        .await
        .is_empty());
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", cursor("x3", 2), 1).await,
        ["x2"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", cursor("x2", 1), 5).await,
        ["x1"]
    );
    assert_eq!(find(VoucherRef::Any, "L", None, 0).await.len(), 1, "≥ 1");

    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("member".to_string(), "received".to_string(), 1),
            ("voucher".to_string(), "received".to_string(), 4)
        ]
    );
    assert_eq!(
        v.statuses(vec!["x3".into(), "nope".into(), "x1".into()])
            .await
            .unwrap(),
        [
            Some(crate::voucher::VoucherStatus::Received),
            None,
            Some(crate::voucher::VoucherStatus::Received)
        ]
    );
}

/// Claims: one at a time, the token is the attempt number, an expired lease
/// is taken over and the first holder's finish is refused; final vouchers
/// are untouchable; the lifecycle records each step in order.
pub async fn check_voucher_claims(v: &dyn VoucherStore) {
    use crate::datacache::Claim;
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    v.insert(&voucher("voucher", "a", "r", "m", "o"), t(0))
        .await
        .unwrap();
    let Claim::Claimed {
        token,
        voucher: rec,
    } = v.claim("a", t(1), lease, "x".into()).await.unwrap()
    else {
        panic!("the first claim wins")
    };
    assert_eq!(token, 1, "the token is the attempt number");
    assert_eq!((rec.status, rec.attempts), (St::Submitting, 1));
    assert_eq!(rec.updated_at, t(1));
    assert_eq!(
        v.claim("a", t(5), lease, "y".into()).await.unwrap(),
        Claim::Busy(St::Submitting),
        "within the lease"
    );
    assert_eq!(
        v.hold_if_open("a", t(5)).await.unwrap(),
        crate::datacache::Hold::NotHoldable(Some(St::Submitting)),
        "a live claim is not held"
    );
    assert!(
        v.stuck(t(0), t(5), 10).await.unwrap().is_empty(),
        "lease runs"
    );
    assert_eq!(
        v.stuck(t(0), t(12), 10).await.unwrap(),
        ["a"],
        "lease ran out"
    );
    let Claim::Claimed { token: t2, .. } = v.claim("a", t(12), lease, "z".into()).await.unwrap()
    else {
        panic!("an expired lease is taken over")
    };
    assert_eq!(t2, 2);
    assert!(
        !v.finish("a", token, St::Submitted, "late".into(), t(13))
            .await
            .unwrap(),
        "the first holder lost its claim"
    );
    assert_eq!(v.get("a").await.unwrap().unwrap().status, St::Submitting);
    assert!(v
        .finish("a", t2, St::Submitted, "accepted".into(), t(14))
        .await
        .unwrap());
    let done = v.get("a").await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.attempts, done.updated_at),
        (St::Submitted, 2, t(14))
    );
    assert_eq!(done.last_error, None, "submitted keeps no error");
    assert!(
        !v.finish("a", t2, St::Error, "again".into(), t(15))
            .await
            .unwrap(),
        "finished once"
    );
    assert_eq!(
        v.claim("a", t(100), lease, "again".into()).await.unwrap(),
        Claim::Busy(St::Submitted)
    );
    assert!(
        !v.dead_letter("a", "x".into(), t(16)).await.unwrap(),
        "final"
    );
    assert_eq!(
        v.redrive("a", t(16)).await.unwrap(),
        Some(crate::voucher::Redriven::NotDeadLettered(St::Submitted))
    );
    let life = v.lifecycle("a").await.unwrap();
    let steps: Vec<(&str, DateTime<Utc>)> =
        life.iter().map(|e| (e.status.as_str(), e.at)).collect();
    assert_eq!(
        steps,
        [
            ("received", t(0)),
            ("submitting", t(1)),
            ("submitting", t(12)),
            ("submitted", t(14))
        ]
    );
    assert_eq!(life[1].detail, "attempt 1: x");
    assert_eq!(life[2].detail, "attempt 2: z");
    assert_eq!(life[3].detail, "accepted");
    assert_eq!(
        v.claim("nope", t(1), lease, "x".into()).await.unwrap(),
        Claim::NotFound
    );
    assert_eq!(
        v.hold_if_open("nope", t(1)).await.unwrap(),
        crate::datacache::Hold::NotHoldable(None)
    );

    // Error keeps the reason; the submitted and error events wait in the
    // outbox in commit order.
    v.insert(&voucher("points", "b", "r", "m", "o"), t(20))
        .await
        .unwrap();
    let Claim::Claimed { token, .. } = v.claim("b", t(21), lease, "x".into()).await.unwrap() else {
        panic!("claim b")
    };
    assert!(v
        .finish("b", token, St::Error, "refused: 422".into(), t(22))
        .await
        .unwrap());
    let b = v.get("b").await.unwrap().unwrap();
    assert_eq!(
        (b.status, b.last_error.as_deref()),
        (St::Error, Some("refused: 422"))
    );
    let events = v.unpublished_events(10).await.unwrap();
    let seen: Vec<(&str, St, DateTime<Utc>)> = events
        .iter()
        .map(|e| (e.keys.loyalty_request_id.as_str(), e.status, e.at))
        .collect();
    assert_eq!(seen, [("a", St::Submitted, t(14)), ("b", St::Error, t(22))]);
    assert_eq!(events[1].part, "points");
    assert_eq!(events[1].keys.merchant_reference, "m");
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("points".to_string(), "error".to_string(), 1),
            ("voucher".to_string(), "submitted".to_string(), 1)
        ]
    );
}

/// Failed calls dead-letter a voucher after `dead_letter_after` failures
/// since its redrive; a lost claim in a batch leaves the voucher alone; the
/// DLQ pages by `(updated_ms, id)`; a redrive restarts the count.
pub async fn check_voucher_dead_letters(v: &dyn VoucherStore) {
    use crate::datacache::{Claim, Finish};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for id in ["d1", "d2", "d3"] {
        v.insert(&voucher("voucher", id, "r", "m", "o"), t(0))
            .await
            .unwrap();
    }
    let claim = |id: &'static str, at: i64| async move {
        match v.claim(id, t(at), lease, "try".into()).await.unwrap() {
            Claim::Claimed { token, .. } => token,
            other => panic!("{id}: {other:?}"),
        }
    };
    let failed = |id: &str, token| Finish {
        id: id.into(),
        part: "voucher".into(),
        token,
        status: St::Retry,
        detail: "SaaS unavailable: 503".into(),
    };
    let (a, b) = (claim("d1", 1).await, claim("d2", 1).await);
    assert_eq!(
        v.finish_many(vec![failed("d1", a), failed("d2", b)], 2, t(2))
            .await
            .unwrap(),
        [St::Retry, St::Retry],
        "one failure each"
    );
    let retries: Vec<(String, String, St)> = v
        .unpublished_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.keys.loyalty_request_id, e.part, e.status))
        .collect();
    assert_eq!(
        retries,
        [
            ("d1".into(), "voucher".into(), St::Retry),
            ("d2".into(), "voucher".into(), St::Retry)
        ],
        "each outcome's status event, with its voucher's part"
    );
    assert_eq!(v.attempts_since_redrive("d1").await.unwrap(), 1);
    let (a, b) = (claim("d1", 3).await, claim("d2", 3).await);
    assert_eq!(
        v.finish_many(
            vec![
                failed("d1", a),
                // A stale token: the claim was lost, nothing is written.
                Finish {
                    status: St::Submitted,
                    ..failed("d2", b - 1)
                },
            ],
            2,
            t(4)
        )
        .await
        .unwrap(),
        [St::DeadLettered, St::Submitted]
    );
    let d1 = v.get("d1").await.unwrap().unwrap();
    assert_eq!((d1.status, d1.attempts), (St::DeadLettered, 2));
    assert_eq!(
        d1.last_error.as_deref(),
        Some("gave up after 2 failed attempts; last: SaaS unavailable: 503")
    );
    assert_eq!(
        lifecycle_statuses(v, "d1").await,
        [
            "received",
            "submitting",
            "retry",
            "submitting",
            "retry",
            "dead_lettered"
        ]
    );
    assert_eq!(
        v.get("d2").await.unwrap().unwrap().status,
        St::Submitting,
        "untouched"
    );
    assert!(v.dead_letter("d3", "by hand".into(), t(5)).await.unwrap());
    assert!(!v.dead_letter("d3", "again".into(), t(6)).await.unwrap());
    assert!(
        v.dead_letter("d2", "by hand".into(), t(5)).await.unwrap(),
        "submitting"
    );
    assert!(!v.dead_letter("nope", "x".into(), t(5)).await.unwrap());

    // DLQ pages: d1@4, then d2 and d3 @5 by id.
    let page = v.dead_lettered(None, 2).await.unwrap();
    assert_eq!(ids(&page), ["d1", "d2"]);
    let last = page.last().unwrap();
    let after = Some((last.updated_at.timestamp_millis(), "d2".to_string()));
    assert_eq!(ids(&v.dead_lettered(after, 10).await.unwrap()), ["d3"]);
    assert_eq!(
        v.stuck(t(100), t(100), 10).await.unwrap().len(),
        0,
        "DLQ is not stuck"
    );

    // Each dead-lettering's status event waits in the outbox (d1's failed
    // call's retry event too).
    let gave_up: Vec<(String, DateTime<Utc>)> = v
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.status == St::DeadLettered)
        .map(|e| (e.keys.loyalty_request_id, e.at))
        .collect();
    let mut gave_up_sorted = gave_up.clone();
    gave_up_sorted.sort();
    assert_eq!(
        gave_up_sorted,
        [
            ("d1".to_string(), t(4)),
            ("d2".to_string(), t(5)),
            ("d3".to_string(), t(5))
        ],
        "one dead_lettered event per voucher given up on"
    );
    let mut d1_events: Vec<St> = v
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.keys.loyalty_request_id == "d1" && e.at == t(4))
        .map(|e| e.status)
        .collect();
    d1_events.sort_by_key(|s| s.as_str());
    assert_eq!(d1_events, [St::DeadLettered, St::Retry], "both events");
    let dead = v
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == St::DeadLettered && e.keys.loyalty_request_id == "d1")
        .unwrap();
    assert_eq!(
        (dead.part.as_str(), dead.keys.merchant_reference.as_str()),
        ("voucher", "m")
    );

    assert_eq!(
        v.redrive("d1", t(7)).await.unwrap(),
        Some(crate::voucher::Redriven::Moved)
    );
    let d1 = v.get("d1").await.unwrap().unwrap();
    assert_eq!((d1.status, d1.updated_at), (St::Retry, t(7)));
    assert_eq!(
        v.attempts_since_redrive("d1").await.unwrap(),
        0,
        "restarted"
    );
    assert_eq!(v.attempts_since_redrive("nope").await.unwrap(), 0);
    assert_eq!(
        v.redrive("d1", t(8)).await.unwrap(),
        Some(crate::voucher::Redriven::NotDeadLettered(St::Retry)),
        "not DLQ'd: a second redrive leaves it to the first"
    );
    assert_eq!(v.redrive("nope", t(8)).await.unwrap(), None);
    assert_eq!(ids(&v.dead_lettered(None, 10).await.unwrap()), ["d2", "d3"]);
    // After a redrive it takes `dead_letter_after` new failures again.
    let a = claim("d1", 9).await;
    assert_eq!(a, 3);
    assert_eq!(
        v.finish_many(vec![failed("d1", a)], 2, t(10))
            .await
            .unwrap(),
        [St::Retry]
    );
    assert_eq!(v.attempts_since_redrive("d1").await.unwrap(), 1);
    // The redrive's retry event is published like a hold's.
    let redriven: Vec<_> = v
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.keys.loyalty_request_id == "d1" && e.at == t(7))
        .collect();
    assert_eq!(redriven.len(), 1);
    assert_eq!(
        v.count_retry_events("voucher", t(7), t(8)).await.unwrap(),
        1
    );
    // `received` vouchers left behind are stuck once old enough.
    v.insert(&voucher("voucher", "s1", "r", "m", "o"), t(50))
        .await
        .unwrap();
    assert!(v.stuck(t(50), t(50), 10).await.unwrap().is_empty());
    assert_eq!(v.stuck(t(51), t(51), 10).await.unwrap(), ["s1"]);
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    assert!(
        counts.iter().any(|(_, st, _)| st == "dead_lettered"),
        "{counts:?}"
    );
    check_open_counts(v, &counts).await;

    // Marking publishes exactly the events named, given in any order and
    // with gaps between them.
    let unpublished = || async {
        let events = v.unpublished_events(100).await.unwrap();
        events.iter().map(|e| e.id).collect::<Vec<i64>>()
    };
    let pending = unpublished().await;
    assert!(pending.len() >= 5, "{pending:?}");
    v.mark_published(vec![pending[3], pending[1]])
        .await
        .unwrap();
    let left = unpublished().await;
    let mut expected = pending.clone();
    expected.retain(|id| *id != pending[1] && *id != pending[3]);
    assert_eq!(left, expected, "only the events named are published");
}
