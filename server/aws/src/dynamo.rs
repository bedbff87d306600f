//! [`DynamoStore`]: the mediator-core storage traits ([`OverrideStore`],
//! [`StatusStore`]) on DynamoDB, with conditional writes so several
//! replicas can share the tables.
//!
//! * A check is one TransactWriteItems: the part's `STATUS` item updated
//!   under `ver = :v` (the version the caller loaded), the check item, the
//!   three roll-ups (`ADD`: counts, latency sum, and the check's latency
//!   bin `lh<bin>`, the roll-up's histogram), and on a status change the
//!   `SEQ` counter under `n = :n` and the change item `CHG`/`n+1`. A racing
//!   replica's write is cancelled with ConditionalCheckFailed, mapped to
//!   [`RecordOutcome::Stale`]: the domain reloads, and the winner's change
//!   is then already done — one change item, one SAAS_STATUS event, one
//!   replay.
//! * The change ids come from `SEQ` inside the same transaction, so they are
//!   gap-free and in commit order, like SQLite's.
//! * Publication claims a change with a conditional `pub_by`/`pub_until`,
//!   so two replicas' publishers do not both publish it.
//! * A roll-up's latency maximum cannot be written with `ADD` in the same
//!   update, so it is kept by a separate conditional `lmax < :l` update,
//!   sent only when this replica has not seen a larger value in the bucket.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use mediator_core::latency::bin_of;
use mediator_core::storage::{
    CheckWrite, OverrideStore, RecordOutcome, StatusSnapshot, StatusStore, StoreError,
    StoredChange, ROLLUPS,
};
use mediator_core::{Circuit, CircuitOverride, OverrideMode, PartState, StatusChange};

use crate::tables::{Tables, UNPUBLISHED_INDEX};

mod access;
mod audit;
mod feed;
mod history;
pub(crate) mod maintenance;
mod notify;
mod replays;
mod vouchers;

/// Partition key of the status-change items.
const CHANGES_PK: &str = "CHG";
/// Sort key of a part's status item.
const STATUS_SK: &str = "STATUS";
/// Sort key of a part's monitor lease item (beside its `STATUS`).
const MONITOR_LEASE_SK: &str = "LEASE#monitor";
/// Days a check item lives (roll-ups keep the aggregates).
const CHECK_TTL_DAYS: i64 = 14;
/// Days a minute roll-up lives.
const MINUTE_TTL_DAYS: i64 = 7;
/// Days an hour roll-up lives (longer than the history's 90-day horizon).
const HOUR_TTL_DAYS: i64 = 100;

/// The roll-up attribute counting the checks of latency bin `bin`
/// (mediator-core `latency`).
fn latency_bin_attribute(bin: usize) -> String {
    format!("{LATENCY_BIN_PREFIX}{bin}")
}

/// Prefix of a roll-up's latency-bin attributes.
const LATENCY_BIN_PREFIX: &str = "lh";

/// The storage traits on DynamoDB (hold it in an `Arc`; one per replica).
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    /// Per (part, granularity): the bucket and the largest latency this
    /// replica knows is stored there.
    lmax: Mutex<HashMap<RollupKey, (i64, u64)>>,
    /// The [`VoucherStore`](mediator_core::storage::VoucherStore)'s memory:
    /// vouchers and circuits last seen (guesses checked by conditional
    /// writes) and the outbox events this replica committed.
    vouchers: vouchers::VoucherMemory,
}

/// A part's roll-up series: (part, granularity).
type RollupKey = (String, &'static str);

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

type Item = HashMap<String, AttributeValue>;

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn time(v: Option<String>) -> Option<DateTime<Utc>> {
    v.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn ms_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// An SDK error as the ports see it: throttling, DynamoDB's own faults and
/// a request that never got an answer (connection, timeout) are
/// [`StoreError::Unavailable`]; a lost condition or transaction conflict is
/// [`StoreError::Conflict`]; the rest [`StoreError::Failed`]. The text names
/// the operation and DynamoDB's code and message.
fn backend<E, R>(op: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    let text = format!("DynamoDB {op}: {}", crate::sdk_message(e));
    let unanswered = matches!(
        e,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    );
    match e.code() {
        Some(
            "ConditionalCheckFailedException"
            | "TransactionConflictException"
            | "TransactionCanceledException",
        ) => StoreError::Conflict(text),
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "LimitExceededException",
        ) => StoreError::unavailable("storage backend", text),
        _ if unanswered => StoreError::unavailable("storage backend", text),
        _ => StoreError::failed("storage backend", text),
    }
}

/// Whether a conditional write applied: `Ok(false)` when its condition
/// failed (ConditionalCheckFailed), other errors as [`backend`] errors.
fn applied<T, E, R>(
    op: &str,
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(backend(op, &e)),
    }
}

