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
//! * [`provision`] — idempotent create-or-update of the bus, archives,
//!   rules, queues and DynamoDB tables, with a dry-run plan.
//! * `moto` — test support (the `testing` feature, enabled by the tests'
//!   dev-dependencies): a private `moto_server` per test.
//!
//! Every client is built from one [`aws_config::SdkConfig`] made by
//! [`load_config`] (standard credential chain, region, optional endpoint
//! override for emulators, standard retry mode for throttling).

mod bus;
mod dynamo;
mod events;
mod intake;
#[cfg(feature = "testing")]
pub mod moto;
pub mod provision;
mod queues;
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
pub use crate::recovery::AwsRecovery;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use tracing::Instrument;

/// How to reach AWS (or an emulator).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Region; `None` uses the standard chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Endpoint override for every service (moto, the embedded wire API);
    /// `None` uses AWS's endpoints (or `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Attempts per SDK call, throttling and transient errors included
    /// (standard retry mode); `None` keeps the SDK's default of 3.
    pub max_attempts: Option<u32>,
}

/// Loads the SDK configuration: the standard credential and region chain,
/// the region and endpoint overrides of `settings`, and standard-mode
/// retries (exponential back-off with jitter on throttling and 5xx).
pub async fn load_config(settings: &AwsSettings) -> SdkConfig {
    let mut retry = RetryConfig::standard();
    if let Some(n) = settings.max_attempts {
        retry = retry.with_max_attempts(n.max(1));
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    loader.load().await
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
