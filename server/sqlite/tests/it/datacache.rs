//! Moved from mediator-core's `datacache` unit tests: they run on SQLite.

use crate::support::{self};
use chrono::Utc;
use mediator_core::datacache::*;
use mediator_core::PartName;
use mediator_core::*;
use serde_json::json;
use std::time::Duration;
use store::{rusqlite::params, Database};

fn req(id: &str) -> VoucherRequest {
    VoucherRequest::parse(
        &json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}),
        &PartName::defaults(),
    )
    .unwrap()
}

async fn cache() -> (tempfile::TempDir, DataCache, Database) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    (tmp, support::cache(db.clone()), db)
}

async fn set_part(db: &Database, status: &'static str) {
    db.write(move |tx| {
        tx.execute(
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', ?1, 'now')
             ON CONFLICT (part) DO UPDATE SET status = excluded.status",
            [status],
        )
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn find_matches_any_reference_newest_first_with_pages() {
    let (_t, c, db) = cache().await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let keyed = |id: &str, lr: &str, mr: &str, or: &str| {
        VoucherRequest::parse(
            &json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": lr,
                    "merchant_reference": mr, "loyalty_order_reference": or, "payload": {}}),
            &PartName::defaults(),
        )
        .unwrap()
    };
    // x1..x3 share the loyalty reference "L"; x2 has merchant reference
    // "M"; x4's order reference is "L" too; "x1" is also an id.
    let rows = [
        keyed("x1", "L", "m1", "o1"),
        keyed("x2", "L", "M", "o2"),
        keyed("x3", "L", "m3", "o3"),
        keyed("x4", "l4", "m4", "L"),
        keyed("x5", "x1", "m5", "o5"),
    ];
    for (i, r) in rows.iter().enumerate() {
        c.insert(r, t0 + chrono::Duration::seconds(i as i64))
            .await
            .unwrap();
    }
    let ids = |v: Vec<VoucherRecord>| {
        v.into_iter()
            .map(|r| r.keys.loyalty_request_id)
            .collect::<Vec<_>>()
    };
    let any = c.find(VoucherRef::Any, "L", None, 100).await.unwrap();
    assert_eq!(ids(any), ["x4", "x3", "x2", "x1"], "newest first");
    let by = |f, v: &'static str| {
        let c = c.clone();
        async move { ids(c.find(f, v, None, 10).await.unwrap()) }
    };
    assert_eq!(
        by(VoucherRef::LoyaltyReference, "L").await,
        ["x3", "x2", "x1"]
    );
    assert_eq!(by(VoucherRef::MerchantReference, "M").await, ["x2"]);
    assert_eq!(by(VoucherRef::LoyaltyOrderReference, "L").await, ["x4"]);
    assert_eq!(by(VoucherRef::LoyaltyRequestId, "x1").await, ["x1"]);
    assert_eq!(by(VoucherRef::Any, "x1").await, ["x5", "x1"]);
    assert!(by(VoucherRef::Any, "l").await.is_empty(), "exact match");

    // Pages of two, continuing after the last one.
    let p1 = c.find(VoucherRef::Any, "L", None, 2).await.unwrap();
    let last = p1.last().unwrap();
    let after = (
        last.received_at.timestamp_millis(),
        last.keys.loyalty_request_id.clone(),
    );
    let p2 = c.find(VoucherRef::Any, "L", Some(after), 2).await.unwrap();
    assert_eq!(ids(p1), ["x4", "x3"]);
    assert_eq!(ids(p2), ["x2", "x1"]);
    assert_eq!(
        c.find(VoucherRef::Any, "L", None, 0).await.unwrap().len(),
        1,
        "at least 1"
    );

    // Every reference is looked up through an index, never a scan.
    for (_, f) in VoucherRef::FIELDS
        .into_iter()
        .chain([("any", VoucherRef::Any)])
    {
        let plan: Vec<String> = db
            .read(move |c| {
                c.prepare(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    mediator_sqlite::vouchers::find_sql(f)
                ))?
                .query_map(params!["L", i64::MAX, "", 10], |r| r.get::<_, String>(3))?
                .collect()
            })
            .await
            .unwrap();
        assert!(
            plan.iter().all(|l| !l.starts_with("SCAN vouchers")),
            "{f:?}: {plan:?}"
        );
    }
}

#[tokio::test]
async fn duplicates_are_stored_once() {
    let (_t, c, _) = cache().await;
    let now = Utc::now();
    let (v, new) = c.insert(&req("a"), now).await.unwrap();
    assert!(new);
    assert_eq!(v.status, VoucherStatus::Received);
    let (_, new) = c.insert(&req("a"), now).await.unwrap();
    assert!(!new);
    assert_eq!(c.lifecycle("a").await.unwrap().len(), 1);
}

