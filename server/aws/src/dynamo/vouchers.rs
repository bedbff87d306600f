//! [`VoucherStore`] on DynamoDB: the DataCache in the `vouchers` and
//! `voucher-events` tables (key design in ARCHITECTURE.md).
//!
//! * A voucher is one item with its lifecycle (`hist`, appended by every
//!   transition) and a write version `ver`. Every transition is one
//!   conditional write; those that publish an event are a
//!   TransactWriteItems with the outbox item (and, for `retry`, the ledger
//!   item), so an event exists exactly when its transition committed.
//! * Hold and the batch claim decide on the voucher and on the part's
//!   `STATUS` item (written by the [`StatusStore`](mediator_core::storage::StatusStore)),
//!   and commit with `ver = :read` on the voucher and a ConditionCheck that
//!   the circuit is still what was read: a voucher is held before the
//!   part's down→up change commits, or sees it up. Both may decide on the
//!   last state this replica saw (no read); a stale guess cancels the
//!   transaction and is retried on fresh reads.
//! * A claim's token is its attempt number, as on SQLite: `finish` commits
//!   only while the voucher is `submitting` with `attempts = token`.
//! * The outbox: events this replica commits are remembered and returned
//!   first by `unpublished_events` without a read; the outbox partitions are
//!   queried when nothing is remembered (at most every
//!   [`OUTBOX_SWEEP`]), which publishes events a crashed replica left.
//!   `PendingEvent::id`s are handles into this replica's memory. A sweep
//!   may also return an event a live replica is about to publish: publication
//!   stays at-least-once, as on SQLite after a crash.
//! * A published event's outbox item is deleted without a request of its
//!   own: the delete rides on this replica's next voucher transaction
//!   (admit, claim, hold, finish, redrive; at most [`CARRIED_DELETES`] per
//!   transaction). Deletes still owed after [`FLUSH_DELAY`] without a
//!   voucher write ([`RETRY_FLUSH_DELAY`] for a retry event's: recovery
//!   waits for those to leave the outbox, and `retry_events_pending` sends
//!   this replica's at once), or [`FLUSH_MAX`] of them, go in one
//!   BatchWriteItem; so do those left at shutdown
//!   ([`DynamoStore::flush_published`]). Only published items are ever
//!   deleted, so a crash loses no unpublished event; it can leave published
//!   ones, which a sweep publishes again (at least once). Sweeps skip the
//!   items this replica owes a delete for and items younger than
//!   [`SWEEP_MIN_AGE`] (`wr`, the writer's clock), which their live writer
//!   is still publishing or about to delete.
//! * `counts()`: the open statuses from the sparse `open` index (exact, read
//!   every time); the final ones (`submitted`, `error`: the table's bulk,
//!   and never left) from a Scan at most [`FINAL_COUNTS_MAX_AGE`] old plus
//!   this replica's own final transitions since, so the console's overview
//!   (re-read up to twice a second while watched) does not Scan the table
//!   each time. Other replicas' final transitions show within that age;
//!   one that commits while a Scan runs may count twice until the next.
//! * Not yet: batching the per-voucher writes of `hold_or_claim_many` /
//!   `finish_many` into shared transactions; exact per-part counter items
//!   (they would put one hot item in every final transition).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put, ReturnValue, Select,
    TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use mediator_core::datacache::{
    Attempt, Claim, FindCursor, Finish, Hold, LifecycleEntry, PendingEvent, VoucherRecord,
    VoucherRef, FIND_LIMIT_MAX,
};
use mediator_core::overrides::effective_closed;
use mediator_core::storage::{Admitted, StoreError, VoucherStore};
use mediator_core::{OverrideMode, VoucherKeys, VoucherRequest, VoucherStatus};
use serde_json::Value;

use super::{
    applied, backend, build_err, get_n, get_s, item_key, ms_time, n, part_key, s, DynamoStore, Item,
};
use crate::tables::{OPEN_INDEX, REF_LOR_INDEX, REF_LR_INDEX, REF_MR_INDEX};

