//! [`VoucherStore`] on DynamoDB (see the module documentation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use mediator_core::datacache::{
    Attempt, Claim, FindCursor, Finish, Hold, LifecycleEntry, PendingEvent, Redriven,
    VoucherFilter, VoucherRecord, VoucherRef, FIND_LIMIT_MAX, LIST_FETCH_MAX,
};
use mediator_core::storage::{Admitted, StoreError, VoucherStore};
use mediator_core::{OverrideMode, VoucherRequest, VoucherStatus};
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, build_err, get_n, get_s, ms_time, n, s, DynamoStore, Item};
use crate::tables::{OPEN_INDEX, REF_LOR_INDEX, REF_LR_INDEX, REF_MR_INDEX};

#[async_trait]
impl VoucherStore for DynamoStore {
    async fn insert(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
    ) -> Result<(VoucherRecord, bool), StoreError> {
        let at = now.timestamp_millis();
        let (item, rec) = new_voucher(req, at);
        let id = rec.keys.loyalty_request_id.clone();
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.vouchers)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .instrument(crate::trace::dynamodb("PutItem", &self.tables.vouchers))
            .await;
        match r {
            Ok(_) => {
                self.remember(&Known {
                    rec: rec.clone(),
                    ver: 1,
                    rbase: 0,
                    lease: None,
                });
                Ok((rec, true))
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let existing = self.read_voucher(&id).await?.ok_or_else(|| {
                    StoreError::failed(
                        "storage backend",
                        format!("DynamoDB voucher {id}: exists by its condition but not on read"),
                    )
                })?;
                Ok((existing.rec, false))
            }
            Err(e) => Err(backend("PutItem voucher", &e)),
        }
    }

    /// One TransactWriteItems: the ConditionCheck of the part's circuit
    /// and the voucher put already `submitting` (or `retry`, with its outbox
    /// and ledger items) under `attribute_not_exists`.
    async fn admit(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Admitted, StoreError> {
        let at = now.timestamp_millis();
        let until = at + lease.as_millis() as i64;
        let part = req.part().to_string();
        for round in 0..ROUNDS {
            backoff(round).await;
            let known_circuit = (round == 0)
                .then(|| {
                    self.vouchers
                        .circuits
                        .lock()
                        .expect("circuit memory")
                        .get(&part)
                        .cloned()
                })
                .flatten();
            let c = match known_circuit {
                Some(c) => c,
                None => self.read_circuit(&part).await?,
            };
            let (mut item, mut rec) = new_voucher(req, at);
            let id = rec.keys.loyalty_request_id.clone();
            let mut hist = vec![hist_entry(
                VoucherStatus::Received,
                at,
                "stored in the DataCache",
                false,
            )];
            let mut event = None;
            let (st, ord) = if c.closed(at) {
                hist.push(hist_entry(VoucherStatus::Submitting, at, &detail, true));
                item.insert("attempts".into(), n(1));
                item.insert("lease".into(), n(until));
                rec.attempts = 1;
                (VoucherStatus::Submitting, order(until, &id))
            } else {
                let reason = if c.in_maintenance(at) {
                    format!("circuit open: part {part} is in maintenance")
                } else if c.mode() == Some(OverrideMode::ForceOpen) {
                    format!("circuit open: part {part} is forced open")
                } else {
                    format!("circuit open: part {part} is down")
                };
                hist.push(hist_entry(VoucherStatus::Retry, at, &reason, false));
                item.insert("err".into(), s(&reason));
                item.insert("lretry".into(), n(at));
                rec.last_error = Some(reason);
                event = Some(self.outbox_put(&part, &rec.keys, VoucherStatus::Retry, at)?);
                (VoucherStatus::Retry, order(at, &id))
            };
            rec.status = st;
            item.insert("st".into(), s(st.as_str()));
            item.insert("ps".into(), s(st.as_str()));
            item.insert("ord".into(), s(ord));
            item.insert("hist".into(), AttributeValue::L(hist));
            let put = Put::builder()
                .table_name(&self.tables.vouchers)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| build_err("voucher item", e))?;
            let mut items = vec![
                self.circuit_check(&part, &c)?,
                TransactWriteItem::builder().put(put).build(),
            ];
            if let Some(e) = &event {
                items.push(e.put.clone());
                items.push(self.ledger_put(&part, &id, at)?);
            }
            match self.transact_carrying("admit", items).await? {
                None => {
                    self.remember(&Known {
                        rec: rec.clone(),
                        ver: 1,
                        rbase: 0,
                        lease: (st == VoucherStatus::Submitting).then_some(until),
                    });
                    return Ok(match event {
                        Some(e) => {
                            self.remember_events(vec![e]);
                            Admitted::Held(Box::new(rec))
                        }
                        None => Admitted::Claimed {
                            token: 1,
                            voucher: Box::new(rec),
                        },
                    });
                }
                // The id exists: a duplicate, returned untouched.
                Some(codes)
                    if codes.get(1).map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    if let Some(k) = self.read_voucher(&id).await? {
                        return Ok(Admitted::Duplicate(Box::new(k.rec)));
                    }
                }
                // The circuit moved (or a conflicting write): decide again.
                Some(_) => {}
            }
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {}: the circuit kept changing during {ROUNDS} attempts to admit it",
            req.keys().loyalty_request_id
        )))
    }

    async fn get(&self, id: &str) -> Result<Option<VoucherRecord>, StoreError> {
        Ok(self.read_voucher(id).await?.map(|k| k.rec))
    }

    async fn find(
        &self,
        field: VoucherRef,
        value: &str,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let limit = limit.clamp(1, FIND_LIMIT_MAX);
        let before = after.map(|(ms, id)| order(ms, &id));
        let before = before.as_deref();
        let refs = [
            (VoucherRef::LoyaltyReference, REF_LR_INDEX, "lr"),
            (VoucherRef::MerchantReference, REF_MR_INDEX, "mr"),
            (VoucherRef::LoyaltyOrderReference, REF_LOR_INDEX, "lor"),
        ];
        let mut found: Vec<Known> = Vec::new();
        if matches!(field, VoucherRef::Any | VoucherRef::LoyaltyRequestId) {
            if let Some(k) = self.read_voucher(value).await? {
                let o = order(k.rec.received_at.timestamp_millis(), value);
                if before.is_none_or(|b| o.as_str() < b) {
                    found.push(k);
                }
            }
        }
        for (f, index, attr) in refs {
            if field == f || field == VoucherRef::Any {
                found.extend(self.query_ref(index, attr, value, before, limit).await?);
            }
        }
        let mut by_order: BTreeMap<String, VoucherRecord> = BTreeMap::new();
        for k in found {
            let o = order(
                k.rec.received_at.timestamp_millis(),
                &k.rec.keys.loyalty_request_id,
            );
            by_order.insert(o, k.rec);
        }
        Ok(by_order.into_values().rev().take(limit).collect())
    }

    /// One query of the `status_received` index per status listed (the
    /// key condition bounds the receive time; part and attempts are a
    /// filter), merged newest first.
    async fn list(
        &self,
        filter: &VoucherFilter,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let limit = limit.clamp(1, LIST_FETCH_MAX);
        // `rk` is `<ms:013>#<id>`: `<ms:013>#` sorts before every voucher
        // received at `ms`, `0` before all and `~` after all.
        let lo = filter.from.map_or_else(
            || "0".to_owned(),
            |f| format!("{:013}#", f.timestamp_millis()),
        );
        let mut hi = filter.to.map_or_else(
            || "~".to_owned(),
            |t| format!("{:013}#", t.timestamp_millis()),
        );
        if let Some((ms, id)) = &after {
            hi = hi.min(order(*ms, id));
        }
        let mut by_order: BTreeMap<String, VoucherRecord> = BTreeMap::new();
        for status in filter.statuses_or_all() {
            let found = self
                .query_status_received(
                    status,
                    (lo.as_str(), hi.as_str()),
                    filter.part.as_deref(),
                    filter.min_attempts,
                    limit,
                )
                .await?;
            for k in found {
                let o = order(
                    k.rec.received_at.timestamp_millis(),
                    &k.rec.keys.loyalty_request_id,
                );
                by_order.insert(o, k.rec);
            }
        }
        Ok(by_order.into_values().rev().take(limit).collect())
    }

    async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .projection_expression("hist")
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.vouchers))
            .await
            .map_err(|e| backend("GetItem voucher lifecycle", &e))?;
        let Some(list) = out
            .item()
            .and_then(|i| i.get("hist"))
            .and_then(|h| h.as_l().ok())
        else {
            return Ok(vec![]);
        };
        let mut attempt = 0;
        Ok(list
            .iter()
            .filter_map(|e| e.as_m().ok())
            .map(|m| {
                let detail = get_s(m, "d").unwrap_or_default();
                let claim = matches!(m.get("a"), Some(AttributeValue::Bool(true)));
                LifecycleEntry {
                    status: get_s(m, "s").unwrap_or_default(),
                    at: get_n(m, "t").and_then(ms_time).unwrap_or_default(),
                    detail: if claim {
                        attempt += 1;
                        format!("attempt {attempt}: {detail}")
                    } else {
                        detail
                    },
                }
            })
            .collect())
    }

    async fn hold_if_open(&self, id: &str, now: DateTime<Utc>) -> Result<Hold, StoreError> {
        let now = now.timestamp_millis();
        Ok(match self.hold_or_claim(id, None, now, now).await? {
            Attempted::Held => Hold::Held,
            Attempted::CircuitClosed | Attempted::Claimed(..) => Hold::CircuitClosed,
            Attempted::NotHoldable(s) => Hold::NotHoldable(s),
        })
    }

    async fn claim(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Claim, StoreError> {
        let now = now.timestamp_millis();
        let until = now + lease.as_millis() as i64;
        for _ in 0..ROUNDS {
            let mut e = Expr::transition(
                id,
                VoucherStatus::Submitting,
                now,
                Some(until),
                vec![hist_entry(VoucherStatus::Submitting, now, &detail, true)],
            );
            e.adds.extend(["attempts :one", "ver :one"]);
            e.value(":one", n(1));
            e.value(":rc", s(VoucherStatus::Received.as_str()));
            e.value(":rt", s(VoucherStatus::Retry.as_str()));
            e.value(":sub", s(VoucherStatus::Submitting.as_str()));
            let r = self
                .client
                .update_item()
                .table_name(&self.tables.vouchers)
                .set_key(Some(key(id)))
                .update_expression(e.expression())
                .condition_expression(
                    "attribute_exists(pk) AND (st IN (:rc, :rt) OR (st = :sub AND lease < :now))",
                )
                .set_expression_attribute_values(Some(e.values))
                .return_values(ReturnValue::AllNew)
                .send()
                .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.vouchers))
                .await;
            match r {
                Ok(out) => {
                    let k = out.attributes().and_then(record_of).ok_or_else(|| {
                        StoreError::failed(
                            "storage backend",
                            format!("DynamoDB claim {id}: no item returned"),
                        )
                    })?;
                    self.remember(&k);
                    return Ok(Claim::Claimed {
                        token: k.rec.attempts,
                        voucher: Box::new(k.rec),
                    });
                }
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                    let Some(k) = self.read_voucher(id).await? else {
                        return Ok(Claim::NotFound);
                    };
                    let claimable =
                        matches!(k.rec.status, VoucherStatus::Received | VoucherStatus::Retry)
                            || (k.rec.status == VoucherStatus::Submitting
                                && k.lease.unwrap_or(0) < now);
                    if !claimable {
                        return Ok(Claim::Busy(k.rec.status));
                    }
                }
                Err(e) => return Err(backend("UpdateItem voucher claim", &e)),
            }
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {id}: kept changing during {ROUNDS} attempts to claim it"
        )))
    }

    async fn finish(
        &self,
        id: &str,
        token: i64,
        status: VoucherStatus,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let f = Finish {
            id: id.to_string(),
            // Not read: the part is the stored voucher's.
            part: String::new(),
            token,
            status,
            detail,
        };
        Ok(self
            .finish_one(&f, None, now.timestamp_millis())
            .await?
            .is_some())
    }

    async fn hold_or_claim_many(
        &self,
        items: Vec<(String, String)>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Attempt>, StoreError> {
        let now = now.timestamp_millis();
        let until = now + lease.as_millis() as i64;
        let mut out = Vec::with_capacity(items.len());
        for (id, detail) in &items {
            out.push(
                match self.hold_or_claim(id, Some(detail), now, until).await? {
                    Attempted::Held => Attempt::Held,
                    Attempted::Claimed(token, voucher) => Attempt::Claimed { token, voucher },
                    Attempted::NotHoldable(s) => Attempt::Skipped(s),
                    Attempted::CircuitClosed => Attempt::Skipped(None),
                },
            );
        }
        Ok(out)
    }

    async fn finish_many(
        &self,
        items: Vec<Finish>,
        dead_letter_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<VoucherStatus>, StoreError> {
        let now = now.timestamp_millis();
        let mut out = Vec::with_capacity(items.len());
        for f in &items {
            match self.finish_one(f, Some(dead_letter_after), now).await? {
                Some(s) => out.push(s),
                None => {
                    tracing::warn!(
                        loyalty_request_id = %f.id,
                        "claim lost before the outcome was recorded"
                    );
                    out.push(f.status);
                }
            }
        }
        Ok(out)
    }

    async fn statuses(&self, ids: Vec<String>) -> Result<Vec<Option<VoucherStatus>>, StoreError> {
        let unique: Vec<&String> = ids.iter().collect::<HashSet<_>>().into_iter().collect();
        let keys = unique.iter().map(|id| key(id)).collect();
        let found: HashMap<String, VoucherStatus> = self
            .batch_get(
                "voucher statuses",
                &self.tables.vouchers,
                keys,
                Some("pk, st"),
            )
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, "pk")?, get_s(i, "st").and_then(|v| status_of(&v))?)))
            .collect();
        Ok(ids.iter().map(|id| found.get(id).copied()).collect())
    }

    async fn dead_letter(
        &self,
        id: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = now.timestamp_millis();
        // One transaction with its status event's outbox item, as every
        // published transition; the keys come from the voucher as read.
        for round in 0..ROUNDS {
            backoff(round).await;
            let Some(k) = self.read_voucher(id).await? else {
                return Ok(false);
            };
            if !matches!(
                k.rec.status,
                VoucherStatus::Received | VoucherStatus::Retry | VoucherStatus::Submitting
            ) {
                return Ok(false);
            }
            let mut e = Expr::transition(
                id,
                VoucherStatus::DeadLettered,
                now,
                None,
                vec![hist_entry(VoucherStatus::DeadLettered, now, &detail, false)],
            );
            e.set("err", ":err", s(&detail));
            e.set("ver", ":v1", n(k.ver + 1));
            e.value(":v", n(k.ver));
            let event =
                self.outbox_put(&k.rec.part, &k.rec.keys, VoucherStatus::DeadLettered, now)?;
            let items = vec![self.voucher_update(id, e, "ver = :v")?, event.put.clone()];
            if self.transact("dead-letter", items).await? {
                self.remember_events(vec![event]);
                self.forget(id);
                return Ok(true);
            }
            self.forget(id);
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {id}: kept changing during {ROUNDS} attempts to dead-letter it"
        )))
    }

    async fn stuck(
        &self,
        received_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut found: Vec<(String, String)> = Vec::new();
        for (status, bound) in [
            (VoucherStatus::Received, received_before),
            (VoucherStatus::Submitting, now),
        ] {
            let bound = format!("{:013}", bound.timestamp_millis());
            for i in self
                .query_open(status, Some(("<", bound)), None, limit)
                .await?
            {
                if let (Some(o), Some(id)) = (get_s(&i, "ord"), get_s(&i, "pk")) {
                    found.push((o, id));
                }
            }
        }
        found.sort();
        Ok(found.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn attempts_since_redrive(&self, id: &str) -> Result<i64, StoreError> {
        Ok(self
            .read_voucher(id)
            .await?
            .map(|k| k.rec.attempts - k.rbase)
            .unwrap_or(0))
    }

    async fn dead_lettered(
        &self,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let range = after.map(|(ms, id)| (">", order(ms, &id)));
        Ok(self
            .query_open(VoucherStatus::DeadLettered, range, None, limit)
            .await?
            .iter()
            .filter_map(record_of)
            .map(|k| k.rec)
            .collect())
    }

    async fn redrive(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Redriven>, StoreError> {
        let now = now.timestamp_millis();
        for round in 0..ROUNDS {
            backoff(round).await;
            let Some(k) = self.read_voucher(id).await? else {
                return Ok(None);
            };
            if k.rec.status != VoucherStatus::DeadLettered {
                return Ok(Some(Redriven::NotDeadLettered(k.rec.status)));
            }
            let mut e = Expr::transition(
                id,
                VoucherStatus::Retry,
                now,
                None,
                vec![hist_entry(
                    VoucherStatus::Retry,
                    now,
                    "redriven from the dead-letter queue",
                    false,
                )],
            );
            e.set("rbase", ":rb", n(k.rec.attempts));
            e.set("ver", ":v1", n(k.ver + 1));
            e.value(":v", n(k.ver));
            let event = self.outbox_put(&k.rec.part, &k.rec.keys, VoucherStatus::Retry, now)?;
            let items = vec![
                self.voucher_update(id, e, "ver = :v")?,
                event.put.clone(),
                self.ledger_put(&k.rec.part, id, now)?,
            ];
            if self.transact("redrive", items).await? {
                self.remember_events(vec![event]);
                self.forget(id);
                return Ok(Some(Redriven::Moved));
            }
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {id}: kept changing during {ROUNDS} attempts to redrive it"
        )))
    }

    async fn unpublished_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        let (sweep, flush) = {
            let o = self.vouchers.outbox.lock().expect("outbox memory");
            let sweep =
                o.pending.is_empty() && o.last_sweep.is_none_or(|t| t.elapsed() >= OUTBOX_SWEEP);
            (sweep, o.flush_due())
        };
        if flush {
            // Owed deletes of published events: a failure leaves them owed.
            if let Err(e) = self.send_owed(false).await {
                tracing::warn!("published outbox items not deleted yet: {e}");
            }
        }
        if sweep {
            let found = self.sweep_outbox(limit).await?;
            let mut o = self.vouchers.outbox.lock().expect("outbox memory");
            o.last_sweep = Some(Instant::now());
            for (e, k) in found {
                o.push(e, k);
            }
        }
        let o = self.vouchers.outbox.lock().expect("outbox memory");
        Ok(o.pending
            .iter()
            .take(limit)
            .map(|(e, _)| e.clone())
            .collect())
    }

    /// The published events' outbox items are deleted by the next voucher
    /// transaction, or by BatchWriteItem when none comes soon or one is a
    /// retry event (see the module documentation).
    async fn mark_published(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        let flush = {
            let mut o = self.vouchers.outbox.lock().expect("outbox memory");
            let since = Instant::now();
            let mut published = Vec::new();
            o.pending.retain(|(e, k)| {
                if ids.contains(&e.id) {
                    published.push(Owed {
                        key: k.clone(),
                        since,
                        retry: e.status == VoucherStatus::Retry,
                        batch: false,
                    });
                    false
                } else {
                    true
                }
            });
            o.owed.extend(published);
            o.flush_due()
        };
        if flush {
            if let Err(e) = self.send_owed(false).await {
                // Published all the same: the deletes stay owed.
                tracing::warn!("published outbox items not deleted yet: {e}");
            }
        }
        Ok(())
    }

    async fn count_retry_events(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(self.ledger(part, start, end, false).await?.0)
    }

    async fn count_pending_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut ids = self.ledger(part, start, end, true).await?.1;
        ids.sort_unstable();
        ids.dedup();
        Ok(self
            .statuses(ids)
            .await?
            .into_iter()
            .filter(|s| matches!(s, Some(VoucherStatus::Retry | VoucherStatus::Received)))
            .count() as i64)
    }

    async fn held_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError> {
        let mut ids = self.ledger(part, start, end, true).await?.1;
        ids.sort_unstable();
        ids.dedup();
        let statuses = self.statuses(ids.clone()).await?;
        Ok(ids
            .into_iter()
            .zip(statuses)
            .filter_map(|(id, st)| Some((id, st?)))
            .collect())
    }

    async fn retry_event_times(&self, part: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .query_open(VoucherStatus::Retry, None, Some(part), usize::MAX)
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, "pk")?, get_n(i, "lretry")?)))
            .collect())
    }

    async fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut counts: Counts = self
            .open_counts()
            .await?
            .into_iter()
            .map(|(p, st, n)| ((p, st), n))
            .collect();
        counts.extend(self.final_counts().await?);
        Ok(counts.into_iter().map(|((p, s), c)| (p, s, c)).collect())
    }

    async fn open_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        // The sparse `open` index holds only these statuses: no Scan of the
        // final vouchers (the table's bulk), only the part of each open one.
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for status in [
            VoucherStatus::Received,
            VoucherStatus::Submitting,
            VoucherStatus::Retry,
            VoucherStatus::DeadLettered,
        ] {
            let mut items = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(OPEN_INDEX)
                .key_condition_expression("ps = :ps")
                .expression_attribute_values(":ps", s(status.as_str()))
                .projection_expression("#p")
                .expression_attribute_names("#p", "part")
                .into_paginator()
                .items()
                .send();
            while let Some(i) = items
                .try_next()
                .instrument(crate::trace::dynamodb("Query", &self.tables.vouchers))
                .await
                .map_err(|e| backend("Query open voucher counts", &e))?
            {
                if let Some(p) = get_s(&i, "part") {
                    *counts.entry((p, status.as_str().to_owned())).or_default() += 1;
                }
            }
        }
        Ok(counts.into_iter().map(|((p, s), c)| (p, s, c)).collect())
    }

    async fn part_is_up(&self, part: &str) -> Result<bool, StoreError> {
        let c = self.read_circuit(part).await?;
        if c.in_maintenance(Utc::now().timestamp_millis()) {
            return Ok(false);
        }
        Ok(match c.mode() {
            Some(OverrideMode::ForceOpen) => false,
            Some(OverrideMode::ForceClosed | OverrideMode::Disabled) => true,
            _ => c.status.as_deref() == Some("up"),
        })
    }

    async fn retry_events_pending(
        &self,
        part: &str,
        end: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Published here and still in the outbox: delete them first.
        let owes_retry = {
            let o = self.vouchers.outbox.lock().expect("outbox memory");
            o.owed.iter().any(|w| w.retry)
        };
        if owes_retry {
            self.send_owed(true).await?;
        }
        let end = format!("{:013}", end.timestamp_millis());
        for shard in 0..OUTBOX_SHARDS {
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.tables.voucher_events)
                    .consistent_read(true)
                    .key_condition_expression("pk = :pk AND sk < :end")
                    .filter_expression("part = :part AND vst = :retry")
                    .projection_expression("pk")
                    .expression_attribute_values(":pk", s(format!("OB#{shard}")))
                    .expression_attribute_values(":end", s(&end))
                    .expression_attribute_values(":part", s(part))
                    .expression_attribute_values(":retry", s(VoucherStatus::Retry.as_str()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .instrument(crate::trace::dynamodb("Query", &self.tables.voucher_events))
                    .await
                    .map_err(|e| backend("Query voucher outbox", &e))?;
                if !page.items().is_empty() {
                    return Ok(true);
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
        }
        Ok(false)
    }
}
