//! The outbox: events this replica committed, and the deletes of published
//! events' items it owes (carried by voucher transactions or batched).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{DeleteRequest, Put, TransactWriteItem, WriteRequest};
use chrono::Utc;
use mediator_core::datacache::PendingEvent;
use mediator_core::storage::StoreError;
use mediator_core::{VoucherKeys, VoucherStatus};
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, build_err, get_n, get_s, item_key, ms_time, n, s, DynamoStore, Item};

/// Outbox partitions (`OB#0..`): spreads the outbox writes.
pub(super) const OUTBOX_SHARDS: u32 = 4;
/// How often the outbox partitions are queried when this replica remembers
/// no unpublished event.
pub(super) const OUTBOX_SWEEP: Duration = Duration::from_secs(30);
/// A published event's outbox delete waits at most this long for a voucher
/// transaction to carry it before it is sent on its own.
pub(super) const FLUSH_DELAY: Duration = Duration::from_secs(10);
/// [`FLUSH_DELAY`] for a retry event's delete: recovery waits until a
/// part's retry events have left the outbox (this replica's own owed ones
/// are sent when it asks, [`VoucherStore::retry_events_pending`]).
pub(super) const RETRY_FLUSH_DELAY: Duration = Duration::from_secs(1);
/// Owed deletes that are sent at once (one full BatchWriteItem).
pub(super) const FLUSH_MAX: usize = 25;
/// Owed deletes one voucher transaction carries at most (DynamoDB allows 100
/// items per transaction).
pub(super) const CARRIED_DELETES: usize = 25;
/// Outbox items younger than this (by their `wr`) are left out of sweeps:
/// their writer is publishing them or owes their delete (< [`FLUSH_DELAY`]).
pub(super) const SWEEP_MIN_AGE: Duration = Duration::from_secs(20);

/// An outbox item's key.
pub(super) type OutboxKey = (String, String);

#[derive(Default)]
pub(super) struct Outbox {
    /// Unpublished events this replica knows of, in commit order.
    pub(super) pending: Vec<(PendingEvent, OutboxKey)>,
    pub(super) next_handle: i64,
    pub(super) last_sweep: Option<Instant>,
    /// Published events whose outbox items are still to be deleted, oldest
    /// first.
    pub(super) owed: Vec<Owed>,
    /// Owed deletes on their way in a request.
    pub(super) deleting: HashSet<OutboxKey>,
}

/// The delete of a published event's outbox item, not sent yet.
#[derive(Debug, Clone)]
pub(super) struct Owed {
    pub(super) key: OutboxKey,
    /// When the event was published.
    pub(super) since: Instant,
    /// A retry event: recovery waits for it to leave the outbox, so it waits
    /// only [`RETRY_FLUSH_DELAY`] for a transaction.
    pub(super) retry: bool,
    /// Only by BatchWriteItem (a transaction carrying it was refused).
    pub(super) batch: bool,
}

impl Outbox {
    pub(super) fn push(&mut self, mut e: PendingEvent, key: OutboxKey) {
        if self.pending.iter().any(|(_, k)| *k == key) || self.owes(&key) {
            return;
        }
        self.next_handle += 1;
        e.id = self.next_handle;
        self.pending.push((e, key));
    }

    /// Whether this replica published the event of `key` and owes (or is
    /// sending) its delete.
    pub(super) fn owes(&self, key: &OutboxKey) -> bool {
        self.deleting.contains(key) || self.owed.iter().any(|o| o.key == *key)
    }

    /// Whether the owed deletes should be sent on their own now.
    pub(super) fn flush_due(&self) -> bool {
        self.owed.len() >= FLUSH_MAX
            || self.owed.iter().any(|o| {
                let delay = if o.retry {
                    RETRY_FLUSH_DELAY
                } else {
                    FLUSH_DELAY
                };
                o.batch || o.since.elapsed() >= delay
            })
    }

