//! The DataCache: every voucher with its payload and status, its lifecycle,
//! and the ledger of status events (also their publication outbox).
//!
//! Every status change is one transaction that updates the voucher, appends
//! to its lifecycle and, for `retry`/`submitted`/`error`, writes the status
//! event into the outbox, so an event is never lost nor published for a
//! change that did not commit. Transitions are conditional UPDATEs: the
//! claim (`received`/`retry` → `submitting`, with a lease) is the
//! idempotency guard that keeps two handlers from both submitting.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use store::rusqlite::{params, OptionalExtension, Row, Transaction};
use store::{Database, StoreError};

use crate::voucher::{VoucherKeys, VoucherRequest, VoucherStatus};

/// A voucher as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherRecord {
    /// Its part.
    pub part: String,
    /// Its keys.
    pub keys: VoucherKeys,
    /// Its payload.
    pub payload: Value,
    /// Its status.
    pub status: VoucherStatus,
    /// SaaS calls started so far.
    pub attempts: i64,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// One step of a voucher's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleEntry {
    /// The status entered.
    pub status: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub detail: String,
}

/// What [`DataCache::hold_if_open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The part is down: the voucher is now `retry` and its event is in the outbox.
    Held,
    /// The part is not down: go ahead and submit.
    CircuitClosed,
    /// The voucher is in a state that cannot be held (or does not exist).
    NotHoldable(Option<VoucherStatus>),
}

/// What [`DataCache::claim`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller owns the submission until the lease ends; `token` must be
    /// given back to [`DataCache::finish`].
    Claimed {
        /// The claim token (the attempt number).
        token: i64,
        /// The voucher.
        voucher: Box<VoucherRecord>,
    },
    /// Someone else holds it, or it is final.
    Busy(VoucherStatus),
    /// No such voucher.
    NotFound,
}

/// A status event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// Outbox row id.
    pub id: i64,
    /// The voucher's part (the event's `type`).
    pub part: String,
    /// The voucher's keys (the event's `data`).
    pub keys: VoucherKeys,
    /// retry, submitted or error.
    pub status: VoucherStatus,
    /// The event's time.
    pub at: DateTime<Utc>,
}

/// The DataCache over the embedded database.
#[derive(Debug, Clone)]
pub struct DataCache {
    db: Database,
}

const COLS: &str = "part, loyalty_request_id, loyalty_reference, merchant_reference,
    loyalty_order_reference, payload, status, attempts, received_ms, updated_ms, last_error";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn record(r: &Row<'_>) -> store::rusqlite::Result<VoucherRecord> {
    let payload: String = r.get(5)?;
    let status: String = r.get(6)?;
    Ok(VoucherRecord {
        part: r.get(0)?,
        keys: VoucherKeys {
            loyalty_request_id: r.get(1)?,
            loyalty_reference: r.get(2)?,
            merchant_reference: r.get(3)?,
            loyalty_order_reference: r.get(4)?,
        },
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        status: status.parse().unwrap_or(VoucherStatus::Received),
        attempts: r.get(7)?,
        received_at: time(r.get(8)?),
        updated_at: time(r.get(9)?),
        last_error: r.get(10)?,
    })
}

fn load(tx: &Transaction<'_>, id: &str) -> store::rusqlite::Result<Option<VoucherRecord>> {
    tx.query_row(
        &format!("SELECT {COLS} FROM vouchers WHERE loyalty_request_id = ?1"),
        [id],
        record,
    )
    .optional()
}

/// Appends to the lifecycle and, for the statuses the seed publishes, to the outbox.
fn log_transition(
    tx: &Transaction<'_>,
    id: &str,
    part: &str,
    status: VoucherStatus,
    detail: &str,
    at: i64,
) -> store::rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO voucher_history (loyalty_request_id, status, at_ms, detail) VALUES (?1, ?2, ?3, ?4)",
        params![id, status.as_str(), at, detail],
    )?;
    if matches!(
        status,
        VoucherStatus::Retry | VoucherStatus::Submitted | VoucherStatus::Error
    ) {
        tx.execute(
            "INSERT INTO voucher_events (loyalty_request_id, part, status, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id, part, status.as_str(), at],
        )?;
    }
    Ok(())
}

