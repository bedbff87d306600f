//! The services built from the SQLite ports, as the tests used to build
//! them from a `Database`.

use std::sync::Arc;
use std::time::Duration;

use mediator_core::events::{EventPublisher, PublishError};
use mediator_core::monitor::{publish_step_with, EMBEDDED_REPLICA};
use mediator_core::storage::{StatusStore, StoreError};
use mediator_core::{
    Access, ArchiveReplays, Audit, DataCache, HealthProbe, History, HistoryPorts, Monitor,
    Overrides, PartName, PartSettings, Recovery, RecoveryPorts, RecoverySettings, ResubmitQueue,
    SaasSubmitter, StatusBoard, StatusChange, SubmissionFlow,
};
use mediator_sqlite::{SqliteReplays, SqliteStore};
use store::Database;

pub fn access(db: Database) -> Access {
    Access::new(mediator_sqlite::ports(&db).access)
}

pub fn audit(db: Database) -> Audit {
    Audit::new(mediator_sqlite::ports(&db).audit)
}

pub fn overrides(db: Database, parts: Vec<PartName>) -> Overrides {
    Overrides::new(Arc::new(SqliteStore::new(db)), parts)
}

/// The embedded server's monitor: it names itself [`EMBEDDED_REPLICA`].
pub fn monitor(db: Database, probe: Arc<dyn HealthProbe>, parts: Vec<PartSettings>) -> Monitor {
    Monitor::new(Arc::new(SqliteStore::new(db)), probe, parts).with_replica(EMBEDDED_REPLICA)
}

pub fn cache(db: Database) -> DataCache {
    DataCache::new(mediator_sqlite::ports(&db).vouchers)
}

pub fn flow(
    db: Database,
    saas: Arc<dyn SaasSubmitter>,
    parts: Vec<PartName>,
    submit_timeout: Duration,
) -> SubmissionFlow {
    SubmissionFlow::new(cache(db), saas, parts, submit_timeout)
}

pub fn recovery(
    db: Database,
    flow: Arc<SubmissionFlow>,
    replays: Arc<dyn ArchiveReplays>,
    queue: Arc<dyn ResubmitQueue>,
    settings: RecoverySettings,
) -> Recovery {
    let ports = RecoveryPorts {
        status: Arc::new(SqliteStore::new(db.clone())),
        records: Arc::new(SqliteReplays::new(db)),
    };
    Recovery::new(ports, flow, replays, queue, settings)
}

pub fn history(db: Database, parts: Vec<PartSettings>) -> History {
    let p = mediator_sqlite::ports(&db);
    History::new(
        HistoryPorts {
            monitor: p.monitor_history,
            vouchers: p.vouchers,
            replays: p.replays,
        },
        parts,
    )
}

pub fn board(db: Database, parts: Vec<PartSettings>) -> StatusBoard {
    StatusBoard::new(Arc::new(SqliteStore::new(db)), parts)
}

/// Publishes the embedded database's pending status changes.
pub async fn publish_step(
    db: &Database,
    publisher: &dyn EventPublisher,
) -> Result<usize, PublishError> {
    publish_step_with(&SqliteStore::new(db.clone()), publisher, "").await
}

/// The embedded database's unpublished status changes, oldest first.
pub async fn unpublished_changes(
    db: &Database,
    limit: usize,
) -> Result<Vec<(i64, String, StatusChange)>, StoreError> {
    Ok(SqliteStore::new(db.clone())
        .unpublished_changes(limit)
        .await?
        .into_iter()
        .map(|c| (c.id, c.part, c.change))
        .collect())
}
