//! Message move tasks through SQS's API: a dead-letter queue's messages
//! back to the queues they came from, or to another queue. A task
//! completes when started, in one transaction.

use base64::Engine as _;
use store::rusqlite::params;

use super::attributes::{is_queue_name, queue_row};
use super::types::*;
use super::{Sqs, SqsError, SqsResult};
use crate::Timestamp;

/// A message move task (they complete when started).
#[derive(Debug, Clone)]
pub(crate) struct MoveTask {
    handle: String,
    source: String,
    destination: Option<String>,
    per_second: Option<i64>,
    moved: i64,
    started_ms: i64,
}

impl Sqs<'_> {
    /// The queue an `arn:aws:sqs:…:ACCOUNT:NAME` of this account names.
    fn name_of_arn(&self, arn: &str) -> Option<String> {
        let rest = arn.strip_prefix("arn:aws:sqs:")?;
        let mut parts = rest.split(':');
        let (_region, account, name) = (parts.next()?, parts.next()?, parts.next()?);
        (parts.next().is_none() && account == self.bus.inner.cfg.account && is_queue_name(name))
            .then(|| name.to_string())
    }

    /// `StartMessageMoveTask`: moves a dead-letter queue's messages to
    /// `DestinationArn`, or each back to the queue it was moved from.
    pub async fn start_message_move_task(
        &self,
        req: StartMessageMoveTaskRequest,
    ) -> SqsResult<StartMessageMoveTaskResponse> {
        let source_arn = req
            .source_arn
            .filter(|a| !a.is_empty())
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let source_missing = || {
            SqsError::resource_not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            )
        };
        let source = self.name_of_arn(&source_arn).ok_or_else(source_missing)?;
        let destination = match req.destination_arn.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(arn) => Some(self.name_of_arn(arn).ok_or_else(|| {
                SqsError::resource_not_found(
                    "The resource that you specified for the DestinationArn parameter doesn't exist.",
                )
            })?),
        };
        if let Some(n) = req.max_number_of_messages_per_second {
            if !(1..=500).contains(&n) {
                return Err(SqsError::invalid_value(
                    n,
                    "MaxNumberOfMessagesPerSecond",
                    "Must be between 1 and 500, if provided.",
                ));
            }
        }
        let now = Timestamp::now().0;
        let (src, dest) = (source.clone(), destination.clone());
        let moved = self
            .bus
            .inner
            .db
            .write(move |tx| {
                if queue_row(tx, &src)?.is_none() {
                    return Ok(Err(source_missing()));
                }
                if let Some(d) = &dest {
                    if queue_row(tx, d)?.is_none() {
                        return Ok(Err(SqsError::resource_not_found(
                            "The resource that you specified for the DestinationArn parameter doesn't exist.",
                        )));
                    }
                }
                let is_dlq: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM eb_queues WHERE dead_letter_queue = ?1)",
                    [&src],
                    |r| r.get(0),
                )?;
                if !is_dlq {
                    return Ok(Err(SqsError::invalid_parameter(
                        "Source queue must be configured as a Dead Letter Queue.",
                    )));
                }
                // Each message to the destination, or back to the queue it
                // came from while that queue exists; in-flight ones stay.
                let moved = tx.execute(
                    "UPDATE eb_queue_messages SET
                        queue = coalesce(?2, (SELECT q.name FROM eb_queues q WHERE q.name = dead_letter_source)),
                        dead_letter_source = NULL, receive_count = 0, visible_ms = ?3, receipt = NULL
                     WHERE queue = ?1 AND visible_ms <= ?3
                       AND coalesce(?2, (SELECT q.name FROM eb_queues q WHERE q.name = dead_letter_source)) IS NOT NULL",
                    params![src, dest, now],
                )?;
                Ok(Ok(moved as i64))
            })
            .await??;
        if moved > 0 {
            self.bus.inner.queue_notify.notify_waiters();
        }
        let handle = base64::engine::general_purpose::STANDARD.encode(
            serde_json::json!({"taskId": uuid::Uuid::new_v4().to_string(), "sourceArn": source_arn})
                .to_string(),
        );
        self.bus
            .inner
            .move_tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(MoveTask {
                handle: handle.clone(),
                source,
                destination,
                per_second: req.max_number_of_messages_per_second,
                moved,
                started_ms: now,
            });
        Ok(StartMessageMoveTaskResponse {
            task_handle: handle,
        })
    }

    /// `ListMessageMoveTasks`: the source's tasks, newest first.
    pub async fn list_message_move_tasks(
        &self,
        req: ListMessageMoveTasksRequest,
    ) -> SqsResult<ListMessageMoveTasksResponse> {
        let source_arn = req
            .source_arn
            .filter(|a| !a.is_empty())
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let max = req.max_results.unwrap_or(1);
        if !(1..=10).contains(&max) {
            return Err(SqsError::invalid_value(
                max,
                "MaxResults",
                "Must be between 1 and 10, if provided.",
            ));
        }
        let source = self.name_of_arn(&source_arn).ok_or_else(|| {
            SqsError::resource_not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            )
        })?;
        self.row(&source).await.map_err(|_| {
            SqsError::resource_not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            )
        })?;
        let tasks = self
            .bus
            .inner
            .move_tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let results = tasks
            .iter()
            .rev()
            .filter(|t| t.source == source)
            .take(max as usize)
            .map(|t| MessageMoveTaskResult {
                task_handle: None,
                status: "COMPLETED".into(),
                source_arn: self.bus.queue_arn(&t.source),
                destination_arn: t.destination.as_deref().map(|d| self.bus.queue_arn(d)),
                max_number_of_messages_per_second: t.per_second,
                approximate_number_of_messages_moved: t.moved,
                approximate_number_of_messages_to_move: t.moved,
                failure_reason: None,
                started_timestamp: t.started_ms,
            })
            .collect();
        Ok(ListMessageMoveTasksResponse { results })
    }

    /// `CancelMessageMoveTask`: tasks complete when started, so only a
    /// running one could be cancelled and none is.
    pub async fn cancel_message_move_task(
        &self,
        req: CancelMessageMoveTaskRequest,
    ) -> SqsResult<()> {
        let handle = req
            .task_handle
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SqsError::missing("TaskHandle"))?;
        let known = self
            .bus
            .inner
            .move_tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|t| t.handle == handle);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&handle)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        match decoded {
            None => Err(SqsError::invalid_parameter(
                "Value for parameter TaskHandle is invalid.",
            )),
            Some(_) if known => Err(SqsError::invalid_parameter(
                "Only active tasks can be cancelled.",
            )),
            Some(_) => Err(SqsError::resource_not_found("Task does not exist.")),
        }
    }
}