    /// Takes up to `max` owed deletes, oldest first, to send (`batch`: by
    /// BatchWriteItem, else in a transaction).
    pub(super) fn take(&mut self, max: usize, batch: bool) -> Vec<Owed> {
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for o in self.owed.drain(..) {
            if taken.len() < max && (batch || !o.batch) {
                taken.push(o);
            } else {
                kept.push(o);
            }
        }
        self.owed = kept;
        self.deleting.extend(taken.iter().map(|o| o.key.clone()));
        taken
    }

    /// Ends the sending of `taken`: `sent` ones are done, the others are
    /// owed again (first, as the oldest).
    pub(super) fn settle(&mut self, taken: Vec<Owed>, sent: impl Fn(usize) -> bool) {
        let mut back = Vec::new();
        for (i, o) in taken.into_iter().enumerate() {
            self.deleting.remove(&o.key);
            if !sent(i) {
                back.push(o);
            }
        }
        back.append(&mut self.owed);
        self.owed = back;
    }
}

/// Owed deletes on their way: owed again if the request's future is dropped
/// before they are settled (e.g. the client of an admit went away).
pub(super) struct Sending<'a> {
    pub(super) outbox: &'a Mutex<Outbox>,
    pub(super) taken: Vec<Owed>,
}

impl<'a> Sending<'a> {
    pub(super) fn take(outbox: &'a Mutex<Outbox>, max: usize, batch: bool) -> Self {
        let taken = outbox.lock().expect("outbox memory").take(max, batch);
        Sending { outbox, taken }
    }

    /// Settles the deletes (see [`Outbox::settle`]).
    pub(super) fn settle(mut self, sent: impl Fn(usize) -> bool) {
        let taken = std::mem::take(&mut self.taken);
        self.outbox
            .lock()
            .expect("outbox memory")
            .settle(taken, sent);
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if !self.taken.is_empty() {
            if let Ok(mut o) = self.outbox.lock() {
                o.settle(std::mem::take(&mut self.taken), |_| false);
            }
        }
    }
}

/// An outbox event about to be written with a transition.
pub(super) struct NewEvent {
    pub(super) put: TransactWriteItem,
    pub(super) event: PendingEvent,
    pub(super) key: OutboxKey,
}

impl DynamoStore {
    /// Deletes the outbox items of every event this replica published and
    /// still owes a delete for (BatchWriteItem), e.g. at shutdown; those a
    /// failure leaves are published again by a later sweep (at least once).
    pub async fn flush_published(&self) -> Result<(), StoreError> {
        self.send_owed(true).await
    }

