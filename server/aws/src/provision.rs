//! `mediator provision --backend aws`: creates or updates, idempotently,
//! the mediator's EventBridge and SQS resources, or (dry run) only reports
//! what it would do.
//!
//! Resources, in the order they are checked:
//! * the bus [`BUS_NAME`];
//! * per part: the dead-letter queue `<part>-resubmit-dlq`, the resubmit
//!   queue `<part>-resubmit` (redrive to the DLQ after [`MAX_RECEIVES`]
//!   receives, visibility 120 s, a policy letting the part's resubmit rule
//!   send to it), the part's archive with the seed's pattern and retention,
//!   and the resubmit rule (`replay-name` prefix pattern) targeting the queue;
//! * the intake: queue `voucher-requests` with its DLQ, and the rule
//!   `VoucherRequests` (voucher requests, never replayed ones) targeting it.
//!
//! * the DynamoDB tables of [`Tables::specs`] (on-demand capacity, keys,
//!   global secondary indexes, TTL attribute); a table whose keys differ is
//!   an error (keys cannot change), a missing index or TTL is an update.
//!
//! No status-change rule is created: recovery detects down→up from the
//! status table's outbox, not from the bus.
//!
//! Each resource is read first and compared with what it should be
//! (patterns and policies as JSON, not text); only a difference is written,
//! so a second run reports everything `unchanged`.

use std::collections::HashMap;
use std::fmt;
use tracing::Instrument;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use mediator_core::events::{
    archive_pattern, dead_letter_queue, resubmit_pattern, resubmit_queue, resubmit_rule,
    voucher_request_pattern, BUS_NAME,
};
use mediator_core::PartSettings;
use serde_json::{json, Value};

use crate::tables::{TableSpec, Tables};
use crate::{sdk_message, Location};

/// Rule that routes voucher requests to the intake queue.
pub const REQUEST_RULE: &str = "VoucherRequests";
/// Queue buffering voucher requests for the submission flow.
pub const REQUEST_QUEUE: &str = "voucher-requests";
/// Receives before a message moves to its dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;
/// Visibility timeout of the work queues (longer than a resubmission's lease).
pub const VISIBILITY_SECS: u32 = 120;
/// Retention of dead-letter queues (SQS's maximum, 14 days).
pub const DLQ_RETENTION_SECS: u32 = 1_209_600;

/// What provisioning does (or would do) to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It does not exist: create it.
    Create,
    /// It exists but differs: update it.
    Update,
    /// It exists as it should.
    Unchanged,
}

impl Change {
    /// `create`, `update` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What happens.
    pub change: Change,
    /// `event-bus`, `archive`, `rule`, `queue`.
    pub kind: &'static str,
    /// The resource's name.
    pub name: String,
    /// What differs, for updates.
    pub detail: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<9} {:<9} {}",
            self.change.as_str(),
            self.kind,
            self.name
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// What provisioning reports as it goes ([`provision_with_progress`]).
#[derive(Debug)]
pub enum ProvisionEvent<'a> {
    /// A resource was planned, created, updated or found unchanged.
    Step(&'a Step),
    /// A table just created is not ACTIVE yet (AWS builds it, with its
    /// indexes, in the background).
    TableWaiting {
        /// The table.
        name: &'a str,
        /// Its status (`CREATING`).
        status: &'a str,
        /// Time waited so far.
        waited: std::time::Duration,
    },
    /// A table just created became ACTIVE.
    TableActive {
        /// The table.
        name: &'a str,
        /// Time it took.
        waited: std::time::Duration,
    },
}

/// Receives [`ProvisionEvent`]s.
pub type Progress = std::sync::Arc<dyn Fn(&ProvisionEvent<'_>) + Send + Sync>;

/// Why provisioning stopped: the resource and AWS's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name}: {reason}")]
pub struct ProvisionError {
    /// The resource kind.
    pub kind: &'static str,
    /// The resource's name.
    pub name: String,
    /// AWS's error.
    pub reason: String,
}

fn fail(kind: &'static str, name: &str) -> impl Fn(String) -> ProvisionError {
    let name = name.to_string();
    move |reason| ProvisionError {
        kind,
        name: name.clone(),
        reason,
    }
}

/// Equal as JSON (numbers and numeric strings alike), or as text when
/// either is not JSON.
fn same_json(a: &str, b: &str) -> bool {
    fn norm(v: Value) -> Value {
        match v {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            other => other,
        }
    }
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(x), Ok(y)) => norm(x) == norm(y),
        _ => a == b,
    }
}