#[tokio::test]
async fn hold_only_when_the_part_is_down_with_an_event() {
    let (_t, c, db) = cache().await;
    let now = Utc::now();
    c.insert(&req("a"), now).await.unwrap();
    assert_eq!(c.hold_if_open("a", now).await.unwrap(), Hold::CircuitClosed);
    set_part(&db, "down").await;
    assert_eq!(c.hold_if_open("a", now).await.unwrap(), Hold::Held);
    let events = c.unpublished_events(10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, VoucherStatus::Retry);
    assert!(c
        .retry_events_pending("voucher", now + chrono::Duration::seconds(1))
        .await
        .unwrap());
    c.mark_published(vec![events[0].id]).await.unwrap();
    assert!(!c
        .retry_events_pending("voucher", now + chrono::Duration::seconds(1))
        .await
        .unwrap());
    let window = c
        .count_retry_events("voucher", now, now + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(window, 1);
}

#[tokio::test]
async fn one_claim_at_a_time_and_leases_expire() {
    let (_t, c, _) = cache().await;
    let now = Utc::now();
    c.insert(&req("a"), now).await.unwrap();
    let lease = Duration::from_secs(10);
    let Claim::Claimed { token, .. } = c.claim("a", now, lease, "x".into()).await.unwrap() else {
        panic!("first claim wins")
    };
    assert_eq!(
        c.claim("a", now, lease, "y".into()).await.unwrap(),
        Claim::Busy(VoucherStatus::Submitting)
    );
    // After the lease, another handler may take over; the first loses its claim.
    let later = now + chrono::Duration::seconds(11);
    let Claim::Claimed { token: t2, .. } = c.claim("a", later, lease, "z".into()).await.unwrap()
    else {
        panic!("expired lease is reclaimable")
    };
    assert!(!c
        .finish("a", token, VoucherStatus::Submitted, "ok".into(), later)
        .await
        .unwrap());
    assert!(c
        .finish("a", t2, VoucherStatus::Submitted, "ok".into(), later)
        .await
        .unwrap());
    assert_eq!(
        c.claim("a", later, lease, "again".into()).await.unwrap(),
        Claim::Busy(VoucherStatus::Submitted)
    );
    assert!(!c.dead_letter("a", "x".into(), later).await.unwrap());
    let life: Vec<_> = c
        .lifecycle("a")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(life, ["received", "submitting", "submitting", "submitted"]);
    assert_eq!(
        c.claim("nope", now, lease, "x".into()).await.unwrap(),
        Claim::NotFound
    );
}

#[tokio::test]
async fn batch_claims_holds_and_skips_like_one_at_a_time() {
    let (_t, c, db) = cache().await;
    let now = Utc::now();
    let lease = Duration::from_secs(10);
    for id in ["a", "b", "done"] {
        c.insert(&req(id), now).await.unwrap();
    }
    let Claim::Claimed { token, .. } = c.claim("done", now, lease, "x".into()).await.unwrap()
    else {
        panic!("claimed")
    };
    c.finish("done", token, VoucherStatus::Submitted, "ok".into(), now)
        .await
        .unwrap();
    let items = |ids: &[&str]| {
        ids.iter()
            .map(|i| (i.to_string(), "replay".to_string()))
            .collect::<Vec<_>>()
    };
    // Circuit closed: claimed once (the repeat is skipped), final and
    // unknown ones skipped, in the order given.
    let out = c
        .hold_or_claim_many(items(&["a", "a", "done", "nope"]), now, lease)
        .await
        .unwrap();
    let Attempt::Claimed { token, voucher } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((*token, voucher.status), (1, VoucherStatus::Submitting));
    assert_eq!(voucher.keys.loyalty_request_id, "a");
    assert_eq!(voucher.payload, serde_json::json!({}));
    assert_eq!(
        out[1..],
        [
            Attempt::Skipped(Some(VoucherStatus::Submitting)),
            Attempt::Skipped(Some(VoucherStatus::Submitted)),
            Attempt::Skipped(None)
        ]
    );
    let life: Vec<_> = c.lifecycle("a").await.unwrap();
    assert_eq!(life.last().unwrap().detail, "attempt 1: replay");
    // Circuit open: held, with its retry event; a live claim is not held.
    set_part(&db, "down").await;
    let out = c
        .hold_or_claim_many(items(&["b", "a"]), now, lease)
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            Attempt::Held,
            Attempt::Skipped(Some(VoucherStatus::Submitting))
        ]
    );
    assert_eq!(
        c.get("b").await.unwrap().unwrap().status,
        VoucherStatus::Retry
    );
    // An expired claim is taken over once the part is up again.
    set_part(&db, "up").await;
    let later = now + chrono::Duration::seconds(11);
    let out = c
        .hold_or_claim_many(items(&["a", "b"]), later, lease)
        .await
        .unwrap();
    assert!(
        matches!(
            out[..],
            [
                Attempt::Claimed { token: 2, .. },
                Attempt::Claimed { token: 1, .. }
            ]
        ),
        "{out:?}"
    );
}
