//! What support staff are told: the kinds of notification and one
//! notification, as it is stored in the outbox and rendered per channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A part went down (its circuit opened).
    PartDown,
    /// A part that was down is up again.
    PartUp,
    /// A replay completed.
    ReplayCompleted,
    /// A replay failed, was cancelled, or the bus refused to start it.
    ReplayFailed,
    /// The dead-letter queue grew to its threshold.
    DlqThreshold,
    /// A voucher was dead-lettered.
    DeadLettered,
    /// A test sent from the console or the API ("send test").
    Test,
}

impl NotificationKind {
    /// Every kind.
    pub const ALL: [NotificationKind; 7] = [
        Self::PartDown,
        Self::PartUp,
        Self::ReplayCompleted,
        Self::ReplayFailed,
        Self::DlqThreshold,
        Self::DeadLettered,
        Self::Test,
    ];

    /// Its name in configuration, storage and payloads (`part_down`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartDown => "part_down",
            Self::PartUp => "part_up",
            Self::ReplayCompleted => "replay_completed",
            Self::ReplayFailed => "replay_failed",
            Self::DlqThreshold => "dlq_threshold",
            Self::DeadLettered => "dead_lettered",
            Self::Test => "test",
        }
    }

    /// The kind named `name` ([`NotificationKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// How bad it is: `critical`, `error`, `warning` or `info` (PagerDuty's
    /// severities).
    pub fn severity(self) -> &'static str {
        match self {
            Self::PartDown => "critical",
            Self::ReplayFailed | Self::DlqThreshold => "error",
            Self::DeadLettered => "warning",
            Self::PartUp | Self::ReplayCompleted | Self::Test => "info",
        }
    }
}

impl std::fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fact to tell, with its stable id: the same fact always gets the
/// same `event_id` (the receivers' deduplication key, `webhook-id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id of the fact (`status-<change id>`,
    /// `dead-lettered-<voucher>-<ms>`, `replay-<name>-completed`, …).
    pub event_id: String,
    /// What happened.
    pub kind: NotificationKind,
    /// The part concerned, when there is one.
    pub part: Option<String>,
    /// One line for people.
    pub summary: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The facts as fields (status, replay name, voucher id, counts…).
    #[serde(default)]
    pub detail: Value,
}