struct Provisioner {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    loc: Location,
    dry_run: bool,
    steps: Vec<Step>,
    progress: Option<Progress>,
}

/// Provisions (or, with `dry_run`, only plans) the mediator's resources
/// for `parts`; returns one step per resource. With `dry_run` only read
/// APIs are called.
pub async fn provision(
    conf: &aws_config::SdkConfig,
    parts: &[PartSettings],
    dry_run: bool,
) -> Result<Vec<Step>, ProvisionError> {
    provision_with_progress(conf, parts, dry_run, None).await
}

/// [`provision`], telling `progress` of each step as it is done and of the
/// wait for each new table to become ACTIVE.
pub async fn provision_with_progress(
    conf: &aws_config::SdkConfig,
    parts: &[PartSettings],
    dry_run: bool,
    progress: Option<Progress>,
) -> Result<Vec<Step>, ProvisionError> {
    let events = aws_sdk_eventbridge::Client::new(conf);
    let loc = Location::discover(&events, BUS_NAME)
        .await
        .map_err(fail("event-bus", "default"))?;
    let mut p = Provisioner {
        events,
        sqs: aws_sdk_sqs::Client::new(conf),
        loc,
        dry_run,
        steps: Vec::new(),
        progress: progress.clone(),
    };
    p.bus().await?;
    for part in parts {
        let dlq = dead_letter_queue(&part.name);
        let queue = resubmit_queue(&part.name);
        let rule = resubmit_rule(&part.archive_name);
        p.queue(&dlq, None, None).await?;
        p.queue(&queue, Some(&dlq), Some(&rule)).await?;
        p.archive(part).await?;
        p.rule(
            &rule,
            &resubmit_pattern(&part.name, &part.archive_name),
            &format!("Replayed retry events of the {} part", part.name),
            &queue,
        )
        .await?;
    }
    let dlq = format!("{REQUEST_QUEUE}-dlq");
    p.queue(&dlq, None, None).await?;
    p.queue(REQUEST_QUEUE, Some(&dlq), Some(REQUEST_RULE))
        .await?;
    p.rule(
        REQUEST_RULE,
        &voucher_request_pattern(),
        "Voucher requests of the Order Processing service",
        REQUEST_QUEUE,
    )
    .await?;
    p.steps
        .extend(tables_with_progress(conf, &Tables::default(), dry_run, progress).await?);
    Ok(p.steps)
}

/// Provisions (or plans) the DynamoDB tables alone — what [`provision`]
/// ends with; also how the tests set up DynamoDB Local, which has no
/// EventBridge or SQS.
pub async fn provision_tables(
    conf: &aws_config::SdkConfig,
    tables: &Tables,
    dry_run: bool,
) -> Result<Vec<Step>, ProvisionError> {
    tables_with_progress(conf, tables, dry_run, None).await
}

