//! The services built from the SQLite ports, as the tests used to build
//! them from a `Database`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mediator_core::events::{EventPublisher, PublishError};
use mediator_core::monitor::{publish_step_with, EMBEDDED_REPLICA};
use mediator_core::recovery::{Lane, QueuedEvent};
use mediator_core::recovery::{ReplayError, ReplayInfo, ReplayRequest};
use mediator_core::storage::{StatusStore, StoreError};
use mediator_core::{
    Access, ArchiveReplays, Audit, DataCache, HealthProbe, History, HistoryPorts, Monitor,
    Overrides, PartName, PartSettings, Recovery, RecoveryPorts, RecoverySettings, ResubmitQueue,
    SaasSubmitter, StatusBoard, StatusChange, SubmissionFlow, SubmitOutcome,
};
use mediator_sqlite::{SqliteReplays, SqliteStore};
use serde_json::Value;
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

/// A SaaS that accepts every submission.
pub struct AcceptAll;

#[async_trait]
impl SaasSubmitter for AcceptAll {
    async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
        SubmitOutcome::Accepted { status: 200 }
    }
}

/// Resubmit queues that stay empty: the tests hand replayed events to
/// [`Recovery::handle`] themselves.
pub struct EmptyQueue;

#[async_trait]
impl ResubmitQueue for EmptyQueue {
    async fn receive(
        &self,
        _part: &PartName,
        _lane: Lane,
        _max: usize,
        _wait: Duration,
    ) -> Result<Vec<QueuedEvent>, String> {
        Ok(vec![])
    }
    async fn delete(&self, _: &PartName, _: Lane, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Recovery on `db` with `replays` as the bus and [`EmptyQueue`].
pub fn recovery(
    db: Database,
    flow: Arc<SubmissionFlow>,
    replays: Arc<dyn ArchiveReplays>,
    settings: RecoverySettings,
) -> Recovery {
    let queue: Arc<dyn ResubmitQueue> = Arc::new(EmptyQueue);
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

/// A bus's replays as a test sets them: each started replay is recorded,
/// `states` answers DescribeReplay, and with `running` a started replay is
/// RUNNING until the test says otherwise. Cancelling finds no replay.
#[derive(Default)]
pub struct FakeBus {
    pub started: std::sync::Mutex<Vec<ReplayRequest>>,
    pub states: std::sync::Mutex<std::collections::HashMap<String, String>>,
    pub running: std::sync::atomic::AtomicBool,
}

impl FakeBus {
    /// A bus on which a started replay is RUNNING.
    pub fn running() -> Self {
        let bus = Self::default();
        bus.running.store(true, std::sync::atomic::Ordering::SeqCst);
        bus
    }
}

#[async_trait]
impl ArchiveReplays for FakeBus {
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
        self.started.lock().unwrap().push(req.clone());
        if self.running.load(std::sync::atomic::Ordering::SeqCst) {
            self.states
                .lock()
                .unwrap()
                .insert(req.name.clone(), "RUNNING".into());
        }
        Ok(())
    }
    async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        Ok(self.states.lock().unwrap().get(name).map(|s| ReplayInfo {
            state: s.clone(),
            state_reason: None,
            event_last_replayed_time: None,
            replay_start_time: None,
            replay_end_time: None,
        }))
    }
    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
        Err(ReplayError::NotFound(name.into()))
    }
    async fn count_archived(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<i64, ReplayError> {
        Ok(0)
    }
}
