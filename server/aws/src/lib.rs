//! The AWS backend of the Vendor Mediator: the same traits as the embedded
//! backend, implemented over EventBridge, SQS and DynamoDB with the AWS SDK.
//!
//! # Module map
//! * [`AwsBus`] (`bus.rs`) — [`EventBus`](::bus::contract::EventBus) over
//!   aws-sdk-eventbridge, with SQS queues for the contract suite's test
//!   queues, so the bus contract suite runs unchanged against AWS, moto or
//!   the embedded EventBridge's wire API.
//! * [`AwsEvents`] (`events.rs`) — [`mediator_core::events::EventPublisher`]:
//!   PutEvents in batches of ≤ 10 entries and ≤ 256 KB, retrying only the
//!   entries AWS refused, with exponential back-off and jitter.
//! * [`AwsRecovery`] (`recovery.rs`) — `ArchiveReplays`, `ResubmitQueue` and
//!   `ArchiveBrowser` over StartReplay/DescribeReplay/CancelReplay,
//!   DescribeArchive and SQS long polling.
//! * [`AwsIntake`] (`intake.rs`) — the `voucher-requests` queue (fed by the
//!   intake rule) run through the submission flow; [`SqsQueues`]
//!   (`queues.rs`) is the SQS long poll / batch delete / visibility change
//!   both it and the resubmit queues use.
//! * [`DynamoStore`] (`dynamo.rs`) — mediator-core's storage traits
//!   (`OverrideStore`, `StatusStore`) on DynamoDB, with conditional writes
//!   so replicas racing on one status change write it once; [`tables`]
//!   names the tables, keys and indexes.
//! * [`AwsDependencies`] (`readiness.rs`) — what a replica needs (tables,
//!   bus, archives, queues), checked for its readiness.
//! * [`provision`] — idempotent create-or-update of the bus, archives,
//!   rules, queues and DynamoDB tables, with a dry-run plan.
//! * `moto` — test support (the `testing` feature, enabled by the tests'
//!   dev-dependencies): a private `moto_server` per test.
//!
//! Every client is built from one [`aws_config::SdkConfig`] made by
//! [`load_config`]: AWS's standard configuration (credentials, region,
//! retries, per-service endpoints from the environment or profile), with
//! the region and one endpoint for every service as optional overrides.

mod bus;
mod dynamo;
mod events;
mod intake;
#[cfg(feature = "testing")]
pub mod moto;
pub mod provision;
mod queues;
mod readiness;
mod recovery;
pub mod tables;
mod trace;

pub use crate::bus::AwsBus;
pub use crate::dynamo::DynamoStore;
pub use crate::events::{
    entry_size, AwsEvents, PublishSettings, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
};
pub use crate::intake::{AwsIntake, IntakeStep, INTAKE_WAIT};
pub use crate::queues::SqsQueues;
pub use crate::readiness::{AwsDependencies, Unready, CHECK_TIMEOUT};
pub use crate::recovery::AwsRecovery;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tracing::Instrument;

/// How to reach AWS (or an emulator).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region; `None` uses the standard chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Endpoint of every service (`--endpoint-url`: moto, the embedded wire
    /// API), overriding what AWS's own configuration says; `None` leaves the
    /// endpoints to the SDK: `AWS_ENDPOINT_URL_<SERVICE>`
    /// (`…_DYNAMODB`, `…_EVENTBRIDGE`, `…_SQS`), then `AWS_ENDPOINT_URL`,
    /// then the profile's `endpoint_url` / `services` section, then AWS's
    /// endpoints.
    pub endpoint_url: Option<String>,
    /// Attempts per SDK call, overriding `AWS_MAX_ATTEMPTS` and the
    /// profile's `max_attempts` (tests); `None` keeps what they say (the
    /// SDK's default: 3).
    pub max_attempts: Option<u32>,
}

/// Loads the SDK configuration as the AWS CLI and SDKs do: the standard
/// credential and region chain, retries from `AWS_MAX_ATTEMPTS` /
/// `AWS_RETRY_MODE` or the profile's `max_attempts` / `retry_mode`
/// (standard mode, 3 attempts, when nothing says otherwise), endpoints from
/// `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` or the profile; then
/// the overrides of `settings` (region, one endpoint for every service).
/// Invalid retry variables make the SDK panic: check them first with
/// [`check_retry_environment`].
pub async fn load_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if let Some(n) = settings.max_attempts {
        // The environment's and profile's mode, with these attempts.
        let retry = aws_config::default_provider::retry_config::default_provider()
            .retry_config()
            .await
            .with_max_attempts(n.max(1));
        loader = loader.retry_config(retry);
    }
    loader.load().await
}