async fn tables_with_progress(
    conf: &aws_config::SdkConfig,
    tables: &Tables,
    dry_run: bool,
    progress: Option<Progress>,
) -> Result<Vec<Step>, ProvisionError> {
    let mut p = Tabler {
        dry_run,
        steps: Vec::new(),
        progress,
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(conf);
    for spec in tables.specs() {
        p.table(&dynamodb, &spec).await?;
    }
    Ok(p.steps)
}

/// Provisions tables, recording one step each.
struct Tabler {
    dry_run: bool,
    steps: Vec<Step>,
    progress: Option<Progress>,
}

impl Tabler {
    fn step(&mut self, change: Change, kind: &'static str, name: &str, detail: String) {
        step(
            &mut self.steps,
            self.progress.as_ref(),
            change,
            kind,
            name,
            detail,
        );
    }

    fn tell(&self, event: ProvisionEvent<'_>) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }
}

fn step(
    steps: &mut Vec<Step>,
    progress: Option<&Progress>,
    change: Change,
    kind: &'static str,
    name: &str,
    detail: String,
) {
    tracing::info!(change = change.as_str(), kind, name, "{detail}");
    let step = Step {
        change,
        kind,
        name: name.to_string(),
        detail,
    };
    if let Some(progress) = progress {
        progress(&ProvisionEvent::Step(&step));
    }
    steps.push(step);
}

impl Provisioner {
    fn step(&mut self, change: Change, kind: &'static str, name: &str, detail: String) {
        step(
            &mut self.steps,
            self.progress.as_ref(),
            change,
            kind,
            name,
            detail,
        );
    }

    async fn bus(&mut self) -> Result<(), ProvisionError> {
        let err = fail("event-bus", BUS_NAME);
        match self
            .events
            .describe_event_bus()
            .name(BUS_NAME)
            .send()
            .instrument(crate::trace::eventbridge("DescribeEventBus", BUS_NAME))
            .await
        {
            Ok(_) => {
                self.step(Change::Unchanged, "event-bus", BUS_NAME, String::new());
                return Ok(());
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(err(sdk_message(&e))),
        }
        if !self.dry_run {
            self.events
                .create_event_bus()
                .name(BUS_NAME)
                .description("Vendor Mediator status events")
                .send()
                .instrument(crate::trace::eventbridge("CreateEventBus", BUS_NAME))
                .await
                .map_err(|e| err(sdk_message(&e)))?;
        }
        self.step(Change::Create, "event-bus", BUS_NAME, String::new());
        Ok(())
    }

    async fn archive(&mut self, part: &PartSettings) -> Result<(), ProvisionError> {
        let name = part.archive_name.as_str();
        let err = fail("archive", name);
        let pattern = archive_pattern(&part.name);
        let retention = part.retention_days as i32;
        match self
            .events
            .describe_archive()
            .archive_name(name)
            .send()
            .instrument(crate::trace::eventbridge_resource("DescribeArchive", name))
            .await
        {
            Ok(a) => {
                let mut diff = Vec::new();
                if !same_json(a.event_pattern().unwrap_or(""), &pattern) {
                    diff.push("event pattern");
                }
                if a.retention_days() != Some(retention) {
                    diff.push("retention");
                }
                if a.event_source_arn() != Some(self.loc.bus_arn().as_str()) {
                    return Err(err(format!(
                        "archives {:?}, not the bus {BUS_NAME}; delete it or rename the part's archive",
                        a.event_source_arn().unwrap_or("")
                    )));
                }
                if diff.is_empty() {
                    self.step(Change::Unchanged, "archive", name, String::new());
                    return Ok(());
                }
                if !self.dry_run {
                    self.events
                        .update_archive()
                        .archive_name(name)
                        .event_pattern(&pattern)
                        .retention_days(retention)
                        .send()
                        .instrument(crate::trace::eventbridge_resource("UpdateArchive", name))
                        .await
                        .map_err(|e| err(sdk_message(&e)))?;
                }
                self.step(Change::Update, "archive", name, diff.join(", "));
                Ok(())
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                if !self.dry_run {
                    self.events
                        .create_archive()
                        .archive_name(name)
                        .event_source_arn(self.loc.bus_arn())
                        .description(format!("Retry events of the {} part", part.name))
                        .event_pattern(&pattern)
                        .retention_days(retention)
                        .send()
                        .instrument(crate::trace::eventbridge_resource("CreateArchive", name))
                        .await
                        .map_err(|e| err(sdk_message(&e)))?;
                }
                self.step(
                    Change::Create,
                    "archive",
                    name,
                    format!("retention {retention} days"),
                );
                Ok(())
            }
            Err(e) => Err(err(sdk_message(&e))),
        }
    }

    async fn rule(
        &mut self,
        name: &str,
        pattern: &str,
        description: &str,
        queue: &str,
    ) -> Result<(), ProvisionError> {
        let err = fail("rule", name);
        let target_id = "queue";
        let queue_arn = self.loc.queue_arn(queue);
        let existing = match self
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(BUS_NAME)
            .send()
            .instrument(crate::trace::eventbridge("DescribeRule", BUS_NAME))
            .await
        {
            Ok(r) => Some(r),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(err(sdk_message(&e))),
        };
        let mut diff = Vec::new();
        let change = match &existing {
            None => Change::Create,
            Some(r) => {
                if !same_json(r.event_pattern().unwrap_or(""), pattern) {
                    diff.push("event pattern");
                }
                if r.state() != Some(&RuleState::Enabled) {
                    diff.push("state");
                }
                if r.description() != Some(description) {
                    diff.push("description");
                }
                let targets = self
                    .events
                    .list_targets_by_rule()
                    .rule(name)
                    .event_bus_name(BUS_NAME)
                    .send()
                    .instrument(crate::trace::eventbridge("ListTargetsByRule", BUS_NAME))
                    .await
                    .map_err(|e| err(sdk_message(&e)))?;
                let ok =
                    matches!(targets.targets(), [t] if t.id() == target_id && t.arn() == queue_arn);
                if !ok {
                    diff.push("target");
                }
                if diff.is_empty() {
                    Change::Unchanged
                } else {
                    Change::Update
                }
            }
        };
        if change != Change::Unchanged && !self.dry_run {
            self.events
                .put_rule()
                .name(name)
                .event_bus_name(BUS_NAME)
                .event_pattern(pattern)
                .description(description)
                .state(RuleState::Enabled)
                .send()
                .instrument(crate::trace::eventbridge("PutRule", BUS_NAME))
                .await
                .map_err(|e| err(sdk_message(&e)))?;
            let target = Target::builder()
                .id(target_id)
                .arn(&queue_arn)
                .build()
                .map_err(|e| err(e.to_string()))?;
            let out = self
                .events
                .put_targets()
                .rule(name)
                .event_bus_name(BUS_NAME)
                .targets(target)
                .send()
                .instrument(crate::trace::eventbridge("PutTargets", BUS_NAME))
                .await
                .map_err(|e| err(sdk_message(&e)))?;
            if let Some(f) = out.failed_entries().first() {
                return Err(err(format!(
                    "target {}: {} {}",
                    f.target_id().unwrap_or(""),
                    f.error_code().unwrap_or(""),
                    f.error_message().unwrap_or("")
                )));
            }
        }
        let detail = match change {
            Change::Create => format!("→ queue {queue}"),
            _ => diff.join(", "),
        };
        self.step(change, "rule", name, detail);
        Ok(())
    }

    /// The attributes queue `name` should have: a DLQ's long retention, or
    /// a work queue's visibility, redrive policy and send permission for
    /// `rule`.
    fn queue_attributes(
        &self,
        name: &str,
        dlq: Option<&str>,
        rule: Option<&str>,
    ) -> HashMap<QueueAttributeName, String> {
        let mut attrs = HashMap::new();
        match dlq {
            None => {
                attrs.insert(
                    QueueAttributeName::MessageRetentionPeriod,
                    DLQ_RETENTION_SECS.to_string(),
                );
            }
            Some(dlq) => {
                attrs.insert(
                    QueueAttributeName::VisibilityTimeout,
                    VISIBILITY_SECS.to_string(),
                );
                attrs.insert(
                    QueueAttributeName::RedrivePolicy,
                    json!({
                        "deadLetterTargetArn": self.loc.queue_arn(dlq),
                        "maxReceiveCount": MAX_RECEIVES,
                    })
                    .to_string(),
                );
            }
        }
        if let Some(rule) = rule {
            attrs.insert(
                QueueAttributeName::Policy,
                json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "EventBridgeRule",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": self.loc.queue_arn(name),
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.loc.rule_arn(rule)}}
                    }]
                })
                .to_string(),
            );
        }
        attrs
    }

    async fn queue(
        &mut self,
        name: &str,
        dlq: Option<&str>,
        rule: Option<&str>,
    ) -> Result<(), ProvisionError> {
        let err = fail("queue", name);
        let want = self.queue_attributes(name, dlq, rule);
        let url = match self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .instrument(crate::trace::sqs("GetQueueUrl", name))
            .await
        {
            Ok(o) => Some(o.queue_url().unwrap_or_default().to_string()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("AWS.SimpleQueueService.NonExistentQueue") | Some("QueueDoesNotExist")
                ) =>
            {
                None
            }
            Err(e) => return Err(err(sdk_message(&e))),
        };
        let Some(url) = url else {
            if !self.dry_run {
                self.sqs
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(want))
                    .send()
                    .instrument(crate::trace::sqs("CreateQueue", name))
                    .await
                    .map_err(|e| err(sdk_message(&e)))?;
            }
            let detail = dlq
                .map(|d| format!("dead letters → {d}"))
                .unwrap_or_default();
            self.step(Change::Create, "queue", name, detail);
            return Ok(());
        };
        let have = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .instrument(crate::trace::sqs("GetQueueAttributes", &url))
            .await
            .map_err(|e| err(sdk_message(&e)))?;
        let have = have.attributes().cloned().unwrap_or_default();
        let mut diff: Vec<String> = want
            .iter()
            .filter(|(k, v)| !have.get(*k).is_some_and(|h| same_json(h, v)))
            .map(|(k, _)| k.as_str().to_string())
            .collect();
        diff.sort();
        if diff.is_empty() {
            self.step(Change::Unchanged, "queue", name, String::new());
            return Ok(());
        }
        if !self.dry_run {
            self.sqs
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(want))
                .send()
                .instrument(crate::trace::sqs("SetQueueAttributes", &url))
                .await
                .map_err(|e| err(sdk_message(&e)))?;
        }
        self.step(Change::Update, "queue", name, diff.join(", "));
        Ok(())
    }
}

