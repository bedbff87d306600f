//! [`AwsRecovery`]: replays on EventBridge, resubmit queues on SQS, and the
//! console's archive view as far as EventBridge allows.

use std::time::Duration;
use tracing::Instrument;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime as AwsTime;
use aws_sdk_eventbridge::types::ReplayDestination;
use chrono::{DateTime, Utc};
use mediator_core::archives::{
    ArchiveBrowser, ArchiveCursor, ArchiveError, ArchiveSummary, ArchivedEvent,
};
use mediator_core::events::{dead_letter_queue, resubmit_queue, resubmit_rule};
use mediator_core::{
    ArchiveReplays, Lane, PartName, QueuedEvent, ReplayError, ReplayInfo, ReplayRequest,
    ResubmitQueue,
};

use crate::queues::SqsQueues;
use crate::{sdk_message, Location};

/// What the console is told when it asks to browse an archive on AWS.
pub const CANNOT_LIST_EVENTS: &str = "EventBridge cannot list the events of an archive; \
     replay a window into a queue to inspect them, or see the vouchers' own history";

/// Replays, resubmit queues and archives on AWS.
pub struct AwsRecovery {
    events: aws_sdk_eventbridge::Client,
    queues: SqsQueues,
    location: Location,
}

fn replay_error<E, R>(e: SdkError<E, R>) -> ReplayError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let msg = sdk_message(&e);
    match e.code() {
        Some("ResourceAlreadyExistsException") => ReplayError::AlreadyExists(msg),
        Some("ValidationException") | Some("InvalidEventPatternException") => {
            ReplayError::Rejected(msg)
        }
        Some("ResourceNotFoundException") => ReplayError::NotFound(msg),
        Some("IllegalStatusException") => ReplayError::Finished(msg),
        _ => ReplayError::Unavailable(msg),
    }
}

fn archive_error<E, R>(e: SdkError<E, R>) -> ArchiveError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some("ResourceNotFoundException") => ArchiveError::NotFound(sdk_message(&e)),
        _ => ArchiveError::Unavailable(sdk_message(&e)),
    }
}

fn time(t: Option<&AwsTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| t.to_millis().ok())
        .and_then(DateTime::from_timestamp_millis)
}

impl AwsRecovery {
    /// Recovery plumbing over `conf` for the resources at `location`
    /// (provisioned by [`crate::provision`]).
    pub fn new(conf: &aws_config::SdkConfig, location: Location) -> Self {
        Self {
            events: aws_sdk_eventbridge::Client::new(conf),
            queues: SqsQueues::new(conf),
            location,
        }
    }

    /// The StartReplay request for `req`: the part's archive over the
    /// window, delivered to the mediator's bus but only to the part's
    /// resubmit rule (`Destination.FilterArns`).
    pub fn start_replay_request(
        &self,
        req: &ReplayRequest,
    ) -> aws_sdk_eventbridge::operation::start_replay::builders::StartReplayFluentBuilder {
        let destination = ReplayDestination::builder()
            .arn(self.location.bus_arn())
            .filter_arns(self.location.rule_arn(&resubmit_rule(&req.archive)))
            .build()
            .expect("destination has its ARN");
        self.events
            .start_replay()
            .replay_name(req.name.clone())
            .description(format!("Resubmit held-back {} vouchers", req.part))
            .event_source_arn(self.location.archive_arn(&req.archive))
            .event_start_time(AwsTime::from_millis(req.start.timestamp_millis()))
            .event_end_time(AwsTime::from_millis(req.end.timestamp_millis()))
            .destination(destination)
    }

    /// The queue of `part`'s `lane`.
    fn queue(part: &PartName, lane: Lane) -> String {
        match lane {
            Lane::Resubmit => resubmit_queue(part),
            Lane::DeadLetter => dead_letter_queue(part),
        }
    }
}

