//! Outbound notifications: support staff are told when a part goes down or
//! up, a replay completes or fails, the dead-letter queue reaches its
//! threshold, or a voucher is dead-lettered.
//!
//! - **Sources** ([`NotifySources`]): each fact is read where it is
//!   recorded, after a cursor kept with the outbox, and gets one stable
//!   event id — the monitor's status changes (`status-<id>`), the
//!   dead-lettered vouchers (`dead-lettered-<voucher>-<ms>`), the DLQ's size
//!   against the threshold (`dlq-threshold-<n>`) and the replays the
//!   mediator started as the bus reports them (`replay-<name>-completed` /
//!   `-failed`).
//! - **Outbox** ([`crate::storage::notify::NotificationStore`]): a fact is
//!   recorded once per event id with one delivery per channel whose filter
//!   takes it, in the same write as its source's cursor, so a restart loses
//!   none and queues none twice.
//! - **Dispatcher** ([`Notifier::dispatch_step`]): claims due deliveries
//!   before sending (one sender per delivery), sends through the
//!   [`NotificationSender`] port, marks the outcome after; failed attempts
//!   are retried with exponential back-off up to `max_attempts`. Receivers
//!   see the same id on every attempt (at least once; they deduplicate on it).
//!
//! One file per concern: the kinds and the notification (`kind.rs`), the
//! channels and filters (`channel.rs`), the sender port (`sender.rs`), the
//! dispatcher (`dispatch.rs`) and the sources (`sources.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::changes::{Changes, Topic};
use crate::storage::notify::{DeliveryRecord, NotificationStore, EVENT_MEMORY};
use crate::storage::StoreError;

mod channel;
mod dispatch;
mod sender;
mod sources;

pub use crate::notification::{Notification, NotificationKind};
pub use channel::{Channel, ChannelFilter, ChannelTarget, EmailTarget};
pub use sender::{NotificationSender, SendError};
pub use sources::NotifySources;

/// How notifications are sent and when the DLQ is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The wait after a first failed attempt; doubled after each next one.
    pub retry_base: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// Attempts per delivery before it is given up (failed).
    pub max_attempts: u32,
    /// Limit of one attempt.
    pub send_timeout: Duration,
    /// Tell when this many vouchers (or more) are dead-lettered; `None`:
    /// never.
    pub dlq_threshold: Option<u64>,
    /// How often the sources are read and due deliveries looked for.
    pub poll: Duration,
    /// How long delivered and failed deliveries are kept (the periodic
    /// upkeep deletes older ones).
    pub retention: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(600),
            max_attempts: 8,
            send_timeout: Duration::from_secs(10),
            dlq_threshold: None,
            poll: Duration::from_secs(1),
            retention: Duration::from_secs(14 * 86_400),
        }
    }
}

impl NotifySettings {
    /// How long a claim lasts: a sender that died is replaced after it.
    pub fn lease(&self) -> Duration {
        self.send_timeout * 3
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt`
    /// failed: `retry_base × 2^(attempt − 1)`, at most `retry_max`.
    pub fn backoff(&self, attempt: i64) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.retry_max)
    }
}

/// How an attempt was counted (`mediator_notification_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The receiver accepted it.
    Delivered,
    /// It failed and will be tried again.
    Retried,
    /// It failed for the last time.
    Failed,
}

impl Outcome {
    /// `delivered`, `retried` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// Attempts by (channel, kind, outcome) since start.
pub type DeliveryCounts = BTreeMap<(String, NotificationKind, Outcome), u64>;

/// The notification service: queues notifications for the channels whose
/// filters take them, and delivers them.
pub struct Notifier {
    store: Arc<dyn NotificationStore>,
    sender: Arc<dyn NotificationSender>,
    channels: Vec<Channel>,
    settings: NotifySettings,
    counts: Mutex<DeliveryCounts>,
    wake: tokio::sync::Notify,
    changes: Option<Changes>,
}

impl Notifier {
    /// A notifier keeping its outbox in `store`, sending to `channels`
    /// through `sender`.
    pub fn new(
        store: Arc<dyn NotificationStore>,
        sender: Arc<dyn NotificationSender>,
        channels: Vec<Channel>,
        settings: NotifySettings,
    ) -> Self {
        Self {
            store,
            sender,
            channels,
            settings,
            counts: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
            changes: None,
        }
    }

