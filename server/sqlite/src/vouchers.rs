//! [`SqliteVoucherStore`]: the DataCache's [`VoucherStore`] on the embedded
//! database (`vouchers`, `voucher_history`, `voucher_events`). Every status
//! change is one transaction that updates the voucher, appends to its
//! lifecycle and, for `retry`/`submitted`/`error`/`dead_lettered`, writes
//! the status event into the outbox; transitions are conditional UPDATEs.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mediator_core::datacache::{
    time, Attempt, Claim, FindCursor, Finish, Hold, LifecycleEntry, PendingEvent, Redriven,
    VoucherFilter, VoucherRecord, VoucherRef, FIND_LIMIT_MAX, LIST_FETCH_MAX,
};
use mediator_core::storage::{StoreError, VoucherStore};
use mediator_core::voucher::{VoucherKeys, VoucherRequest, VoucherStatus};
use serde_json::Value;
use store::rusqlite::types::Value as SqlValue;
use store::rusqlite::{params, OptionalExtension, Row, Transaction};
use store::Database;

use crate::db::Db;
use crate::id_runs::execute_over_id_runs;

/// [`VoucherStore`] on the embedded SQLite database (`vouchers`,
/// `voucher_history`, `voucher_events`).
#[derive(Debug, Clone)]
pub struct SqliteVoucherStore {
    db: Db,
}

/// [`SqliteVoucherStore::finish_many`]'s work for one caller's outcomes.
fn finish_items(
    tx: &Transaction<'_>,
    items: &[Finish],
    dead_letter_after: i64,
    now: i64,
) -> SqlResult<Vec<VoucherStatus>> {
    let mut out = Vec::with_capacity(items.len());
    for f in items {
        if !finish_tx(tx, &f.id, Some(&f.part), f.token, f.status, &f.detail, now)? {
            tracing::warn!(
                loyalty_request_id = %f.id,
                "claim lost before the outcome was recorded"
            );
            out.push(f.status);
            continue;
        }
        if f.status == VoucherStatus::Retry {
            let failed: i64 = tx
                .prepare_cached(
                    "SELECT attempts - redrive_base FROM vouchers WHERE loyalty_request_id = ?1",
                )?
                .query_row([&f.id], |r| r.get(0))?;
            let reason = format!("gave up after {failed} failed attempts; last: {}", f.detail);
            if failed >= dead_letter_after && dead_letter_tx(tx, &f.id, &reason, now)? {
                tracing::warn!(loyalty_request_id = %f.id, failed, "voucher dead-lettered");
                out.push(VoucherStatus::DeadLettered);
                continue;
            }
        }
        out.push(f.status);
    }
    Ok(out)
}

/// The columns [`record`] reads, in its order.
macro_rules! cols {
    () => {
        "part, loyalty_request_id, loyalty_reference, merchant_reference,
    loyalty_order_reference, payload, status, attempts, received_ms, updated_ms, last_error"
    };
}
const COLS: &str = cols!();
/// One voucher by id (a constant, so a cached statement is found without
/// formatting its text each time).
const LOAD_SQL: &str = concat!(
    "SELECT ",
    cols!(),
    " FROM vouchers WHERE loyalty_request_id = ?1"
);

/// One voucher by id (`?1`) and whether its lease ran out by `?2` (column 11).
const CLAIM_READ_SQL: &str = concat!(
    "SELECT ",
    cols!(),
    ", coalesce(lease_until_ms, 0) < ?2 FROM vouchers WHERE loyalty_request_id = ?1"
);

/// Claims voucher `?1` at `?2` until `?3`: `received`/`retry`, or a
/// `submitting` whose lease ran out, becomes `submitting` with one more
/// attempt (the claim token).
const CLAIM_SQL: &str = "UPDATE vouchers SET status = 'submitting', attempts = attempts + 1,
        lease_until_ms = ?3, updated_ms = ?2
     WHERE loyalty_request_id = ?1
       AND (status IN ('received', 'retry')
            OR (status = 'submitting' AND lease_until_ms < ?2))";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn record(r: &Row<'_>) -> store::rusqlite::Result<VoucherRecord> {
    let (mut v, payload) = unparsed(r)?;
    v.payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
    Ok(v)
}