#[async_trait]
impl ArchiveReplays for AwsRecovery {
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
        match self
            .start_replay_request(req)
            .send()
            .instrument(crate::trace::eventbridge_resource("StartReplay", &req.name))
            .await
        {
            Ok(_) => Ok(()),
            // StartReplay names a missing archive ResourceNotFound: refused for good.
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Err(ReplayError::Rejected(sdk_message(&e)))
            }
            Err(e) => Err(replay_error(e)),
        }
    }

    async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        match self
            .events
            .describe_replay()
            .replay_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("DescribeReplay", name))
            .await
        {
            Ok(r) => Ok(Some(ReplayInfo {
                state: r
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                state_reason: r.state_reason().map(str::to_string),
                event_last_replayed_time: time(r.event_last_replayed_time()),
                replay_start_time: time(r.replay_start_time()),
                replay_end_time: time(r.replay_end_time()),
            })),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(replay_error(e)),
        }
    }

    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
        self.events
            .cancel_replay()
            .replay_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("CancelReplay", name))
            .await
            .map(|_| ())
            .map_err(replay_error)
    }

    /// **AWS-reported and lagging**: EventBridge cannot count an archive's
    /// events in a window, so this is the whole archive's `EventCount` from
    /// DescribeArchive, which AWS updates with a delay (minutes to a day).
    /// The exact pending count comes from the DataCache
    /// ([`mediator_core::Preview::pending`]); show both, labelled.
    async fn count_archived(
        &self,
        archive: &str,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<i64, ReplayError> {
        match self
            .events
            .describe_archive()
            .archive_name(archive)
            .send()
            .instrument(crate::trace::eventbridge_resource(
                "DescribeArchive",
                archive,
            ))
            .await
        {
            Ok(a) => Ok(a.event_count()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Err(ReplayError::Rejected(sdk_message(&e)))
            }
            Err(e) => Err(replay_error(e)),
        }
    }
}

#[async_trait]
impl ResubmitQueue for AwsRecovery {
    /// One SQS long poll (`WaitTimeSeconds` = `wait` rounded up, ≤ 20 s) of
    /// at most 10 messages.
    async fn receive(
        &self,
        part: &PartName,
        lane: Lane,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<QueuedEvent>, String> {
        self.queues
            .receive(&Self::queue(part, lane), max, wait)
            .await
    }

    async fn delete(&self, part: &PartName, lane: Lane, receipt: &str) -> Result<(), String> {
        self.delete_many(part, lane, vec![receipt.to_string()])
            .await
    }

    /// DeleteMessageBatch, 10 receipts per call; entries SQS refused are
    /// reported with their codes.
    async fn delete_many(
        &self,
        part: &PartName,
        lane: Lane,
        receipts: Vec<String>,
    ) -> Result<(), String> {
        self.queues
            .delete_many(&Self::queue(part, lane), &receipts)
            .await
    }

    /// ChangeMessageVisibilityBatch, 10 receipts per call.
    async fn extend_visibility(
        &self,
        part: &PartName,
        lane: Lane,
        receipts: &[String],
        by: Duration,
    ) -> Result<(), String> {
        self.queues
            .change_visibility(&Self::queue(part, lane), receipts, by)
            .await
    }
}

#[async_trait]
impl ArchiveBrowser for AwsRecovery {
    /// The bus's archives from ListArchives and DescribeArchive. Counts
    /// and sizes are AWS-reported (they lag); the event-time range is
    /// unknown on AWS (`oldest`/`newest` stay `None`).
    async fn archives(&self) -> Result<Vec<ArchiveSummary>, ArchiveError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .events
                .list_archives()
                .event_source_arn(self.location.bus_arn())
                .set_next_token(token.take())
                .send()
                .instrument(crate::trace::eventbridge(
                    "ListArchives",
                    &self.location.bus_name,
                ))
                .await
                .map_err(archive_error)?;
            for a in page.archives() {
                let Some(name) = a.archive_name() else {
                    continue;
                };
                let full = self
                    .events
                    .describe_archive()
                    .archive_name(name)
                    .send()
                    .instrument(crate::trace::eventbridge_resource("DescribeArchive", name))
                    .await
                    .map_err(archive_error)?;
                out.push(ArchiveSummary {
                    name: name.to_string(),
                    part: None,
                    pattern: full.event_pattern().map(str::to_string),
                    retention_days: full.retention_days().map(i64::from).unwrap_or(0),
                    state: full
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    event_count: full.event_count(),
                    size_bytes: full.size_bytes(),
                    oldest: None,
                    newest: None,
                });
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// Always [`ArchiveError::Unsupported`]: EventBridge has no API that
    /// lists an archive's events.
    async fn archive_events(
        &self,
        _archive: &str,
        _start: Option<DateTime<Utc>>,
        _end: Option<DateTime<Utc>>,
        _after: Option<ArchiveCursor>,
        _limit: usize,
    ) -> Result<Vec<ArchivedEvent>, ArchiveError> {
        Err(ArchiveError::Unsupported(CANNOT_LIST_EVENTS.into()))
    }
}
