//! The notification outbox ([`NotificationStore`]): each fact queued once
//! per event id with its source's cursor, each delivery claimed by one
//! sender at a time and settled only by its claim, a dead sender's claim
//! taken over after its lease, everything seen alike by a second replica,
//! ended deliveries pruned after their retention; and two replicas'
//! dispatchers racing for the same deliveries claim each one once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::t;
use crate::notify::{Notification, NotificationKind};
use crate::storage::notify::{DeliveryStatus, NotificationStore, Settle};

fn note(id: &str, kind: NotificationKind, part: Option<&str>, at: DateTime<Utc>) -> Notification {
    Notification {
        event_id: id.into(),
        kind,
        part: part.map(str::to_owned),
        summary: format!("{kind} {id}"),
        at,
        detail: serde_json::json!({ "id": id, "n": 1 }),
    }
}

type Log = HashMap<(String, String), (DeliveryStatus, i64, Option<String>)>;

async fn log(s: &dyn NotificationStore) -> Log {
    s.recent(100)
        .await
        .expect("recent")
        .into_iter()
        .map(|d| {
            (
                (d.event_id, d.channel),
                (d.status, d.attempts, d.last_error),
            )
        })
        .collect()
}

fn key(event: &str, channel: &str) -> (String, String) {
    (event.to_owned(), channel.to_owned())
}

/// Queue once, claim, settle by claim only, retry, lease take-over, the
/// same state through replica `b`, give up; prune what ended.
pub async fn check_notifications(a: &dyn NotificationStore, b: &dyn NotificationStore) {
    let now = t(0);
    let sec = |s: i64| now + chrono::Duration::seconds(s);
    let lease = Duration::from_secs(30);
    let n = note("status-1", NotificationKind::PartDown, Some("voucher"), now);
    let chans = ["a".to_string(), "b".to_string()];
    assert_eq!(a.cursor("status_changes").await.unwrap(), None);
    assert!(a
        .enqueue(&n, &chans, Some(("status_changes", 1)), now)
        .await
        .unwrap());
    assert!(
        !b.enqueue(&n, &chans, Some(("status_changes", 2)), now)
            .await
            .unwrap(),
        "an event id is queued once, whichever replica sees it again"
    );
    assert_eq!(
        a.cursor("status_changes").await.unwrap(),
        Some(2),
        "the cursor moves even when the event was known"
    );
    a.set_cursor("dead_letters", 77).await.unwrap();
    assert_eq!(b.cursor("dead_letters").await.unwrap(), Some(77));
    assert_eq!(b.cursor("other").await.unwrap(), None);
    assert_eq!(
        b.known(&["status-1".into(), "status-2".into()])
            .await
            .unwrap(),
        [true, false]
    );
    let recent = b.recent(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    for d in &recent {
        assert_eq!(
            (d.kind.as_str(), d.event_id.as_str(), d.part.as_deref()),
            ("part_down", "status-1", Some("voucher"))
        );
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
        assert_eq!(d.summary, n.summary);
        assert_eq!(d.created_at, now);
    }

    assert!(
        a.claim_due(sec(-1), lease, 10).await.unwrap().is_empty(),
        "not due yet"
    );
    let claimed = a.claim_due(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|c| c.attempt == 1 && c.notification == n));
    assert!(b.claim_due(now, lease, 10).await.unwrap().is_empty());
    let (ca, cb) = if claimed[0].channel == "a" {
        (&claimed[0], &claimed[1])
    } else {
        (&claimed[1], &claimed[0])
    };
    assert_eq!((ca.channel.as_str(), cb.channel.as_str()), ("a", "b"));
    assert_eq!(
        log(b).await[&key("status-1", "a")].0,
        DeliveryStatus::Sending
    );
    let retry = Settle::Retry {
        error: "HTTP 500".into(),
        next_at: sec(1),
    };
    assert!(
        !b.settle(ca.id, 2, &retry, now).await.unwrap(),
        "not its claim"
    );
    assert!(b.settle(ca.id, 1, &retry, now).await.unwrap());
    assert!(
        !a.settle(ca.id, 1, &Settle::Delivered, now).await.unwrap(),
        "a claim settles once"
    );
    assert!(
        a.claim_due(now, lease, 10).await.unwrap().is_empty(),
        "backing off"
    );
    let again = b.claim_due(sec(2), lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (ca.id, 2));
    assert_eq!(again[0].notification, n);
    // cb's sender died: its lease runs out and another claim takes it.
    assert!(a.claim_due(sec(29), lease, 10).await.unwrap().is_empty());
    let taken = a.claim_due(sec(31), lease, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].id, taken[0].attempt), (cb.id, 2));
    assert!(
        !b.settle(cb.id, 1, &Settle::Delivered, sec(31))
            .await
            .unwrap(),
        "the dead sender's late answer is not recorded"
    );
    assert!(b
        .settle(cb.id, 2, &Settle::Delivered, sec(31))
        .await
        .unwrap());

    let seen = log(b).await;
    assert_eq!(
        seen[&key("status-1", "a")],
        (DeliveryStatus::Sending, 2, Some("HTTP 500".into()))
    );
    assert_eq!(
        seen[&key("status-1", "b")],
        (DeliveryStatus::Delivered, 2, None)
    );
    let later = b.claim_due(sec(100), lease, 10).await.unwrap();
    assert_eq!(later.len(), 1, "only the undelivered one");
    assert_eq!((later[0].channel.as_str(), later[0].attempt), ("a", 3));
    let failed = Settle::Failed {
        error: "gave up".into(),
    };
    assert!(a.settle(later[0].id, 3, &failed, sec(100)).await.unwrap());
    assert!(a
        .claim_due(sec(10_000), lease, 10)
        .await
        .unwrap()
        .is_empty());
    let seen = log(a).await;
    assert_eq!(
        seen[&key("status-1", "a")],
        (DeliveryStatus::Failed, 3, Some("gave up".into()))
    );

    // An old notification still pending, and newer ones: pruning takes the
    // deliveries that ended before the limit only.
    let late = note(
        "dlq-threshold-5",
        NotificationKind::DlqThreshold,
        None,
        sec(5),
    );
    assert!(a
        .enqueue(&late, &["a".to_string()], None, sec(5))
        .await
        .unwrap());
    let fresh = note(
        "status-2",
        NotificationKind::PartUp,
        Some("member"),
        sec(200),
    );
    assert!(b.enqueue(&fresh, &chans, None, sec(200)).await.unwrap());
    for c in a.claim_due(sec(200), lease, 10).await.unwrap() {
        if c.notification.event_id == "status-2" {
            assert!(a
                .settle(c.id, 1, &Settle::Delivered, sec(201))
                .await
                .unwrap());
        } else {
            let retry = Settle::Retry {
                error: "HTTP 503".into(),
                next_at: sec(1_000_000),
            };
            assert!(a.settle(c.id, 1, &retry, sec(201)).await.unwrap());
        }
    }
    assert_eq!(
        a.prune(sec(50), sec(0)).await.unwrap(),
        1,
        "the delivered one of status-1"
    );
    let seen = log(b).await;
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(!seen.contains_key(&key("status-1", "b")));
    assert_eq!(
        a.prune(sec(200), sec(0)).await.unwrap(),
        1,
        "the failed one"
    );
    assert_eq!(a.prune(sec(200), sec(0)).await.unwrap(), 0, "nothing more");
    let seen = log(b).await;
    let mut left: Vec<_> = seen.keys().cloned().collect();
    left.sort();
    assert_eq!(
        left,
        [
            key("dlq-threshold-5", "a"),
            key("status-2", "a"),
            key("status-2", "b")
        ],
        "pending ones stay however old; newer ended ones stay"
    );
    assert_eq!(
        a.known(&["status-1".into()]).await.unwrap(),
        [true],
        "the event id is remembered longer than its deliveries"
    );
    assert_eq!(b.prune(sec(10_000), sec(0)).await.unwrap(), 2);
    let seen = log(a).await;
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        [&key("dlq-threshold-5", "a")]
    );
    assert_eq!(
        b.claim_due(sec(1_000_000), lease, 10).await.unwrap()[0].notification,
        late,
        "a kept delivery still reads its notification"
    );
}