/// An item's key: `pk` and `sk`, both strings.
fn item_key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// A request the SDK's builder refused to build (a missing field).
fn build_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::failed("storage backend", format!("DynamoDB {what}: {e}"))
}

/// Rounds of a batch read's unprocessed keys, and of a transaction that
/// keeps conflicting, before giving up.
const BATCH_ROUNDS: u32 = 8;

fn part_key(part: &str) -> Item {
    item_key(format!("PART#{part}"), STATUS_SK)
}

fn seq_key() -> Item {
    item_key("SEQ", "status_changes")
}

fn change_key(id: i64) -> Item {
    HashMap::from([("pk".to_string(), s(CHANGES_PK)), ("sk".to_string(), n(id))])
}

fn parse_change(item: &Item) -> Option<StoredChange> {
    Some(StoredChange {
        id: get_n(item, "sk")?,
        part: get_s(item, "part")?,
        change: StatusChange {
            status: get_s(item, "status")?.parse().ok()?,
            changed_at: ms_time(get_n(item, "changed_ms")?)?,
            prev_status: get_s(item, "prev_status")?.parse().ok()?,
            prev_change_at: get_n(item, "prev_change_ms").and_then(ms_time),
        },
    })
}

fn parse_override(item: &Item) -> Option<CircuitOverride> {
    Some(CircuitOverride {
        mode: get_s(item, "override_mode")?.parse().ok()?,
        reason: get_s(item, "override_reason").unwrap_or_default(),
        by: get_s(item, "override_by"),
        at: time(get_s(item, "override_at"))?,
    })
}

/// `yyyymmdd` of a time in milliseconds (check items are partitioned by day).
fn day_of(ms: i64) -> String {
    ms_time(ms)
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_default()
}

impl DynamoStore {
    /// Every storage port on this store (one item set shared by replicas).
    pub fn ports(store: &Arc<Self>) -> mediator_core::storage::Ports {
        mediator_core::storage::Ports {
            status: store.clone(),
            overrides: store.clone(),
            monitor_history: store.clone(),
            vouchers: store.clone(),
            audit: store.clone(),
            replays: store.clone(),
            access: store.clone(),
            maintenance: store.clone(),
            notifications: store.clone(),
        }
    }

