//! [`SqsQueues`]: the mediator's work queues on SQS by name — long-poll
//! receive, batch delete, batch visibility change — shared by the resubmit
//! queues ([`crate::AwsRecovery`]) and the intake ([`crate::AwsIntake`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tracing::Instrument;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use mediator_core::QueuedEvent;

use crate::sdk_message;

/// SQS queues addressed by name (URLs looked up once and remembered).
pub struct SqsQueues {
    sqs: aws_sdk_sqs::Client,
    /// Queue name → URL.
    urls: Mutex<HashMap<String, String>>,
}

/// The entries SQS refused in one batch request (id, code, message), as an
/// error naming each.
fn batch_failures<'a>(
    op: &str,
    queue: &str,
    failed: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> Result<(), String> {
    let failed: Vec<String> = failed
        .map(|(id, code, msg)| format!("entry {id}: {code} {}", msg.unwrap_or("")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{op} {queue}: {}", failed.join("; ")))
    }
}

impl SqsQueues {
    /// Queues through `conf`'s SQS client.
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(conf),
            urls: Mutex::new(HashMap::new()),
        }
    }

    /// The URL of the queue called `name`.
    pub async fn url(&self, name: &str) -> Result<String, String> {
        if let Some(u) = self.urls.lock().expect("url map").get(name) {
            return Ok(u.clone());
        }
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .instrument(crate::trace::sqs("GetQueueUrl", name))
            .await
            .map_err(|e| format!("GetQueueUrl {name}: {}", sdk_message(&e)))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        self.urls
            .lock()
            .expect("url map")
            .insert(name.to_string(), url.clone());
        Ok(url)
    }

    /// One long poll (`WaitTimeSeconds` = `wait` rounded up, ≤ 20 s) of at
    /// most `max` (≤ 10) messages.
    pub async fn receive(
        &self,
        name: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<QueuedEvent>, String> {
        let url = self.url(name).await?;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(crate::bus::wait_seconds(wait))
            .send()
            .instrument(crate::trace::sqs("ReceiveMessage", &url))
            .await
            .map_err(|e| format!("ReceiveMessage {name}: {}", sdk_message(&e)))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| QueuedEvent {
                body: m.body().unwrap_or_default().to_string(),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// DeleteMessageBatch, 10 receipts per call; entries SQS refused are
    /// reported with their codes.
    pub async fn delete_many(&self, name: &str, receipts: &[String]) -> Result<(), String> {
        let url = self.url(name).await?;
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .instrument(crate::trace::sqs("DeleteMessageBatch", &url))
                .await
                .map_err(|e| format!("DeleteMessageBatch {name}: {}", sdk_message(&e)))?;
            batch_failures(
                "DeleteMessageBatch",
                name,
                out.failed().iter().map(|f| (f.id(), f.code(), f.message())),
            )?;
        }
        Ok(())
    }

    /// ChangeMessageVisibilityBatch to `visible_in` (≤ 12 h) from now, 10
    /// receipts per call: longer to keep slow work hidden, zero to hand a
    /// message back at once.
    pub async fn change_visibility(
        &self,
        name: &str,
        receipts: &[String],
        visible_in: Duration,
    ) -> Result<(), String> {
        let url = self.url(name).await?;
        let secs = visible_in.as_secs().min(43_200) as i32;
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(secs)
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .instrument(crate::trace::sqs("ChangeMessageVisibilityBatch", &url))
                .await
                .map_err(|e| format!("ChangeMessageVisibilityBatch {name}: {}", sdk_message(&e)))?;
            batch_failures(
                "ChangeMessageVisibilityBatch",
                name,
                out.failed().iter().map(|f| (f.id(), f.code(), f.message())),
            )?;
        }
        Ok(())
    }
}