/// The voucher of a row of [`COLS`] with its payload left as stored (the
/// record's is `null`): parsing it is most of reading a row.
fn unparsed(r: &Row<'_>) -> store::rusqlite::Result<(VoucherRecord, String)> {
    let payload: String = r.get(5)?;
    let status: String = r.get(6)?;
    let v = VoucherRecord {
        part: r.get(0)?,
        keys: VoucherKeys {
            loyalty_request_id: r.get(1)?,
            loyalty_reference: r.get(2)?,
            merchant_reference: r.get(3)?,
            loyalty_order_reference: r.get(4)?,
        },
        payload: Value::Null,
        status: status.parse().unwrap_or(VoucherStatus::Received),
        attempts: r.get(7)?,
        received_at: time(r.get(8)?),
        updated_at: time(r.get(9)?),
        last_error: r.get(10)?,
    };
    Ok((v, payload))
}

/// The SQL condition matching `field` against `?1`.
fn condition(field: VoucherRef) -> &'static str {
    match field {
        VoucherRef::Any => {
            "(loyalty_request_id = ?1 OR loyalty_reference = ?1 OR merchant_reference = ?1
              OR loyalty_order_reference = ?1)"
        }
        VoucherRef::LoyaltyRequestId => "loyalty_request_id = ?1",
        VoucherRef::LoyaltyReference => "loyalty_reference = ?1",
        VoucherRef::MerchantReference => "merchant_reference = ?1",
        VoucherRef::LoyaltyOrderReference => "loyalty_order_reference = ?1",
    }
}

/// The SQL of a voucher search by `field` (`?1` the value; `?2`, `?3` the
/// cursor; `?4` the limit).
pub fn find_sql(field: VoucherRef) -> String {
    // `after` is exclusive; on the first page (`i64::MAX`, "") the second
    // term never matters.
    format!(
        "SELECT {COLS} FROM vouchers WHERE {}
           AND (received_ms < ?2 OR (received_ms = ?2 AND loyalty_request_id < ?3))
         ORDER BY received_ms DESC, loyalty_request_id DESC LIMIT ?4",
        condition(field)
    )
}

/// The SQL of a voucher list by `filter` and its parameters, after the
/// cursor `after`, at most `limit`: the conditions given, newest received
/// first (indexed by part, status and receive time). `to` is folded into
/// the cursor — `(received_ms, id) < (to, '')` is `received_ms < to` — so
/// the index range is bounded on both sides by one condition each.
fn list_sql(filter: &VoucherFilter, after: FindCursor, limit: usize) -> (String, Vec<SqlValue>) {
    let before = match filter.to {
        Some(t) => after.min((ms(t), String::new())),
        None => after,
    };
    let mut conds = vec!["(received_ms, loyalty_request_id) < (?, ?)".to_owned()];
    let mut args: Vec<SqlValue> = vec![before.0.into(), before.1.into()];
    if let Some(p) = &filter.part {
        conds.push("part = ?".into());
        args.push(p.clone().into());
    }
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        conds.push(format!("status IN ({marks})"));
        args.extend(filter.statuses.iter().map(|s| s.as_str().to_owned().into()));
    }
    if let Some(f) = filter.from {
        conds.push("received_ms >= ?".into());
        args.push(ms(f).into());
    }
    if let Some(n) = filter.min_attempts {
        conds.push("attempts >= ?".into());
        args.push(n.into());
    }
    args.push((limit.clamp(1, LIST_FETCH_MAX) as i64).into());
    (
        format!(
            "SELECT {COLS} FROM vouchers WHERE {}
             ORDER BY received_ms DESC, loyalty_request_id DESC LIMIT ?",
            conds.join(" AND ")
        ),
        args,
    )
}