    /// Every item of a query, page after page (`what` names the query in
    /// an error).
    pub(crate) async fn query_all(
        &self,
        what: &str,
        q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        let table = q.get_table_name().clone().unwrap_or_default();
        loop {
            let page = q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Query", &table))
                .await
                .map_err(|e| backend(what, &e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Items of `table` by key (strongly consistent; duplicate keys read
    /// once), in no particular order, 100 keys per BatchGetItem with
    /// unprocessed keys asked again after a back-off; `projection` limits
    /// the attributes read. `what` names the items in errors.
    async fn batch_get(
        &self,
        what: &str,
        table: &str,
        keys: Vec<Item>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut unique = HashSet::new();
        let keys: Vec<Item> = keys
            .into_iter()
            .filter(|k| unique.insert((get_s(k, "pk"), get_s(k, "sk"))))
            .collect();
        for chunk in keys.chunks(100) {
            let mut req = KeysAndAttributes::builder()
                .consistent_read(true)
                .set_keys(Some(chunk.to_vec()));
            if let Some(p) = projection {
                req = req.projection_expression(p);
            }
            let mut request = Some(HashMap::from([(
                table.to_owned(),
                req.build().map_err(|e| build_err("BatchGetItem keys", e))?,
            )]));
            for round in 0..BATCH_ROUNDS {
                let Some(r) = request.take().filter(|r| !r.is_empty()) else {
                    break;
                };
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
                }
                let tables: Vec<&str> = r.keys().map(String::as_str).collect();
                let span = crate::trace::dynamodb("BatchGetItem", &tables.join(","));
                let page = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(r))
                    .send()
                    .instrument(span)
                    .await
                    .map_err(|e| backend(&format!("BatchGetItem {what}"), &e))?;
                if let Some(items) = page.responses().and_then(|r| r.get(table)) {
                    out.extend(items.iter().cloned());
                }
                request = page.unprocessed_keys().cloned();
            }
            if request.is_some_and(|r| !r.is_empty()) {
                return Err(StoreError::unavailable(
                    "storage backend",
                    format!("DynamoDB BatchGetItem {what}: keys left unprocessed (throttled)"),
                ));
            }
        }
        Ok(out)
    }

    /// Sends a transaction until it commits, backing off while it is
    /// cancelled (a conflicting transaction, or a condition); `false` when
    /// it still had not committed after `rounds` attempts.
    async fn transact_until_committed(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
        rounds: u32,
    ) -> Result<bool, StoreError> {
        for round in 0..rounds {
            if self.transact_reasons(what, items.clone()).await?.is_none() {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
        }
        Ok(false)
    }

    /// The stores on `tables`, through `client`.
    pub fn new(client: Client, tables: Tables) -> Self {
        Self {
            client,
            tables,
            lmax: Mutex::new(HashMap::new()),
            vouchers: vouchers::VoucherMemory::default(),
        }
    }

    /// The stores from an SDK configuration ([`crate::load_config`]).
    pub fn from_conf(conf: &aws_config::SdkConfig, tables: Tables) -> Self {
        Self::new(Client::new(conf), tables)
    }

    /// Every part's `STATUS` item (a consistent Scan: the parts table holds
    /// a handful of items per part).
    async fn status_items(&self) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.parts)
                .consistent_read(true)
                .filter_expression("sk = :status")
                .expression_attribute_values(":status", s(STATUS_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Scan", &self.tables.parts))
                .await
                .map_err(|e| backend("Scan parts", &e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Raises a roll-up's stored latency maximum to `latency` when this
    /// replica does not already know of a larger one in the bucket.
    async fn raise_lmax(&self, part: &str, at_ms: i64, latency: u64) -> Result<(), StoreError> {
        for (granularity, size) in ROLLUPS {
            let bucket = at_ms - at_ms.rem_euclid(size);
            let known = {
                let map = self.lmax.lock().expect("lmax lock");
                map.get(&(part.to_string(), granularity))
                    .filter(|(b, _)| *b == bucket)
                    .map(|(_, m)| *m)
            };
            if known.is_some_and(|m| m >= latency) {
                continue;
            }
            let r = self
                .client
                .update_item()
                .table_name(&self.tables.monitor)
                .key("pk", s(format!("{part}#{granularity}")))
                .key("sk", s(format!("{bucket:013}")))
                .update_expression("SET lmax = :l")
                .condition_expression("attribute_not_exists(lmax) OR lmax < :l")
                .expression_attribute_values(":l", n(latency))
                .send()
                .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.monitor))
                .await;
            match r {
                Ok(_) => {}
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(backend("UpdateItem roll-up lmax", &e)),
            }
            self.lmax
                .lock()
                .expect("lmax lock")
                .insert((part.to_string(), granularity), (bucket, latency));
        }
        Ok(())
    }
}

#[async_trait]
impl OverrideStore for DynamoStore {
    async fn set_override(
        &self,
        part: &str,
        value: Option<&CircuitOverride>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":unknown", s("unknown"))
            .expression_attribute_values(":now", s(now.to_rfc3339()));
        let base =
            "#st = if_not_exists(#st, :unknown), updated_at = if_not_exists(updated_at, :now)";
        let expr = match value {
            Some(o) => {
                req = req
                    .expression_attribute_values(":m", s(o.mode.as_str()))
                    .expression_attribute_values(":r", s(o.reason.clone()))
                    .expression_attribute_values(":a", s(o.at.to_rfc3339()));
                match &o.by {
                    Some(by) => {
                        req = req.expression_attribute_values(":b", s(by.clone()));
                        format!("SET {base}, override_mode = :m, override_reason = :r, override_at = :a, override_by = :b")
                    }
                    None => format!(
                        "SET {base}, override_mode = :m, override_reason = :r, override_at = :a REMOVE override_by"
                    ),
                }
            }
            None => format!(
                "SET {base} REMOVE override_mode, override_reason, override_by, override_at"
            ),
        };
        req.update_expression(expr)
            .send()
            .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.parts))
            .await
            .map_err(|e| backend("UpdateItem override", &e))?;
        Ok(())
    }

    async fn overrides(&self) -> Result<HashMap<String, CircuitOverride>, StoreError> {
        Ok(self.overrides_and_statuses().await?.0)
    }

    async fn overrides_and_statuses(
        &self,
    ) -> Result<(HashMap<String, CircuitOverride>, HashMap<String, String>), StoreError> {
        let mut overrides = HashMap::new();
        let mut statuses = HashMap::new();
        for item in self.status_items().await? {
            let Some(part) =
                get_s(&item, "pk").and_then(|p| p.strip_prefix("PART#").map(str::to_owned))
            else {
                continue;
            };
            if let Some(o) = parse_override(&item) {
                overrides.insert(part.clone(), o);
            }
            if let Some(st) = get_s(&item, "status") {
                statuses.insert(part, st);
            }
        }
        Ok((overrides, statuses))
    }

    async fn mode_of(&self, part: &str) -> Result<Option<OverrideMode>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .consistent_read(true)
            .projection_expression("override_mode")
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
            .await
            .map_err(|e| backend("GetItem override", &e))?;
        Ok(out
            .item()
            .and_then(|i| get_s(i, "override_mode"))
            .and_then(|m| m.parse().ok()))
    }
}

#[async_trait]
impl StatusStore for DynamoStore {
    async fn load(&self, part: &str) -> Result<StatusSnapshot, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
            .await
            .map_err(|e| backend("GetItem status", &e))?;
        let Some(item) = out.item() else {
            return Ok(StatusSnapshot {
                circuit: Circuit::default(),
                last_error: None,
                last_check_at: None,
                version: 0,
            });
        };
        let status = get_s(item, "status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(PartState::Unknown);
        Ok(StatusSnapshot {
            circuit: Circuit {
                status: match status {
                    PartState::Pending => PartState::Up,
                    s => s,
                },
                changed_at: time(get_s(item, "changed_at")),
                prev_status: get_s(item, "prev_status").and_then(|p| p.parse().ok()),
                prev_change_at: time(get_s(item, "prev_change_at")),
                failures: get_n(item, "failures").unwrap_or(0) as u32,
                successes: get_n(item, "successes").unwrap_or(0) as u32,
            },
            last_error: get_s(item, "last_error"),
            last_check_at: get_n(item, "last_check_ms").and_then(ms_time),
            version: get_n(item, "ver").unwrap_or(0) as u64,
        })
    }