/// `AWS_MAX_ATTEMPTS` (a whole number ≥ 1) and `AWS_RETRY_MODE`
/// (`standard` or `adaptive`), when set: the error names the variable and
/// what is wrong (the SDK would panic on them).
pub fn check_retry_environment() -> Result<(), String> {
    if let Some(v) = std::env::var_os("AWS_MAX_ATTEMPTS") {
        let v = v.to_string_lossy();
        match v.parse::<u32>() {
            Ok(n) if n >= 1 => {}
            _ => {
                return Err(format!(
                    "AWS_MAX_ATTEMPTS: must be a whole number of at least 1, got {v:?}"
                ))
            }
        }
    }
    if let Some(v) = std::env::var_os("AWS_RETRY_MODE") {
        let v = v.to_string_lossy();
        if v.parse::<aws_config::retry::RetryMode>().is_err() {
            return Err(format!(
                "AWS_RETRY_MODE: must be standard or adaptive, got {v:?}"
            ));
        }
    }
    Ok(())
}

/// `arn:aws:events:<region>:<account>:…` parts of an EventBridge ARN.
pub(crate) fn arn_region_account(arn: &str) -> Option<(String, String)> {
    let mut it = arn.split(':');
    let (_, _, _, region, account) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    Some((region.to_string(), account.to_string()))
}

/// Where the mediator's resources live: account and region (for ARNs)
/// and the bus name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The account id.
    pub account: String,
    /// The region.
    pub region: String,
    /// The mediator's bus.
    pub bus_name: String,
}

impl Location {
    /// Finds the account and region from the default bus's ARN (no STS
    /// call needed: `DescribeEventBus` is allowed wherever EventBridge is).
    pub async fn discover(
        events: &aws_sdk_eventbridge::Client,
        bus_name: &str,
    ) -> Result<Self, String> {
        let out = events
            .describe_event_bus()
            .name("default")
            .send()
            .instrument(crate::trace::eventbridge("DescribeEventBus", "default"))
            .await
            .map_err(|e| format!("DescribeEventBus default: {}", sdk_message(&e)))?;
        let arn = out.arn().unwrap_or_default();
        let (region, account) = arn_region_account(arn)
            .ok_or_else(|| format!("DescribeEventBus default: unexpected ARN {arn:?}"))?;
        Ok(Self {
            account,
            region,
            bus_name: bus_name.to_string(),
        })
    }

    /// The bus's ARN.
    pub fn bus_arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{}",
            self.region, self.account, self.bus_name
        )
    }

    /// An archive's ARN.
    pub fn archive_arn(&self, archive: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:archive/{archive}",
            self.region, self.account
        )
    }

    /// The ARN of a rule on the mediator's bus (`rule/<bus>/<name>`; the
    /// default bus's rules have no bus segment).
    pub fn rule_arn(&self, rule: &str) -> String {
        if self.bus_name == "default" {
            format!(
                "arn:aws:events:{}:{}:rule/{rule}",
                self.region, self.account
            )
        } else {
            format!(
                "arn:aws:events:{}:{}:rule/{}/{rule}",
                self.region, self.account, self.bus_name
            )
        }
    }

    /// A queue's ARN.
    pub fn queue_arn(&self, queue: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{queue}", self.region, self.account)
    }
}

/// Whether every table of `tables` exists (DescribeTable each); the error
/// names the first missing one.
pub async fn check_tables(conf: &SdkConfig, tables: &tables::Tables) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(conf);
    for spec in tables.specs() {
        client
            .describe_table()
            .table_name(&spec.name)
            .send()
            .instrument(crate::trace::dynamodb("DescribeTable", &spec.name))
            .await
            .map_err(|e| format!("DynamoDB table {}: {}", spec.name, sdk_message(&e)))?;
    }
    Ok(())
}

/// `Code: message` of an SDK error (service errors), or the transport
/// error's own text with its sources.
pub fn sdk_message<E, R>(e: &aws_sdk_eventbridge::error::SdkError<E, R>) -> String
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_eventbridge::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}
