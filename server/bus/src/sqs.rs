//! SQS's API over the embedded queues, as SQS answers on its JSON protocol:
//! queues by URL (`{base}/{account}/{name}`), their attributes (visibility
//! timeout, redrive policy, delay, wait time, message size), messages with
//! message attributes and MD5 digests, long polls, batches, visibility
//! changes and purges. The same queues receive the bus's events (a rule's
//! `arn:aws:sqs:…` target), so an SQS client reads what rules deliver.
//!
//! Message move tasks (a dead-letter queue's messages back to where they
//! came from, or to another queue) run at once, in one transaction, and
//! are listed until the process stops.
//!
//! Not modelled: FIFO queues (refused), `MessageRetentionPeriod` (kept and
//! shown, not enforced: messages stay until deleted), queue tags and
//! permissions, server-side encryption (`SqsManagedSseEnabled` is kept as
//! set, `false` by default: the database is not encrypted), move tasks'
//! `MaxNumberOfMessagesPerSecond` (shown, not a pace).

mod attributes;
pub mod error;
mod messages;
mod move_tasks;
pub mod types;

use std::collections::HashSet;
use std::time::Duration;

use store::rusqlite::params;

use attributes::{check_attributes, is_queue_name, queue_row, QueueRow, COMPUTED, DEFAULTS};
pub use error::{SqsError, SqsResult};
use messages::{check_message_attributes, is_message_char, md5_hex, md5_of_attributes, message_id};
pub(crate) use move_tasks::MoveTask;
use types::*;

use crate::queue::{receipt_message_id, Received, DELETE_BY_RECEIPT};
use crate::{page_offset, page_token, Bus, Timestamp};

/// SQS's largest message (and batch), and the default `MaximumMessageSize`.
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;
/// Entries of a batch at most.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// How long after a purge another is refused.
const PURGE_INTERVAL_MS: i64 = 60_000;
/// Longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: i64 = 43_200;

/// Message system attributes a receive can return.
const SYSTEM_ATTRIBUTES: [&str; 4] = [
    "ApproximateFirstReceiveTimestamp",
    "ApproximateReceiveCount",
    "SenderId",
    "SentTimestamp",
];

/// The embedded queues through SQS's API, handing out queue URLs under `base`.
pub struct Sqs<'a> {
    bus: &'a Bus,
    base: String,
}

impl Bus {
    /// SQS's API over this bus's queues; queue URLs start with `base_url`
    /// (`http://HOST:PORT`, the address the caller reached).
    pub fn sqs(&self, base_url: &str) -> Sqs<'_> {
        Sqs {
            bus: self,
            base: base_url.trim_end_matches('/').to_string(),
        }
    }
}

/// 1 to 80 letters, digits, hyphens and underscores (batch entry ids).
fn is_batch_id(id: &str) -> bool {
    is_queue_name(id)
}

/// A message ready to be stored, and its answer.
struct Outgoing {
    body: String,
    delay_ms: Option<i64>,
    attributes: Option<String>,
    md5_of_body: String,
    md5_of_attributes: Option<String>,
}

/// `ids` are 1 to 10 distinct valid batch entry ids.
fn check_batch<'e>(ids: impl ExactSizeIterator<Item = &'e str>, entry: &str) -> SqsResult<()> {
    let n = ids.len();
    if n == 0 {
        return Err(SqsError::empty_batch(entry));
    }
    if n > MAX_BATCH_ENTRIES {
        return Err(SqsError::too_many_entries(n));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if !is_batch_id(id) {
            return Err(SqsError::invalid_batch_id());
        }
        if !seen.insert(id) {
            return Err(SqsError::ids_not_distinct(id));
        }
    }
    Ok(())
}

fn failed(id: &str, e: &SqsError) -> BatchResultErrorEntry {
    BatchResultErrorEntry {
        id: id.to_string(),
        sender_fault: e.is_sender_fault(),
        code: e.query_code.to_string(),
        message: e.message.clone(),
    }
}

