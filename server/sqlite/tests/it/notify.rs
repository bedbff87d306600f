//! The notification outbox on SQLite and the notifier over it: each fact
//! queued once, each delivery claimed by one sender at a time and settled
//! only by its claim, kept across a reopen; the sources read status
//! changes, dead letters, the DLQ's size and replays once each; failed
//! attempts are retried with back-off, then given up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use mediator_core::notify::{
    Channel, ChannelFilter, ChannelTarget, Notification, NotificationKind, NotificationSender,
    Notifier, NotifySettings, NotifySources, Outcome, SendError,
};
use mediator_core::recovery::*;
use mediator_core::storage::notify::{DeliveryStatus, NotificationStore, Settle};
use mediator_core::*;
use mediator_sqlite::{SqliteNotifications, SqliteStore};
use serde_json::json;
use store::{rusqlite::params, Database};

use crate::support::{self, FakeBus};

fn note(id: &str, kind: NotificationKind, part: Option<&str>) -> Notification {
    Notification {
        event_id: id.into(),
        kind,
        part: part.map(str::to_owned),
        summary: format!("{kind} {id}"),
        at: Utc::now(),
        detail: json!({}),
    }
}

fn channel(name: &str, filter: ChannelFilter) -> Channel {
    Channel {
        name: name.into(),
        target: ChannelTarget::Slack {
            url: format!("http://127.0.0.1:9/{name}"),
        },
        filter,
    }
}

#[tokio::test]
async fn the_outbox_queues_each_fact_once_and_hands_each_delivery_to_one_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SqliteNotifications::new(Database::open(tmp.path()).unwrap());
    let now = Utc::now();
    let sec = |s: i64| now + chrono::Duration::seconds(s);
    let lease = Duration::from_secs(30);
    let n = note("status-1", NotificationKind::PartDown, Some("voucher"));
    let chans = ["a".to_string(), "b".to_string()];
    assert!(store
        .enqueue(&n, &chans, Some(("status_changes", 1)), now)
        .await
        .unwrap());
    assert!(!store.enqueue(&n, &chans, None, now).await.unwrap());
    assert_eq!(store.cursor("status_changes").await.unwrap(), Some(1));
    assert_eq!(store.cursor("other").await.unwrap(), None);
    assert_eq!(
        store
            .known(&["status-1".into(), "status-2".into()])
            .await
            .unwrap(),
        [true, false]
    );
    assert_eq!(store.recent(10).await.unwrap().len(), 2);

    let claimed = store.claim_due(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|c| c.attempt == 1 && c.notification == n));
    assert!(store.claim_due(now, lease, 10).await.unwrap().is_empty());
    let (a, b) = (&claimed[0], &claimed[1]);
    let retry = Settle::Retry {
        error: "HTTP 500".into(),
        next_at: sec(1),
    };
    assert!(
        !store.settle(a.id, 2, &retry, now).await.unwrap(),
        "not its claim"
    );
    assert!(store.settle(a.id, 1, &retry, now).await.unwrap());
    assert!(!store
        .settle(a.id, 1, &Settle::Delivered, now)
        .await
        .unwrap());
    assert!(store.claim_due(now, lease, 10).await.unwrap().is_empty());
    let again = store.claim_due(sec(2), lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (a.id, 2));
    // b's sender died: its lease runs out and another claim takes it.
    let taken = store.claim_due(sec(31), lease, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].id, taken[0].attempt), (b.id, 2));
    assert!(!store
        .settle(b.id, 1, &Settle::Delivered, sec(31))
        .await
        .unwrap());
    assert!(store
        .settle(b.id, 2, &Settle::Delivered, sec(31))
        .await
        .unwrap());

    // A restart: the database reopened keeps both, and only the undelivered
    // one is claimed again.
    drop(store);
    let store = SqliteNotifications::new(Database::open(tmp.path()).unwrap());
    let log: HashMap<String, (DeliveryStatus, i64, Option<String>)> = store
        .recent(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.channel, (d.status, d.attempts, d.last_error)))
        .collect();
    assert_eq!(
        log["a"],
        (DeliveryStatus::Sending, 2, Some("HTTP 500".into()))
    );
    assert_eq!(log["b"], (DeliveryStatus::Delivered, 2, None));
    let later = store.claim_due(sec(100), lease, 10).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].channel.as_str(), later[0].attempt), ("a", 3));
    store
        .settle(
            later[0].id,
            3,
            &Settle::Failed {
                error: "gave up".into(),
            },
            sec(100),
        )
        .await
        .unwrap();
    assert!(store
        .claim_due(sec(10_000), lease, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Records what it sends; fails the first `fail` attempts.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, Notification, i64)>>,
    fail: Mutex<usize>,
}

