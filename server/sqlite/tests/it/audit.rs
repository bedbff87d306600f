//! Moved from mediator-core's `audit` unit tests: they run on SQLite.

use crate::support::{self};
use chrono::Utc;
use mediator_core::access::Role;
use mediator_core::audit::*;
use mediator_core::*;
use store::Database;

#[tokio::test]
async fn records_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let audit = support::audit(Database::open(dir.path()).unwrap());
    let ann = Principal {
        name: "ann".into(),
        role: Role::Operator,
        via: mediator_core::access::Via::Session,
        csrf: None,
    };
    for i in 0..5 {
        let r: Result<(), String> = if i == 3 { Err("busy".into()) } else { Ok(()) };
        audit
            .record(
                NewAuditEntry::new(&ann, "replay.start")
                    .target(format!("p{i}"))
                    .reason(Some(" outage "))
                    .result(&r),
            )
            .await
            .unwrap();
    }
    let page = audit.newest(None, 2).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|e| e.target.clone().unwrap())
            .collect::<Vec<_>>(),
        ["p4", "p3"]
    );
    assert_eq!(page[1].outcome, "failed");
    assert_eq!(page[1].detail.as_ref().unwrap()["error"], "busy");
    assert_eq!(page[1].reason.as_deref(), Some("outage"));
    let older = audit.newest(Some(page[1].id), 10).await.unwrap();
    assert_eq!(older.len(), 3);
    let all = audit.range(None, None, None, 10).await.unwrap();
    assert_eq!(all.first().unwrap().target.as_deref(), Some("p0"));
    let none = audit
        .range(
            Some(Utc::now() + chrono::Duration::hours(1)),
            None,
            None,
            10,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}
