//! Moved from mediator-core's `status` unit tests: they run on SQLite.

use crate::support::{self};
use chrono::Utc;
use mediator_core::status::*;
use mediator_core::*;
use mediator_sqlite::*;
use store::Database;

fn defaults() -> Vec<PartSettings> {
    PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect()
}

fn board(dir: &std::path::Path) -> StatusBoard {
    support::board(Database::open(dir).unwrap(), defaults())
}

#[tokio::test]
async fn with_a_store_the_board_reads_the_circuits_there() {
    use mediator_core::storage::{CheckWrite, StatusStore};
    let shared = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::new(Database::open(shared.path()).unwrap()));
    let at = Utc::now();
    let snap = store.load("member").await.unwrap();
    let mut circuit = snap.circuit.clone();
    circuit.observe(
        false,
        at,
        Thresholds {
            failure: 3,
            recovery: 2,
        },
    );
    let write = CheckWrite {
        at,
        ok: false,
        latency_ms: 3,
        error: Some("HTTP 503".into()),
        circuit,
        change: None,
    };
    store.record("member", &snap, &write).await.unwrap();
    let b = StatusBoard::new(store, defaults());
    b.seed(Utc::now()).await.unwrap();
    let parts = b.overview().await.unwrap();
    let member = parts.iter().find(|p| p.name.as_str() == "member").unwrap();
    assert_eq!(member.state, PartState::Pending, "1 failed check of 3");
    assert_eq!(member.failures, 1);
    assert_eq!(member.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(
        member.last_check_at.map(|t| t.timestamp_millis()),
        Some(at.timestamp_millis())
    );
    let voucher = parts.iter().find(|p| p.name.as_str() == "voucher").unwrap();
    assert_eq!(voucher.state, PartState::Unknown, "never checked");
}

#[tokio::test]
async fn unchecked_parts_are_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let b = board(tmp.path());
    b.seed(Utc::now()).await.unwrap();
    let parts = b.overview().await.unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.state == PartState::Unknown));
    assert_eq!(parts[0].archive_name, "LoyaltyVoucherArchive");
    assert_eq!(
        b.stored_status("member").await.unwrap().as_deref(),
        Some("unknown")
    );
}

#[tokio::test]
async fn seeding_keeps_existing_status() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.write(|tx| {
        tx.execute(
            "INSERT INTO part_status (part, status, changed_at, updated_at)
             VALUES ('points', 'down', '2026-11-01T10:00:00Z', '2026-11-01T10:00:00Z')",
            [],
        )
    })
    .await
    .unwrap();
    let b = support::board(db, defaults());
    b.seed(Utc::now()).await.unwrap();
    let points = b.part("points").await.unwrap().unwrap();
    assert_eq!(points.state, PartState::Down);
    assert_eq!(
        points.changed_at.unwrap().to_rfc3339(),
        "2026-11-01T10:00:00+00:00"
    );
    assert!(b.part("nope").await.unwrap().is_none());
}