fn load(tx: &Transaction<'_>, id: &str) -> store::rusqlite::Result<Option<VoucherRecord>> {
    tx.prepare_cached(LOAD_SQL)?
        .query_row([id], record)
        .optional()
}

/// Appends to the lifecycle and, for the statuses published as events
/// (`retry`, `submitted`, `error`, `dead_lettered`), to the outbox.
fn log_transition(
    tx: &Transaction<'_>,
    id: &str,
    part: &str,
    status: VoucherStatus,
    detail: &str,
    at: i64,
) -> store::rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO voucher_history (loyalty_request_id, status, at_ms, detail) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, status.as_str(), at, detail])?;
    if matches!(
        status,
        VoucherStatus::Retry
            | VoucherStatus::Submitted
            | VoucherStatus::Error
            | VoucherStatus::DeadLettered
    ) {
        tx.prepare_cached(
            "INSERT INTO voucher_events (loyalty_request_id, part, status, at_ms) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, part, status.as_str(), at])?;
    }
    Ok(())
}

type SqlResult<T> = store::rusqlite::Result<T>;

/// [`DataCache::hold_if_open`] inside a transaction (`now` in ms).
fn hold_tx(tx: &Transaction<'_>, id: &str, now: i64) -> SqlResult<Hold> {
    let Some(v) = load(tx, id)? else {
        return Ok(Hold::NotHoldable(None));
    };
    let expired_claim = v.status == VoucherStatus::Submitting
        && tx
            .prepare_cached(
                "SELECT coalesce(lease_until_ms, 0) < ?2 FROM vouchers WHERE loyalty_request_id = ?1",
            )?
            .query_row(params![id, now], |r| r.get::<_, bool>(0))?;
    if !(matches!(v.status, VoucherStatus::Received | VoucherStatus::Retry) || expired_claim) {
        return Ok(Hold::NotHoldable(Some(v.status)));
    }
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM part_status WHERE part = ?1")?
        .query_row([&v.part], |r| r.get(0))
        .optional()?;
    let mode = crate::status::mode_of(tx, &v.part)?;
    let maintenance = crate::maintenance::holds_at(tx, &v.part, now)?;
    if !maintenance && mediator_core::overrides::effective_closed(status.as_deref(), mode) {
        return Ok(Hold::CircuitClosed);
    }
    let reason = if maintenance {
        format!("circuit open: part {} is in maintenance", v.part)
    } else if mode == Some(mediator_core::OverrideMode::ForceOpen) {
        format!("circuit open: part {} is forced open", v.part)
    } else {
        format!("circuit open: part {} is down", v.part)
    };
    tx.prepare_cached(
        "UPDATE vouchers SET status = 'retry', updated_ms = ?2, last_error = ?3,
            lease_until_ms = NULL
         WHERE loyalty_request_id = ?1",
    )?
    .execute(params![id, now, reason])?;
    log_transition(tx, id, &v.part, VoucherStatus::Retry, &reason, now)?;
    Ok(Hold::Held)
}

/// Whether `part`'s circuit is closed (submit) rather than open (hold), as
/// [`hold_tx`] decides it: its maintenance windows, status and override,
/// read in `tx`.
fn circuit_closed(tx: &Transaction<'_>, part: &str, now: i64) -> SqlResult<bool> {
    if crate::maintenance::holds_at(tx, part, now)? {
        return Ok(false);
    }
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM part_status WHERE part = ?1")?
        .query_row([part], |r| r.get(0))
        .optional()?;
    let mode = crate::status::mode_of(tx, part)?;
    Ok(mediator_core::overrides::effective_closed(
        status.as_deref(),
        mode,
    ))
}