/// Sort key of a voucher item.
const VOUCHER_SK: &str = "V";
/// Outbox partitions (`OB#0..`): spreads the outbox writes.
const OUTBOX_SHARDS: u32 = 4;
/// How often the outbox partitions are queried when this replica remembers
/// no unpublished event.
const OUTBOX_SWEEP: Duration = Duration::from_secs(30);
/// A published event's outbox delete waits at most this long for a voucher
/// transaction to carry it before it is sent on its own.
const FLUSH_DELAY: Duration = Duration::from_secs(10);
/// [`FLUSH_DELAY`] for a retry event's delete: recovery waits until a
/// part's retry events have left the outbox (this replica's own owed ones
/// are sent when it asks, [`VoucherStore::retry_events_pending`]).
const RETRY_FLUSH_DELAY: Duration = Duration::from_secs(1);
/// Owed deletes that are sent at once (one full BatchWriteItem).
const FLUSH_MAX: usize = 25;
/// Owed deletes one voucher transaction carries at most (DynamoDB allows 100
/// items per transaction).
const CARRIED_DELETES: usize = 25;
/// Outbox items younger than this (by their `wr`) are left out of sweeps:
/// their writer is publishing them or owes their delete (< [`FLUSH_DELAY`]).
const SWEEP_MIN_AGE: Duration = Duration::from_secs(20);
/// Days a ledger item lives (the history counts retry vouchers per
/// incident up to 90 days back).
const LEDGER_TTL_DAYS: i64 = 91;
/// Attempts at a conditional transition before giving up (each retry reads
/// afresh; only a voucher changing under every attempt exhausts them).
const ROUNDS: usize = 6;
/// Longest the final statuses' counts from a Scan are reused (see the
/// module documentation).
const FINAL_COUNTS_MAX_AGE: Duration = Duration::from_secs(60);
/// Vouchers (and circuits) remembered per replica; the memory is only a
/// guess checked by conditional writes, so it is simply cleared when full.
const KNOWN_MAX: usize = 10_000;

/// What this replica remembers between calls.
#[derive(Default)]
pub(super) struct VoucherMemory {
    known: Mutex<HashMap<String, Known>>,
    circuits: Mutex<HashMap<String, CircuitRead>>,
    outbox: Mutex<Outbox>,
    finals: Mutex<FinalCounts>,
    /// One final-counts Scan at a time.
    finals_scan: tokio::sync::Mutex<()>,
}

/// Vouchers per (part, status).
type Counts = BTreeMap<(String, String), u64>;

/// Per (part, status): the final statuses' counts as last scanned, and this
/// replica's final transitions committed since that Scan began.
#[derive(Default)]
struct FinalCounts {
    scanned: Option<(Instant, Counts)>,
    since: Counts,
}

impl FinalCounts {
    /// The last Scan's counts plus the transitions since, if the Scan is
    /// recent enough.
    fn current(&self) -> Option<Counts> {
        let (at, base) = self.scanned.as_ref()?;
        if at.elapsed() >= FINAL_COUNTS_MAX_AGE {
            return None;
        }
        let mut out = base.clone();
        for (k, n) in &self.since {
            *out.entry(k.clone()).or_default() += n;
        }
        Some(out)
    }
}

/// A voucher as last read or written here.
#[derive(Debug, Clone)]
struct Known {
    rec: VoucherRecord,
    ver: i64,
    rbase: i64,
    lease: Option<i64>,
}

/// A part's `STATUS` item as read: what hold and claim decide on, and what
/// their ConditionCheck requires still to be there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct CircuitRead {
    exists: bool,
    status: Option<String>,
    mode: Option<String>,
}

impl CircuitRead {
    fn mode(&self) -> Option<OverrideMode> {
        self.mode.as_deref().and_then(|m| m.parse().ok())
    }

    fn closed(&self) -> bool {
        effective_closed(self.status.as_deref(), self.mode())
    }
}

/// An outbox item's key.
type OutboxKey = (String, String);

#[derive(Default)]
struct Outbox {
    /// Unpublished events this replica knows of, in commit order.
    pending: Vec<(PendingEvent, OutboxKey)>,
    next_handle: i64,
    last_sweep: Option<Instant>,
    /// Published events whose outbox items are still to be deleted, oldest
    /// first.
    owed: Vec<Owed>,
    /// Owed deletes on their way in a request.
    deleting: HashSet<OutboxKey>,
}

/// The delete of a published event's outbox item, not sent yet.
#[derive(Debug, Clone)]
struct Owed {
    key: OutboxKey,
    /// When the event was published.
    since: Instant,
    /// A retry event: recovery waits for it to leave the outbox, so it waits
    /// only [`RETRY_FLUSH_DELAY`] for a transaction.
    retry: bool,
    /// Only by BatchWriteItem (a transaction carrying it was refused).
    batch: bool,
}

impl Outbox {
    fn push(&mut self, mut e: PendingEvent, key: OutboxKey) {
        if self.pending.iter().any(|(_, k)| *k == key) || self.owes(&key) {
            return;
        }
        self.next_handle += 1;
        e.id = self.next_handle;
        self.pending.push((e, key));
    }

    /// Whether this replica published the event of `key` and owes (or is
    /// sending) its delete.
    fn owes(&self, key: &OutboxKey) -> bool {
        self.deleting.contains(key) || self.owed.iter().any(|o| o.key == *key)
    }

