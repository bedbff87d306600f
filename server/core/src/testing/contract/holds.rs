//! Hold versus claim on the stored circuit, and `admit`.

use super::*;

/// Hold versus claim on the circuit the status store wrote: held (with a
/// retry event in the outbox and the ledger) while the part is down or
/// forced open, claimed once it is up; `hold_or_claim_many` in order with
/// repeats skipped; the retry ledger's window counts; the outbox drains.
pub async fn check_voucher_holds(v: &dyn VoucherStore, s: &dyn StatusStore, o: &dyn OverrideStore) {
    use crate::datacache::{Attempt, Hold};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for (i, id) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        v.insert(&voucher("voucher", id, "r", "m", "o"), t(i as i64))
            .await
            .unwrap();
    }
    v.insert(&voucher("member", "m1", "r", "m", "o"), t(0))
        .await
        .unwrap();
    // No status yet: the circuit is closed.
    assert_eq!(
        v.hold_if_open("h1", t(5)).await.unwrap(),
        Hold::CircuitClosed
    );
    set_circuit(s, "voucher", true, t(6)).await;
    assert!(v.part_is_up("voucher").await.unwrap());
    assert_eq!(
        v.hold_if_open("h1", t(8)).await.unwrap(),
        Hold::CircuitClosed
    );
    set_circuit(s, "voucher", false, t(10)).await;
    assert!(!v.part_is_up("voucher").await.unwrap());
    assert_eq!(v.hold_if_open("h1", t(20)).await.unwrap(), Hold::Held);
    let h1 = v.get("h1").await.unwrap().unwrap();
    assert_eq!((h1.status, h1.updated_at), (St::Retry, t(20)));
    assert_eq!(
        h1.last_error.as_deref(),
        Some("circuit open: part voucher is down")
    );
    assert_eq!(lifecycle_statuses(v, "h1").await, ["received", "retry"]);
    assert_eq!(
        v.hold_if_open("m1", t(20)).await.unwrap(),
        Hold::CircuitClosed,
        "another part's circuit"
    );
    // Many: held in order, unknown and repeated ids skipped.
    let out = v
        .hold_or_claim_many(
            vec![
                ("h2".into(), "flow".into()),
                ("nope".into(), "flow".into()),
                ("h3".into(), "flow".into()),
                ("h2".into(), "flow".into()),
            ],
            t(21),
            lease,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            Attempt::Held,
            Attempt::Skipped(None),
            Attempt::Held,
            Attempt::Held
        ],
        "a retry voucher is held again while the part is down"
    );
    // Forced closed: claimed although down.
    o.set_override(
        "voucher",
        Some(&CircuitOverride {
            mode: OverrideMode::ForceClosed,
            reason: "r".into(),
            by: None,
            at: t(22),
        }),
        t(22),
    )
    .await
    .unwrap();
    assert!(v.part_is_up("voucher").await.unwrap(), "forced closed");
    let out = v
        .hold_or_claim_many(vec![("h4".into(), "forced".into())], t(23), lease)
        .await
        .unwrap();
    let [Attempt::Claimed { token, voucher: h4 }] = out.as_slice() else {
        panic!("h4 claimed: {out:?}")
    };
    assert_eq!((*token, h4.status), (1, St::Submitting));
    assert_eq!(
        v.finish_many(
            vec![crate::datacache::Finish {
                id: "h4".into(),
                part: h4.part.clone(),
                token: *token,
                status: St::Submitted,
                detail: "ok".into(),
            }],
            3,
            t(24),
        )
        .await
        .unwrap(),
        [St::Submitted]
    );
    o.set_override(
        "voucher",
        Some(&CircuitOverride {
            mode: OverrideMode::ForceOpen,
            reason: "maintenance".into(),
            by: None,
            at: t(25),
        }),
        t(25),
    )
    .await
    .unwrap();
    set_circuit(s, "voucher", true, t(26)).await;
    assert!(!v.part_is_up("voucher").await.unwrap(), "forced open");
    assert_eq!(v.hold_if_open("h1", t(30)).await.unwrap(), Hold::Held);
    assert_eq!(
        v.get("h1").await.unwrap().unwrap().last_error.as_deref(),
        Some("circuit open: part voucher is forced open")
    );
    o.set_override("voucher", None, t(31)).await.unwrap();
    assert!(v.part_is_up("voucher").await.unwrap());

    // The ledger: retry events h1@20, h2@21, h3@21, h2@21, h1@30.
    let n = |a: i64, b: i64| v.count_retry_events("voucher", t(a), t(b));
    assert_eq!(n(0, 100).await.unwrap(), 5);
    assert_eq!(n(20, 21).await.unwrap(), 1, "end excluded");
    assert_eq!(n(21, 30).await.unwrap(), 3);
    assert_eq!(n(21, 31).await.unwrap(), 4, "start included");
    assert_eq!(
        v.count_retry_events("member", t(0), t(100)).await.unwrap(),
        0
    );
    let mut times = v.retry_event_times("voucher").await.unwrap();
    times.sort_unstable();
    let ms = |id: &str, s: i64| (id.to_owned(), t(s).timestamp_millis());
    assert_eq!(
        times,
        [ms("h1", 30), ms("h2", 21), ms("h3", 21)],
        "latest per retry voucher"
    );

    // Up: claimed in order; the repeat is skipped.
    let out = v
        .hold_or_claim_many(
            vec![
                ("h1".into(), "replayed".into()),
                ("h1".into(), "replayed".into()),
                ("h4".into(), "replayed".into()),
            ],
            t(40),
            lease,
        )
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Attempt::Claimed { token: 1, .. }),
        "{out:?}"
    );
    assert_eq!(
        &out[1..],
        [
            Attempt::Skipped(Some(St::Submitting)),
            Attempt::Skipped(Some(St::Submitted))
        ]
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(0), t(100))
            .await
            .unwrap(),
        2,
        "h2, h3 still retry; h1 is submitting"
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(21), t(22))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(30), t(31))
            .await
            .unwrap(),
        0,
        "h1's event, but h1 is no longer waiting"
    );
    assert_eq!(v.retry_event_times("voucher").await.unwrap().len(), 2);
    let held = |a: i64, b: i64| async move {
        let mut h = v.held_in_window("voucher", t(a), t(b)).await.unwrap();
        h.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        h
    };
    assert_eq!(
        held(0, 100).await,
        [
            ("h1".to_string(), St::Submitting),
            ("h2".to_string(), St::Retry),
            ("h3".to_string(), St::Retry)
        ],
        "each held voucher once, with its status now"
    );
    assert_eq!(held(21, 30).await.len(), 2, "end excluded, start included");
    assert!(held(31, 100).await.is_empty());
    assert!(v
        .held_in_window("member", t(0), t(100))
        .await
        .unwrap()
        .is_empty());

    // The outbox: every retry event plus h4's submitted, oldest first.
    assert!(v.retry_events_pending("voucher", t(21)).await.unwrap());
    assert!(
        !v.retry_events_pending("voucher", t(20)).await.unwrap(),
        "end excluded"
    );
    assert!(!v.retry_events_pending("member", t(100)).await.unwrap());
    let events = v.unpublished_events(100).await.unwrap();
    let seen: Vec<(&str, St)> = events
        .iter()
        .map(|e| (e.keys.loyalty_request_id.as_str(), e.status))
        .collect();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0], ("h1", St::Retry));
    assert_eq!(&seen[4..], [("h4", St::Submitted), ("h1", St::Retry)]);
    let mut mid = seen[1..4].to_vec();
    mid.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        mid,
        [("h2", St::Retry), ("h2", St::Retry), ("h3", St::Retry)]
    );
    let first = v.unpublished_events(2).await.unwrap();
    assert_eq!(first.len(), 2, "limit");
    v.mark_published(first.iter().map(|e| e.id).collect())
        .await
        .unwrap();
    let left = v.unpublished_events(100).await.unwrap();
    assert_eq!(left.len(), 4);
    assert!(!v.retry_events_pending("voucher", t(21)).await.unwrap());
    assert!(v.retry_events_pending("voucher", t(22)).await.unwrap());
    v.mark_published(left.iter().map(|e| e.id).collect())
        .await
        .unwrap();
    assert!(v.unpublished_events(100).await.unwrap().is_empty());
    assert!(!v.retry_events_pending("voucher", t(100)).await.unwrap());
    assert_eq!(
        n(0, 100).await.unwrap(),
        5,
        "the ledger outlives publication"
    );
}

