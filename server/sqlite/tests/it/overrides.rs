//! Moved from mediator-core's `overrides` unit tests: they run on SQLite.

use crate::support::{self};
use chrono::Utc;
use mediator_core::overrides::*;
use mediator_core::*;
use serde_json::json;
use store::Database;

#[tokio::test]
async fn overrides_persist_and_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let o = support::overrides(db.clone(), PartName::defaults());
    let req = |m: &str| OverrideRequest::parse(&json!({"mode": m, "reason": "ops", "by": "ann"}));
    assert!(matches!(
        o.set("nope", req("force_open").unwrap(), Utc::now()).await,
        Err(OverrideError::UnknownPart(_))
    ));
    let set = o
        .set("voucher", req("force_open").unwrap(), Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(set.mode, OverrideMode::ForceOpen);
    assert_eq!(o.get("voucher").await.unwrap(), Some(set));
    let circuits = o.circuits().await.unwrap();
    assert!(!circuits[0].2, "voucher forced open");
    assert!(circuits[1].2 && circuits[1].1.is_none());
    // A monitor check keeps the override.
    db.write(|tx| {
        tx.execute(
            "UPDATE part_status SET status = 'down', failures = 3 WHERE part = 'voucher'",
            [],
        )
    })
    .await
    .unwrap();
    assert!(o.get("voucher").await.unwrap().is_some());
    assert!(o
        .set("voucher", req("none").unwrap(), Utc::now())
        .await
        .unwrap()
        .is_none());
    assert!(o.all().await.unwrap().is_empty());
    assert!(!o.circuits().await.unwrap()[0].2, "down again without it");
}