    async fn record(
        &self,
        part: &str,
        expect: &StatusSnapshot,
        w: &CheckWrite,
    ) -> Result<RecordOutcome, StoreError> {
        let at_ms = w.at.timestamp_millis();
        let at_s = w.at.timestamp();
        let c = &w.circuit;
        let mut sets = vec![
            "#st = :st",
            "failures = :f",
            "successes = :s",
            "updated_at = :u",
            "last_check_ms = :lc",
            "last_check_ok = :ok",
            "ver = :v1",
        ];
        let mut removes = Vec::new();
        let mut values: Item = HashMap::from([
            (":st".into(), s(c.status.as_str())),
            (":f".into(), n(c.failures)),
            (":s".into(), n(c.successes)),
            (":u".into(), s(w.at.to_rfc3339())),
            (":lc".into(), n(at_ms)),
            (":ok".into(), AttributeValue::Bool(w.ok)),
            (":v1".into(), n(expect.version + 1)),
        ]);
        let optional = [
            ("changed_at", ":ca", c.changed_at.map(|t| t.to_rfc3339())),
            (
                "prev_status",
                ":ps",
                c.prev_status.map(|p| p.as_str().to_string()),
            ),
            (
                "prev_change_at",
                ":pa",
                c.prev_change_at.map(|t| t.to_rfc3339()),
            ),
            ("last_error", ":le", w.error.clone()),
        ];
        let mut optional_sets = Vec::new();
        for (attr, placeholder, v) in optional {
            match v {
                Some(v) => {
                    values.insert(placeholder.into(), s(v));
                    optional_sets.push(format!("{attr} = {placeholder}"));
                }
                None => removes.push(attr),
            }
        }
        let condition = if expect.version == 0 {
            "attribute_not_exists(ver)"
        } else {
            values.insert(":v".into(), n(expect.version));
            "ver = :v"
        };
        let mut expr = format!(
            "SET {}",
            sets.drain(..)
                .map(str::to_owned)
                .chain(optional_sets)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let status_update = Update::builder()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .update_expression(expr)
            .condition_expression(condition)
            .expression_attribute_names("#st", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::failed("storage backend", format!("status update: {e}")))?;
        let mut actions = vec![TransactWriteItem::builder().update(status_update).build()];

        let mut check: Item = HashMap::from([
            ("pk".into(), s(format!("{part}#check#{}", day_of(at_ms)))),
            (
                "sk".into(),
                s(format!("{at_ms:013}#{:016x}", fastrand::u64(..))),
            ),
            ("ok".into(), AttributeValue::Bool(w.ok)),
            ("latency_ms".into(), n(w.latency_ms)),
            ("ttl".into(), n(at_s + CHECK_TTL_DAYS * 86_400)),
        ]);
        if let Some(e) = &w.error {
            check.insert("error".into(), s(e.clone()));
        }
        let put = Put::builder()
            .table_name(&self.tables.monitor)
            .set_item(Some(check))
            .build()
            .map_err(|e| StoreError::failed("storage backend", format!("check item: {e}")))?;
        actions.push(TransactWriteItem::builder().put(put).build());

        for (granularity, size) in ROLLUPS {
            let bucket = at_ms - at_ms.rem_euclid(size);
            let ttl_days = match granularity {
                "minute" => Some(MINUTE_TTL_DAYS),
                "hour" => Some(HOUR_TTL_DAYS),
                _ => None,
            };
            let mut u = Update::builder()
                .table_name(&self.tables.monitor)
                .key("pk", s(format!("{part}#{granularity}")))
                .key("sk", s(format!("{bucket:013}")))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":fail", n(i64::from(!w.ok)))
                .expression_attribute_values(":l", n(w.latency_ms))
                .expression_attribute_names("#bin", latency_bin_attribute(bin_of(w.latency_ms)));
            let mut expr =
                "ADD checks :one, failures :fail, lsum :l, #bin :one SET lmax = if_not_exists(lmax, :l)"
                    .to_string();
            if let Some(days) = ttl_days {
                u = u
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":ttl", n(bucket / 1000 + days * 86_400));
                expr.push_str(", #ttl = :ttl");
            }
            let u = u.update_expression(expr).build().map_err(|e| {
                StoreError::failed("storage backend", format!("roll-up update: {e}"))
            })?;
            actions.push(TransactWriteItem::builder().update(u).build());
        }

