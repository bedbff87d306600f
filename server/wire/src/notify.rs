//! Outbound notifications: the channels configured, the delivery log
//! (`GET /api/v1/notifications`) and a test sent to a channel
//! (`POST /api/v1/notifications/{channel}/test`).

use serde::{Deserialize, Serialize};

/// A configured channel (its secrets are never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = NotificationChannelBody))]
pub struct NotificationChannel {
    /// Its name.
    pub name: String,
    /// `webhook`, `slack`, `pagerduty` or `email`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Only these parts (empty: every part).
    pub parts: Vec<String>,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<String>,
}

/// One delivery of a notification to a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = NotificationDeliveryBody))]
pub struct NotificationDelivery {
    /// The channel.
    pub channel: String,
    /// `part_down`, `part_up`, `replay_completed`, `replay_failed`,
    /// `dlq_threshold`, `dead_lettered` or `test`.
    pub kind: String,
    /// The notification's stable id (the webhook's `webhook-id`).
    pub event_id: String,
    /// The part concerned, `null` when none.
    pub part: Option<String>,
    /// The notification in one line.
    pub summary: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// `pending`, `sending`, `delivered` or `failed` (given up).
    pub status: String,
    /// The last failed attempt's error, `null` when none.
    pub last_error: Option<String>,
    /// When it was queued (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// When it last changed (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
}

/// The channels and the newest deliveries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = NotificationsBody))]
pub struct Notifications {
    /// Whether this backend sends notifications (the embedded one does).
    pub available: bool,
    /// The configured channels.
    pub channels: Vec<NotificationChannel>,
    /// The newest deliveries, newest first.
    pub deliveries: Vec<NotificationDelivery>,
}

/// A test notification queued for a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = NotificationTestBody))]
pub struct NotificationTest {
    /// The channel.
    pub channel: String,
    /// The test's event id (find it in the delivery log).
    pub event_id: String,
}