    /// Tells `changes` (topic `notification`) when the delivery log
    /// changes: a notification queued, a delivery claimed or ended.
    pub fn with_changes(mut self, changes: Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    fn log_changed(&self) {
        if let Some(c) = &self.changes {
            c.notify(Topic::Notification, None);
        }
    }

    /// The configured channels.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The settings.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// The outbox.
    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    /// Queues `n` for every channel whose filter takes it (once per event
    /// id), moving `cursor` in the same write; whether it was new.
    pub async fn notify(
        &self,
        n: &Notification,
        cursor: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let channels: Vec<String> = self
            .channels
            .iter()
            .filter(|c| n.kind != NotificationKind::Test && c.filter.accepts(n))
            .map(|c| c.name.clone())
            .collect();
        let new = self.store.enqueue(n, &channels, cursor, now).await?;
        if new && !channels.is_empty() {
            tracing::info!(event = %n.event_id, kind = %n.kind, channels = channels.len(), "notification queued");
            self.log_changed();
            self.wake.notify_one();
        }
        Ok(new)
    }

    /// Queues a test notification for the channel named `channel` only;
    /// `None` when no channel has that name.
    pub async fn send_test(
        &self,
        channel: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StoreError> {
        let Some(ch) = self.channels.iter().find(|c| c.name == channel) else {
            return Ok(None);
        };
        let n = Notification {
            event_id: format!(
                "test-{}-{}-{:08x}",
                ch.name,
                now.timestamp_millis(),
                rand_u32()
            ),
            kind: NotificationKind::Test,
            part: None,
            summary: format!(
                "Test notification from Vendor Mediator to channel {} (sent by {by})",
                ch.name
            ),
            at: now,
            detail: serde_json::json!({ "channel": ch.name, "by": by }),
        };
        self.store
            .enqueue(&n, std::slice::from_ref(&ch.name), None, now)
            .await?;
        self.log_changed();
        self.wake.notify_one();
        Ok(Some(n))
    }

    /// The newest deliveries, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.store.recent(limit).await
    }

    /// Deletes the deliveries that ended (delivered or failed) more than
    /// the retention before `now`, and forgets the notifications left
    /// without one after [`EVENT_MEMORY`] (or the retention, if longer);
    /// how many deliveries went.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let age =
            |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let retention = self.settings.retention;
        self.store
            .prune(age(retention), age(retention.max(EVENT_MEMORY)))
            .await
    }

    /// Attempts counted since start, by channel, kind and outcome.
    pub fn counts(&self) -> DeliveryCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn count(&self, channel: &str, kind: NotificationKind, outcome: Outcome) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((channel.to_owned(), kind, outcome)).or_default() += 1;
        }
    }

    /// Starts the sources' loop and the dispatcher's on `tracker`.
    pub fn spawn(
        self: Arc<Self>,
        sources: NotifySources,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        let me = self.clone();
        let token = shutdown.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(me.settings.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = sources.step(&me, Utc::now()).await {
                    tracing::warn!("notification sources: {e}");
                }
            }
        });
        tracker.spawn(async move {
            let every = self.settings.poll.min(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                    _ = self.wake.notified() => {}
                }
                if let Err(e) = self.dispatch_step(Utc::now()).await {
                    tracing::warn!("notification dispatch: {e}");
                }
            }
        });
    }
}

/// A random number for test event ids (the clock and the process's
/// random state; uniqueness within a millisecond is all that is needed).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(kind: NotificationKind, part: Option<&str>) -> Notification {
        Notification {
            event_id: "e".into(),
            kind,
            part: part.map(str::to_owned),
            summary: String::new(),
            at: Utc::now(),
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn filters_take_their_parts_and_kinds() {
        let f = ChannelFilter {
            parts: vec!["voucher".into()],
            kinds: vec![NotificationKind::PartDown, NotificationKind::DlqThreshold],
        };
        assert!(f.accepts(&note(NotificationKind::PartDown, Some("voucher"))));
        assert!(!f.accepts(&note(NotificationKind::PartDown, Some("member"))));
        assert!(!f.accepts(&note(NotificationKind::PartUp, Some("voucher"))));
        assert!(f.accepts(&note(NotificationKind::DlqThreshold, None)));
        assert!(f.accepts(&note(NotificationKind::Test, Some("member"))));
        assert!(ChannelFilter::default().accepts(&note(NotificationKind::PartUp, Some("x"))));
    }

    #[test]
    fn back_off_doubles_up_to_its_limit() {
        let s = NotifySettings {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(30),
            ..NotifySettings::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| s.backoff(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        assert_eq!(s.backoff(1000).as_secs(), 30);
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for k in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(NotificationKind::parse("nope"), None);
    }
}