        let mut change_id = None;
        if let Some(ch) = &w.change {
            let seq = self
                .client
                .get_item()
                .table_name(&self.tables.parts)
                .set_key(Some(seq_key()))
                .consistent_read(true)
                .send()
                .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
                .await
                .map_err(|e| backend("GetItem status-change sequence", &e))?;
            let last = seq.item().and_then(|i| get_n(i, "n")).unwrap_or(0);
            let id = last + 1;
            let mut u = Update::builder()
                .table_name(&self.tables.parts)
                .set_key(Some(seq_key()))
                .update_expression("SET n = :id")
                .expression_attribute_values(":id", n(id));
            u = if last == 0 {
                u.condition_expression("attribute_not_exists(n)")
            } else {
                u.condition_expression("n = :last")
                    .expression_attribute_values(":last", n(last))
            };
            let u = u.build().map_err(|e| {
                StoreError::failed("storage backend", format!("sequence update: {e}"))
            })?;
            actions.push(TransactWriteItem::builder().update(u).build());
            let mut item = change_key(id);
            item.extend([
                ("part".to_string(), s(part)),
                ("status".to_string(), s(ch.status.as_str())),
                (
                    "changed_ms".to_string(),
                    n(ch.changed_at.timestamp_millis()),
                ),
                ("prev_status".to_string(), s(ch.prev_status.as_str())),
                ("unpub".to_string(), s("1")),
            ]);
            if let Some(p) = ch.prev_change_at {
                item.insert("prev_change_ms".into(), n(p.timestamp_millis()));
            }
            let put = Put::builder()
                .table_name(&self.tables.changes)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::failed("storage backend", format!("change item: {e}")))?;
            actions.push(TransactWriteItem::builder().put(put).build());
            change_id = Some(id);
        }

