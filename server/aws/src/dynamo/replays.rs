//! [`ReplayStore`] on DynamoDB: one `mediator-replays` table every replica
//! shares (key design in docs/aws.md).
//!
//! * A replay's record is `REPLAY#<name>`/`META`, created under
//!   `attribute_not_exists(pk)` (a taken name moves to the next second); a
//!   recovery replay also writes `CHANGE#<id>`/`REPLAY` in the same
//!   transaction, so a status change is recovered under one name whichever
//!   replica records it first.
//! * Each handled replayed event is `REPLAY#<name>`/`EVENT#<event id>`,
//!   put under `attribute_not_exists(pk)` in one transaction with the `ADD`
//!   to its replay's counters (and the part's resubmitted total): an event
//!   counted by another replica cancels the transaction, is left out, and
//!   the rest is counted again — each event counts once.
//! * `PART#<part>`/`LATEST` holds the part's latest interval, resubmitted
//!   total and `newest` recorded replay: every record's transaction sets
//!   `newest` on condition that it is still the one the recorder saw
//!   ([`NewReplay::after`]), so two replicas cannot both pass the "no
//!   active replay" check and record one each.
//! * `CURSOR`/`status_changes` holds the recovery trigger's cursor, only
//!   ever raised.

use std::collections::{HashMap, HashSet};
use tracing::Instrument;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use mediator_core::recovery::{Progress, ReplayRecord};
use mediator_core::storage::replays::{
    tally, Counted, HandledEvent, NewReplay, Recorded, ReplayStore,
};
use mediator_core::storage::StoreError;

use super::{backend, build_err, get_n, get_s, item_key as key, ms_time, n, s, DynamoStore, Item};
use crate::tables::{REPLAYS_ALL_INDEX, REPLAYS_BY_PART_INDEX};

const META: &str = "META";
/// The attribute of `PART#<part>`/`LATEST` naming the part's newest record.
const NEWEST: &str = "newest";
const EVENT: &str = "EVENT#";
/// Handled replayed events expire with the retry ledger they concern.
const EVENT_TTL_DAYS: i64 = 91;
/// Events per counting transaction (100 items at most, with the counters).
const EVENTS_PER_TRANSACTION: usize = 80;
/// Attempts at a transaction that keeps losing races.
const ROUNDS: usize = 8;

fn replay_pk(name: &str) -> String {
    format!("REPLAY#{name}")
}

fn latest_key(part: &str) -> Item {
    key(format!("PART#{part}"), "LATEST")
}

fn cursor_key() -> Item {
    key("CURSOR", "status_changes")
}

fn record(item: &Item) -> Option<ReplayRecord> {
    Some(ReplayRecord {
        name: get_s(item, "name")?,
        part: get_s(item, "part")?,
        archive: get_s(item, "archive")?,
        window_start: ms_time(get_n(item, "start_ms")?)?,
        window_end: ms_time(get_n(item, "end_ms")?)?,
        created_at: ms_time(get_n(item, "created_ms")?)?,
        trigger: get_s(item, "trigger")?,
        by: get_s(item, "by"),
        started: item
            .get("started")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        start_error: get_s(item, "start_error"),
        progress: Progress {
            expected: get_n(item, "expected").unwrap_or(0),
            processed: get_n(item, "processed").unwrap_or(0),
            resubmitted: get_n(item, "resubmitted").unwrap_or(0),
            skipped: get_n(item, "skipped").unwrap_or(0),
            failed: get_n(item, "failed").unwrap_or(0),
        },
    })
}

