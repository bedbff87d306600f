//! Live changes: a small in-process hub that tells the console (and the SSE
//! stream) *that* something changed — a topic and a part — never *what*; the
//! subscriber reads the current state again. Sending never blocks; a
//! subscriber that falls behind skips ahead (tokio broadcast's `Lagged`) and
//! should read everything again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// A part's status, or its counters against the thresholds (failed
    /// checks while up, good checks while down), or its check error changed.
    Status,
    /// A routine health check of a part that changed none of what
    /// [`Topic::Status`] covers: only the part's "last checked" time moved.
    Check,
    /// A manual circuit override was set or cleared.
    Override,
    /// A replay started, progressed or ended.
    Replay,
    /// A voucher changed status.
    Voucher,
    /// The dead-letter queue changed (a voucher dead-lettered or redriven).
    Dlq,
}

impl Topic {
    /// Lowercase name, as sent on the stream.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Status => "status",
            Topic::Check => "check",
            Topic::Override => "override",
            Topic::Replay => "replay",
            Topic::Voucher => "voucher",
            Topic::Dlq => "dlq",
        }
    }
}

/// One change notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// What changed.
    pub topic: Topic,
    /// The part concerned, when there is one.
    pub part: Option<String>,
    /// When it was notified.
    pub at: DateTime<Utc>,
}

/// Replay progress notifications per replay, at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The hub; cheap to clone (all clones share one channel).
#[derive(Clone)]
pub struct Changes {
    tx: broadcast::Sender<Change>,
    last_progress: Arc<Mutex<HashMap<String, Instant>>>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("subscribers", &self.tx.receiver_count())
            .finish()
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Changes {
    /// A hub keeping up to `capacity` notifications for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
            last_progress: Default::default(),
        }
    }

    /// Tells every subscriber that `topic` changed for `part`.
    pub fn notify(&self, topic: Topic, part: Option<&str>) {
        // No subscriber is not an error.
        let _ = self.tx.send(Change {
            topic,
            part: part.map(str::to_owned),
            at: Utc::now(),
        });
    }

    /// A replay's progress moved: notified at most once per
    /// [`PROGRESS_EVERY`] per replay (≤ 5 per second), so a fast replay does
    /// not flood the stream. Starts and ends use [`Changes::notify`].
    pub fn replay_progress(&self, replay: &str, part: &str) {
        let now = Instant::now();
        {
            let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
            if last
                .get(replay)
                .is_some_and(|t| now.duration_since(*t) < PROGRESS_EVERY)
            {
                return;
            }
            if last.len() > 1024 {
                last.retain(|_, t| now.duration_since(*t) < PROGRESS_EVERY);
            }
            last.insert(replay.to_owned(), now);
        }
        self.notify(Topic::Replay, Some(part));
    }

    /// A new subscriber, receiving what is notified from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// How many subscribers listen.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_changes_and_progress_is_throttled() {
        let hub = Changes::new(64);
        let mut rx = hub.clone().subscribe();
        hub.notify(Topic::Status, Some("voucher"));
        let c = rx.recv().await.unwrap();
        assert_eq!(
            (c.topic, c.part.as_deref()),
            (Topic::Status, Some("voucher"))
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap()["topic"],
            serde_json::json!("status")
        );
        for _ in 0..50 {
            hub.replay_progress("R1", "voucher");
        }
        hub.replay_progress("R2", "member");
        assert_eq!(rx.recv().await.unwrap().part.as_deref(), Some("voucher"));
        assert_eq!(rx.recv().await.unwrap().part.as_deref(), Some("member"));
        assert!(rx.try_recv().is_err(), "one progress per replay per 200 ms");
        tokio::time::sleep(PROGRESS_EVERY).await;
        hub.replay_progress("R1", "voucher");
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Replay);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_blocking() {
        let hub = Changes::new(4);
        let mut rx = hub.subscribe();
        for _ in 0..10 {
            hub.notify(Topic::Voucher, None);
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(6))
        ));
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Voucher);
    }
}