fn key_schema(
    pk: (&str, crate::tables::KeyType),
    sk: (&str, crate::tables::KeyType),
) -> Vec<aws_sdk_dynamodb::types::KeySchemaElement> {
    use aws_sdk_dynamodb::types::{KeySchemaElement, KeyType};
    [(pk.0, KeyType::Hash), (sk.0, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key schema element")
        })
        .collect()
}

fn index_def(i: &crate::tables::IndexSpec) -> aws_sdk_dynamodb::types::GlobalSecondaryIndex {
    use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};
    GlobalSecondaryIndex::builder()
        .index_name(i.name)
        .set_key_schema(Some(key_schema(i.pk, i.sk)))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index definition")
}

fn attribute_defs(spec: &TableSpec) -> Vec<aws_sdk_dynamodb::types::AttributeDefinition> {
    use aws_sdk_dynamodb::types::{AttributeDefinition, ScalarAttributeType};
    spec.attributes()
        .into_iter()
        .map(|(name, t)| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(t.as_str()))
                .build()
                .expect("attribute definition")
        })
        .collect()
}

impl Tabler {
    /// A DynamoDB table: created (on demand) with its indexes and TTL, or
    /// compared: missing indexes are added (one per run: AWS builds one at a
    /// time), TTL is switched on; keys that differ are an error.
    async fn table(
        &mut self,
        db: &aws_sdk_dynamodb::Client,
        spec: &TableSpec,
    ) -> Result<(), ProvisionError> {
        use aws_sdk_dynamodb::types::{BillingMode, TimeToLiveSpecification};
        let name = spec.name.as_str();
        let err = fail("table", name);
        let existing = match db
            .describe_table()
            .table_name(name)
            .send()
            .instrument(crate::trace::dynamodb("DescribeTable", name))
            .await
        {
            Ok(t) => t.table,
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(err(sdk_message(&e))),
        };
        let mut diff = Vec::new();
        match &existing {
            None => {
                if !self.dry_run {
                    let mut req = db
                        .create_table()
                        .table_name(name)
                        .billing_mode(BillingMode::PayPerRequest)
                        .set_key_schema(Some(key_schema(spec.pk, spec.sk)))
                        .set_attribute_definitions(Some(attribute_defs(spec)));
                    for i in &spec.indexes {
                        req = req.global_secondary_indexes(index_def(i));
                    }
                    req.send()
                        .instrument(crate::trace::dynamodb("CreateTable", name))
                        .await
                        .map_err(|e| err(sdk_message(&e)))?;
                    self.wait_active(db, name).await?;
                }
            }
            Some(t) => {
                let keys: Vec<(String, String)> = t
                    .key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_string(),
                            k.key_type().as_str().to_string(),
                        )
                    })
                    .collect();
                let want = [
                    (spec.pk.0.to_string(), "HASH".to_string()),
                    (spec.sk.0.to_string(), "RANGE".to_string()),
                ];
                if keys != want {
                    return Err(err(format!(
                        "has keys {keys:?}, the mediator needs {want:?}; keys cannot change: delete the table or use another prefix"
                    )));
                }
                let have: Vec<&str> = t
                    .global_secondary_indexes()
                    .iter()
                    .filter_map(|i| i.index_name())
                    .collect();
                if let Some(missing) = spec.indexes.iter().find(|i| !have.contains(&i.name)) {
                    diff.push(format!("index {}", missing.name));
                    if !self.dry_run {
                        use aws_sdk_dynamodb::types::{
                            CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
                        };
                        let d = index_def(missing);
                        let create = CreateGlobalSecondaryIndexAction::builder()
                            .index_name(missing.name)
                            .set_key_schema(Some(d.key_schema().to_vec()))
                            .set_projection(d.projection().cloned())
                            .build()
                            .map_err(|e| err(e.to_string()))?;
                        db.update_table()
                            .table_name(name)
                            .set_attribute_definitions(Some(attribute_defs(spec)))
                            .global_secondary_index_updates(
                                GlobalSecondaryIndexUpdate::builder().create(create).build(),
                            )
                            .send()
                            .instrument(crate::trace::dynamodb("UpdateTable", name))
                            .await
                            .map_err(|e| err(sdk_message(&e)))?;
                    }
                }
            }
        }
        if let Some(attr) = spec.ttl {
            let enabled = match &existing {
                None => false,
                Some(_) => {
                    let ttl = db
                        .describe_time_to_live()
                        .table_name(name)
                        .send()
                        .instrument(crate::trace::dynamodb("DescribeTimeToLive", name))
                        .await
                        .map_err(|e| err(sdk_message(&e)))?;
                    ttl.time_to_live_description().is_some_and(|d| {
                        d.attribute_name() == Some(attr)
                            && matches!(
                                d.time_to_live_status().map(|s| s.as_str()),
                                Some("ENABLED" | "ENABLING")
                            )
                    })
                }
            };
            if !enabled {
                if existing.is_some() {
                    diff.push("ttl".into());
                }
                if !self.dry_run {
                    db.update_time_to_live()
                        .table_name(name)
                        .time_to_live_specification(
                            TimeToLiveSpecification::builder()
                                .attribute_name(attr)
                                .enabled(true)
                                .build()
                                .map_err(|e| err(e.to_string()))?,
                        )
                        .send()
                        .instrument(crate::trace::dynamodb("UpdateTimeToLive", name))
                        .await
                        .map_err(|e| err(sdk_message(&e)))?;
                }
            }
        }
        let (change, detail) = match (&existing, diff.is_empty()) {
            (None, _) => {
                let mut d: Vec<String> = spec
                    .indexes
                    .iter()
                    .map(|i| format!("index {}", i.name))
                    .collect();
                d.extend(spec.ttl.map(|a| format!("ttl {a}")));
                (Change::Create, d.join(", "))
            }
            (Some(_), true) => (Change::Unchanged, String::new()),
            (Some(_), false) => (Change::Update, diff.join(", ")),
        };
        self.step(change, "table", name, detail);
        Ok(())
    }

    /// Waits (bounded) until a new table is ACTIVE, so the stores can use it
    /// as soon as provisioning returns.
    async fn wait_active(
        &self,
        db: &aws_sdk_dynamodb::Client,
        name: &str,
    ) -> Result<(), ProvisionError> {
        use aws_sdk_dynamodb::types::TableStatus;
        let started = std::time::Instant::now();
        let deadline = started + std::time::Duration::from_secs(300);
        loop {
            let t = db
                .describe_table()
                .table_name(name)
                .send()
                .instrument(crate::trace::dynamodb("DescribeTable", name))
                .await
                .map_err(|e| fail("table", name)(sdk_message(&e)))?;
            let status = t.table().and_then(|t| t.table_status());
            if status == Some(&TableStatus::Active) {
                self.tell(ProvisionEvent::TableActive {
                    name,
                    waited: started.elapsed(),
                });
                return Ok(());
            }
            self.tell(ProvisionEvent::TableWaiting {
                name,
                status: status.map_or("unknown", |s| s.as_str()),
                waited: started.elapsed(),
            });
            if std::time::Instant::now() > deadline {
                return Err(fail("table", name)("not ACTIVE after 300 s".into()));
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_comparison_ignores_layout_and_number_spelling() {
        assert!(same_json(r#"{"a": [1, "x"]}"#, r#"{"a":["1","x"]}"#));
        assert!(!same_json(r#"{"a": 1}"#, r#"{"a": 2}"#));
        assert!(same_json("120", "120"));
        assert!(!same_json("abc", "abd"));
    }

    /// The CloudFormation template describes the same resources as the
    /// code: names, event patterns, redrive and visibility settings.
    #[test]
    fn cloudformation_template_matches_the_code() {
        let yaml = include_str!("../cloudformation/mediator.yaml");
        let patterns: Vec<Value> = yaml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("EventPattern: "))
            .map(|j| serde_json::from_str(j).expect("EventPattern is JSON"))
            .collect();
        let mut expected = Vec::new();
        for name in ["voucher", "member", "points"] {
            let part = PartSettings::new(mediator_core::PartName::parse(name).unwrap());
            expected.push(archive_pattern(&part.name));
            expected.push(resubmit_pattern(&part.name, &part.archive_name));
            for needle in [
                format!("ArchiveName: {}", part.archive_name),
                format!("Name: {}", resubmit_rule(&part.archive_name)),
                format!("QueueName: {}", resubmit_queue(&part.name)),
                format!("QueueName: {}", dead_letter_queue(&part.name)),
            ] {
                assert!(yaml.contains(&needle), "template lacks {needle:?}");
            }
            assert!(yaml.contains(&format!("Default: {}", part.retention_days)));
        }
        expected.push(voucher_request_pattern());
        let expected: Vec<Value> = expected
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        assert_eq!(patterns, expected);
        // The tables: names, keys (with types), indexes and TTL as in
        // tables.rs.
        for spec in Tables::default().specs() {
            let start = yaml
                .find(&format!("TableName: {}\n", spec.name))
                .unwrap_or_else(|| panic!("template lacks table {}", spec.name));
            // Up to the next resource (a line indented by two spaces) or
            // the next top-level section.
            let rest = &yaml[start..];
            let end = rest
                .match_indices('\n')
                .map(|(i, _)| i + 1)
                .find(|&i| {
                    let line = &rest[i..];
                    !line.starts_with("   ") && !line.starts_with('\n')
                })
                .unwrap_or(rest.len());
            let block = &rest[..end];
            for (attr, t) in spec.attributes() {
                assert!(
                    block.contains(&format!(
                        "- AttributeName: {attr}\n          AttributeType: {}",
                        t.as_str()
                    )),
                    "{}: attribute {attr} {}",
                    spec.name,
                    t.as_str()
                );
            }
            for index in &spec.indexes {
                assert!(
                    block.contains(&format!("- IndexName: {}\n", index.name)),
                    "{}: index {}",
                    spec.name,
                    index.name
                );
            }
            assert_eq!(
                block.matches("- IndexName: ").count(),
                spec.indexes.len(),
                "{}: indexes",
                spec.name
            );
            assert_eq!(
                block.contains("TimeToLiveSpecification:"),
                spec.ttl.is_some(),
                "{}: ttl",
                spec.name
            );
            if let Some(ttl) = spec.ttl {
                assert!(block.contains(&format!("AttributeName: {ttl}\n        Enabled: true")));
            }
        }
        for needle in [
            format!("Default: {BUS_NAME}"),
            format!("Name: {REQUEST_RULE}"),
            format!("QueueName: {REQUEST_QUEUE}"),
            format!("maxReceiveCount: {MAX_RECEIVES}"),
            format!("VisibilityTimeout: {VISIBILITY_SECS}"),
            format!("MessageRetentionPeriod: {DLQ_RETENTION_SECS}"),
        ] {
            assert!(yaml.contains(&needle), "template lacks {needle:?}");
        }
    }

    #[test]
    fn steps_print_one_aligned_line() {
        let s = Step {
            change: Change::Update,
            kind: "archive",
            name: "LoyaltyVoucherArchive".into(),
            detail: "retention".into(),
        };
        assert_eq!(
            s.to_string(),
            "update    archive   LoyaltyVoucherArchive (retention)"
        );
    }
}
