//! The embedded backend: the mediator's events on the in-process EventBridge
//! (`server/bus`), and the resources it needs there.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bus::types::{
    CreateArchiveRequest, CreateEventBusRequest, PutEventsRequest, PutEventsRequestEntry,
    PutRuleRequest, PutTargetsRequest, ReplayDestination, StartReplayRequest, Target,
    UpdateArchiveRequest,
};
use bus::{Bus, BusError, QueueConfig, Timestamp};
use mediator_core::events::{
    archive_pattern, resubmit_pattern, voucher_request_pattern, EventPublisher, OutgoingEvent,
    PublishError,
};
use mediator_core::{
    ArchiveReplays, Lane, PartName, PartSettings, QueuedEvent, ReplayError, ReplayInfo,
    ReplayRequest, ResubmitQueue, SubmissionFlow,
};

pub use mediator_core::events::BUS_NAME;
/// Rule that routes the Order Processing service's voucher requests to the
/// submission flow.
pub const REQUEST_RULE: &str = "VoucherRequests";
/// In-process consumer (a Lambda function on AWS) behind [`REQUEST_RULE`].
pub const REQUEST_CONSUMER: &str = "voucher-requests";
/// Receives before a replayed event goes to the part's dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

pub use mediator_core::events::{dead_letter_queue, resubmit_queue, resubmit_rule};

/// Publishes to a bus of the embedded EventBridge.
pub struct EmbeddedEvents {
    bus: Bus,
    bus_name: String,
}

