//! [`AwsBus`]: the contract's [`EventBus`] over aws-sdk-eventbridge, with
//! SQS queues as the contract suite's test queues.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types as eb;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use bus::contract::EventBus;
use bus::types::*;
use bus::{BusError, BusResult, Timestamp};
use tracing::Instrument;

use crate::{arn_region_account, sdk_message};

/// EventBridge (and SQS for the test queues) through the AWS SDK.
pub struct AwsBus {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    account: String,
    region: String,
    /// Queue ARN → queue URL, filled by `create_test_queue` and look-ups.
    queue_urls: Mutex<HashMap<String, String>>,
}

/// Maps an SDK error onto the contract's [`BusError`] by its AWS error
/// code; transport failures and unknown codes become `Internal`.
pub(crate) fn bus_error<E, R>(e: SdkError<E, R>) -> BusError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let msg = e.message().unwrap_or_default().to_string();
    match e.code() {
        Some("ResourceNotFoundException") => BusError::ResourceNotFound(msg),
        Some("ResourceAlreadyExistsException") => BusError::ResourceAlreadyExists(msg),
        Some("ValidationException") => BusError::Validation(msg),
        Some("InvalidEventPatternException") => BusError::InvalidEventPattern(msg),
        Some("IllegalStatusException") => BusError::IllegalStatus(msg),
        Some("LimitExceededException") => BusError::LimitExceeded(msg),
        Some("ManagedRuleException") => BusError::ManagedRule(msg),
        _ => BusError::Internal(sdk_message(&e)),
    }
}

pub(crate) fn to_ts(t: Option<&DateTime>) -> Option<Timestamp> {
    t.and_then(|t| t.to_millis().ok()).map(Timestamp)
}

pub(crate) fn to_dt(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.0)
}

fn build_err(e: aws_sdk_eventbridge::error::BuildError) -> BusError {
    BusError::Validation(e.to_string())
}

fn target(t: Target) -> BusResult<eb::Target> {
    let http = t.http_parameters.map(|h| {
        eb::HttpParameters::builder()
            .set_path_parameter_values(h.path_parameter_values)
            .set_header_parameters(h.header_parameters.map(|m| m.into_iter().collect()))
            .set_query_string_parameters(h.query_string_parameters.map(|m| m.into_iter().collect()))
            .build()
    });
    eb::Target::builder()
        .id(t.id)
        .arn(t.arn)
        .set_role_arn(t.role_arn)
        .set_input(t.input)
        .set_input_path(t.input_path)
        .set_http_parameters(http)
        .set_dead_letter_config(
            t.dead_letter_config
                .map(|d| eb::DeadLetterConfig::builder().set_arn(d.arn).build()),
        )
        .set_retry_policy(t.retry_policy.map(|r| {
            eb::RetryPolicy::builder()
                .set_maximum_retry_attempts(r.maximum_retry_attempts.map(|n| n as i32))
                .set_maximum_event_age_in_seconds(r.maximum_event_age_in_seconds.map(|n| n as i32))
                .build()
        }))
        .build()
        .map_err(build_err)
}

fn tags(t: Option<Vec<Tag>>) -> BusResult<Option<Vec<eb::Tag>>> {
    t.map(|t| {
        t.into_iter()
            .map(|t| {
                eb::Tag::builder()
                    .key(t.key)
                    .value(t.value)
                    .build()
                    .map_err(build_err)
            })
            .collect()
    })
    .transpose()
}

/// The bus a request names; EventBridge's `default` when it names none.
fn bus_name(bus: Option<&str>) -> &str {
    bus.unwrap_or("default")
}

/// The buses of a PutEvents request's entries, as one field value.
fn entry_buses(entries: &[PutEventsRequestEntry]) -> String {
    let mut buses: Vec<&str> = entries
        .iter()
        .map(|e| bus_name(e.event_bus_name.as_deref()))
        .collect();
    buses.sort_unstable();
    buses.dedup();
    buses.join(",")
}

