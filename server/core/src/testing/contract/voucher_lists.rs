//! Voucher lists without a reference: by part, status, receive time and
//! attempts, combined; newest received first; keyset pages that stay
//! stable while vouchers arrive.

use super::*;
use crate::datacache::{Claim, VoucherFilter};
use crate::voucher::VoucherStatus as St;

/// Claims `id` at `at` and records `status` as the call's outcome.
async fn attempt(v: &dyn VoucherStore, id: &str, at: DateTime<Utc>, status: St) {
    let lease = std::time::Duration::from_secs(10);
    let Claim::Claimed { token, .. } = v.claim(id, at, lease, "call".into()).await.unwrap() else {
        panic!("{id}: claimable at {at}")
    };
    assert!(v
        .finish(id, token, status, "answer".into(), at)
        .await
        .unwrap());
}

/// Filters, alone and combined; the order (receive time, then id, both
/// descending); pages after a cursor, unchanged by vouchers stored since.
pub async fn check_voucher_lists(v: &dyn VoucherStore) {
    let rows = [
        ("voucher", "a1", 10),
        ("voucher", "a2", 20),
        ("member", "a3", 20),
        ("voucher", "a4", 30),
        ("points", "a5", 40),
        ("voucher", "a6", 40),
        ("voucher", "b7", 50),
    ];
    for (part, id, at) in rows {
        v.insert(&voucher(part, id, "l", "m", "o"), t(at))
            .await
            .unwrap();
    }
    attempt(v, "a1", t(11), St::Submitted).await;
    attempt(v, "a2", t(21), St::Retry).await;
    attempt(v, "a2", t(22), St::Retry).await;
    attempt(v, "a4", t(31), St::Retry).await;
    assert!(v.dead_letter("a4", "given up".into(), t(32)).await.unwrap());
    attempt(v, "a5", t(41), St::Error).await;
    attempt(v, "b7", t(51), St::Submitted).await;

    let list = |f: VoucherFilter, after: Option<(i64, String)>, limit: usize| async move {
        ids(&v.list(&f, after, limit).await.expect("list"))
    };
    let part = |p: &str| VoucherFilter {
        part: Some(p.into()),
        ..VoucherFilter::default()
    };
    let statuses = |s: &[St]| VoucherFilter {
        statuses: s.to_vec(),
        ..VoucherFilter::default()
    };
    let all = VoucherFilter::default;
    assert_eq!(
        list(all(), None, 100).await,
        ["b7", "a6", "a5", "a4", "a3", "a2", "a1"],
        "newest received first; at the same time, by id descending"
    );
    assert_eq!(
        list(part("voucher"), None, 100).await,
        ["b7", "a6", "a4", "a2", "a1"]
    );
    assert_eq!(list(part("member"), None, 100).await, ["a3"]);
    assert_eq!(
        list(statuses(&[St::Submitted]), None, 100).await,
        ["b7", "a1"]
    );
    assert_eq!(
        list(statuses(&[St::Retry, St::DeadLettered]), None, 100).await,
        ["a4", "a2"]
    );
    assert_eq!(
        list(statuses(&[St::Received]), None, 100).await,
        ["a6", "a3"]
    );
    assert_eq!(list(statuses(&[St::Error]), None, 100).await, ["a5"]);
    assert!(list(statuses(&[St::Submitting]), None, 100)
        .await
        .is_empty());
    let window = VoucherFilter {
        from: Some(t(20)),
        to: Some(t(40)),
        ..VoucherFilter::default()
    };
    assert_eq!(
        list(window.clone(), None, 100).await,
        ["a4", "a3", "a2"],
        "from inclusive, to exclusive"
    );
    let since = VoucherFilter {
        from: Some(t(40)),
        ..VoucherFilter::default()
    };
    assert_eq!(list(since, None, 100).await, ["b7", "a6", "a5"]);
    let until = VoucherFilter {
        to: Some(t(20)),
        ..VoucherFilter::default()
    };
    assert_eq!(list(until, None, 100).await, ["a1"]);
    let attempts = |n: i64, f: VoucherFilter| VoucherFilter {
        min_attempts: Some(n),
        ..f
    };
    assert_eq!(list(attempts(2, all()), None, 100).await, ["a2"]);
    assert_eq!(
        list(attempts(1, part("voucher")), None, 100).await,
        ["b7", "a4", "a2", "a1"]
    );
    assert_eq!(
        list(attempts(0, part("voucher")), None, 100).await.len(),
        5,
        "0 attempts: every voucher"
    );
    let combined = VoucherFilter {
        part: Some("voucher".into()),
        statuses: vec![St::Submitted, St::Retry],
        from: Some(t(10)),
        to: Some(t(50)),
        min_attempts: Some(1),
    };
    assert_eq!(list(combined.clone(), None, 100).await, ["a2", "a1"]);
    assert!(
        list(
            VoucherFilter {
                part: Some("member".into()),
                ..statuses(&[St::Submitted])
            },
            None,
            100
        )
        .await
        .is_empty(),
        "part and status both hold"
    );
    // The records are whole: status and attempts as stored.
    let held = v
        .list(&statuses(&[St::Retry]), None, 10)
        .await
        .unwrap()
        .pop()
        .expect("a2");
    assert_eq!(
        (
            held.keys.loyalty_request_id.as_str(),
            held.status,
            held.attempts
        ),
        ("a2", St::Retry, 2)
    );
    assert_eq!((held.part.as_str(), held.received_at), ("voucher", t(20)));

    // Pages: strictly after the cursor, ties broken by id.
    let cursor = |id: &str, s: i64| Some((t(s).timestamp_millis(), id.to_string()));
    assert_eq!(list(all(), None, 3).await, ["b7", "a6", "a5"]);
    assert_eq!(list(all(), cursor("a5", 40), 3).await, ["a4", "a3", "a2"]);
    assert_eq!(list(all(), cursor("a3", 20), 3).await, ["a2", "a1"]);
    assert_eq!(list(all(), cursor("a6", 40), 1).await, ["a5"]);
    assert!(list(all(), cursor("a1", 10), 3).await.is_empty());
    assert_eq!(
        list(combined, cursor("a2", 20), 5).await,
        ["a1"],
        "a cursor within a filter"
    );
    assert_eq!(
        list(window, cursor("a4", 30), 5).await,
        ["a3", "a2"],
        "a cursor within a time window"
    );
    assert_eq!(list(all(), None, 0).await.len(), 1, "≥ 1");

    // Vouchers stored while paging: a newer one does not shift the next
    // pages (it is before the cursor); an older one appears where it sorts.
    let first = list(part("voucher"), None, 2).await;
    assert_eq!(first, ["b7", "a6"]);
    v.insert(&voucher("voucher", "c9", "l", "m", "o"), t(45))
        .await
        .unwrap();
    v.insert(&voucher("voucher", "c8", "l", "m", "o"), t(60))
        .await
        .unwrap();
    v.insert(&voucher("voucher", "c0", "l", "m", "o"), t(5))
        .await
        .unwrap();
    assert_eq!(
        list(part("voucher"), cursor("a6", 40), 2).await,
        ["a4", "a2"]
    );
    assert_eq!(
        list(part("voucher"), cursor("a2", 20), 2).await,
        ["a1", "c0"]
    );
    assert!(list(part("voucher"), cursor("c0", 5), 2).await.is_empty());
    assert_eq!(
        list(part("voucher"), None, 3).await,
        ["c8", "b7", "c9"],
        "a fresh first page shows the newcomers"
    );
}