    /// The outbox item of `status` for the voucher, at `at`.
    pub(super) fn outbox_put(
        &self,
        part: &str,
        keys: &VoucherKeys,
        status: VoucherStatus,
        at: i64,
    ) -> Result<NewEvent, StoreError> {
        let id = &keys.loyalty_request_id;
        let shard = id
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
            % OUTBOX_SHARDS;
        let pk = format!("OB#{shard}");
        let sk = format!(
            "{at:013}#{id}#{}#{:08x}",
            status.as_str(),
            fastrand::u32(..)
        );
        let item: Item = HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("sk".to_string(), s(&sk)),
            ("part".to_string(), s(part)),
            ("vid".to_string(), s(id)),
            ("lr".to_string(), s(&keys.loyalty_reference)),
            ("mr".to_string(), s(&keys.merchant_reference)),
            ("lor".to_string(), s(&keys.loyalty_order_reference)),
            ("vst".to_string(), s(status.as_str())),
            ("ms".to_string(), n(at)),
            ("wr".to_string(), n(Utc::now().timestamp_millis())),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.voucher_events)
            .set_item(Some(item))
            .build()
            .map_err(|e| build_err("outbox item", e))?;
        Ok(NewEvent {
            put: TransactWriteItem::builder().put(put).build(),
            event: PendingEvent {
                id: 0,
                part: part.to_string(),
                keys: keys.clone(),
                status,
                at: ms_time(at).unwrap_or_default(),
            },
            key: (pk, sk),
        })
    }

    /// Commits events written by a transaction to this replica's outbox memory.
    pub(super) fn remember_events(&self, events: Vec<NewEvent>) {
        let mut o = self.vouchers.outbox.lock().expect("outbox memory");
        for e in events {
            o.push(e.event, e.key);
        }
    }

    /// Sends the owed outbox deletes by BatchWriteItem (25 per call), all of
    /// them when `all` or any is due (see [`Outbox::flush_due`]); those not
    /// sent stay owed.
    pub(super) async fn send_owed(&self, all: bool) -> Result<(), StoreError> {
        if !(all
            || self
                .vouchers
                .outbox
                .lock()
                .expect("outbox memory")
                .flush_due())
        {
            return Ok(());
        }
        let sending = Sending::take(&self.vouchers.outbox, usize::MAX, true);
        let mut sent = 0;
        let mut result = Ok(());
        for chunk in sending.taken.chunks(25) {
            if let Err(e) = self.batch_delete(chunk).await {
                result = Err(e);
                break;
            }
            sent += chunk.len();
        }
        sending.settle(|i| i < sent);
        result
    }

    /// Deletes up to 25 outbox items in one BatchWriteItem (retrying
    /// unprocessed ones).
    pub(super) async fn batch_delete(&self, chunk: &[Owed]) -> Result<(), StoreError> {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|o| {
                let (pk, sk) = &o.key;
                let del = DeleteRequest::builder()
                    .set_key(Some(item_key(pk, sk)))
                    .build()
                    .map_err(|e| build_err("outbox delete", e))?;
                Ok(WriteRequest::builder().delete_request(del).build())
            })
            .collect::<Result<_, StoreError>>()?;
        for round in 0..ROUNDS {
            if requests.is_empty() {
                return Ok(());
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.tables.voucher_events, requests)
                .send()
                .instrument(crate::trace::dynamodb(
                    "BatchWriteItem",
                    &self.tables.voucher_events,
                ))
                .await
                .map_err(|e| backend("BatchWriteItem voucher outbox", &e))?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(&self.tables.voucher_events))
                .cloned()
                .unwrap_or_default();
        }
        if requests.is_empty() {
            Ok(())
        } else {
            Err(StoreError::unavailable(
                "storage backend",
                "DynamoDB BatchWriteItem voucher outbox: items left unprocessed (throttled)",
            ))
        }
    }

    /// Queries the outbox partitions (strongly consistent) for unpublished
    /// events, oldest first, at most `limit` per partition; items younger
    /// than [`SWEEP_MIN_AGE`] are left to their writer.
    pub(super) async fn sweep_outbox(
        &self,
        limit: usize,
    ) -> Result<Vec<(PendingEvent, OutboxKey)>, StoreError> {
        let young = Utc::now().timestamp_millis() - SWEEP_MIN_AGE.as_millis() as i64;
        let mut found = Vec::new();
        for shard in 0..OUTBOX_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.tables.voucher_events)
                .consistent_read(true)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("OB#{shard}")))
                .limit(limit.clamp(1, 1000) as i32)
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.voucher_events))
                .await
                .map_err(|e| backend("Query voucher outbox", &e))?;
            for i in page.items() {
                let (Some(pk), Some(sk)) = (get_s(i, "pk"), get_s(i, "sk")) else {
                    continue;
                };
                if get_n(i, "wr").is_some_and(|w| w > young) {
                    continue;
                }
                let event = PendingEvent {
                    id: 0,
                    part: get_s(i, "part").unwrap_or_default(),
                    keys: VoucherKeys {
                        loyalty_request_id: get_s(i, "vid").unwrap_or_default(),
                        loyalty_reference: get_s(i, "lr").unwrap_or_default(),
                        merchant_reference: get_s(i, "mr").unwrap_or_default(),
                        loyalty_order_reference: get_s(i, "lor").unwrap_or_default(),
                    },
                    status: get_s(i, "vst")
                        .and_then(|v| status_of(&v))
                        .unwrap_or(VoucherStatus::Retry),
                    at: get_n(i, "ms").and_then(ms_time).unwrap_or_default(),
                };
                found.push((event, (pk, sk)));
            }
        }
        found.sort_by(|a, b| a.1 .1.cmp(&b.1 .1));
        Ok(found)
    }
}