impl DataCache {
    /// The DataCache in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores a new voucher as `received`; returns the stored voucher and
    /// whether it was new (a duplicate id returns the existing one untouched).
    pub async fn insert(
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
    pub async fn get(&self, id: &str) -> Result<Option<VoucherRecord>, StoreError> {
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

    /// The voucher's lifecycle, oldest first.
    pub async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
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
    pub async fn hold_if_open(&self, id: &str, now: DateTime<Utc>) -> Result<Hold, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                let Some(v) = load(tx, &id)? else {
                    return Ok(Hold::NotHoldable(None));
                };
                let expired_claim = v.status == VoucherStatus::Submitting
                    && tx.query_row(
                        "SELECT coalesce(lease_until_ms, 0) < ?2 FROM vouchers
                             WHERE loyalty_request_id = ?1",
                        params![id, ms(now)],
                        |r| r.get::<_, bool>(0),
                    )?;
                if !(matches!(v.status, VoucherStatus::Received | VoucherStatus::Retry)
                    || expired_claim)
                {
                    return Ok(Hold::NotHoldable(Some(v.status)));
                }
                let status: Option<String> = tx
                    .query_row(
                        "SELECT status FROM part_status WHERE part = ?1",
                        [&v.part],
                        |r| r.get(0),
                    )
                    .optional()?;
                let mode = crate::overrides::mode_of(tx, &v.part)?;
                if crate::overrides::effective_closed(status.as_deref(), mode) {
                    return Ok(Hold::CircuitClosed);
                }
                let reason = if mode == Some(crate::OverrideMode::ForceOpen) {
                    format!("circuit open: part {} is forced open", v.part)
                } else {
                    format!("circuit open: part {} is down", v.part)
                };
                tx.execute(
                    "UPDATE vouchers SET status = 'retry', updated_ms = ?2, last_error = ?3,
                        lease_until_ms = NULL
                     WHERE loyalty_request_id = ?1",
                    params![id, ms(now), reason],
                )?;
                log_transition(tx, &id, &v.part, VoucherStatus::Retry, &reason, ms(now))?;
                Ok(Hold::Held)
            })
            .await
    }

    /// Claims the voucher for one SaaS call: `received`/`retry` (or a
    /// `submitting` whose lease ran out) → `submitting` until `now + lease`.
    pub async fn claim(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Claim, StoreError> {
        let id = id.to_owned();
        let until = ms(now) + lease.as_millis() as i64;
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE vouchers SET status = 'submitting', attempts = attempts + 1,
                        lease_until_ms = ?3, updated_ms = ?2
                     WHERE loyalty_request_id = ?1
                       AND (status IN ('received', 'retry')
                            OR (status = 'submitting' AND lease_until_ms < ?2))",
                    params![id, ms(now), until],
                )?;
                let Some(v) = load(tx, &id)? else {
                    return Ok(Claim::NotFound);
                };
                if n == 0 {
                    return Ok(Claim::Busy(v.status));
                }
                let detail = format!("attempt {}: {detail}", v.attempts);
                log_transition(
                    tx,
                    &id,
                    &v.part,
                    VoucherStatus::Submitting,
                    &detail,
                    ms(now),
                )?;
                Ok(Claim::Claimed {
                    token: v.attempts,
                    voucher: Box::new(v),
                })
            })
            .await
    }

    /// Ends a claim with `status` (submitted, error or retry). Returns false
    /// when the claim was lost (its lease ran out and someone else took over).
    pub async fn finish(
        &self,
        id: &str,
        token: i64,
        status: VoucherStatus,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                let error = (status != VoucherStatus::Submitted).then_some(detail.as_str());
                let n = tx.execute(
                    "UPDATE vouchers SET status = ?3, lease_until_ms = NULL, updated_ms = ?4,
                        last_error = coalesce(?5, last_error)
                     WHERE loyalty_request_id = ?1 AND status = 'submitting' AND attempts = ?2",
                    params![id, token, status.as_str(), ms(now), error],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                let part: String = tx.query_row(
                    "SELECT part FROM vouchers WHERE loyalty_request_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                log_transition(tx, &id, &part, status, &detail, ms(now))?;
                Ok(true)
            })
            .await
    }

    /// Marks a voucher that is not final `dead_lettered`; returns whether it did.
    pub async fn dead_letter(
        &self,
        id: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE vouchers SET status = 'dead_lettered', lease_until_ms = NULL,
                        updated_ms = ?2, last_error = ?3
                     WHERE loyalty_request_id = ?1 AND status IN ('received', 'retry', 'submitting')",
                    params![id, ms(now), detail],
                )?;
                if n == 1 {
                    let part: String = tx.query_row(
                        "SELECT part FROM vouchers WHERE loyalty_request_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )?;
                    log_transition(
                        tx,
                        &id,
                        &part,
                        VoucherStatus::DeadLettered,
                        &detail,
                        ms(now),
                    )?;
                }
                Ok(n == 1)
            })
            .await
    }

    /// Vouchers left behind: `received` before `received_before` (never
    /// attempted) or `submitting` whose lease ran out by `now`; at most `limit`.
    pub async fn stuck(
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
    pub async fn attempts_since_redrive(&self, id: &str) -> Result<i64, StoreError> {
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
    pub async fn dead_lettered(
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
    /// `Ok(Some(status))` with a status other than retry: not dead-lettered.
    pub async fn redrive(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<VoucherStatus>, StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                let Some(v) = load(tx, &id)? else {
                    return Ok(None);
                };
                if v.status != VoucherStatus::DeadLettered {
                    return Ok(Some(v.status));
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
                Ok(Some(VoucherStatus::Retry))
            })
            .await
    }

    /// Status events not yet published, oldest first.
    pub async fn unpublished_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        self.db
            .read(move |c| {
                c.prepare(
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

    /// Marks outbox rows published.
    pub async fn mark_published(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let mut stmt =
                    tx.prepare("UPDATE voucher_events SET published = 1 WHERE id = ?1")?;
                for id in &ids {
                    stmt.execute([id])?;
                }
                Ok(())
            })
            .await
    }

    /// Retry events of `part` in `[start, end)` by event time: what a replay
    /// of that window will deliver (the count before a replay, from our own
    /// ledger rather than the archive's).
    pub async fn count_retry_events(
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

    /// Vouchers of `part` still `retry`/`received` with a retry event in
    /// `[start, end)`: what a replay of that window would resubmit.
    pub async fn count_pending_in_window(
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

    /// Event times (ms) of the latest retry event of each voucher of `part`
    /// still in `retry`.
    pub async fn retry_event_times(&self, part: &str) -> Result<Vec<i64>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare(
                    "SELECT max(e.at_ms) FROM vouchers v JOIN voucher_events e USING (loyalty_request_id)
                     WHERE v.part = ?1 AND v.status = 'retry' AND e.status = 'retry'
                     GROUP BY v.loyalty_request_id",
                )?
                .query_map([part], |r| r.get(0))?
                .collect()
            })
            .await
    }

    /// How many vouchers each (part, status) has.
    pub async fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
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
    pub async fn part_is_up(&self, part: &str) -> Result<bool, StoreError> {
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
                Ok(match crate::overrides::mode_of(c, &part)? {
                    Some(crate::OverrideMode::ForceOpen) => false,
                    Some(crate::OverrideMode::ForceClosed | crate::OverrideMode::Disabled) => true,
                    _ => up,
                })
            })
            .await
    }

    /// Whether retry events of `part` before `end` still wait in the outbox
    /// (a replay started now would miss them).
    pub async fn retry_events_pending(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartName;
    use serde_json::json;

    fn req(id: &str) -> VoucherRequest {
        VoucherRequest::parse(
            &json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                    "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}),
            &PartName::defaults(),
        )
        .unwrap()
    }

    async fn cache() -> (tempfile::TempDir, DataCache, Database) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        (tmp, DataCache::new(db.clone()), db)
    }

    async fn set_part(db: &Database, status: &'static str) {
        db.write(move |tx| {
            tx.execute(
                "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', ?1, 'now')
                 ON CONFLICT (part) DO UPDATE SET status = excluded.status",
                [status],
            )
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn duplicates_are_stored_once() {
        let (_t, c, _) = cache().await;
        let now = Utc::now();
        let (v, new) = c.insert(&req("a"), now).await.unwrap();
        assert!(new);
        assert_eq!(v.status, VoucherStatus::Received);
        let (_, new) = c.insert(&req("a"), now).await.unwrap();
        assert!(!new);
        assert_eq!(c.lifecycle("a").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn hold_only_when_the_part_is_down_with_an_event() {
        let (_t, c, db) = cache().await;
        let now = Utc::now();
        c.insert(&req("a"), now).await.unwrap();
        assert_eq!(c.hold_if_open("a", now).await.unwrap(), Hold::CircuitClosed);
        set_part(&db, "down").await;
        assert_eq!(c.hold_if_open("a", now).await.unwrap(), Hold::Held);
        let events = c.unpublished_events(10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, VoucherStatus::Retry);
        assert!(c
            .retry_events_pending("voucher", now + chrono::Duration::seconds(1))
            .await
            .unwrap());
        c.mark_published(vec![events[0].id]).await.unwrap();
        assert!(!c
            .retry_events_pending("voucher", now + chrono::Duration::seconds(1))
            .await
            .unwrap());
        let window = c
            .count_retry_events("voucher", now, now + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(window, 1);
    }

    #[tokio::test]
    async fn one_claim_at_a_time_and_leases_expire() {
        let (_t, c, _) = cache().await;
        let now = Utc::now();
        c.insert(&req("a"), now).await.unwrap();
        let lease = Duration::from_secs(10);
        let Claim::Claimed { token, .. } = c.claim("a", now, lease, "x".into()).await.unwrap()
        else {
            panic!("first claim wins")
        };
        assert_eq!(
            c.claim("a", now, lease, "y".into()).await.unwrap(),
            Claim::Busy(VoucherStatus::Submitting)
        );
        // After the lease, another handler may take over; the first loses its claim.
        let later = now + chrono::Duration::seconds(11);
        let Claim::Claimed { token: t2, .. } =
            c.claim("a", later, lease, "z".into()).await.unwrap()
        else {
            panic!("expired lease is reclaimable")
        };
        assert!(!c
            .finish("a", token, VoucherStatus::Submitted, "ok".into(), later)
            .await
            .unwrap());
        assert!(c
            .finish("a", t2, VoucherStatus::Submitted, "ok".into(), later)
            .await
            .unwrap());
        assert_eq!(
            c.claim("a", later, lease, "again".into()).await.unwrap(),
            Claim::Busy(VoucherStatus::Submitted)
        );
        assert!(!c.dead_letter("a", "x".into(), later).await.unwrap());
        let life: Vec<_> = c
            .lifecycle("a")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(life, ["received", "submitting", "submitting", "submitted"]);
        assert_eq!(
            c.claim("nope", now, lease, "x".into()).await.unwrap(),
            Claim::NotFound
        );
    }
}