        let span = crate::trace::dynamodb("TransactWriteItems", &crate::trace::tables_of(&actions));
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .instrument(span)
            .await
        {
            Ok(_) => {}
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    e.as_service_error()
                {
                    let codes: Vec<&str> = tc
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .filter(|c| *c != "None")
                        .collect();
                    if codes
                        .iter()
                        .all(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
                    {
                        // Another writer moved the status (or the change
                        // sequence) first: nothing was written.
                        return Ok(RecordOutcome::Stale);
                    }
                }
                return Err(backend("TransactWriteItems check", &e));
            }
        }
        self.raise_lmax(part, at_ms, w.latency_ms).await?;
        Ok(RecordOutcome::Recorded { change_id })
    }

    async fn unpublished_changes(&self, limit: usize) -> Result<Vec<StoredChange>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.changes)
            .index_name(UNPUBLISHED_INDEX)
            .key_condition_expression("unpub = :one")
            .expression_attribute_values(":one", s("1"))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
            .await
            .map_err(|e| backend("Query unpublished changes", &e))?;
        let mut changes: Vec<StoredChange> = out.items().iter().filter_map(parse_change).collect();
        changes.sort_by_key(|c| c.id);
        changes.truncate(limit);
        Ok(changes)
    }

    async fn claim_publication(
        &self,
        ids: &[i64],
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let now = Utc::now().timestamp_millis();
        let mut claimed = Vec::new();
        for &id in ids {
            let r = self
                .client
                .update_item()
                .table_name(&self.tables.changes)
                .set_key(Some(change_key(id)))
                .update_expression("SET pub_by = :o, pub_until = :u")
                .condition_expression(
                    "attribute_exists(unpub) AND (attribute_not_exists(pub_by) OR pub_until < :now OR pub_by = :o)",
                )
                .expression_attribute_values(":o", s(owner))
                .expression_attribute_values(":u", n(until.timestamp_millis()))
                .expression_attribute_values(":now", n(now))
                .send()
.instrument(crate::trace::dynamodb("UpdateItem", &self.tables.changes))
                .await;
            match r {
                Ok(_) => claimed.push(id),
                // Published already, or another replica holds the claim.
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(backend("UpdateItem change claim", &e)),
            }
        }
        Ok(claimed)
    }

    async fn mark_changes_published(&self, ids: &[i64]) -> Result<(), StoreError> {
        for &id in ids {
            self.client
                .update_item()
                .table_name(&self.tables.changes)
                .set_key(Some(change_key(id)))
                .update_expression("SET published = :t REMOVE unpub, pub_by, pub_until")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .send()
                .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.changes))
                .await
                .map_err(|e| backend("UpdateItem change published", &e))?;
        }
        Ok(())
    }

    async fn changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredChange>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.tables.changes)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", s(CHANGES_PK))
                .expression_attribute_values(":after", n(after))
                .limit((limit - out.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
                .await
                .map_err(|e| backend("Query status changes", &e))?;
            out.extend(page.items().iter().filter_map(parse_change));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn has_changes_after(&self, part: &str, after: i64) -> Result<bool, StoreError> {
        // Few changes lie after the recovery's cursor: page until one of
        // the part's shows up (Limit applies before the filter).
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.changes)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk > :after")
                .filter_expression("part = :part")
                .projection_expression("sk")
                .expression_attribute_values(":pk", s(CHANGES_PK))
                .expression_attribute_values(":after", n(after))
                .expression_attribute_values(":part", s(part))
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
                .await
                .map_err(|e| backend("Query status changes of a part", &e))?;
            if !page.items().is_empty() {
                return Ok(true);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(false),
            }
        }
    }

    async fn claim_change_replay(&self, change_id: i64, owner: &str) -> Result<bool, StoreError> {
        // On the change item itself: the first replica to ask recovers it.
        let claim = self
            .client
            .update_item()
            .table_name(&self.tables.changes)
            .set_key(Some(change_key(change_id)))
            .update_expression("SET replay_by = :me")
            .condition_expression(
                "attribute_exists(sk) AND (attribute_not_exists(replay_by) OR replay_by = :me)",
            )
            .expression_attribute_values(":me", s(owner))
            .send()
            .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.changes))
            .await;
        applied("UpdateItem replay claim", claim)
    }

    async fn lease_monitor(
        &self,
        part: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // `PART#<p>`/`LEASE#monitor`: one conditional Put per poll.
        let put = self
            .client
            .put_item()
            .table_name(&self.tables.parts)
            .item("pk", s(format!("PART#{part}")))
            .item("sk", s(MONITOR_LEASE_SK))
            .item("lease_owner", s(owner))
            .item("lease_until_ms", n(until.timestamp_millis()))
            .condition_expression(
                "attribute_not_exists(pk) OR lease_owner = :me OR lease_until_ms < :now",
            )
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .instrument(crate::trace::dynamodb("PutItem", &self.tables.parts))
            .await;
        applied("PutItem monitor lease", put)
    }
}