/// [`DataCache::claim`] inside a transaction (`now` and `until` in ms).
fn claim_tx(
    tx: &Transaction<'_>,
    id: &str,
    now: i64,
    until: i64,
    detail: &str,
) -> SqlResult<Claim> {
    let n = tx
        .prepare_cached(CLAIM_SQL)?
        .execute(params![id, now, until])?;
    let Some(v) = load(tx, id)? else {
        return Ok(Claim::NotFound);
    };
    if n == 0 {
        return Ok(Claim::Busy(v.status));
    }
    let detail = format!("attempt {}: {detail}", v.attempts);
    log_transition(tx, id, &v.part, VoucherStatus::Submitting, &detail, now)?;
    Ok(Claim::Claimed {
        token: v.attempts,
        voucher: Box::new(v),
    })
}

/// [`DataCache::finish`] inside a transaction (`now` in ms); `part` is the
/// voucher's when the caller knows it (a voucher never changes part), else
/// it is read.
fn finish_tx(
    tx: &Transaction<'_>,
    id: &str,
    part: Option<&str>,
    token: i64,
    status: VoucherStatus,
    detail: &str,
    now: i64,
) -> SqlResult<bool> {
    let error = (status != VoucherStatus::Submitted).then_some(detail);
    // An UPDATE then a lookup of the row it just wrote (a page in cache),
    // rather than UPDATE … RETURNING: SQLite collects RETURNING rows in an
    // ephemeral table, opened and closed at every execution.
    let n = tx
        .prepare_cached(
            "UPDATE vouchers SET status = ?3, lease_until_ms = NULL, updated_ms = ?4,
                last_error = coalesce(?5, last_error)
             WHERE loyalty_request_id = ?1 AND status = 'submitting' AND attempts = ?2",
        )?
        .execute(params![id, token, status.as_str(), now, error])?;
    if n == 0 {
        return Ok(false);
    }
    let part = match part {
        Some(p) => p.to_owned(),
        None => tx
            .prepare_cached("SELECT part FROM vouchers WHERE loyalty_request_id = ?1")?
            .query_row([id], |r| r.get(0))?,
    };
    log_transition(tx, id, &part, status, detail, now)?;
    Ok(true)
}

/// [`DataCache::dead_letter`] inside a transaction (`now` in ms).
fn dead_letter_tx(tx: &Transaction<'_>, id: &str, detail: &str, now: i64) -> SqlResult<bool> {
    let part: Option<String> = tx
        .prepare_cached(
            "UPDATE vouchers SET status = 'dead_lettered', lease_until_ms = NULL,
                updated_ms = ?2, last_error = ?3
             WHERE loyalty_request_id = ?1 AND status IN ('received', 'retry', 'submitting')
             RETURNING part",
        )?
        .query_row(params![id, now, detail], |r| r.get(0))
        .optional()?;
    let Some(part) = part else {
        return Ok(false);
    };
    log_transition(tx, id, &part, VoucherStatus::DeadLettered, detail, now)?;
    Ok(true)
}