/// `admit`: a new voucher is stored and claimed while its part is up (or
/// unknown), stored and held while it is down; a known id is returned
/// untouched.
pub async fn check_voucher_admit(v: &dyn VoucherStore, s: &dyn StatusStore) {
    use crate::storage::Admitted;
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    let admit = |id: &'static str, at: i64| async move {
        v.admit(
            &voucher("voucher", id, "r", "m", "o"),
            t(at),
            lease,
            "flow".into(),
        )
        .await
        .unwrap()
    };
    let Admitted::Claimed { token, voucher: a1 } = admit("a1", 0).await else {
        panic!("no status yet: claimed")
    };
    assert_eq!(token, 1);
    assert_eq!(
        (a1.status, a1.attempts, a1.received_at, a1.updated_at),
        (St::Submitting, 1, t(0), t(0))
    );
    assert_eq!(a1.payload["id"], "a1");
    assert_eq!(v.get("a1").await.unwrap().unwrap(), *a1, "as stored");
    let life = v.lifecycle("a1").await.unwrap();
    let steps: Vec<(&str, &str)> = life
        .iter()
        .map(|e| (e.status.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("received", "stored in the DataCache"),
            ("submitting", "attempt 1: flow")
        ]
    );
    assert_eq!(
        v.claim("a1", t(1), lease, "x".into()).await.unwrap(),
        crate::datacache::Claim::Busy(St::Submitting),
        "the lease runs"
    );
    assert!(v
        .finish("a1", token, St::Submitted, "ok".into(), t(2))
        .await
        .unwrap());
    let Admitted::Duplicate(dup) = admit("a1", 3).await else {
        panic!("a known id")
    };
    assert_eq!(
        (dup.status, dup.updated_at),
        (St::Submitted, t(2)),
        "untouched"
    );

    set_circuit(s, "voucher", false, t(4)).await;
    let Admitted::Held(a2) = admit("a2", 5).await else {
        panic!("circuit open: held")
    };
    assert_eq!((a2.status, a2.attempts), (St::Retry, 0));
    assert_eq!(v.get("a2").await.unwrap().unwrap(), *a2, "as stored");
    let a2 = v.get("a2").await.unwrap().unwrap();
    assert_eq!((a2.status, a2.attempts), (St::Retry, 0));
    assert_eq!(
        a2.last_error.as_deref(),
        Some("circuit open: part voucher is down")
    );
    assert_eq!(lifecycle_statuses(v, "a2").await, ["received", "retry"]);
    assert_eq!(
        v.count_retry_events("voucher", t(5), t(6)).await.unwrap(),
        1
    );
    assert!(v.retry_events_pending("voucher", t(6)).await.unwrap());
    let events: Vec<(String, St)> = v
        .unpublished_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.keys.loyalty_request_id, e.status))
        .collect();
    assert_eq!(
        events,
        [
            ("a1".to_string(), St::Submitted),
            ("a2".to_string(), St::Retry)
        ]
    );
    set_circuit(s, "voucher", true, t(7)).await;
    assert!(matches!(
        admit("a3", 8).await,
        Admitted::Claimed { token: 1, .. }
    ));
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("voucher".to_string(), "retry".to_string(), 1),
            ("voucher".to_string(), "submitted".to_string(), 1),
            ("voucher".to_string(), "submitting".to_string(), 1)
        ]
    );
}