impl DynamoStore {
    async fn replay_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.replays)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.replays))
            .await
            .map_err(|e| backend("GetItem replays", &e))?;
        Ok(out.item().cloned())
    }

    /// Replay records from `index` under `pk_value`, newest first, passing
    /// `keep`, at most `limit` (pages until enough are kept).
    async fn replays_newest(
        &self,
        index: &str,
        pk_attr: &str,
        pk_value: &str,
        limit: usize,
        keep: impl Fn(&ReplayRecord) -> bool,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        let mut out = Vec::new();
        let mut items = self
            .client
            .query()
            .table_name(&self.tables.replays)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", pk_attr)
            .expression_attribute_values(":v", s(pk_value))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 200) as i32)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items
            .try_next()
            .instrument(crate::trace::dynamodb("Query", &self.tables.replays))
            .await
            .map_err(|e| backend("Query replays", &e))?
        {
            if let Some(r) = record(&item).filter(|r| keep(r)) {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The META items of `names`: part, processed, expected.
    async fn replay_metas(&self, names: &[&str]) -> Result<HashMap<String, Item>, StoreError> {
        let keys = names.iter().map(|n| key(replay_pk(n), META)).collect();
        Ok(self
            .batch_get("replays", &self.tables.replays, keys, None)
            .await?
            .into_iter()
            .filter_map(|i| Some((get_s(&i, "name")?, i)))
            .collect())
    }
}

/// One counting transaction for `events` (all fresh as far as we know):
/// the event items and the counters they add.
fn count_items(
    store: &DynamoStore,
    events: &[&HandledEvent],
    parts: &HashMap<String, String>,
    now_ms: i64,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let table = &store.tables.replays;
    let mut items = Vec::new();
    // Per replay: (resubmitted, skipped, failed); per part: resubmitted.
    let mut per_replay: Vec<(&str, [i64; 3])> = Vec::new();
    let mut per_part: HashMap<&str, i64> = HashMap::new();
    for e in events {
        let put = Put::builder()
            .table_name(table)
            .item("pk", s(replay_pk(&e.replay)))
            .item("sk", s(format!("{EVENT}{}", e.event_id)))
            .item("vid", s(&e.loyalty_request_id))
            .item("outcome", s(e.outcome.as_str()))
            .item("at_ms", n(now_ms))
            .item("ttl", n(now_ms / 1000 + EVENT_TTL_DAYS * 86_400))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|err| build_err("replay event put", err))?;
        items.push(TransactWriteItem::builder().put(put).build());
        tally(&mut per_replay, e);
        if e.outcome.column() == 0 {
            if let Some(part) = parts.get(&e.replay) {
                *per_part.entry(part).or_default() += 1;
            }
        }
    }
    for (replay, [resubmitted, skipped, failed]) in per_replay {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key(replay_pk(replay), META)))
            // Every attribute by name: several are DynamoDB reserved words.
            .update_expression("ADD #p :p, #r :r, #s :s, #f :f")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#p", "processed")
            .expression_attribute_names("#r", "resubmitted")
            .expression_attribute_names("#s", "skipped")
            .expression_attribute_names("#f", "failed")
            .expression_attribute_values(":p", n(resubmitted + skipped + failed))
            .expression_attribute_values(":r", n(resubmitted))
            .expression_attribute_values(":s", n(skipped))
            .expression_attribute_values(":f", n(failed))
            .build()
            .map_err(|err| build_err("replay counters", err))?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    for (part, resubmitted) in per_part {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(latest_key(part)))
            .update_expression("ADD #t :r")
            .expression_attribute_names("#t", "resubmitted_total")
            .expression_attribute_values(":r", n(resubmitted))
            .build()
            .map_err(|err| build_err("part resubmitted total", err))?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    Ok(items)
}

#[async_trait]
impl ReplayStore for DynamoStore {
    async fn cursor(&self) -> Result<i64, StoreError> {
        Ok(self
            .replay_item(cursor_key())
            .await?
            .and_then(|i| get_n(&i, "v"))
            .unwrap_or(0))
    }