impl SqliteVoucherStore {
    /// The voucher store in `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl VoucherStore for SqliteVoucherStore {
    /// Stores a new voucher as `received`; returns the stored voucher and
    /// whether it was new (a duplicate id returns the existing one untouched).
    async fn insert(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
    ) -> Result<(VoucherRecord, bool), StoreError> {
        let (part, keys) = (req.part().to_string(), req.keys().clone());
        let payload = Value::Object(req.payload().clone()).to_string();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "INSERT INTO vouchers (loyalty_request_id, part, loyalty_reference, merchant_reference,
                        loyalty_order_reference, payload, status, received_ms, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'received', ?7, ?7)
                     ON CONFLICT (loyalty_request_id) DO NOTHING",
                    params![
                        keys.loyalty_request_id,
                        part,
                        keys.loyalty_reference,
                        keys.merchant_reference,
                        keys.loyalty_order_reference,
                        payload,
                        ms(now)
                    ],
                )?;
                if n == 1 {
                    log_transition(
                        tx,
                        &keys.loyalty_request_id,
                        &part,
                        VoucherStatus::Received,
                        "stored in the DataCache",
                        ms(now),
                    )?;
                }
                let rec = load(tx, &keys.loyalty_request_id)?
                    .ok_or(store::rusqlite::Error::QueryReturnedNoRows)?;
                Ok((rec, n == 1))
            })
            .await
    }

    /// The voucher `id`.
    async fn get(&self, id: &str) -> Result<Option<VoucherRecord>, StoreError> {
        let id = id.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {COLS} FROM vouchers WHERE loyalty_request_id = ?1"),
                    [id],
                    record,
                )
                .optional()
            })
            .await
    }

    /// Vouchers whose reference `field` (or any of the four) equals
    /// `value` exactly, newest received first, after `after` (the previous
    /// page's last voucher); at most `limit` (clamped to 1..=100). Each
    /// reference is indexed, so this reads only the matches.
    async fn find(
        &self,
        field: VoucherRef,
        value: &str,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let value = value.to_owned();
        let (after_ms, after_id) = after.unwrap_or((i64::MAX, String::new()));
        let limit = limit.clamp(1, FIND_LIMIT_MAX) as i64;
        self.db
            .read(move |c| {
                c.prepare(&find_sql(field))?
                    .query_map(params![value, after_ms, after_id, limit], record)?
                    .collect()
            })
            .await
    }

    async fn list(
        &self,
        filter: &VoucherFilter,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let (sql, args) = list_sql(filter, after.unwrap_or((i64::MAX, String::new())), limit);
        self.db
            .read(move |c| {
                c.prepare(&sql)?
                    .query_map(store::rusqlite::params_from_iter(args), record)?
                    .collect()
            })
            .await
    }

    /// The voucher's lifecycle, oldest first.
    async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
        let id = id.to_owned();
        self.db
            .read(move |c| {
                c.prepare(
                    "SELECT status, at_ms, detail FROM voucher_history
                     WHERE loyalty_request_id = ?1 ORDER BY id",
                )?
                .query_map([id], |r| {
                    Ok(LifecycleEntry {
                        status: r.get(0)?,
                        at: time(r.get(1)?),
                        detail: r.get(2)?,
                    })
                })?
                .collect()
            })
            .await
    }

    /// If the voucher's part is down, marks a `received`/`retry` voucher
    /// `retry` and puts a retry event in the outbox. The circuit is read in
    /// the same transaction, so a voucher is either held before the part's
    /// down→up change commits (and its retry event is in the window the
    /// recovery replays) or sees the part up and is submitted.
    async fn hold_if_open(&self, id: &str, now: DateTime<Utc>) -> Result<Hold, StoreError> {
        let id = id.to_owned();
        self.db.write(move |tx| hold_tx(tx, &id, ms(now))).await
    }

    /// Claims the voucher for one SaaS call: `received`/`retry` (or a
    /// `submitting` whose lease ran out) → `submitting` until `now + lease`.
    async fn claim(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Claim, StoreError> {
        let id = id.to_owned();
        let until = ms(now) + lease.as_millis() as i64;
        self.db
            .write(move |tx| claim_tx(tx, &id, ms(now), until, &detail))
            .await
    }

    /// Ends a claim with `status` (submitted, error or retry). Returns false
    /// when the claim was lost (its lease ran out and someone else took over).
    async fn finish(
        &self,
        id: &str,
        token: i64,
        status: VoucherStatus,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| finish_tx(tx, &id, None, token, status, &detail, ms(now)))
            .await
    }

    /// [`DataCache::hold_if_open`] then, where the circuit is closed,
    /// [`DataCache::claim`], for many vouchers in one transaction (the
    /// resubmission path handles replayed events in batches). `detail` is
    /// each voucher's reason for the claim. Results are in the order given;
    /// an id repeated in the batch is claimed once (the repeat is `Skipped`).
    async fn hold_or_claim_many(
        &self,
        items: Vec<(String, String)>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Attempt>, StoreError> {
        let until = ms(now) + lease.as_millis() as i64;
        let out = self
            .db
            .write(move |tx| {
                // The same decisions as `hold_tx` then `claim_tx` per voucher,
                // in fewer statements: the voucher is read once (its payload
                // parsed only if it is claimed), each part's circuit once per
                // batch (nothing in this transaction changes it), and the
                // claimed record is what that read and the claim's UPDATE
                // make it.
                let mut closed: HashMap<String, bool> = HashMap::new();
                items
                    .iter()
                    .map(|(id, detail)| {
                        let row = tx
                            .prepare_cached(CLAIM_READ_SQL)?
                            .query_row(params![id, ms(now)], |r| {
                                Ok((unparsed(r)?, r.get::<_, bool>(11)?))
                            })
                            .optional()?;
                        let Some(((mut v, payload), expired)) = row else {
                            return Ok(Attempt::Skipped(None));
                        };
                        let status = v.status;
                        let holdable =
                            matches!(status, VoucherStatus::Received | VoucherStatus::Retry)
                                || (status == VoucherStatus::Submitting && expired);
                        if !holdable {
                            return Ok(Attempt::Skipped(Some(status)));
                        }
                        let is_closed = match closed.get(&v.part) {
                            Some(c) => *c,
                            None => {
                                let c = circuit_closed(tx, &v.part, ms(now))?;
                                closed.insert(v.part.clone(), c);
                                c
                            }
                        };
                        if !is_closed {
                            return Ok(match hold_tx(tx, id, ms(now))? {
                                Hold::Held => Attempt::Held,
                                Hold::NotHoldable(s) => Attempt::Skipped(s),
                                // Not reached: the circuit was read open above.
                                Hold::CircuitClosed => Attempt::Skipped(Some(status)),
                            });
                        }
                        // The same conditions as the read above (nothing else
                        // writes between them: one writer), so the UPDATE
                        // claims it; checked all the same.
                        let n =
                            tx.prepare_cached(CLAIM_SQL)?
                                .execute(params![id, ms(now), until])?;
                        if n == 0 {
                            return Ok(Attempt::Skipped(load(tx, id)?.map(|v| v.status)));
                        }
                        v.status = VoucherStatus::Submitting;
                        v.attempts += 1;
                        v.updated_at = time(ms(now));
                        v.payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                        let detail = format!("attempt {}: {detail}", v.attempts);
                        log_transition(
                            tx,
                            id,
                            &v.part,
                            VoucherStatus::Submitting,
                            &detail,
                            ms(now),
                        )?;
                        Ok(Attempt::Claimed {
                            token: v.attempts,
                            voucher: Box::new(v),
                        })
                    })
                    .collect::<SqlResult<Vec<_>>>()
            })
            .await?;
        Ok(out)
    }

    /// [`DataCache::finish`] for many claims in one transaction; a voucher
    /// left `retry` after `dead_letter_after` failed calls since its last
    /// redrive is dead-lettered in the same transaction. Returns each
    /// voucher's status afterwards, in order (the intended status when the
    /// claim was lost).
    async fn finish_many(
        &self,
        items: Vec<Finish>,
        dead_letter_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<VoucherStatus>, StoreError> {
        // Callers whose outcomes arrive together share a commit through
        // the database's group commit; each caller's outcomes are one write
        // (a failure fails only its own).
        let now = ms(now);
        self.db
            .write(move |tx| finish_items(tx, &items, dead_letter_after, now))
            .await
    }

    /// The statuses of `ids` (`None` for unknown ones), in order. Read on
    /// the writer connection ([`Database::read_on_writer`]): its caller (the
    /// replay drain) interleaves this with its own commits.
    async fn statuses(&self, ids: Vec<String>) -> Result<Vec<Option<VoucherStatus>>, StoreError> {
        self.db
            .read_on_writer(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT status FROM vouchers WHERE loyalty_request_id = ?1")?;
                ids.iter()
                    .map(|id| {
                        Ok(stmt
                            .query_row([id], |r| r.get::<_, String>(0))
                            .optional()?
                            .map(|s| s.parse().unwrap_or(VoucherStatus::Received)))
                    })
                    .collect()
            })
            .await
    }

    /// Marks a voucher that is not final `dead_lettered`; returns whether it did.
    async fn dead_letter(
        &self,
        id: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| dead_letter_tx(tx, &id, &detail, ms(now)))
            .await
    }

    /// Vouchers left behind: `received` before `received_before` (never
    /// attempted) or `submitting` whose lease ran out by `now`; at most `limit`.
    async fn stuck(
        &self,
        received_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.db
            .read(move |c| {
                c.prepare(
                    "SELECT loyalty_request_id FROM vouchers
                     WHERE (status = 'received' AND updated_ms < ?1)
                        OR (status = 'submitting' AND coalesce(lease_until_ms, 0) < ?2)
                     ORDER BY updated_ms LIMIT ?3",
                )?
                .query_map(params![ms(received_before), ms(now), limit as i64], |r| {
                    r.get(0)
                })?
                .collect()
            })
            .await
    }

    /// SaaS calls made since the voucher was last redriven from the DLQ.
    async fn attempts_since_redrive(&self, id: &str) -> Result<i64, StoreError> {
        let id = id.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT attempts - redrive_base FROM vouchers WHERE loyalty_request_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map(|o| o.unwrap_or(0))
            })
            .await
    }

    /// Dead-lettered vouchers, oldest first, after `after` (the previous
    /// page's last `(updated_ms, id)`); at most `limit`.
    async fn dead_lettered(
        &self,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, String::new()));
        self.db
            .read(move |c| {
                c.prepare(&format!(
                    "SELECT {COLS} FROM vouchers WHERE status = 'dead_lettered'
                       AND (updated_ms, loyalty_request_id) > (?1, ?2)
                     ORDER BY updated_ms, loyalty_request_id LIMIT ?3"
                ))?
                .query_map(params![after_ms, after_id, limit as i64], record)?
                .collect()
            })
            .await
    }

    /// Moves a dead-lettered voucher back to `retry` (its retry event into
    /// the outbox) and restarts its failure count. `Ok(None)`: unknown;
    /// [`Redriven::Moved`] only for the call that moved it (the one writer
    /// serialises concurrent redrives).
    async fn redrive(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Redriven>, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                let Some(v) = load(tx, &id)? else {
                    return Ok(None);
                };
                if v.status != VoucherStatus::DeadLettered {
                    return Ok(Some(Redriven::NotDeadLettered(v.status)));
                }
                tx.execute(
                    "UPDATE vouchers SET status = 'retry', updated_ms = ?2, redrive_base = attempts
                     WHERE loyalty_request_id = ?1 AND status = 'dead_lettered'",
                    params![id, ms(now)],
                )?;
                log_transition(
                    tx,
                    &id,
                    &v.part,
                    VoucherStatus::Retry,
                    "redriven from the dead-letter queue",
                    ms(now),
                )?;
                Ok(Some(Redriven::Moved))
            })
            .await
    }

    /// Status events not yet published, oldest first.
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT e.id, e.part, v.loyalty_request_id, v.loyalty_reference, v.merchant_reference,
                            v.loyalty_order_reference, e.status, e.at_ms
                     FROM voucher_events e JOIN vouchers v USING (loyalty_request_id)
                     WHERE e.published = 0 ORDER BY e.id LIMIT ?1",
                )?
                .query_map([limit as i64], |r| {
                    Ok(PendingEvent {
                        id: r.get(0)?,
                        part: r.get(1)?,
                        keys: VoucherKeys {
                            loyalty_request_id: r.get(2)?,
                            loyalty_reference: r.get(3)?,
                            merchant_reference: r.get(4)?,
                            loyalty_order_reference: r.get(5)?,
                        },
                        status: r
                            .get::<_, String>(6)?
                            .parse()
                            .unwrap_or(VoucherStatus::Retry),
                        at: time(r.get(7)?),
                    })
                })?
                .collect()
            })
            .await
    }

    /// Marks outbox rows published. The events just published may have
    /// reached an archive (retry events do): read caches of archive counts
    /// go stale ([`crate::Changes::invalidate`], no notification).
    async fn mark_published(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                execute_over_id_runs(
                    tx,
                    "UPDATE voucher_events SET published = 1 WHERE id BETWEEN ?1 AND ?2",
                    &ids,
                )
            })
            .await?;
        Ok(())
    }

    /// Retry events of `part` in `[start, end)` by event time: what a replay
    /// of that window will deliver (the count before a replay, from our own
    /// ledger rather than the archive's).
    async fn count_retry_events(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT count(*) FROM voucher_events
                     WHERE part = ?1 AND status = 'retry' AND at_ms >= ?2 AND at_ms < ?3",
                    params![part, ms(start), ms(end)],
                    |r| r.get(0),
                )
            })
            .await
    }

    /// See [`VoucherStore::held_in_window`].
    async fn held_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError> {
        let part = part.to_owned();
        let rows: Vec<(String, String)> = self
            .db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT v.loyalty_request_id, v.status FROM vouchers v
                     WHERE v.loyalty_request_id IN (SELECT loyalty_request_id FROM voucher_events
                         WHERE part = ?1 AND status = 'retry' AND at_ms >= ?2 AND at_ms < ?3)",
                )?
                .query_map(params![part, ms(start), ms(end)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, st)| Some((id, st.parse().ok()?)))
            .collect())
    }

    /// Vouchers of `part` still `retry`/`received` with a retry event in
    /// `[start, end)`: what a replay of that window would resubmit.
    async fn count_pending_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT count(DISTINCT v.loyalty_request_id)
                     FROM vouchers v JOIN voucher_events e USING (loyalty_request_id)
                     WHERE v.part = ?1 AND v.status IN ('retry', 'received')
                       AND e.status = 'retry' AND e.at_ms >= ?2 AND e.at_ms < ?3",
                    params![part, ms(start), ms(end)],
                    |r| r.get(0),
                )
            })
            .await
    }

    /// Each voucher of `part` still in `retry` and the time (ms) of its
    /// latest retry event.
    async fn retry_event_times(&self, part: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare(
                    "SELECT v.loyalty_request_id, max(e.at_ms) FROM vouchers v JOIN voucher_events e USING (loyalty_request_id)
                     WHERE v.part = ?1 AND v.status = 'retry' AND e.status = 'retry'
                     GROUP BY v.loyalty_request_id",
                )?
                .query_map([part], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
            })
            .await
    }

    /// How many vouchers each (part, status) has.
    async fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.db
            .read(|c| {
                c.prepare("SELECT part, status, count(*) FROM vouchers GROUP BY part, status")?
                    .query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
                    })?
                    .collect()
            })
            .await
    }

    /// Whether the part's circuit is up: its status is `up` (or an override
    /// keeps it closed) and no override forces it open.
    async fn part_is_up(&self, part: &str) -> Result<bool, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                let up: bool = c
                    .query_row(
                        "SELECT status = 'up' FROM part_status WHERE part = ?1",
                        [&part],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(false);
                if crate::maintenance::holds_at(c, &part, chrono::Utc::now().timestamp_millis())? {
                    return Ok(false);
                }
                Ok(match crate::status::mode_of(c, &part)? {
                    Some(mediator_core::OverrideMode::ForceOpen) => false,
                    Some(
                        mediator_core::OverrideMode::ForceClosed
                        | mediator_core::OverrideMode::Disabled,
                    ) => true,
                    _ => up,
                })
            })
            .await
    }

    /// Whether retry events of `part` before `end` still wait in the outbox
    /// (a replay started now would miss them).
    async fn retry_events_pending(
        &self,
        part: &str,
        end: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM voucher_events
                     WHERE published = 0 AND part = ?1 AND status = 'retry' AND at_ms < ?2)",
                    params![part, ms(end)],
                    |r| r.get(0),
                )
            })
            .await
    }
}