impl Sqs<'_> {
    fn url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.base, self.bus.inner.cfg.account)
    }

    /// The queue name a `QueueUrl` names (`…/ACCOUNT/NAME`, any host):
    /// missing, another account's or malformed is SQS's error.
    fn name_of(&self, url: Option<&str>) -> SqsResult<String> {
        let url = url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let path = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|rest| rest.split_once('/'))
            .map_or(url, |(_, path)| path);
        let mut parts = path.trim_end_matches('/').rsplitn(2, '/');
        let name = parts.next().unwrap_or_default();
        let account = parts.next().unwrap_or_default();
        if account.trim_start_matches('/') != self.bus.inner.cfg.account || !is_queue_name(name) {
            return Err(SqsError::no_queue());
        }
        Ok(name.to_string())
    }

    async fn row(&self, name: &str) -> SqsResult<QueueRow> {
        let n = name.to_string();
        self.bus
            .inner
            .db
            .read(move |c| queue_row(c, &n))
            .await?
            .ok_or_else(SqsError::no_queue)
    }

    /// `CreateQueue`: creates a standard queue, or answers the URL of an
    /// existing one whose attributes are the same as those given.
    pub async fn create_queue(&self, req: CreateQueueRequest) -> SqsResult<QueueUrlResponse> {
        let name = req
            .queue_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        if name.ends_with(".fifo") {
            return Err(SqsError::invalid_attribute_value(
                "FifoQueue",
                Some("FIFO queues are not supported by the embedded queues."),
            ));
        }
        if !is_queue_name(&name) {
            return Err(SqsError::invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let changes = check_attributes(&req.attributes.unwrap_or_default(), true)?;
        let bus = self.bus.clone();
        let now = Timestamp::now().0;
        let n2 = name.clone();
        self.bus
            .inner
            .db
            .write(move |tx| {
                if let Some(Some((dlq, _))) = &changes.redrive {
                    if queue_row(tx, dlq)?.is_none() {
                        return Ok(Err(SqsError::invalid_value(
                            changes.given.get("RedrivePolicy").cloned().unwrap_or_default(),
                            "RedrivePolicy",
                            "Dead letter target does not exist.",
                        )));
                    }
                }
                if let Some(existing) = queue_row(tx, &n2)? {
                    let current = existing.settable(&bus);
                    for (k, v) in &changes.given {
                        let same = match k.as_str() {
                            "RedrivePolicy" => {
                                changes.redrive.clone().flatten()
                                    == existing.dead_letter_queue.clone().zip(existing.max_receive_count)
                            }
                            _ => current.get(k) == Some(v),
                        };
                        if !same {
                            return Ok(Err(SqsError::queue_exists(k)));
                        }
                    }
                    return Ok(Ok(()));
                }
                let (dlq, max) = changes.redrive.clone().flatten().unzip();
                tx.execute(
                    "INSERT INTO eb_queues (name, visibility_ms, max_receive_count, dead_letter_queue, created_ms, attributes, modified_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
                    params![
                        n2,
                        changes.visibility_ms.unwrap_or(30_000),
                        max,
                        dlq,
                        now,
                        (!changes.extra.is_empty()).then(|| serde_json::to_string(&changes.extra).unwrap_or_default()),
                    ],
                )?;
                Ok(Ok(()))
            })
            .await??;
        Ok(QueueUrlResponse {
            queue_url: self.url(&name),
        })
    }

    /// `GetQueueUrl`.
    pub async fn get_queue_url(&self, req: GetQueueUrlRequest) -> SqsResult<QueueUrlResponse> {
        let name = req
            .queue_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        if req
            .queue_owner_aws_account_id
            .is_some_and(|a| a != self.bus.inner.cfg.account)
        {
            return Err(SqsError::no_queue());
        }
        self.row(&name).await?;
        Ok(QueueUrlResponse {
            queue_url: self.url(&name),
        })
    }

    /// `ListQueues`: by name, paged when `MaxResults` is given.
    pub async fn list_queues(&self, req: ListQueuesRequest) -> SqsResult<ListQueuesResponse> {
        let limit = match req.max_results {
            None => 1000,
            Some(n) if (1..=1000).contains(&n) => n as usize,
            Some(n) => {
                return Err(SqsError::invalid_value(
                    n,
                    "MaxResults",
                    "MaxResults must be an integer between 1 and 1000.",
                ))
            }
        };
        let start = match req.next_token.as_deref() {
            None | Some("") => 0,
            Some(t) => page_offset(t).ok_or_else(|| {
                SqsError::invalid_value(t, "NextToken", "The NextToken provided is not valid.")
            })?,
        };
        let prefix = req.queue_name_prefix.unwrap_or_default();
        let names: Vec<String> = self
            .bus
            .inner
            .db
            .read(|c| {
                c.prepare("SELECT name FROM eb_queues ORDER BY name")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?;
        let matching: Vec<String> = names
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let total = matching.len();
        let page: Vec<String> = matching
            .into_iter()
            .skip(start)
            .take(limit)
            .map(|n| self.url(&n))
            .collect();
        let next_token = (req.max_results.is_some() && start + page.len() < total)
            .then(|| page_token(start + page.len()));
        Ok(ListQueuesResponse {
            queue_urls: (!page.is_empty()).then_some(page),
            next_token,
        })
    }

    /// `DeleteQueue`: the queue and its messages, at once.
    pub async fn delete_queue(&self, req: QueueUrlRequest) -> SqsResult<()> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let n = self
            .bus
            .inner
            .db
            .write(move |tx| {
                tx.execute("DELETE FROM eb_queue_messages WHERE queue = ?1", [&name])?;
                tx.execute("DELETE FROM eb_queues WHERE name = ?1", [&name])
            })
            .await?;
        if n == 0 {
            return Err(SqsError::no_queue());
        }
        Ok(())
    }

    /// `GetQueueAttributes`: `All` or the names asked for.
    pub async fn get_queue_attributes(
        &self,
        req: GetQueueAttributesRequest,
    ) -> SqsResult<GetQueueAttributesResponse> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let asked = req.attribute_names.unwrap_or_default();
        let row = self.row(&name).await?;
        let mut all = row.settable(self.bus);
        let now = Timestamp::now().0;
        let n2 = name.clone();
        let (visible, delayed, in_flight): (i64, i64, i64) = self
            .bus
            .inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT coalesce(sum(visible_ms <= ?2), 0),
                            coalesce(sum(visible_ms > ?2 AND receipt IS NULL), 0),
                            coalesce(sum(visible_ms > ?2 AND receipt IS NOT NULL), 0)
                     FROM eb_queue_messages WHERE queue = ?1",
                    params![n2, now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .await?;
        all.insert("ApproximateNumberOfMessages".into(), visible.to_string());
        all.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            delayed.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            in_flight.to_string(),
        );
        all.insert(
            "CreatedTimestamp".into(),
            (row.created_ms / 1000).to_string(),
        );
        all.insert(
            "LastModifiedTimestamp".into(),
            (row.modified_ms / 1000).to_string(),
        );
        all.insert("QueueArn".into(), self.bus.queue_arn(&row.name));
        if asked.is_empty() {
            return Ok(GetQueueAttributesResponse::default());
        }
        let mut out = Attributes::new();
        for a in &asked {
            if a == "All" {
                out = all.clone();
                break;
            }
            let known = COMPUTED.contains(&a.as_str())
                || DEFAULTS.iter().any(|(n, _)| *n == a.as_str())
                || matches!(
                    a.as_str(),
                    "VisibilityTimeout"
                        | "RedrivePolicy"
                        | "Policy"
                        | "RedriveAllowPolicy"
                        | "KmsMasterKeyId"
                        | "KmsDataKeyReusePeriodSeconds"
                );
            if !known {
                return Err(SqsError::invalid_attribute_name(format!(
                    "Unknown Attribute {a}."
                )));
            }
            if let Some(v) = all.get(a) {
                out.insert(a.clone(), v.clone());
            }
        }
        Ok(GetQueueAttributesResponse {
            attributes: Some(out),
        })
    }

    /// `SetQueueAttributes`.
    pub async fn set_queue_attributes(&self, req: SetQueueAttributesRequest) -> SqsResult<()> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let changes = check_attributes(&req.attributes.unwrap_or_default(), false)?;
        let now = Timestamp::now().0;
        self.bus
            .inner
            .db
            .write(move |tx| {
                let Some(row) = queue_row(tx, &name)? else {
                    return Ok(Err(SqsError::no_queue()));
                };
                if let Some(Some((dlq, _))) = &changes.redrive {
                    if queue_row(tx, dlq)?.is_none() {
                        return Ok(Err(SqsError::invalid_value(
                            changes.given.get("RedrivePolicy").cloned().unwrap_or_default(),
                            "RedrivePolicy",
                            "Dead letter target does not exist.",
                        )));
                    }
                }
                let mut extra = row.extra.clone();
                extra.extend(changes.extra.clone());
                let (dlq, max) = match &changes.redrive {
                    None => (row.dead_letter_queue.clone(), row.max_receive_count),
                    Some(None) => (None, None),
                    Some(Some((d, m))) => (Some(d.clone()), Some(*m)),
                };
                tx.execute(
                    "UPDATE eb_queues SET visibility_ms = ?2, max_receive_count = ?3, dead_letter_queue = ?4, attributes = ?5, modified_ms = ?6 WHERE name = ?1",
                    params![
                        name,
                        changes.visibility_ms.unwrap_or(row.visibility_ms),
                        max,
                        dlq,
                        (!extra.is_empty()).then(|| serde_json::to_string(&extra).unwrap_or_default()),
                        now
                    ],
                )?;
                Ok(Ok(()))
            })
            .await??;
        Ok(())
    }

    /// Checks one message against its queue; `batch` words size errors as
    /// SQS does in batches.
    fn outgoing(
        &self,
        row: &QueueRow,
        body: Option<String>,
        delay: Option<i64>,
        attributes: Option<MessageAttributes>,
        dedup_id: Option<&str>,
        batch: bool,
    ) -> SqsResult<Outgoing> {
        let body = body
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SqsError::missing("MessageBody"))?;
        if !body.chars().all(is_message_char) {
            return Err(SqsError {
                code: "InvalidMessageContents",
                query_code: "InvalidMessageContents",
                message: "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
                status: 400,
            });
        }
        if let Some(d) = dedup_id {
            return Err(SqsError::invalid_value(
                d,
                "MessageDeduplicationId",
                "The request include parameter that is not valid for this queue type",
            ));
        }
        if let Some(d) = delay {
            if !(0..=900).contains(&d) {
                return Err(SqsError::invalid_value(
                    d,
                    "DelaySeconds",
                    "DelaySeconds must be >= 0 and <= 900",
                ));
            }
        }
        let attributes = attributes.filter(|a| !a.is_empty());
        let attr_size = match &attributes {
            Some(a) => check_message_attributes(a)?,
            None => 0,
        };
        let max = row.number("MaximumMessageSize").max(1024) as usize;
        if body.len() + attr_size > max {
            let wording = if batch {
                "cannot be validated"
            } else {
                "are invalid"
            };
            return Err(SqsError::invalid_parameter(format!(
                "One or more parameters {wording}. Reason: Message must be shorter than {max} bytes."
            )));
        }
        Ok(Outgoing {
            md5_of_body: md5_hex(body.as_bytes()),
            md5_of_attributes: attributes.as_ref().map(md5_of_attributes),
            attributes: attributes.map(|a| serde_json::to_string(&a).unwrap_or_default()),
            delay_ms: delay.map(|d| d * 1000),
            body,
        })
    }

    /// Stores `messages` in `queue` in one transaction; their row ids in order.
    async fn store(
        &self,
        queue: &str,
        default_delay_ms: i64,
        messages: Vec<(String, Option<i64>, Option<String>)>,
    ) -> SqsResult<Vec<i64>> {
        let q = queue.to_string();
        let now = Timestamp::now().0;
        let ids = self
            .bus
            .inner
            .db
            .write(move |tx| {
                if queue_row(tx, &q)?.is_none() {
                    return Ok(None);
                }
                let mut ins = tx.prepare_cached(
                    "INSERT INTO eb_queue_messages (queue, body, sent_ms, visible_ms, message_attributes) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let mut ids = Vec::with_capacity(messages.len());
                for (body, delay_ms, attrs) in &messages {
                    ins.execute(params![q, body.as_bytes(), now, now + delay_ms.unwrap_or(default_delay_ms), attrs])?;
                    ids.push(tx.last_insert_rowid());
                }
                Ok(Some(ids))
            })
            .await?
            .ok_or_else(SqsError::no_queue)?;
        self.bus.inner.queue_notify.notify_waiters();
        Ok(ids)
    }

    /// `SendMessage`.
    pub async fn send_message(&self, req: SendMessageRequest) -> SqsResult<SendMessageResponse> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let row = self.row(&name).await?;
        let out = self.outgoing(
            &row,
            req.message_body,
            req.delay_seconds,
            req.message_attributes,
            req.message_deduplication_id.as_deref(),
            false,
        )?;
        let default_delay = row.number("DelaySeconds") * 1000;
        let ids = self
            .store(
                &name,
                default_delay,
                vec![(out.body, out.delay_ms, out.attributes)],
            )
            .await?;
        Ok(SendMessageResponse {
            message_id: message_id(ids[0]),
            md5_of_message_body: out.md5_of_body,
            md5_of_message_attributes: out.md5_of_attributes,
        })
    }

    /// `SendMessageBatch`: each valid entry is sent (in one transaction),
    /// each invalid one listed in `Failed`.
    pub async fn send_message_batch(
        &self,
        req: SendMessageBatchRequest,
    ) -> SqsResult<SendMessageBatchResponse> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let entries = req.entries.unwrap_or_default();
        check_batch(
            entries.iter().map(|e| e.id.as_str()),
            "SendMessageBatchRequestEntry",
        )?;
        let total: usize = entries
            .iter()
            .map(|e| e.message_body.as_deref().map_or(0, str::len))
            .sum();
        if total > MAX_MESSAGE_BYTES {
            return Err(SqsError::batch_too_long(MAX_MESSAGE_BYTES, total));
        }
        let row = self.row(&name).await?;
        let mut response = SendMessageBatchResponse::default();
        let mut sent = Vec::new();
        let mut to_store = Vec::new();
        for e in entries {
            match self.outgoing(
                &row,
                e.message_body,
                e.delay_seconds,
                e.message_attributes,
                e.message_deduplication_id.as_deref(),
                true,
            ) {
                Ok(out) => {
                    to_store.push((out.body, out.delay_ms, out.attributes));
                    sent.push((e.id, out.md5_of_body, out.md5_of_attributes));
                }
                Err(err) => response.failed.push(failed(&e.id, &err)),
            }
        }
        if !to_store.is_empty() {
            let ids = self
                .store(&name, row.number("DelaySeconds") * 1000, to_store)
                .await?;
            for ((id, md5_body, md5_attrs), row_id) in sent.into_iter().zip(ids) {
                response.successful.push(SendMessageBatchResultEntry {
                    id,
                    message_id: message_id(row_id),
                    md5_of_message_body: md5_body,
                    md5_of_message_attributes: md5_attrs,
                });
            }
        }
        Ok(response)
    }

    /// `ReceiveMessage`: up to `MaxNumberOfMessages` (1 to 10), waiting up
    /// to `WaitTimeSeconds` (else the queue's `ReceiveMessageWaitTimeSeconds`)
    /// for the first; system and message attributes as asked for.
    pub async fn receive_message(
        &self,
        req: ReceiveMessageRequest,
    ) -> SqsResult<ReceiveMessageResponse> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let max = req.max_number_of_messages.unwrap_or(1);
        if !(1..=10).contains(&max) {
            return Err(SqsError::invalid_value(
                max,
                "MaxNumberOfMessages",
                "Must be between 1 and 10, if provided.",
            ));
        }
        if let Some(w) = req.wait_time_seconds.filter(|w| !(0..=20).contains(w)) {
            return Err(SqsError::invalid_value(
                w,
                "WaitTimeSeconds",
                "Must be >= 0 and <= 20, if provided.",
            ));
        }
        if let Some(v) = req
            .visibility_timeout
            .filter(|v| !(0..=MAX_VISIBILITY_SECS).contains(v))
        {
            return Err(SqsError::invalid_value(
                v,
                "VisibilityTimeout",
                "Must be >= 0 and <= 43200, if provided.",
            ));
        }
        let row = self.row(&name).await?;
        let wait = req
            .wait_time_seconds
            .unwrap_or_else(|| row.number("ReceiveMessageWaitTimeSeconds"));
        let got = self
            .bus
            .receive_received(
                &name,
                max as usize,
                Duration::from_secs(wait.clamp(0, 20) as u64),
                req.visibility_timeout.map(|v| v * 1000),
            )
            .await?;
        if got.is_empty() {
            return Ok(ReceiveMessageResponse::default());
        }
        let system: Vec<String> = req
            .attribute_names
            .into_iter()
            .flatten()
            .chain(req.message_system_attribute_names.into_iter().flatten())
            .collect();
        let wanted_system = |a: &str| system.iter().any(|s| s == "All" || s == a);
        let user = req.message_attribute_names.unwrap_or_default();
        let wanted_user = |a: &str| {
            user.iter().any(|u| {
                u == "All"
                    || u == ".*"
                    || u == a
                    || u.strip_suffix(".*").is_some_and(|p| {
                        a.strip_prefix(p).is_some_and(|rest| rest.starts_with('.'))
                    })
            })
        };
        let messages = got
            .into_iter()
            .map(|r: Received| {
                let mut attributes = Attributes::new();
                for a in SYSTEM_ATTRIBUTES {
                    if !wanted_system(a) {
                        continue;
                    }
                    let v = match a {
                        "ApproximateFirstReceiveTimestamp" => r.first_receive_ms.to_string(),
                        "ApproximateReceiveCount" => r.message.receive_count.to_string(),
                        "SenderId" => self.bus.inner.cfg.account.clone(),
                        _ => r.sent_ms.to_string(),
                    };
                    attributes.insert(a.to_string(), v);
                }
                let user_attrs: Option<MessageAttributes> = r
                    .attributes
                    .as_deref()
                    .and_then(|a| serde_json::from_str::<MessageAttributes>(a).ok())
                    .map(|all| all.into_iter().filter(|(k, _)| wanted_user(k)).collect())
                    .filter(|a: &MessageAttributes| !a.is_empty());
                Message {
                    message_id: message_id(r.message.message_id),
                    md5_of_body: md5_hex(r.message.body.as_bytes()),
                    receipt_handle: r.message.receipt_handle,
                    body: r.message.body,
                    attributes: (!attributes.is_empty()).then_some(attributes),
                    md5_of_message_attributes: user_attrs.as_ref().map(md5_of_attributes),
                    message_attributes: user_attrs,
                }
            })
            .collect();
        Ok(ReceiveMessageResponse {
            messages: Some(messages),
        })
    }

    /// The message id a receipt handle names, or SQS's error for a handle
    /// no receive gave.
    fn receipt(handle: Option<&str>) -> SqsResult<(String, i64)> {
        let handle = handle
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
        match receipt_message_id(handle) {
            id if id >= 0 => Ok((handle.to_string(), id)),
            _ => Err(SqsError::receipt_invalid(handle)),
        }
    }

    /// Deletes by receipt handles in one transaction; `false` for the queue missing.
    async fn delete_received(&self, queue: &str, handles: Vec<(String, i64)>) -> SqsResult<()> {
        let q = queue.to_string();
        let exists = self
            .bus
            .inner
            .db
            .write(move |tx| {
                if queue_row(tx, &q)?.is_none() {
                    return Ok(false);
                }
                let mut del = tx.prepare_cached(DELETE_BY_RECEIPT)?;
                for (h, id) in &handles {
                    del.execute(params![q, h, id])?;
                }
                Ok(true)
            })
            .await?;
        if exists {
            Ok(())
        } else {
            Err(SqsError::no_queue())
        }
    }

    /// `DeleteMessage`: a handle of a message received again since (or
    /// already deleted) deletes nothing and is not an error, as on SQS.
    pub async fn delete_message(&self, req: DeleteMessageRequest) -> SqsResult<()> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let handle = Self::receipt(req.receipt_handle.as_deref())?;
        self.delete_received(&name, vec![handle]).await
    }

    /// The queue and the checked entries of a batch of receipt handles.
    fn receipt_batch(
        &self,
        req: ReceiptBatchRequest,
        entry: &str,
    ) -> SqsResult<(String, Vec<ReceiptBatchEntry>)> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let entries = req.entries.unwrap_or_default();
        check_batch(entries.iter().map(|e| e.id.as_str()), entry)?;
        Ok((name, entries))
    }

    /// `DeleteMessageBatch`.
    pub async fn delete_message_batch(
        &self,
        req: ReceiptBatchRequest,
    ) -> SqsResult<ReceiptBatchResponse> {
        let (name, entries) = self.receipt_batch(req, "DeleteMessageBatchRequestEntry")?;
        let mut response = ReceiptBatchResponse::default();
        let mut handles = Vec::new();
        for e in entries {
            match Self::receipt(e.receipt_handle.as_deref()) {
                Ok(h) => {
                    handles.push(h);
                    response.successful.push(BatchResultEntry { id: e.id });
                }
                Err(err) => response.failed.push(failed(&e.id, &err)),
            }
        }
        self.delete_received(&name, handles).await?;
        Ok(response)
    }

    /// Sets the visibility of received messages (by handle) to now + the
    /// given seconds; the handles that match no received message.
    async fn change_visibility(
        &self,
        queue: &str,
        changes: Vec<(String, i64, i64)>,
    ) -> SqsResult<Vec<bool>> {
        let q = queue.to_string();
        let now = Timestamp::now().0;
        self.bus
            .inner
            .db
            .write(move |tx| {
                if queue_row(tx, &q)?.is_none() {
                    return Ok(None);
                }
                let mut upd = tx.prepare_cached(
                    "UPDATE eb_queue_messages SET visible_ms = ?4 WHERE id = ?3 AND queue = ?1 AND receipt = ?2",
                )?;
                let mut done = Vec::with_capacity(changes.len());
                for (h, id, secs) in &changes {
                    done.push(upd.execute(params![q, h, id, now + secs * 1000])? > 0);
                }
                Ok(Some(done))
            })
            .await?
            .ok_or_else(SqsError::no_queue)
    }

    fn visibility(v: Option<i64>) -> SqsResult<i64> {
        let v = v.ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
        if !(0..=MAX_VISIBILITY_SECS).contains(&v) {
            return Err(SqsError::invalid_value(
                v,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            ));
        }
        Ok(v)
    }

    fn not_in_flight(handle: &str) -> SqsError {
        SqsError::invalid_value(
            handle,
            "ReceiptHandle",
            "Message does not exist or is not available for visibility timeout change.",
        )
    }

    /// `ChangeMessageVisibility`: also for a message whose visibility
    /// timeout ran out, as long as it was not received again.
    pub async fn change_message_visibility(
        &self,
        req: ChangeMessageVisibilityRequest,
    ) -> SqsResult<()> {
        let name = self.name_of(req.queue_url.as_deref())?;
        let (handle, id) = Self::receipt(req.receipt_handle.as_deref())?;
        let secs = Self::visibility(req.visibility_timeout)?;
        let done = self
            .change_visibility(&name, vec![(handle.clone(), id, secs)])
            .await?;
        if done.first() == Some(&true) {
            Ok(())
        } else {
            Err(Self::not_in_flight(&handle))
        }
    }

    /// `ChangeMessageVisibilityBatch`.
    pub async fn change_message_visibility_batch(
        &self,
        req: ReceiptBatchRequest,
    ) -> SqsResult<ReceiptBatchResponse> {
        let (name, entries) =
            self.receipt_batch(req, "ChangeMessageVisibilityBatchRequestEntry")?;
        let mut response = ReceiptBatchResponse::default();
        let mut changes = Vec::new();
        let mut ids = Vec::new();
        for e in entries {
            let checked = Self::receipt(e.receipt_handle.as_deref())
                .and_then(|(h, id)| Ok((h, id, Self::visibility(e.visibility_timeout)?)));
            match checked {
                Ok(c) => {
                    changes.push(c);
                    ids.push(e.id);
                }
                Err(err) => response.failed.push(failed(&e.id, &err)),
            }
        }
        let handles: Vec<String> = changes.iter().map(|c| c.0.clone()).collect();
        let done = self.change_visibility(&name, changes).await?;
        for ((id, handle), ok) in ids.into_iter().zip(handles).zip(done) {
            if ok {
                response.successful.push(BatchResultEntry { id });
            } else {
                response
                    .failed
                    .push(failed(&id, &Self::not_in_flight(&handle)));
            }
        }
        Ok(response)
    }

    /// `PurgeQueue`: every message goes; another purge of the queue within
    /// 60 seconds is refused, as on SQS.
    pub async fn purge_queue(&self, req: QueueUrlRequest) -> SqsResult<()> {
        let name = self.name_of(req.queue_url.as_deref())?;
        self.row(&name).await?;
        let now = Timestamp::now().0;
        {
            let mut purges = self
                .bus
                .inner
                .purges
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if purges
                .get(&name)
                .is_some_and(|last| now - last < PURGE_INTERVAL_MS)
            {
                return Err(SqsError::purge_in_progress(&name));
            }
            purges.insert(name.clone(), now);
        }
        self.bus.purge_queue(&name).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::attributes::parse_redrive;
    use super::*;

    #[test]
    fn digests_are_sqs_s() {
        // SQS's MD5 of "message-1" and of one String attribute, as recorded.
        assert_eq!(md5_hex(b"message-1"), "3d6b824fd8c1520e9a047d21fee6fb1f");
        let attrs: MessageAttributes = [(
            "MyAttribute".to_string(),
            MessageAttributeValue {
                string_value: Some("foobar".into()),
                data_type: "String".into(),
                ..Default::default()
            },
        )]
        .into();
        assert_eq!(
            md5_of_attributes(&attrs),
            "adb59cd4678ea5a855436b949cd07ab6"
        );
    }

    #[test]
    fn redrive_policies_and_attributes_are_checked() {
        assert_eq!(
            parse_redrive(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#).unwrap(),
            ("dlq".to_string(), 3)
        );
        assert!(parse_redrive(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":0}"#).is_err());
        let attrs: Attributes = [("VisibilityTimeout".to_string(), "43201".to_string())].into();
        assert_eq!(
            check_attributes(&attrs, true).err().unwrap().message,
            "Invalid value for the parameter VisibilityTimeout."
        );
        let attrs: Attributes =
            [("ContentBasedDeduplication".to_string(), "true".to_string())].into();
        assert_eq!(
            check_attributes(&attrs, true).err().unwrap().message,
            "Unknown Attribute ContentBasedDeduplication."
        );
    }
}