fn s(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

impl AwsBus {
    /// An adapter over `conf`; the account and region (for ARNs) are read
    /// from the default bus's ARN, so the endpoint must be reachable.
    pub async fn connect(conf: &aws_config::SdkConfig) -> BusResult<Self> {
        let events = aws_sdk_eventbridge::Client::new(conf);
        let sqs = aws_sdk_sqs::Client::new(conf);
        let out = events
            .describe_event_bus()
            .name("default")
            .send()
            .instrument(crate::trace::eventbridge("DescribeEventBus", "default"))
            .await
            .map_err(bus_error)?;
        let (region, account) = arn_region_account(out.arn().unwrap_or_default())
            .ok_or_else(|| BusError::Internal(format!("unexpected bus ARN {:?}", out.arn())))?;
        Ok(Self {
            events,
            sqs,
            account,
            region,
            queue_urls: Mutex::new(HashMap::new()),
        })
    }

    /// The EventBridge client.
    pub fn events_client(&self) -> &aws_sdk_eventbridge::Client {
        &self.events
    }

    /// The URL of the queue `arn` (`arn:aws:sqs:<region>:<account>:<name>`),
    /// remembered after the first look-up.
    pub async fn queue_url(&self, arn: &str) -> BusResult<String> {
        if let Some(u) = self.queue_urls.lock().expect("queue map").get(arn) {
            return Ok(u.clone());
        }
        let mut parts = arn.split(':');
        let (account, name) = match (parts.nth(4), parts.next()) {
            (Some(a), Some(n)) if arn.starts_with("arn:aws:sqs:") => (a, n),
            _ => return Err(BusError::Validation(format!("not an SQS queue ARN: {arn}"))),
        };
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .instrument(crate::trace::sqs("GetQueueUrl", name))
            .await
            .map_err(bus_error)?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        self.queue_urls
            .lock()
            .expect("queue map")
            .insert(arn.to_string(), url.clone());
        Ok(url)
    }
}

fn archive(a: &aws_sdk_eventbridge::operation::describe_archive::DescribeArchiveOutput) -> Archive {
    Archive {
        archive_arn: s(a.archive_arn()),
        archive_name: s(a.archive_name()),
        event_source_arn: s(a.event_source_arn()),
        description: s(a.description()),
        event_pattern: s(a.event_pattern()),
        state: a
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        state_reason: s(a.state_reason()),
        retention_days: a.retention_days().map(i64::from),
        size_bytes: Some(a.size_bytes()),
        event_count: Some(a.event_count()),
        creation_time: to_ts(a.creation_time()),
    }
}

/// `PutTargets` and `RemoveTargets` answer with different SDK types that
/// have the same accessors: one mapping to the domain's `TargetsResponse`.
macro_rules! targets_response {
    ($out:expr) => {
        TargetsResponse {
            failed_entry_count: i64::from($out.failed_entry_count()),
            failed_entries: $out
                .failed_entries()
                .iter()
                .map(|f| FailedTargetEntry {
                    target_id: f.target_id().unwrap_or_default().to_string(),
                    error_code: f.error_code().unwrap_or_default().to_string(),
                    error_message: f.error_message().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    };
}

#[async_trait]
impl EventBus for AwsBus {
    fn account(&self) -> String {
        self.account.clone()
    }

    fn region(&self) -> String {
        self.region.clone()
    }

    async fn put_events(&self, req: PutEventsRequest) -> BusResult<PutEventsResponse> {
        let span = crate::trace::eventbridge("PutEvents", &entry_buses(&req.entries));
        let entries = req
            .entries
            .into_iter()
            .map(|e| {
                eb::PutEventsRequestEntry::builder()
                    .set_time(e.time.map(to_dt))
                    .set_source(e.source)
                    .set_resources(e.resources)
                    .set_detail_type(e.detail_type)
                    .set_detail(e.detail)
                    .set_event_bus_name(e.event_bus_name)
                    .set_trace_header(e.trace_header)
                    .build()
            })
            .collect();
        let out = self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(PutEventsResponse {
            failed_entry_count: i64::from(out.failed_entry_count()),
            entries: out
                .entries()
                .iter()
                .map(|e| PutEventsResultEntry {
                    event_id: s(e.event_id()),
                    error_code: s(e.error_code()),
                    error_message: s(e.error_message()),
                })
                .collect(),
        })
    }

    async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse> {
        let span = crate::trace::eventbridge("CreateEventBus", &req.name);
        let out = self
            .events
            .create_event_bus()
            .name(req.name)
            .set_event_source_name(req.event_source_name)
            .set_description(req.description)
            .set_kms_key_identifier(req.kms_key_identifier)
            .set_tags(tags(req.tags)?)
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(CreateEventBusResponse {
            event_bus_arn: out.event_bus_arn().unwrap_or_default().to_string(),
            description: s(out.description()),
        })
    }

    async fn describe_event_bus(&self, name: Option<&str>) -> BusResult<bus::types::EventBus> {
        let out = self
            .events
            .describe_event_bus()
            .set_name(name.map(str::to_string))
            .send()
            .instrument(crate::trace::eventbridge(
                "DescribeEventBus",
                name.unwrap_or("default"),
            ))
            .await
            .map_err(bus_error)?;
        Ok(bus::types::EventBus {
            name: out.name().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            description: s(out.description()),
            policy: s(out.policy()),
            creation_time: to_ts(out.creation_time()),
            last_modified_time: to_ts(out.last_modified_time()),
        })
    }

    async fn delete_event_bus(&self, name: &str) -> BusResult<()> {
        self.events
            .delete_event_bus()
            .name(name)
            .send()
            .instrument(crate::trace::eventbridge("DeleteEventBus", name))
            .await
            .map(|_| ())
            .map_err(bus_error)
    }

    async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse> {
        let span = crate::trace::eventbridge("PutRule", bus_name(req.event_bus_name.as_deref()));
        let out = self
            .events
            .put_rule()
            .name(req.name)
            .set_schedule_expression(req.schedule_expression)
            .set_event_pattern(req.event_pattern)
            .set_state(req.state.map(|s| eb::RuleState::from(s.as_str())))
            .set_description(req.description)
            .set_role_arn(req.role_arn)
            .set_tags(tags(req.tags)?)
            .set_event_bus_name(req.event_bus_name)
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(PutRuleResponse {
            rule_arn: out.rule_arn().unwrap_or_default().to_string(),
        })
    }

    async fn describe_rule(&self, name: &str, bus: Option<&str>) -> BusResult<Rule> {
        let out = self
            .events
            .describe_rule()
            .name(name)
            .set_event_bus_name(bus.map(str::to_string))
            .send()
            .instrument(crate::trace::eventbridge("DescribeRule", bus_name(bus)))
            .await
            .map_err(bus_error)?;
        Ok(Rule {
            name: out.name().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            event_pattern: s(out.event_pattern()),
            schedule_expression: s(out.schedule_expression()),
            state: out
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            description: s(out.description()),
            role_arn: s(out.role_arn()),
            managed_by: s(out.managed_by()),
            event_bus_name: out.event_bus_name().unwrap_or("default").to_string(),
            created_by: s(out.created_by()),
        })
    }

    async fn set_rule_state(&self, name: &str, bus: Option<&str>, enabled: bool) -> BusResult<()> {
        let on = bus_name(bus).to_owned();
        let bus = bus.map(str::to_string);
        if enabled {
            self.events
                .enable_rule()
                .name(name)
                .set_event_bus_name(bus)
                .send()
                .instrument(crate::trace::eventbridge("EnableRule", &on))
                .await
                .map(|_| ())
                .map_err(bus_error)
        } else {
            self.events
                .disable_rule()
                .name(name)
                .set_event_bus_name(bus)
                .send()
                .instrument(crate::trace::eventbridge("DisableRule", &on))
                .await
                .map(|_| ())
                .map_err(bus_error)
        }
    }

    async fn delete_rule(&self, name: &str, bus: Option<&str>, force: bool) -> BusResult<()> {
        self.events
            .delete_rule()
            .name(name)
            .set_event_bus_name(bus.map(str::to_string))
            .force(force)
            .send()
            .instrument(crate::trace::eventbridge("DeleteRule", bus_name(bus)))
            .await
            .map(|_| ())
            .map_err(bus_error)
    }

    async fn put_targets(&self, req: PutTargetsRequest) -> BusResult<TargetsResponse> {
        let targets = req
            .targets
            .into_iter()
            .map(target)
            .collect::<BusResult<Vec<_>>>()?;
        let span = crate::trace::eventbridge("PutTargets", bus_name(req.event_bus_name.as_deref()));
        let out = self
            .events
            .put_targets()
            .rule(req.rule)
            .set_event_bus_name(req.event_bus_name)
            .set_targets(Some(targets))
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(targets_response!(out))
    }

    async fn remove_targets(&self, req: RemoveTargetsRequest) -> BusResult<TargetsResponse> {
        let span =
            crate::trace::eventbridge("RemoveTargets", bus_name(req.event_bus_name.as_deref()));
        let out = self
            .events
            .remove_targets()
            .rule(req.rule)
            .set_event_bus_name(req.event_bus_name)
            .set_ids(Some(req.ids))
            .set_force(req.force)
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(targets_response!(out))
    }

    async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive> {
        let out = self
            .events
            .create_archive()
            .archive_name(req.archive_name.clone())
            .event_source_arn(req.event_source_arn.clone())
            .set_description(req.description.clone())
            .set_event_pattern(req.event_pattern.clone())
            .set_retention_days(req.retention_days.map(|d| d as i32))
            .send()
            .instrument(crate::trace::eventbridge_resource(
                "CreateArchive",
                &req.archive_name,
            ))
            .await
            .map_err(bus_error)?;
        Ok(Archive {
            archive_arn: s(out.archive_arn()),
            archive_name: Some(req.archive_name),
            event_source_arn: Some(req.event_source_arn),
            description: req.description,
            event_pattern: req.event_pattern,
            state: out
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state_reason: s(out.state_reason()),
            retention_days: req.retention_days,
            creation_time: to_ts(out.creation_time()),
            ..Default::default()
        })
    }

    async fn describe_archive(&self, name: &str) -> BusResult<Archive> {
        let out = self
            .events
            .describe_archive()
            .archive_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("DescribeArchive", name))
            .await
            .map_err(bus_error)?;
        Ok(archive(&out))
    }

    async fn delete_archive(&self, name: &str) -> BusResult<()> {
        self.events
            .delete_archive()
            .archive_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("DeleteArchive", name))
            .await
            .map(|_| ())
            .map_err(bus_error)
    }

    async fn start_replay(&self, req: StartReplayRequest) -> BusResult<Replay> {
        let destination = eb::ReplayDestination::builder()
            .arn(req.destination.arn.clone())
            .set_filter_arns(req.destination.filter_arns.clone())
            .build()
            .map_err(build_err)?;
        let out = self
            .events
            .start_replay()
            .replay_name(req.replay_name.clone())
            .set_description(req.description.clone())
            .event_source_arn(req.event_source_arn.clone())
            .set_event_start_time(req.event_start_time.map(to_dt))
            .set_event_end_time(req.event_end_time.map(to_dt))
            .destination(destination)
            .send()
            .instrument(crate::trace::eventbridge_resource(
                "StartReplay",
                &req.replay_name,
            ))
            .await
            .map_err(bus_error)?;
        Ok(Replay {
            replay_name: Some(req.replay_name),
            replay_arn: s(out.replay_arn()),
            state: out
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state_reason: s(out.state_reason()),
            event_source_arn: Some(req.event_source_arn),
            destination: Some(req.destination),
            event_start_time: req.event_start_time,
            event_end_time: req.event_end_time,
            replay_start_time: to_ts(out.replay_start_time()),
            description: req.description,
            ..Default::default()
        })
    }

    async fn describe_replay(&self, name: &str) -> BusResult<Replay> {
        let out = self
            .events
            .describe_replay()
            .replay_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("DescribeReplay", name))
            .await
            .map_err(bus_error)?;
        Ok(Replay {
            replay_name: s(out.replay_name()),
            replay_arn: s(out.replay_arn()),
            description: s(out.description()),
            state: out
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state_reason: s(out.state_reason()),
            event_source_arn: s(out.event_source_arn()),
            destination: out.destination().map(|d| ReplayDestination {
                arn: d.arn().to_string(),
                filter_arns: (!d.filter_arns().is_empty()).then(|| d.filter_arns().to_vec()),
            }),
            event_start_time: to_ts(out.event_start_time()),
            event_end_time: to_ts(out.event_end_time()),
            event_last_replayed_time: to_ts(out.event_last_replayed_time()),
            replay_start_time: to_ts(out.replay_start_time()),
            replay_end_time: to_ts(out.replay_end_time()),
        })
    }

    async fn list_replays(&self, req: ListRequest) -> BusResult<ListReplaysResponse> {
        let span = crate::trace::eventbridge_resource(
            "ListReplays",
            req.name_prefix.as_deref().unwrap_or_default(),
        );
        let out = self
            .events
            .list_replays()
            .set_name_prefix(req.name_prefix)
            .set_state(req.state.map(|s| eb::ReplayState::from(s.as_str())))
            .set_event_source_arn(req.event_source_arn)
            .set_next_token(req.next_token)
            .set_limit(req.limit.map(|l| l as i32))
            .send()
            .instrument(span)
            .await
            .map_err(bus_error)?;
        Ok(ListReplaysResponse {
            replays: out
                .replays()
                .iter()
                .map(|r| Replay {
                    replay_name: s(r.replay_name()),
                    event_source_arn: s(r.event_source_arn()),
                    state: r
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    state_reason: s(r.state_reason()),
                    event_start_time: to_ts(r.event_start_time()),
                    event_end_time: to_ts(r.event_end_time()),
                    event_last_replayed_time: to_ts(r.event_last_replayed_time()),
                    replay_start_time: to_ts(r.replay_start_time()),
                    replay_end_time: to_ts(r.replay_end_time()),
                    ..Default::default()
                })
                .collect(),
            next_token: s(out.next_token()),
        })
    }

    async fn cancel_replay(&self, name: &str) -> BusResult<Replay> {
        let out = self
            .events
            .cancel_replay()
            .replay_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("CancelReplay", name))
            .await
            .map_err(bus_error)?;
        Ok(Replay {
            replay_name: Some(name.to_string()),
            replay_arn: s(out.replay_arn()),
            state: out
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state_reason: s(out.state_reason()),
            ..Default::default()
        })
    }

    async fn create_test_queue(&self, name: &str) -> BusResult<String> {
        let arn = format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account);
        // EventBridge may send to the queue (ignored by moto, needed on AWS).
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
            }]
        })
        .to_string();
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::Policy, policy)
            .send()
            .instrument(crate::trace::sqs("CreateQueue", name))
            .await
            .map_err(bus_error)?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        self.queue_urls
            .lock()
            .expect("queue map")
            .insert(arn.clone(), url);
        Ok(arn)
    }

    async fn drain_test_queue(
        &self,
        queue_arn: &str,
        max: usize,
        wait: Duration,
    ) -> BusResult<Vec<String>> {
        let url = self.queue_url(queue_arn).await?;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait_seconds(wait))
            .send()
            .instrument(crate::trace::sqs("ReceiveMessage", &url))
            .await
            .map_err(bus_error)?;
        let msgs = out.messages();
        if !msgs.is_empty() {
            let entries = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .map_err(|e| BusError::Validation(e.to_string()))
                })
                .collect::<BusResult<Vec<_>>>()?;
            self.sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .instrument(crate::trace::sqs("DeleteMessageBatch", &url))
                .await
                .map_err(bus_error)?;
        }
        Ok(msgs
            .iter()
            .map(|m| m.body().unwrap_or_default().to_string())
            .collect())
    }
}

/// SQS long-poll seconds for `wait`: rounded up, at most 20 (SQS's limit).
pub(crate) fn wait_seconds(wait: Duration) -> i32 {
    let ms = wait.as_millis().min(20_000) as i32;
    (ms + 999) / 1000
}