    async fn advance_cursor(&self, id: i64) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.replays)
            .set_key(Some(cursor_key()))
            .update_expression("SET #v = :v")
            .condition_expression("attribute_not_exists(#v) OR #v < :v")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":v", n(id))
            .send()
            .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.replays))
            .await;
        super::applied("UpdateItem replay cursor", r).map(drop)
    }

    async fn create(&self, new: &NewReplay) -> Result<Recorded, StoreError> {
        let change_key = new
            .change_id
            .map(|id| key(format!("CHANGE#{id}"), "REPLAY"));
        if let Some(k) = &change_key {
            if let Some(name) = self
                .replay_item(k.clone())
                .await?
                .and_then(|i| get_s(&i, "name"))
            {
                return Ok(Recorded::Name(name));
            }
        }
        let created = new.created_at.timestamp_millis();
        for offset in 0..60 {
            let name = new.name_at(offset);
            let mut put = Put::builder()
                .table_name(&self.tables.replays)
                .item("pk", s(replay_pk(&name)))
                .item("sk", s(META))
                .item("name", s(&name))
                .item("part", s(&new.part))
                .item("archive", s(&new.archive))
                .item("start_ms", n(new.start.timestamp_millis()))
                .item("end_ms", n(new.end.timestamp_millis()))
                .item("created_ms", n(created))
                .item("trigger", s(&new.trigger))
                .item("by", s(&new.by))
                .item("started", AttributeValue::Bool(false))
                .item("expected", n(new.expected))
                .item("processed", n(0))
                .item("resubmitted", n(0))
                .item("skipped", n(0))
                .item("failed", n(0))
                .item("rpart", s(&new.part))
                .item("rall", s("ALL"))
                .item("rord", s(format!("{created:013}#{name}")))
                .condition_expression("attribute_not_exists(pk)");
            if let Some(id) = new.change_id {
                put = put.item("change_id", n(id));
            }
            let mut items = vec![TransactWriteItem::builder()
                .put(put.build().map_err(|e| build_err("replay put", e))?)
                .build()];
            if let Some(k) = &change_key {
                let claim = Put::builder()
                    .table_name(&self.tables.replays)
                    .set_item(Some(k.clone()))
                    .item("name", s(&name))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| build_err("replay change put", e))?;
                items.push(TransactWriteItem::builder().put(claim).build());
            }
            let guard = Update::builder()
                .table_name(&self.tables.replays)
                .set_key(Some(latest_key(&new.part)))
                .update_expression("SET #n = :name")
                .expression_attribute_names("#n", NEWEST)
                .expression_attribute_values(":name", s(&name));
            let guard = match &new.after {
                None => guard.condition_expression("attribute_not_exists(#n)"),
                Some(after) => guard
                    .condition_expression("#n = :after")
                    .expression_attribute_values(":after", s(after)),
            };
            items.push(
                TransactWriteItem::builder()
                    .update(guard.build().map_err(|e| build_err("replay newest", e))?)
                    .build(),
            );
            let guard_at = items.len() - 1;
            match self.transact_reasons("replay record", items).await? {
                None => return Ok(Recorded::Name(name)),
                Some(codes) => {
                    let failed = |i: usize| {
                        codes.get(i).map(String::as_str) == Some("ConditionalCheckFailed")
                    };
                    if change_key.is_some() && failed(1) {
                        // Another replica recorded this change's replay.
                        if let Some(name) = self
                            .replay_item(change_key.clone().expect("a change claim"))
                            .await?
                            .and_then(|i| get_s(&i, "name"))
                        {
                            return Ok(Recorded::Name(name));
                        }
                    } else if failed(guard_at) {
                        // Another replay of the part was recorded since the check.
                        let newest = self
                            .replay_item(latest_key(&new.part))
                            .await?
                            .and_then(|i| get_s(&i, NEWEST))
                            .unwrap_or_default();
                        return Ok(Recorded::Superseded(newest));
                    } else if !failed(0) {
                        // A conflicting transaction: try the same name again.
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB replay record: no free name for {} within a minute of {}",
            new.archive, new.created_at
        )))
    }

    async fn newest_of_part(&self, part: &str) -> Result<Option<ReplayRecord>, StoreError> {
        let Some(name) = self
            .replay_item(latest_key(part))
            .await?
            .and_then(|i| get_s(&i, NEWEST))
        else {
            return Ok(None);
        };
        Ok(self
            .replay_item(key(replay_pk(&name), META))
            .await?
            .as_ref()
            .and_then(record))
    }

    async fn mark_started(&self, name: &str) -> Result<(), StoreError> {
        let Some(meta) = self.replay_item(key(replay_pk(name), META)).await? else {
            return Err(StoreError::NotFound(format!(
                "DynamoDB replay {name}: no record to mark started"
            )));
        };
        let (Some(part), Some(start), Some(end)) = (
            get_s(&meta, "part"),
            get_n(&meta, "start_ms"),
            get_n(&meta, "end_ms"),
        ) else {
            return Err(StoreError::failed(
                "storage backend",
                format!("DynamoDB replay {name}: record without part or window"),
            ));
        };
        let started = Update::builder()
            .table_name(&self.tables.replays)
            .set_key(Some(key(replay_pk(name), META)))
            .update_expression("SET #st = :t")
            .expression_attribute_names("#st", "started")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .build()
            .map_err(|e| build_err("replay started", e))?;
        let latest = Update::builder()
            .table_name(&self.tables.replays)
            .set_key(Some(latest_key(&part)))
            .update_expression("SET #n = :n, #s = :s, #e = :e")
            .expression_attribute_names("#n", "replay")
            .expression_attribute_names("#s", "start_ms")
            .expression_attribute_names("#e", "end_ms")
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":s", n(start))
            .expression_attribute_values(":e", n(end))
            .build()
            .map_err(|e| build_err("latest replay", e))?;
        let items = vec![
            TransactWriteItem::builder().update(started).build(),
            TransactWriteItem::builder().update(latest).build(),
        ];
        if self
            .transact_until_committed("replay started", items, ROUNDS as u32)
            .await?
        {
            return Ok(());
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB replay {name}: kept conflicting while marking it started"
        )))
    }

    async fn mark_refused(&self, name: &str, reason: &str) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.replays)
            .set_key(Some(key(replay_pk(name), META)))
            .update_expression("SET #r = :r")
            .expression_attribute_names("#r", "start_error")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":r", s(reason))
            .send()
            .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.replays))
            .await;
        // A replay without a record has nothing to mark (as on SQLite).
        super::applied("UpdateItem replay refused", r).map(drop)
    }

    async fn get(&self, name: &str) -> Result<Option<ReplayRecord>, StoreError> {
        Ok(self
            .replay_item(key(replay_pk(name), META))
            .await?
            .as_ref()
            .and_then(record))
    }

    async fn newest(
        &self,
        part: Option<&str>,
        started_only: bool,
        limit: usize,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        let keep = |r: &ReplayRecord| !started_only || r.started;
        match part {
            Some(p) => {
                self.replays_newest(REPLAYS_BY_PART_INDEX, "rpart", p, limit, keep)
                    .await
            }
            None => {
                self.replays_newest(REPLAYS_ALL_INDEX, "rall", "ALL", limit, keep)
                    .await
            }
        }
    }

    async fn overlapping(
        &self,
        part: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        let keep = |r: &ReplayRecord| {
            r.window_start.timestamp_millis() <= end && r.window_end.timestamp_millis() >= start
        };
        let mut out = self
            .replays_newest(REPLAYS_BY_PART_INDEX, "rpart", part, usize::MAX, keep)
            .await?;
        out.reverse();
        Ok(out)
    }

    async fn latest_interval(
        &self,
        part: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        Ok(self.replay_item(latest_key(part)).await?.and_then(|i| {
            Some((
                ms_time(get_n(&i, "start_ms")?)?,
                ms_time(get_n(&i, "end_ms")?)?,
            ))
        }))
    }

    async fn resubmitted_total(&self, part: &str) -> Result<i64, StoreError> {
        Ok(self
            .replay_item(latest_key(part))
            .await?
            .and_then(|i| get_n(&i, "resubmitted_total"))
            .unwrap_or(0))
    }

    async fn seen(&self, pairs: &[(String, String)]) -> Result<Vec<bool>, StoreError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let keys = pairs
            .iter()
            .map(|(r, e)| key(replay_pk(r), format!("{EVENT}{e}")))
            .collect();
        let found: HashSet<(String, String)> = self
            .batch_get("replays", &self.tables.replays, keys, Some("pk, sk"))
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, "pk")?, get_s(i, "sk")?)))
            .collect();
        Ok(pairs
            .iter()
            .map(|(r, e)| found.contains(&(replay_pk(r), format!("{EVENT}{e}"))))
            .collect())
    }

    async fn count(&self, events: &[HandledEvent]) -> Result<Vec<Counted>, StoreError> {
        // Each (replay, event id) once, first outcome kept (as a second
        // delivery would find it counted).
        let mut unique = HashSet::new();
        let mut pending: Vec<&HandledEvent> = events
            .iter()
            .filter(|e| unique.insert((e.replay.as_str(), e.event_id.as_str())))
            .collect();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = pending.iter().map(|e| e.replay.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let metas = self.replay_metas(&names).await?;
        // Events of replays with no record are not counted (as on SQLite).
        pending.retain(|e| metas.contains_key(&e.replay));
        let parts: HashMap<String, String> = metas
            .iter()
            .filter_map(|(name, i)| Some((name.clone(), get_s(i, "part")?)))
            .collect();
        let mut added: HashMap<String, i64> = HashMap::new();
        let now_ms = Utc::now().timestamp_millis();
        for chunk in pending.chunks(EVENTS_PER_TRANSACTION) {
            let mut chunk: Vec<&HandledEvent> = chunk.to_vec();
            let mut round = 0;
            while !chunk.is_empty() {
                let items = count_items(self, &chunk, &parts, now_ms)?;
                match self.transact_reasons("replay counters", items).await? {
                    None => {
                        for e in &chunk {
                            *added.entry(e.replay.clone()).or_default() += 1;
                        }
                        break;
                    }
                    Some(codes) => {
                        // Leave out the events another delivery counted.
                        let before = chunk.len();
                        let mut i = 0;
                        chunk.retain(|_| {
                            let failed =
                                codes.get(i).map(String::as_str) == Some("ConditionalCheckFailed");
                            i += 1;
                            !failed
                        });
                        round += 1;
                        if round >= ROUNDS {
                            return Err(StoreError::Conflict(
                                "DynamoDB replay counters: kept conflicting".into(),
                            ));
                        }
                        if chunk.len() == before {
                            tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
                        }
                    }
                }
            }
        }
        Ok(added
            .into_iter()
            .filter_map(|(replay, n)| {
                let meta = metas.get(&replay)?;
                Some(Counted {
                    part: get_s(meta, "part")?,
                    processed: get_n(meta, "processed").unwrap_or(0) + n,
                    expected: get_n(meta, "expected").unwrap_or(0),
                    replay,
                })
            })
            .collect())
    }

    async fn outcomes(&self, replay: &str) -> Result<Vec<(String, String)>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.tables.replays)
            .key_condition_expression("pk = :pk AND begins_with(sk, :e)")
            .expression_attribute_values(":pk", s(replay_pk(replay)))
            .expression_attribute_values(":e", s(EVENT))
            .projection_expression("vid, #o")
            .expression_attribute_names("#o", "outcome")
            .consistent_read(true);
        let items = self.query_all("Query replay events", q).await?;
        Ok(items
            .iter()
            .filter_map(|i| Some((get_s(i, "vid")?, get_s(i, "outcome")?)))
            .collect())
    }
}
