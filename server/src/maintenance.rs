//! Periodic database upkeep: checkpoints the WAL so it stays small,
//! deletes audit entries older than the retention (`--audit-retention-days`)
//! so the audit log stays bounded, and delivered or failed notification
//! deliveries older than theirs (`notify.retention_days`), on either
//! backend.

use std::time::Duration;

use std::sync::Arc;

use mediator_core::notify::Notifier;
use mediator_core::Audit;
use store::Database;
use tokio_util::sync::CancellationToken;

/// How often [`step`] runs.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Audit entries deleted per statement: a backlog (a lowered retention)
/// is deleted in short write transactions instead of one long one.
const PRUNE_BATCH: usize = 1000;

/// Most audit entries one [`prune_audit`] deletes; the rest waits for the
/// next round.
const PRUNE_MAX: u64 = 100_000;

/// One round of upkeep; returns the number of WAL frames checkpointed.
pub async fn step(db: &Database) -> Result<i64, store::DbError> {
    db.checkpoint().await
}

/// Deletes audit entries older than `retention`; returns how many.
pub async fn prune_audit(
    audit: &Audit,
    retention: Duration,
) -> Result<u64, mediator_core::storage::StoreError> {
    let mut total = 0;
    while total < PRUNE_MAX {
        let n = audit.prune(retention, PRUNE_BATCH).await?;
        total += n;
        if n < PRUNE_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

/// Deletes the notification deliveries that ended more than the
/// retention ago; returns how many.
pub async fn prune_notifications(
    notifier: &Notifier,
) -> Result<u64, mediator_core::storage::StoreError> {
    notifier.prune(chrono::Utc::now()).await
}

/// Runs [`step`], [`prune_audit`] and [`prune_notifications`] every
/// [`INTERVAL`] (the pruning also once at start) until `shutdown` is
/// cancelled, and [`step`] once more on the way out so the WAL is folded
/// in before exit.
pub async fn run(
    db: Database,
    audit: Audit,
    retention: Duration,
    notifier: Option<Arc<Notifier>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    let mut first = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                match prune_audit(&audit, retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("audit log: {n} entries older than the retention deleted"),
                    Err(e) => tracing::warn!("audit log pruning failed: {e}"),
                }
                if let Some(n) = &notifier {
                    match prune_notifications(n).await {
                        Ok(0) => {}
                        Ok(k) => tracing::info!("notifications: {k} ended deliveries older than the retention deleted"),
                        Err(e) => tracing::warn!("notification pruning failed: {e}"),
                    }
                }
                // The first tick fires at once: nothing to checkpoint yet.
                if !std::mem::take(&mut first) {
                    if let Err(e) = step(&db).await {
                        tracing::warn!("database checkpoint failed: {e}");
                    }
                }
            }
        }
    }
    if let Err(e) = step(&db).await {
        tracing::warn!("final database checkpoint failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediator_core::access::Principal;
    use mediator_core::audit::NewAuditEntry;

    #[tokio::test]
    async fn step_checkpoints_and_run_stops_on_cancel() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        assert!(step(&db).await.unwrap() >= 0);
        let token = CancellationToken::new();
        let audit = Audit::new(mediator_sqlite::ports(&db).audit);
        let task = tokio::spawn(run(
            db,
            audit,
            Duration::from_secs(86_400),
            None,
            token.clone(),
        ));
        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("run must stop promptly after cancel")
            .unwrap();
    }

    #[tokio::test]
    async fn the_audit_log_keeps_only_the_retention() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let audit = Audit::new(mediator_sqlite::ports(&db).audit);
        for i in 0..3 {
            audit
                .record(NewAuditEntry::new(&Principal::cli(), "user.add").target(format!("u{i}")))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        audit
            .record(NewAuditEntry::new(&Principal::cli(), "user.add").target("new"))
            .await
            .unwrap();
        assert_eq!(
            prune_audit(&audit, Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            prune_audit(&audit, Duration::from_millis(25))
                .await
                .unwrap(),
            3
        );
        let left = audit.range(None, None, None, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].target.as_deref(), Some("new"));
    }

    /// Delivered and failed deliveries older than the retention go; a
    /// pending one stays however old, and a recent one stays.
    #[tokio::test]
    async fn ended_notification_deliveries_keep_only_the_retention() {
        use mediator_core::notify::{
            Channel, ChannelFilter, ChannelTarget, Notification, NotificationKind,
            NotificationSender, NotifySettings, SendError,
        };
        use mediator_core::storage::notify::{DeliveryStatus, Settle};

        struct Never;
        #[async_trait::async_trait]
        impl NotificationSender for Never {
            async fn send(&self, _: &Channel, _: &Notification, _: i64) -> Result<(), SendError> {
                Err(SendError("unused".into()))
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let store = mediator_sqlite::ports(&db).notifications;
        let channel = |name: &str| Channel {
            name: name.into(),
            target: ChannelTarget::Slack {
                url: "http://127.0.0.1:9/".into(),
            },
            filter: ChannelFilter::default(),
        };
        let notifier = Notifier::new(
            store.clone(),
            Arc::new(Never),
            vec![channel("ops"), channel("chat")],
            NotifySettings {
                retention: Duration::from_millis(100),
                ..NotifySettings::default()
            },
        );
        let now = chrono::Utc::now;
        let note = |id: &str| Notification {
            event_id: id.into(),
            kind: NotificationKind::PartDown,
            part: Some("voucher".into()),
            summary: id.into(),
            at: now(),
            detail: serde_json::Value::Null,
        };
        let lease = Duration::from_secs(30);
        notifier.notify(&note("old"), None, now()).await.unwrap();
        let claimed = store.claim_due(now(), lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let failed = Settle::Failed {
            error: "HTTP 500".into(),
        };
        let (delivered, given_up) = (&claimed[0], &claimed[1]);
        assert!(store
            .settle(delivered.id, 1, &Settle::Delivered, now())
            .await
            .unwrap());
        assert!(store.settle(given_up.id, 1, &failed, now()).await.unwrap());
        notifier.notify(&note("stuck"), None, now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        notifier.notify(&note("new"), None, now()).await.unwrap();
        for c in store.claim_due(now(), lease, 10).await.unwrap() {
            if c.notification.event_id == "new" {
                assert!(store
                    .settle(c.id, 1, &Settle::Delivered, now())
                    .await
                    .unwrap());
            }
        }
        assert_eq!(prune_notifications(&notifier).await.unwrap(), 2);
        assert_eq!(prune_notifications(&notifier).await.unwrap(), 0);
        let mut left: Vec<(String, DeliveryStatus)> = notifier
            .recent(10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.event_id, d.status))
            .collect();
        left.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            left,
            [
                ("new".to_string(), DeliveryStatus::Delivered),
                ("new".to_string(), DeliveryStatus::Delivered),
                ("stuck".to_string(), DeliveryStatus::Sending),
                ("stuck".to_string(), DeliveryStatus::Sending),
            ]
        );
    }
}
