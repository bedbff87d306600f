//! [`NotificationSender`]: the port a channel is reached through (HTTP in
//! the server: the signed webhook, Slack, PagerDuty).

use async_trait::async_trait;

use super::channel::Channel;
use crate::notification::Notification;

/// Why an attempt failed, in words (the delivery log's `last_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// Sends one notification to one channel.
#[async_trait]
pub trait NotificationSender: Send + Sync {
    /// Sends `n` to `channel` (attempt number `attempt`, from 1); `Ok` when
    /// the receiver accepted it. The same notification is sent with the
    /// same id on every attempt, so receivers can deduplicate.
    async fn send(
        &self,
        channel: &Channel,
        n: &Notification,
        attempt: i64,
    ) -> Result<(), SendError>;
}
