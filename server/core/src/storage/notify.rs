//! [`NotificationStore`]: the durable outbox of notifications — each
//! notification once per event id, one delivery per (event, channel) —
//! and the cursors of the sources that fill it (`notify`). SQLite's
//! `notify_*` tables in the embedded backend, the `<prefix>-notify` table
//! on DynamoDB.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::notification::Notification;

/// How long an event id is remembered after it was queued (at least as
/// long as its deliveries): 91 days.
pub const EVENT_MEMORY: Duration = Duration::from_secs(91 * 24 * 3600);

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Claimed by a sender (until its lease ends).
    Sending,
    /// The receiver accepted it.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `sending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The delivery's id.
    pub id: i64,
    /// The channel's name.
    pub channel: String,
    /// This attempt's number (1 for the first): also the claim token that
    /// [`NotificationStore::settle`] must present.
    pub attempt: i64,
    /// The notification.
    pub notification: Notification,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Accepted by the receiver.
    Delivered,
    /// Failed; try again at `next_at`.
    Retry {
        /// Why it failed.
        error: String,
        /// When to try again.
        next_at: DateTime<Utc>,
    },
    /// Failed for the last time.
    Failed {
        /// Why it failed.
        error: String,
    },
}

/// One delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: i64,
    /// The channel.
    pub channel: String,
    /// What happened.
    pub kind: String,
    /// The notification's event id (the `webhook-id`).
    pub event_id: String,
    /// The part concerned.
    pub part: Option<String>,
    /// The notification's summary.
    pub summary: String,
    /// Attempts made.
    pub attempts: i64,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The notification outbox.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Records `n` and a pending delivery of it to each of `channels`, due
    /// now, and — when given — sets the source cursor `(name, value)`, all
    /// in one write. An event id already recorded adds nothing (only the
    /// cursor moves): each fact is queued once. Returns whether it was new.
    async fn enqueue(
        &self,
        n: &Notification,
        channels: &[String],
        cursor: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// A source's cursor (`None` before it was first set).
    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Sets a source's cursor.
    async fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError>;

    /// Which of `event_ids` are recorded, in order.
    async fn known(&self, event_ids: &[String]) -> Result<Vec<bool>, StoreError>;

    /// Claims up to `limit` deliveries due by `now` (pending and due, or
    /// sending with a lease ended by `now`: a sender that died) for one
    /// attempt each, until `now + lease`; bumps each one's attempts.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Records how attempt `attempt` of delivery `id` ended, only if that
    /// attempt still holds the claim; whether it did.
    async fn settle(
        &self,
        id: i64,
        attempt: i64,
        outcome: &Settle,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The newest deliveries, newest first; at most `limit`.
    async fn recent(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Deletes the deliveries that ended (`delivered` or `failed`) before
    /// `deliveries_before` — pending and sending ones are kept, however
    /// old — and forgets the notifications queued before `events_before`
    /// that no delivery refers to any more (an event id is remembered
    /// longer than its deliveries so a source reading it again does not
    /// queue it twice; DynamoDB's notification items expire by TTL at
    /// [`EVENT_MEMORY`] instead). Returns how many deliveries went.
    async fn prune(
        &self,
        deliveries_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