#[async_trait]
impl NotificationSender for Recorder {
    async fn send(
        &self,
        channel: &Channel,
        n: &Notification,
        attempt: i64,
    ) -> Result<(), SendError> {
        self.sent
            .lock()
            .unwrap()
            .push((channel.name.clone(), n.clone(), attempt));
        let mut fail = self.fail.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(SendError("HTTP 503".into()));
        }
        Ok(())
    }
}

fn notifier(
    db: &Database,
    sender: Arc<Recorder>,
    channels: Vec<Channel>,
    settings: NotifySettings,
) -> Arc<Notifier> {
    Arc::new(Notifier::new(
        Arc::new(SqliteNotifications::new(db.clone())),
        sender,
        channels,
        settings,
    ))
}

#[tokio::test]
async fn failed_attempts_back_off_then_give_up_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let sender = Arc::new(Recorder::default());
    *sender.fail.lock().unwrap() = 10;
    let settings = NotifySettings {
        retry_base: Duration::from_millis(200),
        max_attempts: 3,
        ..Default::default()
    };
    let n = notifier(
        &db,
        sender.clone(),
        vec![channel("ops", ChannelFilter::default())],
        settings,
    );
    assert!(n
        .send_test("nope", "tester", Utc::now())
        .await
        .unwrap()
        .is_none());
    let t = n
        .send_test("ops", "tester", Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.dispatch_step(Utc::now()).await.unwrap(), 1);
    assert_eq!(n.dispatch_step(Utc::now()).await.unwrap(), 0, "backing off");
    let later = |ms| Utc::now() + chrono::Duration::milliseconds(ms);
    assert_eq!(n.dispatch_step(later(250)).await.unwrap(), 1);
    assert_eq!(
        n.dispatch_step(later(300)).await.unwrap(),
        0,
        "the wait doubled"
    );
    assert_eq!(n.dispatch_step(later(450)).await.unwrap(), 1);
    assert_eq!(
        n.dispatch_step(later(100_000)).await.unwrap(),
        0,
        "given up"
    );
    let sent = sender.sent.lock().unwrap().clone();
    let attempts: Vec<i64> = sent.iter().map(|s| s.2).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(sent.iter().all(|s| s.1.event_id == t.event_id));
    let log = n.recent(10).await.unwrap();
    assert_eq!(log[0].status, DeliveryStatus::Failed);
    assert_eq!(log[0].attempts, 3);
    assert_eq!(log[0].last_error.as_deref(), Some("HTTP 503"));
    let counts = n.counts();
    let key = |o| ("ops".to_string(), NotificationKind::Test, o);
    assert_eq!(counts.get(&key(Outcome::Retried)), Some(&2));
    assert_eq!(counts.get(&key(Outcome::Failed)), Some(&1));
    assert_eq!(counts.get(&key(Outcome::Delivered)), None);
}

