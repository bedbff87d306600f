//! The dispatcher: claims due deliveries, sends each once per claim, and
//! records the outcome with exponential back-off between attempts.

use chrono::{DateTime, Utc};

use super::{Notifier, Outcome};
use crate::storage::notify::{Claimed, Settle};
use crate::storage::StoreError;

/// Deliveries claimed per step, at most.
const BATCH: usize = 50;

impl Notifier {
    /// Sends what is due by `now`: claims it (so no other sender takes
    /// it), sends each delivery once, then records delivered, a retry at
    /// the back-off, or — after `max_attempts` — failed. Returns how many
    /// attempts were made.
    pub async fn dispatch_step(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let claimed = self
            .store
            .claim_due(now, self.settings.lease(), BATCH)
            .await?;
        let n = claimed.len();
        if n > 0 {
            self.log_changed();
        }
        let sends = claimed.into_iter().map(|c| self.attempt(c));
        for r in futures_util::future::join_all(sends).await {
            r?;
        }
        Ok(n)
    }

    async fn attempt(&self, c: Claimed) -> Result<(), StoreError> {
        let result = match self.channels.iter().find(|ch| ch.name == c.channel) {
            None => Err(format!("channel {:?} is no longer configured", c.channel)),
            Some(channel) => {
                let send = self.sender.send(channel, &c.notification, c.attempt);
                match tokio::time::timeout(self.settings.send_timeout, send).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.0),
                    Err(_) => Err(format!(
                        "timed out after {} s",
                        self.settings.send_timeout.as_secs_f64()
                    )),
                }
            }
        };
        let now = Utc::now();
        let known = self.channels.iter().any(|ch| ch.name == c.channel);
        let outcome = match result {
            Ok(()) => Settle::Delivered,
            Err(error) if known && c.attempt < i64::from(self.settings.max_attempts) => {
                let wait = chrono::Duration::from_std(self.settings.backoff(c.attempt))
                    .unwrap_or_default();
                Settle::Retry {
                    error,
                    next_at: now + wait,
                }
            }
            Err(error) => Settle::Failed { error },
        };
        match &outcome {
            Settle::Delivered => tracing::info!(
                channel = %c.channel, event = %c.notification.event_id,
                kind = %c.notification.kind, attempt = c.attempt, "notification delivered"
            ),
            Settle::Retry { error, next_at } => tracing::warn!(
                channel = %c.channel, event = %c.notification.event_id, attempt = c.attempt,
                next = %next_at, "notification not delivered, will retry: {error}"
            ),
            Settle::Failed { error } => tracing::error!(
                channel = %c.channel, event = %c.notification.event_id, attempt = c.attempt,
                "notification given up: {error}"
            ),
        }
        if self.store.settle(c.id, c.attempt, &outcome, now).await? {
            let counted = match outcome {
                Settle::Delivered => Outcome::Delivered,
                Settle::Retry { .. } => Outcome::Retried,
                Settle::Failed { .. } => Outcome::Failed,
            };
            self.count(&c.channel, c.notification.kind, counted);
            self.log_changed();
        }
        Ok(())
    }
}
