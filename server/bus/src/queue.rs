//! Embedded queues, SQS-like: durable messages, visibility timeout, receive
//! count, and a dead-letter queue after `max_receive_count` receives.
//! Addressed by name or by `arn:aws:sqs:REGION:ACCOUNT:NAME`.

use std::time::Duration;

use store::rusqlite::{params, OptionalExtension};

use crate::{arn_tail, Bus, BusError, BusResult, Timestamp};

/// A queue's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a received message stays invisible before it is offered again.
    pub visibility_timeout: Duration,
    /// After this many receives without delete, the message moves to `dead_letter_queue`.
    pub max_receive_count: Option<u32>,
    /// Name (or ARN) of the dead-letter queue.
    pub dead_letter_queue: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: None,
            dead_letter_queue: None,
        }
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Message id.
    pub message_id: i64,
    /// Handle for [`Bus::delete_message`]; valid until the message is received again.
    pub receipt_handle: String,
    /// The body (an event's JSON for bus deliveries).
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: i64,
}

/// A received message with what SQS's API tells of it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub message: QueueMessage,
    /// When it was sent (epoch milliseconds).
    pub sent_ms: i64,
    /// When it was first received.
    pub first_receive_ms: i64,
    /// Its SQS message attributes (JSON), if it was sent with some.
    pub attributes: Option<String>,
}

/// Visible and in-flight message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Messages ready to be received.
    pub visible: i64,
    /// Messages received and not yet deleted or timed out.
    pub in_flight: i64,
}

/// Deletes a message by receipt handle, found by its id (the handle's
/// `{id}:` prefix) so the delete is a primary-key lookup rather than a scan
/// of the queue; a forged or stale handle still matches nothing.
pub(crate) const DELETE_BY_RECEIPT: &str =
    "DELETE FROM eb_queue_messages WHERE id = ?3 AND queue = ?1 AND receipt = ?2";

/// The message id a receipt handle (`{id}:{token}`) names; -1 (no message)
/// when it is not of that form.
pub(crate) fn receipt_message_id(receipt: &str) -> i64 {
    receipt
        .split_once(':')
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or(-1)
}

