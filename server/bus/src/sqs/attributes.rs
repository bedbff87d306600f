//! Queue attributes through SQS's API: a queue's row, the attributes it
//! reports (SQS's defaults where none was set) and the checks of those a
//! request sets.

use store::rusqlite::{Connection, OptionalExtension};

use super::types::Attributes;
use super::{SqsError, SqsResult, MAX_MESSAGE_BYTES, MAX_VISIBILITY_SECS};
use crate::Bus;

/// Default `DelaySeconds`, `MaximumMessageSize`, `MessageRetentionPeriod`
/// and `ReceiveMessageWaitTimeSeconds`, as SQS reports them for a new queue.
pub(super) const DEFAULTS: [(&str, &str); 5] = [
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "1048576"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("SqsManagedSseEnabled", "false"),
];

/// Attributes GetQueueAttributes reports beyond the settable ones.
pub(super) const COMPUTED: [&str; 6] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// A queue's row.
pub(super) struct QueueRow {
    pub name: String,
    pub visibility_ms: i64,
    pub max_receive_count: Option<i64>,
    pub dead_letter_queue: Option<String>,
    pub extra: Attributes,
    pub created_ms: i64,
    pub modified_ms: i64,
}

const QUEUE_COLS: &str = "SELECT name, visibility_ms, max_receive_count, dead_letter_queue, attributes, created_ms, modified_ms FROM eb_queues";

pub(super) fn queue_row(c: &Connection, name: &str) -> store::rusqlite::Result<Option<QueueRow>> {
    c.prepare_cached(&format!("{QUEUE_COLS} WHERE name = ?1"))?
        .query_row([name], |r| {
            let extra: Option<String> = r.get(4)?;
            let created_ms: i64 = r.get(5)?;
            Ok(QueueRow {
                name: r.get(0)?,
                visibility_ms: r.get(1)?,
                max_receive_count: r.get(2)?,
                dead_letter_queue: r.get(3)?,
                extra: extra
                    .and_then(|e| serde_json::from_str(&e).ok())
                    .unwrap_or_default(),
                created_ms,
                modified_ms: r.get::<_, Option<i64>>(6)?.unwrap_or(created_ms),
            })
        })
        .optional()
}

impl QueueRow {
    /// An attribute of `extra`, or its default.
    fn extra_or_default(&self, name: &str) -> Option<String> {
        self.extra.get(name).cloned().or_else(|| {
            DEFAULTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    pub fn number(&self, name: &str) -> i64 {
        self.extra_or_default(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The settable attributes with their current values.
    pub fn settable(&self, bus: &Bus) -> Attributes {
        let mut out = Attributes::new();
        for (name, _) in DEFAULTS {
            out.insert(name.into(), self.extra_or_default(name).unwrap_or_default());
        }
        for (k, v) in &self.extra {
            out.insert(k.clone(), v.clone());
        }
        out.insert(
            "VisibilityTimeout".into(),
            (self.visibility_ms / 1000).to_string(),
        );
        if let (Some(max), Some(dlq)) = (self.max_receive_count, &self.dead_letter_queue) {
            out.insert(
                "RedrivePolicy".into(),
                serde_json::json!({"deadLetterTargetArn": bus.queue_arn(dlq), "maxReceiveCount": max})
                    .to_string(),
            );
        }
        out
    }
}

/// What a CreateQueue's or SetQueueAttributes' attributes change.
#[derive(Default)]
pub(super) struct Changes {
    pub visibility_ms: Option<i64>,
    /// `Some(None)`: the redrive policy is removed.
    pub redrive: Option<Option<(String, i64)>>,
    /// The given attributes, normalised, for comparison with a queue's.
    pub given: Attributes,
    /// Attributes kept in the row's JSON.
    pub extra: Attributes,
}

/// A whole number within `range`, or the attribute's error.
fn number_in(name: &str, value: &str, range: std::ops::RangeInclusive<i64>) -> SqsResult<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| SqsError::invalid_attribute_value(name, None))
}

/// Checks queue attributes as SQS does for a standard queue.
pub(super) fn check_attributes(attributes: &Attributes, creating: bool) -> SqsResult<Changes> {
    let mut c = Changes::default();
    for (name, value) in attributes {
        let normal = match name.as_str() {
            "VisibilityTimeout" => {
                let v = number_in(name, value, 0..=MAX_VISIBILITY_SECS)?;
                c.visibility_ms = Some(v * 1000);
                v.to_string()
            }
            "DelaySeconds" => number_in(name, value, 0..=900)?.to_string(),
            "MaximumMessageSize" => {
                number_in(name, value, 1024..=MAX_MESSAGE_BYTES as i64)?.to_string()
            }
            "MessageRetentionPeriod" => number_in(name, value, 60..=1_209_600)?.to_string(),
            "ReceiveMessageWaitTimeSeconds" => number_in(name, value, 0..=20)?.to_string(),
            "KmsDataKeyReusePeriodSeconds" => number_in(name, value, 60..=86_400)?.to_string(),
            "SqsManagedSseEnabled" => match value.to_ascii_lowercase().as_str() {
                v @ ("true" | "false") => v.to_string(),
                _ => return Err(SqsError::invalid_attribute_value(name, None)),
            },
            "Policy" | "RedriveAllowPolicy" | "KmsMasterKeyId" => value.clone(),
            "RedrivePolicy" => {
                if value.is_empty() {
                    c.redrive = Some(None);
                } else {
                    c.redrive = Some(Some(parse_redrive(value)?));
                }
                value.clone()
            }
            "FifoQueue" if creating && value.eq_ignore_ascii_case("false") => continue,
            "FifoQueue" if creating => {
                return Err(SqsError::invalid_attribute_value(
                    name,
                    Some("FIFO queues are not supported by the embedded queues."),
                ))
            }
            "DeduplicationScope" | "FifoThroughputLimit" if creating => {
                return Err(SqsError::invalid_attribute_name(format!(
                    "You can specify the {name} only when FifoQueue is set to true."
                )))
            }
            _ => {
                return Err(SqsError::invalid_attribute_name(format!(
                    "Unknown Attribute {name}."
                )))
            }
        };
        if !matches!(name.as_str(), "VisibilityTimeout" | "RedrivePolicy") {
            c.extra.insert(name.clone(), normal.clone());
        }
        c.given.insert(name.clone(), normal);
    }
    Ok(c)
}

/// `{"deadLetterTargetArn": ARN, "maxReceiveCount": N}` (N a number or
/// text) → the dead-letter queue's name and N.
pub(super) fn parse_redrive(value: &str) -> SqsResult<(String, i64)> {
    let invalid = |reason: &str| SqsError::invalid_value(value, "RedrivePolicy", reason);
    let v: serde_json::Value = serde_json::from_str(value)
        .map_err(|_| invalid("Redrive policy is not a valid JSON map."))?;
    let arn = v
        .get("deadLetterTargetArn")
        .and_then(|a| a.as_str())
        .ok_or_else(|| {
            invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        })?;
    let max = match v.get("maxReceiveCount") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        None => {
            return Err(invalid(
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
            ))
        }
        _ => None,
    }
    .filter(|m| (1..=1000).contains(m))
    .ok_or_else(|| {
        invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
    })?;
    let name = arn
        .strip_prefix("arn:aws:sqs:")
        .and_then(|rest| rest.rsplit(':').next())
        .filter(|n| is_queue_name(n))
        .ok_or_else(|| invalid("Dead letter target does not exist."))?;
    Ok((name.to_string(), max))
}

/// 1 to 80 letters, digits, hyphens and underscores.
pub(super) fn is_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