impl EmbeddedEvents {
    /// A publisher onto `bus_name`.
    pub fn new(bus: Bus, bus_name: impl Into<String>) -> Self {
        Self {
            bus,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EmbeddedEvents {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<(), PublishError> {
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .map(|e| PutEventsRequestEntry {
                    time: Some(Timestamp::from(e.time)),
                    source: Some(e.source.clone()),
                    detail_type: Some(e.detail_type.clone()),
                    detail: Some(e.detail.to_string()),
                    event_bus_name: Some(self.bus_name.clone()),
                    ..Default::default()
                })
                .collect();
            let res = self
                .bus
                .put_events(PutEventsRequest {
                    entries,
                    ..Default::default()
                })
                .await
                .map_err(|e| PublishError(format!("{}: {e}", e.code())))?;
            if res.failed_entry_count > 0 {
                let reason = res
                    .entries
                    .iter()
                    .find_map(|e| e.error_message.clone())
                    .unwrap_or_default();
                return Err(PublishError(format!(
                    "{} of {} entries refused: {reason}",
                    res.failed_entry_count,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}

/// Creates, idempotently, the mediator's bus; per part, an archive with the
/// seed's pattern (an existing one gets the current pattern), a resubmit rule
/// (the seed's replay-name prefix pattern) feeding the part's queue (with a
/// dead-letter queue); and the rule routing voucher requests to the
/// [`REQUEST_CONSUMER`].
pub async fn provision(bus: &Bus, parts: &[PartSettings]) -> Result<(), BusError> {
    match bus
        .create_event_bus(CreateEventBusRequest {
            name: BUS_NAME.into(),
            description: Some("Vendor Mediator status events".into()),
            ..Default::default()
        })
        .await
    {
        Ok(_) | Err(BusError::ResourceAlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    for part in parts {
        let name = part.archive_name.clone();
        let pattern = archive_pattern(&part.name);
        let created = bus
            .create_archive(CreateArchiveRequest {
                archive_name: name.clone(),
                event_source_arn: bus.bus_arn(BUS_NAME),
                description: Some(format!("Retry events of the {} part", part.name)),
                event_pattern: Some(pattern.clone()),
                retention_days: Some(i64::from(part.retention_days)),
            })
            .await;
        match created {
            Ok(_) => tracing::info!(archive = %name, "archive created"),
            Err(BusError::ResourceAlreadyExists(_)) => {
                bus.update_archive(UpdateArchiveRequest {
                    archive_name: name,
                    event_pattern: Some(pattern),
                    retention_days: Some(i64::from(part.retention_days)),
                    ..Default::default()
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
        let queue = resubmit_queue(&part.name);
        bus.create_queue(
            &queue,
            QueueConfig {
                // Longer than a resubmission can take (the claim's lease).
                visibility_timeout: Duration::from_secs(120),
                max_receive_count: Some(MAX_RECEIVES),
                dead_letter_queue: Some(dead_letter_queue(&part.name)),
            },
        )
        .await?;
        let rule = resubmit_rule(&part.archive_name);
        bus.put_rule(PutRuleRequest {
            name: rule.clone(),
            event_pattern: Some(resubmit_pattern(&part.name, &part.archive_name)),
            description: Some(format!("Replayed retry events of the {} part", part.name)),
            event_bus_name: Some(BUS_NAME.into()),
            ..Default::default()
        })
        .await?;
        bus.put_targets(PutTargetsRequest {
            rule,
            event_bus_name: Some(BUS_NAME.into()),
            targets: vec![Target {
                id: "resubmit-queue".into(),
                arn: bus.queue_arn(&queue),
                ..Default::default()
            }],
        })
        .await?;
    }
    bus.put_rule(PutRuleRequest {
        name: REQUEST_RULE.into(),
        event_pattern: Some(voucher_request_pattern()),
        description: Some("Voucher requests of the Order Processing service".into()),
        event_bus_name: Some(BUS_NAME.into()),
        ..Default::default()
    })
    .await?;
    bus.put_targets(PutTargetsRequest {
        rule: REQUEST_RULE.into(),
        event_bus_name: Some(BUS_NAME.into()),
        targets: vec![Target {
            id: "submission-flow".into(),
            arn: bus.consumer_arn(REQUEST_CONSUMER),
            ..Default::default()
        }],
    })
    .await?;
    Ok(())
}

/// Registers the submission flow as the in-process consumer of voucher
/// requests. The request event's `detail.metadata.type` is the part and
/// `detail.data` the API's body fields. An invalid request is logged and
/// dropped (retrying cannot fix it); a storage failure asks the bus to retry.
pub fn register_request_consumer(bus: &Bus, flow: Arc<SubmissionFlow>) {
    bus.register_consumer(REQUEST_CONSUMER, move |event: String| {
        let flow = flow.clone();
        async move {
            use mediator_core::submit::{accept_request_event, RequestOutcome};
            match accept_request_event(&flow, &event).await {
                Ok(RequestOutcome::Accepted(_)) => Ok(()),
                Ok(RequestOutcome::Invalid(reason)) => {
                    tracing::warn!("voucher request dropped: {reason}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
    });
}

/// Replays and resubmit queues on the embedded bus.
pub struct EmbeddedRecovery {
    bus: Bus,
}

impl EmbeddedRecovery {
    /// Recovery plumbing on `bus` (provisioned by [`provision`]).
    pub fn new(bus: Bus) -> Self {
        Self { bus }
    }

    fn queue(part: &PartName, lane: Lane) -> String {
        match lane {
            Lane::Resubmit => resubmit_queue(part),
            Lane::DeadLetter => dead_letter_queue(part),
        }
    }
}

fn replay_error(e: BusError) -> ReplayError {
    match e {
        BusError::ResourceAlreadyExists(m) => ReplayError::AlreadyExists(m),
        BusError::Validation(m) | BusError::ResourceNotFound(m) => ReplayError::Rejected(m),
        other => ReplayError::Unavailable(format!("{}: {other}", other.code())),
    }
}

#[async_trait]
impl ArchiveReplays for EmbeddedRecovery {
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
        self.bus
            .start_replay(StartReplayRequest {
                replay_name: req.name.clone(),
                description: Some(format!("Resubmit held-back {} vouchers", req.part)),
                event_source_arn: self.bus.archive_arn(&req.archive),
                event_start_time: Some(Timestamp::from(req.start)),
                event_end_time: Some(Timestamp::from(req.end)),
                destination: ReplayDestination {
                    arn: self.bus.bus_arn(BUS_NAME),
                    filter_arns: Some(vec![self
                        .bus
                        .rule_arn(BUS_NAME, &resubmit_rule(&req.archive))]),
                },
            })
            .await
            .map(|_| ())
            .map_err(replay_error)
    }

    async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        match self.bus.describe_replay(name).await {
            Ok(r) => Ok(Some(ReplayInfo {
                state: r.state,
                state_reason: r.state_reason,
                event_last_replayed_time: r
                    .event_last_replayed_time
                    .and_then(Timestamp::to_datetime),
                replay_start_time: r.replay_start_time.and_then(Timestamp::to_datetime),
                replay_end_time: r.replay_end_time.and_then(Timestamp::to_datetime),
            })),
            Err(BusError::ResourceNotFound(_)) => Ok(None),
            Err(e) => Err(replay_error(e)),
        }
    }

    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
        match self.bus.cancel_replay(name).await {
            Ok(_) => Ok(()),
            Err(BusError::ResourceNotFound(m)) => Err(ReplayError::NotFound(m)),
            Err(BusError::IllegalStatus(m)) => Err(ReplayError::Finished(m)),
            Err(e) => Err(replay_error(e)),
        }
    }

    async fn count_archived(
        &self,
        archive: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<i64, ReplayError> {
        self.bus
            .count_archive_events(archive, Timestamp::from(start), Timestamp::from(end))
            .await
            .map_err(replay_error)
    }
}

#[async_trait]
impl ResubmitQueue for EmbeddedRecovery {
    async fn receive(
        &self,
        part: &PartName,
        lane: Lane,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<QueuedEvent>, String> {
        self.bus
            .receive_messages(&Self::queue(part, lane), max, wait)
            .await
            .map(|msgs| {
                msgs.into_iter()
                    .map(|m| QueuedEvent {
                        body: m.body,
                        receipt: m.receipt_handle,
                    })
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, part: &PartName, lane: Lane, receipt: &str) -> Result<(), String> {
        self.bus
            .delete_message(&Self::queue(part, lane), receipt)
            .await
            .map_err(|e| e.to_string())
    }

    async fn delete_many(
        &self,
        part: &PartName,
        lane: Lane,
        receipts: Vec<String>,
    ) -> Result<(), String> {
        self.bus
            .delete_messages(&Self::queue(part, lane), receipts)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn archive_error(e: BusError) -> mediator_core::archives::ArchiveError {
    use mediator_core::archives::ArchiveError;
    match e {
        BusError::ResourceNotFound(m) => ArchiveError::NotFound(m),
        other => ArchiveError::Unavailable(format!("{}: {other}", other.code())),
    }
}

#[async_trait]
impl mediator_core::archives::ArchiveBrowser for EmbeddedRecovery {
    async fn archives(
        &self,
    ) -> Result<Vec<mediator_core::archives::ArchiveSummary>, mediator_core::archives::ArchiveError>
    {
        let mut out = Vec::new();
        let mut next_token = None;
        loop {
            let page = self
                .bus
                .list_archives(bus::types::ListRequest {
                    next_token: next_token.take(),
                    ..Default::default()
                })
                .await
                .map_err(archive_error)?;
            for a in page.archives {
                let Some(name) = a.archive_name else { continue };
                // The list leaves the pattern out; describe has it.
                let full = self
                    .bus
                    .describe_archive(&name)
                    .await
                    .map_err(archive_error)?;
                let (oldest, newest) = self
                    .bus
                    .archive_time_range(&name)
                    .await
                    .map_err(archive_error)?;
                out.push(mediator_core::archives::ArchiveSummary {
                    name,
                    part: None,
                    pattern: full.event_pattern,
                    retention_days: full.retention_days.unwrap_or(0),
                    state: full.state,
                    event_count: full.event_count.unwrap_or(0),
                    size_bytes: full.size_bytes.unwrap_or(0),
                    oldest: oldest.and_then(Timestamp::to_datetime),
                    newest: newest.and_then(Timestamp::to_datetime),
                });
            }
            match page.next_token {
                Some(t) => next_token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    async fn event_counts(
        &self,
    ) -> Result<std::collections::HashMap<String, i64>, mediator_core::archives::ArchiveError> {
        let mut out = std::collections::HashMap::new();
        let mut next_token = None;
        loop {
            let page = self
                .bus
                .list_archives(bus::types::ListRequest {
                    next_token: next_token.take(),
                    ..Default::default()
                })
                .await
                .map_err(archive_error)?;
            for a in page.archives {
                if let Some(name) = a.archive_name {
                    out.insert(name, a.event_count.unwrap_or(0));
                }
            }
            match page.next_token {
                Some(t) => next_token = Some(t),
                None => return Ok(out),
            }
        }
    }

    async fn archive_events(
        &self,
        archive: &str,
        start: Option<chrono::DateTime<chrono::Utc>>,
        end: Option<chrono::DateTime<chrono::Utc>>,
        after: Option<mediator_core::archives::ArchiveCursor>,
        limit: usize,
    ) -> Result<Vec<mediator_core::archives::ArchivedEvent>, mediator_core::archives::ArchiveError>
    {
        let rows = self
            .bus
            .archived_events(
                archive,
                start.map(Timestamp::from),
                end.map(Timestamp::from),
                after.map(|a| (a.time_ms, a.seq)),
                limit,
            )
            .await
            .map_err(archive_error)?;
        Ok(rows
            .into_iter()
            .map(|(seq, t, body)| mediator_core::archives::ArchivedEvent {
                seq,
                time: t.to_datetime().unwrap_or_default(),
                event: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            })
            .collect())
    }
}