    /// Whether the owed deletes should be sent on their own now.
    fn flush_due(&self) -> bool {
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
    fn take(&mut self, max: usize, batch: bool) -> Vec<Owed> {
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
    fn settle(&mut self, taken: Vec<Owed>, sent: impl Fn(usize) -> bool) {
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
struct Sending<'a> {
    outbox: &'a Mutex<Outbox>,
    taken: Vec<Owed>,
}

impl<'a> Sending<'a> {
    fn take(outbox: &'a Mutex<Outbox>, max: usize, batch: bool) -> Self {
        let taken = outbox.lock().expect("outbox memory").take(max, batch);
        Sending { outbox, taken }
    }

    /// Settles the deletes (see [`Outbox::settle`]).
    fn settle(mut self, sent: impl Fn(usize) -> bool) {
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
struct NewEvent {
    put: TransactWriteItem,
    event: PendingEvent,
    key: OutboxKey,
}

fn key(id: &str) -> Item {
    item_key(id, VOUCHER_SK)
}

fn status_of(v: &str) -> Option<VoucherStatus> {
    v.parse().ok()
}

fn record_of(item: &Item) -> Option<Known> {
    let rec = VoucherRecord {
        part: get_s(item, "part")?,
        keys: VoucherKeys {
            loyalty_request_id: get_s(item, "pk")?,
            loyalty_reference: get_s(item, "lr")?,
            merchant_reference: get_s(item, "mr")?,
            loyalty_order_reference: get_s(item, "lor")?,
        },
        payload: get_s(item, "payload")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(Value::Null),
        status: status_of(&get_s(item, "st")?)?,
        attempts: get_n(item, "attempts").unwrap_or(0),
        received_at: ms_time(get_n(item, "rcv")?)?,
        updated_at: ms_time(get_n(item, "upd")?)?,
        last_error: get_s(item, "err"),
    };
    Some(Known {
        rec,
        ver: get_n(item, "ver").unwrap_or(0),
        rbase: get_n(item, "rbase").unwrap_or(0),
        lease: get_n(item, "lease"),
    })
}

/// One lifecycle entry; `attempt` marks a claim, shown as "attempt k: …"
/// (the k-th claim is attempt k: only claims increment `attempts`).
fn hist_entry(status: VoucherStatus, at: i64, detail: &str, attempt: bool) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("s".to_string(), s(status.as_str())),
        ("t".to_string(), n(at)),
        ("d".to_string(), s(detail)),
        ("a".to_string(), AttributeValue::Bool(attempt)),
    ]))
}

/// `<ms:013>#<id>`: the sort order of the reference and open indexes.
fn order(ms: i64, id: &str) -> String {
    format!("{ms:013}#{id}")
}

fn is_open(st: VoucherStatus) -> bool {
    !matches!(st, VoucherStatus::Submitted | VoucherStatus::Error)
}

/// An update expression under construction.
#[derive(Default)]
struct Expr {
    sets: Vec<String>,
    removes: Vec<&'static str>,
    adds: Vec<&'static str>,
    values: Item,
}

impl Expr {
    /// Moves the voucher `id` to `st` at `now`, appending `hist`; `lease` is
    /// the claim's end while submitting.
    fn transition(
        id: &str,
        st: VoucherStatus,
        now: i64,
        lease: Option<i64>,
        hist: Vec<AttributeValue>,
    ) -> Self {
        let mut e = Expr::default();
        e.set("st", ":st", s(st.as_str()));
        e.set("upd", ":now", n(now));
        e.sets
            .push("hist = list_append(if_not_exists(hist, :empty), :h)".into());
        e.values.insert(":empty".into(), AttributeValue::L(vec![]));
        e.values.insert(":h".into(), AttributeValue::L(hist));
        if is_open(st) {
            e.set("ps", ":ps", s(st.as_str()));
            e.set("ord", ":ord", s(order(lease.unwrap_or(now), id)));
        } else {
            e.removes.extend(["ps", "ord"]);
        }
        match lease {
            Some(l) => e.set("lease", ":lease", n(l)),
            None => e.removes.push("lease"),
        }
        if st == VoucherStatus::Retry {
            e.sets.push("lretry = :now".into());
        }
        e
    }

    fn set(&mut self, attr: &str, placeholder: &str, v: AttributeValue) {
        self.sets.push(format!("{attr} = {placeholder}"));
        self.values.insert(placeholder.into(), v);
    }

    fn value(&mut self, placeholder: &str, v: AttributeValue) {
        self.values.insert(placeholder.into(), v);
    }

    fn expression(&self) -> String {
        let mut out = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            out.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            out.push_str(&format!(" ADD {}", self.adds.join(", ")));
        }
        out
    }
}