async fn status_change(db: &Database, status: &'static str, prev: &'static str) {
    let at = Utc::now().timestamp_millis();
    db.write(move |tx| {
        tx.execute(
            "INSERT INTO mon_status_changes (part, status, changed_ms, prev_status, prev_change_ms)
             VALUES ('voucher', ?1, ?2, ?3, ?4)",
            params![status, at, prev, at - 5_000],
        )
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn each_source_is_read_once_and_filters_pick_the_channels() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = Arc::new(support::flow(
        db.clone(),
        Arc::new(support::AcceptAll),
        PartName::defaults(),
        Duration::from_secs(1),
    ));
    let bus = Arc::new(FakeBus::running());
    let rec = Arc::new(support::recovery(
        db.clone(),
        flow.clone(),
        bus.clone(),
        RecoverySettings::default(),
    ));
    let sender = Arc::new(Recorder::default());
    let n = notifier(
        &db,
        sender.clone(),
        vec![
            channel("all", ChannelFilter::default()),
            channel(
                "members",
                ChannelFilter {
                    parts: vec!["member".into()],
                    kinds: vec![],
                },
            ),
            channel(
                "ups",
                ChannelFilter {
                    parts: vec![],
                    kinds: vec![NotificationKind::PartUp],
                },
            ),
        ],
        NotifySettings {
            dlq_threshold: Some(1),
            ..Default::default()
        },
    );
    let sources = NotifySources {
        status: Arc::new(SqliteStore::new(db.clone())),
        cache: flow.cache().clone(),
        recovery: rec.clone(),
        maintenance: Some(Arc::new(mediator_sqlite::SqliteMaintenance::new(
            db.clone(),
        ))),
    };
    // What happened before the first step is history: not told.
    status_change(&db, "down", "up").await;
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 0);

    status_change(&db, "down", "up").await;
    status_change(&db, "up", "down").await;
    status_change(&db, "up", "unknown").await;
    db.write(|tx| {
        tx.execute(
            "INSERT OR REPLACE INTO part_status (part, status, updated_at)
             VALUES ('voucher', 'down', 'now')",
            [],
        )
    })
    .await
    .unwrap();
    let held = flow
        .accept_json(&json!({"part": "voucher", "loyalty_request_id": "v-1", "loyalty_reference": "r",
                             "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
        .await
        .unwrap();
    assert_eq!(held.voucher.status, VoucherStatus::Retry);
    assert!(flow
        .cache()
        .dead_letter("v-1", "failed too often".into(), Utc::now())
        .await
        .unwrap());
    let voucher = PartName::parse("voucher").unwrap();
    let r = rec
        .start_window(
            &voucher,
            Utc::now() - chrono::Duration::hours(1),
            Utc::now() - chrono::Duration::minutes(30),
            "manual",
            "tester",
            None,
        )
        .await
        .unwrap();
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 4);
    bus.states
        .lock()
        .unwrap()
        .insert(r.name.clone(), "COMPLETED".into());
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 1);
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 0, "once each");

    while n.dispatch_step(Utc::now()).await.unwrap() > 0 {}
    let sent = sender.sent.lock().unwrap().clone();
    let to = |ch: &str| -> Vec<(NotificationKind, String)> {
        sent.iter()
            .filter(|s| s.0 == ch)
            .map(|s| (s.1.kind, s.1.event_id.clone()))
            .collect()
    };
    let all = to("all");
    let kinds: Vec<NotificationKind> = all.iter().map(|k| k.0).collect();
    assert_eq!(
        kinds,
        [
            NotificationKind::PartDown,
            NotificationKind::PartUp,
            NotificationKind::DeadLettered,
            NotificationKind::DlqThreshold,
            NotificationKind::ReplayCompleted,
        ],
        "{all:?}"
    );
    assert!(all[0].1.starts_with("status-"));
    assert_eq!(all[3].1, "dlq-threshold-1");
    assert_eq!(all[4].1, format!("replay-{}-completed", r.name));
    assert!(all[2].1.starts_with("dead-lettered-v-1-"));
    assert_eq!(to("ups"), [all[1].clone()]);
    // Only the DLQ threshold (about no part) reaches the member-only channel.
    assert_eq!(to("members"), [all[3].clone()]);
    assert!(sent.iter().all(|s| s.2 == 1));

    // The DLQ is told again only after falling below the threshold.
    flow.cache().redrive("v-1", Utc::now()).await.unwrap();
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 0);
    flow.cache()
        .dead_letter(
            "v-1",
            "again".into(),
            Utc::now() + chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 2);
    let log = n.recent(50).await.unwrap();
    assert!(log.iter().any(|d| d.event_id == "dlq-threshold-2"));

    // During a maintenance window of the part, its down change and the up
    // change ending that down are muted; after the window they are told.
    let windows = mediator_sqlite::SqliteMaintenance::new(db.clone());
    let now = Utc::now();
    let w = mediator_core::maintenance::MaintenanceWindow {
        id: "mw-1-voucher".into(),
        part: "voucher".into(),
        start: now - chrono::Duration::minutes(1),
        end: now + chrono::Duration::minutes(1),
        reason: "vendor upgrade".into(),
        by: "olga".into(),
        created_at: now,
        ended_at: None,
        ended_by: None,
        end_reason: None,
        replay: None,
    };
    use mediator_core::storage::maintenance::MaintenanceStore;
    windows.schedule(&w).await.unwrap();
    status_change(&db, "down", "up").await;
    status_change(&db, "up", "down").await;
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 0, "muted");
    windows
        .end(
            "mw-1-voucher",
            Utc::now() - chrono::Duration::seconds(30),
            "olga",
            "done",
        )
        .await
        .unwrap();
    status_change(&db, "down", "up").await;
    assert_eq!(sources.step(&n, Utc::now()).await.unwrap(), 1, "told again");
}

/// The delivery log's changes reach the live-change hub (topic
/// `notification`): when a notification is queued, and when a delivery is
/// claimed and settled — what the console's delivery log refetches on.
#[tokio::test]
async fn the_delivery_log_tells_the_change_hub() {
    use mediator_core::changes::Topic;
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let hub = mediator_core::Changes::default();
    let n = Notifier::new(
        Arc::new(SqliteNotifications::new(db.clone())),
        Arc::new(Recorder::default()),
        vec![channel("ops", ChannelFilter::default())],
        NotifySettings::default(),
    )
    .with_changes(hub.clone());
    let mut rx = hub.subscribe();
    async fn next(rx: &mut tokio::sync::broadcast::Receiver<mediator_core::Change>) {
        loop {
            let c = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("a change within 2 s")
                .unwrap();
            if c.topic == Topic::Notification {
                assert_eq!(c.part, None);
                return;
            }
        }
    }
    n.send_test("ops", "tester", Utc::now())
        .await
        .unwrap()
        .unwrap();
    next(&mut rx).await; // queued
    assert_eq!(n.dispatch_step(Utc::now()).await.unwrap(), 1);
    next(&mut rx).await; // claimed
    next(&mut rx).await; // delivered
    assert_eq!(
        n.recent(1).await.unwrap()[0].status,
        DeliveryStatus::Delivered
    );
}