/// Two replicas' dispatchers claim the same due deliveries at once: each
/// is claimed by exactly one of them, and none is left.
pub async fn check_notification_claim_race(
    a: Arc<dyn NotificationStore>,
    b: Arc<dyn NotificationStore>,
) {
    let now = t(0);
    let chans: Vec<String> = (0..3).map(|i| format!("ch{i}")).collect();
    for i in 0..8 {
        let n = note(
            &format!("e-{i}"),
            NotificationKind::PartDown,
            Some("voucher"),
            now,
        );
        assert!(a.enqueue(&n, &chans, None, now).await.unwrap());
    }
    let total = 8 * chans.len();
    let lease = Duration::from_secs(60);
    let mut seen = HashSet::new();
    let mut rounds = 0;
    while seen.len() < total {
        rounds += 1;
        assert!(
            rounds < 50,
            "claims stopped after {} of {total}",
            seen.len()
        );
        let (ra, rb) = tokio::join!(a.claim_due(now, lease, 5), b.claim_due(now, lease, 5));
        for c in ra.unwrap().into_iter().chain(rb.unwrap()) {
            assert_eq!(c.attempt, 1);
            assert!(seen.insert(c.id), "delivery {} claimed twice", c.id);
        }
    }
    assert!(a.claim_due(now, lease, 100).await.unwrap().is_empty());
    assert!(b.claim_due(now, lease, 100).await.unwrap().is_empty());
}