/// Waits a little (with jitter) before the third and later attempts: a
/// transaction conflicting with another writer of the same items (the
/// monitor's status write, another replica) is retried apart from it.
async fn backoff(round: usize) {
    if round >= 2 {
        let ms = fastrand::u64(5..20) << (round - 2).min(4);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl DynamoStore {
    /// Deletes the outbox items of every event this replica published and
    /// still owes a delete for (BatchWriteItem), e.g. at shutdown; those a
    /// failure leaves are published again by a later sweep (at least once).
    pub async fn flush_published(&self) -> Result<(), StoreError> {
        self.send_owed(true).await
    }

    fn remember(&self, k: &Known) {
        let mut m = self.vouchers.known.lock().expect("voucher memory");
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(k.rec.keys.loyalty_request_id.clone(), k.clone());
    }

    fn recall(&self, id: &str) -> Option<Known> {
        self.vouchers
            .known
            .lock()
            .expect("voucher memory")
            .get(id)
            .cloned()
    }

    fn forget(&self, id: &str) {
        self.vouchers
            .known
            .lock()
            .expect("voucher memory")
            .remove(id);
    }

    /// The voucher, strongly consistent (and remembered).
    async fn read_voucher(&self, id: &str) -> Result<Option<Known>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem voucher", &e))?;
        let k = out.item().and_then(record_of);
        match &k {
            Some(k) => self.remember(k),
            None => self.forget(id),
        }
        Ok(k)
    }

    /// The part's circuit as stored, strongly consistent (and remembered).
    async fn read_circuit(&self, part: &str) -> Result<CircuitRead, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .consistent_read(true)
            .projection_expression("#st, override_mode")
            .expression_attribute_names("#st", "status")
            .send()
            .await
            .map_err(|e| backend("GetItem part status", &e))?;
        let c = match out.item() {
            None => CircuitRead::default(),
            Some(i) => CircuitRead {
                exists: true,
                status: get_s(i, "status"),
                mode: get_s(i, "override_mode"),
            },
        };
        let mut m = self.vouchers.circuits.lock().expect("circuit memory");
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(part.to_string(), c.clone());
        Ok(c)
    }

    /// A ConditionCheck that the part's `STATUS` item is still `c`.
    fn circuit_check(&self, part: &str, c: &CircuitRead) -> Result<TransactWriteItem, StoreError> {
        let mut b = ConditionCheck::builder()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)));
        let cond = if !c.exists {
            "attribute_not_exists(pk)".to_string()
        } else {
            b = b.expression_attribute_names("#st", "status");
            let st = match &c.status {
                Some(v) => {
                    b = b.expression_attribute_values(":cst", s(v));
                    "#st = :cst"
                }
                None => "attribute_not_exists(#st)",
            };
            let mode = match &c.mode {
                Some(m) => {
                    b = b.expression_attribute_values(":cmode", s(m));
                    "override_mode = :cmode"
                }
                None => "attribute_not_exists(override_mode)",
            };
            format!("{st} AND {mode}")
        };
        let cc = b
            .condition_expression(cond)
            .build()
            .map_err(|e| build_err("circuit condition", e))?;
        Ok(TransactWriteItem::builder().condition_check(cc).build())
    }

    /// The outbox item of `status` for the voucher, at `at`.
    fn outbox_put(
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

    /// The retry ledger item of the voucher `id` of `part` at `at`.
    fn ledger_put(&self, part: &str, id: &str, at: i64) -> Result<TransactWriteItem, StoreError> {
        let item: Item = HashMap::from([
            ("pk".to_string(), s(format!("RL#{part}"))),
            (
                "sk".to_string(),
                s(format!("{at:013}#{id}#{:08x}", fastrand::u32(..))),
            ),
            ("vid".to_string(), s(id)),
            ("ttl".to_string(), n(at / 1000 + LEDGER_TTL_DAYS * 86_400)),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.voucher_events)
            .set_item(Some(item))
            .build()
            .map_err(|e| build_err("ledger item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn voucher_update(
        &self,
        id: &str,
        e: Expr,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let u = Update::builder()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .update_expression(e.expression())
            .condition_expression(condition)
            .set_expression_attribute_values(Some(e.values))
            .build()
            .map_err(|e| build_err("voucher update", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// Sends a transaction: `Ok(true)` committed, `Ok(false)` cancelled by a
    /// condition or a conflicting transaction (nothing written).
    async fn transact(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        Ok(self.transact_carrying(what, items).await?.is_none())
    }

    /// [`DynamoStore::transact_reasons`] for a voucher transition, carrying
    /// up to [`CARRIED_DELETES`] owed outbox deletes (see the module
    /// documentation). The reasons cover `items` only. A delete never fails
    /// the transition: deleting a missing item succeeds; a delete that
    /// conflicted with another writer's (a sweep that published the event
    /// again deletes it too) is given up; the others stay owed when the
    /// transaction is cancelled, and when DynamoDB refuses the request the
    /// transition is sent again without them (they go by BatchWriteItem).
    async fn transact_carrying(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let n = items.len();
        let mut sending = Sending::take(
            &self.vouchers.outbox,
            CARRIED_DELETES.min(100usize.saturating_sub(n)),
            false,
        );
        if sending.taken.is_empty() {
            return self.transact_reasons(what, items).await;
        }
        let mut all = items.clone();
        for d in &sending.taken {
            let (pk, sk) = &d.key;
            let del = Delete::builder()
                .table_name(&self.tables.voucher_events)
                .set_key(Some(item_key(pk, sk)))
                .build()
                .map_err(|e| build_err("outbox delete", e))?;
            all.push(TransactWriteItem::builder().delete(del).build());
        }
        let refused = match self.send_transaction(what, all).await {
            Ok(None) => {
                sending.settle(|_| true);
                return Ok(None);
            }
            Ok(Some(mut codes)) => {
                let conflicted =
                    |i: usize| codes.get(n + i).map(String::as_str) == Some("TransactionConflict");
                sending.settle(conflicted);
                codes.truncate(n);
                return Ok(Some(codes));
            }
            Err((e, refused)) => {
                // A refused request wrote nothing: the transition is sent
                // again on its own, the deletes by BatchWriteItem.
                for d in &mut sending.taken {
                    d.batch |= refused;
                }
                sending.settle(|_| false);
                if !refused {
                    return Err(e);
                }
                e
            }
        };
        tracing::warn!("{refused}; sending the {what} again without outbox deletes");
        self.transact_reasons(what, items).await
    }

    /// [`DynamoStore::transact`], with why it was cancelled: `None`
    /// committed, else each item's cancellation code in order (`None` for
    /// the items that did not fail).
    pub(super) async fn transact_reasons(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.send_transaction(what, items).await.map_err(|(e, _)| e)
    }

    /// [`DynamoStore::transact_reasons`]; an error says whether DynamoDB
    /// refused the request as invalid (`ValidationException`: nothing was
    /// written).
    async fn send_transaction(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, (StoreError, bool)> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    e.as_service_error()
                {
                    let codes: Vec<String> = tc
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    let retryable = codes.iter().all(|c| {
                        matches!(
                            c.as_str(),
                            "None" | "ConditionalCheckFailed" | "TransactionConflict"
                        )
                    });
                    if retryable {
                        return Ok(Some(codes));
                    }
                }
                if e.code() == Some("TransactionConflictException") {
                    return Ok(Some(vec![]));
                }
                // Refused as a whole: nothing was written.
                let refused = e.code() == Some("ValidationException")
                    || matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    );
                Err((backend(&format!("TransactWriteItems {what}"), &e), refused))
            }
        }
    }

    /// Commits events written by a transaction to this replica's outbox memory.
    fn remember_events(&self, events: Vec<NewEvent>) {
        let mut o = self.vouchers.outbox.lock().expect("outbox memory");
        for e in events {
            o.push(e.event, e.key);
        }
    }

    /// Hold, or with `claim` = `Some(detail)` claim when the circuit is
    /// closed: the shared core of `hold_if_open` and `hold_or_claim_many`.
    async fn hold_or_claim(
        &self,
        id: &str,
        claim: Option<&str>,
        now: i64,
        until: i64,
    ) -> Result<Attempted, StoreError> {
        for round in 0..ROUNDS {
            backoff(round).await;
            let guess = round == 0;
            let (k, k_guessed) = match self.recall(id).filter(|_| guess) {
                Some(k) => (k, true),
                None => match self.read_voucher(id).await? {
                    Some(k) => (k, false),
                    None => return Ok(Attempted::NotHoldable(None)),
                },
            };
            let st = k.rec.status;
            let holdable = matches!(st, VoucherStatus::Received | VoucherStatus::Retry)
                || (st == VoucherStatus::Submitting && k.lease.unwrap_or(0) < now);
            if !holdable {
                if k_guessed {
                    continue;
                }
                return Ok(Attempted::NotHoldable(Some(st)));
            }
            let part = k.rec.part.clone();
            let known_circuit = guess
                .then(|| {
                    self.vouchers
                        .circuits
                        .lock()
                        .expect("circuit memory")
                        .get(&part)
                        .cloned()
                })
                .flatten();
            let (c, c_guessed) = match known_circuit {
                Some(c) => (c, true),
                None => (self.read_circuit(&part).await?, false),
            };
            let cond = "ver = :v";
            if c.closed() {
                let Some(detail) = claim else {
                    if c_guessed {
                        continue;
                    }
                    return Ok(Attempted::CircuitClosed);
                };
                let attempts = k.rec.attempts + 1;
                let mut e = Expr::transition(
                    id,
                    VoucherStatus::Submitting,
                    now,
                    Some(until),
                    vec![hist_entry(VoucherStatus::Submitting, now, detail, true)],
                );
                e.set("attempts", ":a1", n(attempts));
                e.set("ver", ":v1", n(k.ver + 1));
                e.value(":v", n(k.ver));
                let items = vec![
                    self.circuit_check(&part, &c)?,
                    self.voucher_update(id, e, cond)?,
                ];
                if self.transact("claim", items).await? {
                    let mut rec = k.rec.clone();
                    rec.status = VoucherStatus::Submitting;
                    rec.attempts = attempts;
                    rec.updated_at = ms_time(now).unwrap_or_default();
                    self.remember(&Known {
                        rec: rec.clone(),
                        ver: k.ver + 1,
                        rbase: k.rbase,
                        lease: Some(until),
                    });
                    return Ok(Attempted::Claimed(attempts, Box::new(rec)));
                }
            } else {
                let reason = if c.mode() == Some(OverrideMode::ForceOpen) {
                    format!("circuit open: part {part} is forced open")
                } else {
                    format!("circuit open: part {part} is down")
                };
                let mut e = Expr::transition(
                    id,
                    VoucherStatus::Retry,
                    now,
                    None,
                    vec![hist_entry(VoucherStatus::Retry, now, &reason, false)],
                );
                e.set("err", ":err", s(&reason));
                e.set("ver", ":v1", n(k.ver + 1));
                e.value(":v", n(k.ver));
                let event = self.outbox_put(&part, &k.rec.keys, VoucherStatus::Retry, now)?;
                let items = vec![
                    self.circuit_check(&part, &c)?,
                    self.voucher_update(id, e, cond)?,
                    event.put.clone(),
                    self.ledger_put(&part, id, now)?,
                ];
                if self.transact("hold", items).await? {
                    self.remember_events(vec![event]);
                    let mut rec = k.rec.clone();
                    rec.status = VoucherStatus::Retry;
                    rec.updated_at = ms_time(now).unwrap_or_default();
                    rec.last_error = Some(reason);
                    self.remember(&Known {
                        rec,
                        ver: k.ver + 1,
                        rbase: k.rbase,
                        lease: None,
                    });
                    return Ok(Attempted::Held);
                }
            }
            // The voucher or the circuit moved: decide again on fresh reads.
            self.forget(id);
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB voucher {id}: kept changing during {ROUNDS} attempts to hold or claim it"
        )))
    }

    /// The final statuses' counts per (part, status); see the module
    /// documentation.
    async fn final_counts(&self) -> Result<Counts, StoreError> {
        let memory = &self.vouchers;
        if let Some(c) = memory.finals.lock().expect("final counts").current() {
            return Ok(c);
        }
        let _one = memory.finals_scan.lock().await;
        let before = {
            let f = memory.finals.lock().expect("final counts");
            if let Some(c) = f.current() {
                return Ok(c);
            }
            f.since.clone()
        };
        let began = Instant::now();
        let scanned = self.scan_final_counts().await?;
        let mut f = memory.finals.lock().expect("final counts");
        // What committed before the Scan began is in it; what committed
        // while it ran may be, and stays counted until the next Scan.
        for (k, n) in before {
            if let Some(v) = f.since.get_mut(&k) {
                *v = v.saturating_sub(n);
            }
        }
        f.since.retain(|_, n| *n > 0);
        f.scanned = Some((began, scanned));
        Ok(f.current().unwrap_or_default())
    }

    /// A Scan of the vouchers table counting the final statuses per part.
    async fn scan_final_counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::new();
        let mut items = self
            .client
            .scan()
            .table_name(&self.tables.vouchers)
            .projection_expression("part, st")
            .filter_expression("st IN (:submitted, :error)")
            .expression_attribute_values(":submitted", s(VoucherStatus::Submitted.as_str()))
            .expression_attribute_values(":error", s(VoucherStatus::Error.as_str()))
            .into_paginator()
            .items()
            .send();
        while let Some(i) = items
            .try_next()
            .await
            .map_err(|e| backend("Scan voucher counts", &e))?
        {
            if let (Some(p), Some(st)) = (get_s(&i, "part"), get_s(&i, "st")) {
                *counts.entry((p, st)).or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// Ends a claim (see [`VoucherStore::finish_many`]); `None` when the
    /// claim was lost.
    async fn finish_one(
        &self,
        f: &Finish,
        dead_letter_after: Option<i64>,
        now: i64,
    ) -> Result<Option<VoucherStatus>, StoreError> {
        for round in 0..2 {
            let (k, guessed) = match self.recall(&f.id).filter(|_| round == 0) {
                Some(k) => (k, true),
                None => match self.read_voucher(&f.id).await? {
                    Some(k) => (k, false),
                    None => return Ok(None),
                },
            };
            // The claim holds while the voucher is `submitting` with
            // `attempts = token`; the write requires the version read, so
            // the stored voucher is still this one when it commits.
            if !(k.rec.status == VoucherStatus::Submitting && k.rec.attempts == f.token) {
                if guessed {
                    continue;
                }
                return Ok(None);
            }
            let failed = f.token - k.rbase;
            let dead =
                f.status == VoucherStatus::Retry && dead_letter_after.is_some_and(|d| failed >= d);
            let mut hist = vec![hist_entry(f.status, now, &f.detail, false)];
            let (end, error) = if dead {
                let reason = format!("gave up after {failed} failed attempts; last: {}", f.detail);
                hist.push(hist_entry(VoucherStatus::DeadLettered, now, &reason, false));
                (VoucherStatus::DeadLettered, Some(reason))
            } else {
                let error = (f.status != VoucherStatus::Submitted).then(|| f.detail.clone());
                (f.status, error)
            };
            let mut e = Expr::transition(&f.id, end, now, None, hist);
            if dead {
                // The retry event is published although the voucher ends
                // dead-lettered, as on SQLite.
                e.sets.push("lretry = :now".into());
            }
            let error_after = error.clone();
            if let Some(err) = error {
                e.set("err", ":err", s(err));
            }
            e.set("ver", ":v1", n(k.ver + 1));
            e.value(":v", n(k.ver));
            let event = self.outbox_put(&k.rec.part, &k.rec.keys, f.status, now)?;
            let mut items = vec![
                self.voucher_update(&f.id, e, "ver = :v")?,
                event.put.clone(),
            ];
            if f.status == VoucherStatus::Retry {
                items.push(self.ledger_put(&k.rec.part, &f.id, now)?);
            }
            if self.transact("finish", items).await? {
                self.remember_events(vec![event]);
                if matches!(end, VoucherStatus::Submitted | VoucherStatus::Error) {
                    let mut f = self.vouchers.finals.lock().expect("final counts");
                    *f.since
                        .entry((k.rec.part.clone(), end.as_str().to_owned()))
                        .or_default() += 1;
                }
                let mut rec = k.rec.clone();
                rec.status = end;
                rec.updated_at = ms_time(now).unwrap_or_default();
                rec.last_error = error_after.or(rec.last_error);
                self.remember(&Known {
                    rec,
                    ver: k.ver + 1,
                    rbase: k.rbase,
                    lease: None,
                });
                if dead {
                    tracing::warn!(loyalty_request_id = %f.id, failed, "voucher dead-lettered");
                }
                return Ok(Some(end));
            }
            self.forget(&f.id);
        }
        Ok(None)
    }

    /// Records matching one reference through its index, newest first,
    /// strictly before `before` (an `rk`).
    async fn query_ref(
        &self,
        index: &str,
        attr: &str,
        value: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Known>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(index)
                .scan_index_forward(false)
                .limit((limit - out.len()).max(1) as i32)
                .expression_attribute_names("#k", attr)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start.take());
            q = match before {
                Some(b) => q
                    .key_condition_expression("#k = :v AND rk < :b")
                    .expression_attribute_values(":b", s(b)),
                None => q.key_condition_expression("#k = :v"),
            };
            let page = q
                .send()
                .await
                .map_err(|e| backend("Query voucher reference", &e))?;
            out.extend(page.items().iter().filter_map(record_of));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Items of the `open` index with `ps = status`, by `ord`, within
    /// `range` (a key condition on `ord`, with `:o`), at most `limit`.
    async fn query_open(
        &self,
        status: VoucherStatus,
        range: Option<(&str, String)>,
        filter_part: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(OPEN_INDEX)
                .expression_attribute_values(":ps", s(status.as_str()))
                .set_exclusive_start_key(start.take());
            q = match &range {
                Some((op, bound)) => q
                    .key_condition_expression(format!("ps = :ps AND ord {op} :o"))
                    .expression_attribute_values(":o", s(bound)),
                None => q.key_condition_expression("ps = :ps"),
            };
            if let Some(p) = filter_part {
                q = q
                    .filter_expression("part = :part")
                    .expression_attribute_values(":part", s(p));
            } else {
                q = q.limit((limit - out.len()).clamp(1, 1000) as i32);
            }
            let page = q
                .send()
                .await
                .map_err(|e| backend("Query open vouchers", &e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => {
                    out.truncate(limit);
                    return Ok(out);
                }
            }
        }
    }

    /// Sends the owed outbox deletes by BatchWriteItem (25 per call), all of
    /// them when `all` or any is due (see [`Outbox::flush_due`]); those not
    /// sent stay owed.
    async fn send_owed(&self, all: bool) -> Result<(), StoreError> {
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
    async fn batch_delete(&self, chunk: &[Owed]) -> Result<(), StoreError> {
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
    async fn sweep_outbox(
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

/// A new voucher's item and record, `received` at `at`.
fn new_voucher(req: &VoucherRequest, at: i64) -> (Item, VoucherRecord) {
    let keys = req.keys().clone();
    let id = keys.loyalty_request_id.clone();
    let payload = Value::Object(req.payload().clone());
    let mut item = key(&id);
    item.extend([
        ("part".to_string(), s(req.part().to_string())),
        ("lr".to_string(), s(&keys.loyalty_reference)),
        ("mr".to_string(), s(&keys.merchant_reference)),
        ("lor".to_string(), s(&keys.loyalty_order_reference)),
        ("payload".to_string(), s(payload.to_string())),
        ("st".to_string(), s(VoucherStatus::Received.as_str())),
        ("attempts".to_string(), n(0)),
        ("rbase".to_string(), n(0)),
        ("rcv".to_string(), n(at)),
        ("upd".to_string(), n(at)),
        ("rk".to_string(), s(order(at, &id))),
        ("ps".to_string(), s(VoucherStatus::Received.as_str())),
        ("ord".to_string(), s(order(at, &id))),
        ("ver".to_string(), n(1)),
        (
            "hist".to_string(),
            AttributeValue::L(vec![hist_entry(
                VoucherStatus::Received,
                at,
                "stored in the DataCache",
                false,
            )]),
        ),
    ]);
    let rec = VoucherRecord {
        part: req.part().to_string(),
        keys,
        payload,
        status: VoucherStatus::Received,
        attempts: 0,
        received_at: ms_time(at).unwrap_or_default(),
        updated_at: ms_time(at).unwrap_or_default(),
        last_error: None,
    };
    (item, rec)
}

/// What the hold-or-claim core did.
enum Attempted {
    Held,
    CircuitClosed,
    Claimed(i64, Box<VoucherRecord>),
    NotHoldable(Option<VoucherStatus>),
}

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
            let (st, ord) = if c.closed() {
                hist.push(hist_entry(VoucherStatus::Submitting, at, &detail, true));
                item.insert("attempts".into(), n(1));
                item.insert("lease".into(), n(until));
                rec.attempts = 1;
                (VoucherStatus::Submitting, order(until, &id))
            } else {
                let reason = if c.mode() == Some(OverrideMode::ForceOpen) {
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

    async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .projection_expression("hist")
            .send()
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
        let mut e = Expr::transition(
            id,
            VoucherStatus::DeadLettered,
            now,
            None,
            vec![hist_entry(VoucherStatus::DeadLettered, now, &detail, false)],
        );
        e.set("err", ":err", s(&detail));
        e.adds.push("ver :one");
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
            .condition_expression("st IN (:rc, :rt, :sub)")
            .set_expression_attribute_values(Some(e.values))
            .send()
            .await;
        self.forget(id);
        applied("UpdateItem voucher dead-letter", r)
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

    async fn redrive(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<VoucherStatus>, StoreError> {
        let now = now.timestamp_millis();
        for round in 0..ROUNDS {
            backoff(round).await;
            let Some(k) = self.read_voucher(id).await? else {
                return Ok(None);
            };
            if k.rec.status != VoucherStatus::DeadLettered {
                return Ok(Some(k.rec.status));
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
                return Ok(Some(VoucherStatus::Retry));
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

    async fn retry_event_times(&self, part: &str) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .query_open(VoucherStatus::Retry, None, Some(part), usize::MAX)
            .await?
            .iter()
            .filter_map(|i| get_n(i, "lretry"))
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

impl DynamoStore {
    /// The retry ledger of `part` in `[start, end)`: how many retry events,
    /// and with `ids` their vouchers (one per event).
    async fn ledger(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ids: bool,
    ) -> Result<(i64, Vec<String>), StoreError> {
        let (a, b) = (start.timestamp_millis(), end.timestamp_millis());
        if b <= a {
            return Ok((0, vec![]));
        }
        let mut count = 0i64;
        let mut out = Vec::new();
        let mut from: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.voucher_events)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", s(format!("RL#{part}")))
                .expression_attribute_values(":a", s(format!("{a:013}")))
                .expression_attribute_values(":b", s(format!("{:013}~", b - 1)))
                .set_exclusive_start_key(from.take());
            q = if ids {
                q.projection_expression("vid")
            } else {
                q.select(Select::Count)
            };
            let page = q
                .send()
                .await
                .map_err(|e| backend("Query retry ledger", &e))?;
            count += i64::from(page.count());
            out.extend(page.items().iter().filter_map(|i| get_s(i, "vid")));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => from = Some(k.clone()),
                _ => return Ok((count, out)),
            }
        }
    }
}