/// Queue name from a name or an SQS ARN.
pub fn queue_name(name_or_arn: &str) -> &str {
    match arn_tail(name_or_arn, ":sqs:") {
        Some(rest) => rest.rsplit(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

impl Bus {
    /// Creates a queue or updates its settings; returns its ARN.
    pub async fn create_queue(&self, name: &str, cfg: QueueConfig) -> BusResult<String> {
        let name = queue_name(name).to_string();
        crate::control::check_name("QueueName", &name, 80, false)?;
        let now = Timestamp::now().0;
        let n2 = name.clone();
        let dlq = cfg
            .dead_letter_queue
            .as_deref()
            .map(|d| queue_name(d).to_string());
        self.inner
            .db
            .write(move |tx| {
                if let Some(d) = &dlq {
                    tx.execute("INSERT OR IGNORE INTO eb_queues (name, visibility_ms, created_ms) VALUES (?1, 30000, ?2)", params![d, now])?;
                }
                tx.execute(
                    "INSERT INTO eb_queues (name, visibility_ms, max_receive_count, dead_letter_queue, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name) DO UPDATE SET visibility_ms = ?2, max_receive_count = ?3, dead_letter_queue = ?4",
                    params![n2, cfg.visibility_timeout.as_millis() as i64, cfg.max_receive_count, dlq, now],
                )
            })
            .await?;
        Ok(self.queue_arn(&name))
    }

    /// Sends one message.
    pub async fn send_message(&self, queue: &str, body: &str) -> BusResult<()> {
        let q = queue_name(queue).to_string();
        let body = body.as_bytes().to_vec();
        let now = Timestamp::now().0;
        let n = self
            .inner
            .db
            .write(move |tx| {
                if !tx.query_row("SELECT EXISTS(SELECT 1 FROM eb_queues WHERE name = ?1)", [&q], |r| r.get::<_, bool>(0))? {
                    return Ok(0);
                }
                tx.execute("INSERT INTO eb_queue_messages (queue, body, sent_ms, visible_ms) VALUES (?1, ?2, ?3, ?3)", params![q, body, now])
            })
            .await?;
        if n == 0 {
            return Err(BusError::ResourceNotFound(format!(
                "Queue {} does not exist.",
                queue_name(queue)
            )));
        }
        self.inner.queue_notify.notify_waiters();
        Ok(())
    }

    /// Receives up to `max` messages, waiting up to `wait` for the first one
    /// (long poll). Messages past their queue's `max_receive_count` move to its
    /// dead-letter queue instead of being returned.
    pub async fn receive_messages(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
    ) -> BusResult<Vec<QueueMessage>> {
        Ok(self
            .receive_received(queue, max, wait, None)
            .await?
            .into_iter()
            .map(|r| r.message)
            .collect())
    }

    /// [`Bus::receive_messages`] with what SQS's API tells of each message,
    /// and optionally another visibility timeout than the queue's.
    pub(crate) async fn receive_received(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        visibility_ms: Option<i64>,
    ) -> BusResult<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.queue_notify.notified();
            let got = self.receive_once(queue, max, visibility_ms).await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            // Woken by a commit that added messages, or re-check now and then for
            // messages whose visibility timeout ran out.
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(200)),
                notified,
            )
            .await;
        }
    }

    async fn receive_once(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: Option<i64>,
    ) -> BusResult<Vec<Received>> {
        let q = queue_name(queue).to_string();
        let now = Timestamp::now().0;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let max = max.clamp(1, 10_000) as i64;
        let out = self
            .inner
            .db
            .write(move |tx| {
                let cfg: Option<(i64, Option<i64>, Option<String>)> = tx
                    .prepare_cached("SELECT visibility_ms, max_receive_count, dead_letter_queue FROM eb_queues WHERE name = ?1")?
                    .query_row([&q], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((vis, max_receives, dlq)) = cfg else { return Ok(None) };
                let vis = visibility_ms.unwrap_or(vis);
                type Candidate = (i64, Vec<u8>, i64, i64, Option<i64>, Option<String>);
                let candidates: Vec<Candidate> = tx
                    .prepare_cached("SELECT id, body, receive_count, sent_ms, first_receive_ms, message_attributes FROM eb_queue_messages WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY id LIMIT ?3")?
                    .query_map(params![q, now, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::new();
                let mut to_dlq = tx.prepare_cached("UPDATE eb_queue_messages SET queue = ?2, dead_letter_source = queue, receive_count = 0, visible_ms = ?3, receipt = NULL WHERE id = ?1")?;
                let mut take = tx.prepare_cached("UPDATE eb_queue_messages SET receive_count = receive_count + 1, visible_ms = ?2, receipt = ?3, first_receive_ms = coalesce(first_receive_ms, ?4) WHERE id = ?1")?;
                for (id, body, count, sent_ms, first_receive_ms, attributes) in candidates {
                    if let (Some(m), Some(d)) = (max_receives, dlq.as_ref()) {
                        if count >= m {
                            to_dlq.execute(params![id, d, now])?;
                            continue;
                        }
                    }
                    let receipt = format!("{id}:{token}");
                    take.execute(params![id, now + vis, receipt, now])?;
                    out.push(Received {
                        message: QueueMessage {
                            message_id: id,
                            receipt_handle: receipt,
                            // Bodies are UTF-8 (stored from `&str`); the lossy
                            // conversion is only a fallback.
                            body: String::from_utf8(body).unwrap_or_else(|e| {
                                String::from_utf8_lossy(e.as_bytes()).into_owned()
                            }),
                            receive_count: count + 1,
                        },
                        sent_ms,
                        first_receive_ms: first_receive_ms.unwrap_or(now),
                        attributes,
                    });
                }
                Ok(Some(out))
            })
            .await?;
        out.ok_or_else(|| {
            BusError::ResourceNotFound(format!("Queue {} does not exist.", queue_name(queue)))
        })
    }

    /// Deletes a received message by its receipt handle.
    pub async fn delete_message(&self, queue: &str, receipt_handle: &str) -> BusResult<()> {
        let q = queue_name(queue).to_string();
        let r = receipt_handle.to_string();
        let n = self
            .inner
            .db
            .write(move |tx| {
                tx.prepare_cached(DELETE_BY_RECEIPT)?
                    .execute(params![q, r, receipt_message_id(&r)])
            })
            .await?;
        if n == 0 {
            return Err(BusError::Validation(format!(
                "The receipt handle \"{receipt_handle}\" is not valid."
            )));
        }
        Ok(())
    }

    /// Deletes many received messages in one transaction; returns how many were deleted.
    pub async fn delete_messages(
        &self,
        queue: &str,
        receipt_handles: Vec<String>,
    ) -> BusResult<usize> {
        let q = queue_name(queue).to_string();
        Ok(self
            .inner
            .db
            .write(move |tx| {
                let mut del = tx.prepare_cached(DELETE_BY_RECEIPT)?;
                let mut n = 0;
                for r in &receipt_handles {
                    n += del.execute(params![q, r, receipt_message_id(r)])?;
                }
                Ok(n)
            })
            .await?)
    }

    /// Visible and in-flight message counts.
    pub async fn queue_depth(&self, queue: &str) -> BusResult<QueueDepth> {
        let q = queue_name(queue).to_string();
        let now = Timestamp::now().0;
        Ok(self
            .inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT coalesce(sum(visible_ms <= ?2), 0), coalesce(sum(visible_ms > ?2), 0) FROM eb_queue_messages WHERE queue = ?1",
                    params![q, now],
                    |r| Ok(QueueDepth { visible: r.get(0)?, in_flight: r.get(1)? }),
                )
            })
            .await?)
    }

    /// Removes every message of a queue.
    pub async fn purge_queue(&self, queue: &str) -> BusResult<()> {
        let q = queue_name(queue).to_string();
        self.inner
            .db
            .write(move |tx| tx.execute("DELETE FROM eb_queue_messages WHERE queue = ?1", [q]))
            .await?;
        Ok(())
    }
}
