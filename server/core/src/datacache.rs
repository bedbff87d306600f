//! The DataCache: every voucher with its payload and status, its lifecycle,
//! and the ledger of status events (also their publication outbox).
//!
//! Every status change is one transaction that updates the voucher, appends
//! to its lifecycle and, for `retry`/`submitted`/`error`/`dead_lettered`,
//! writes the status event into the outbox, so an event is never lost nor published for a
//! change that did not commit. Transitions are conditional UPDATEs: the
//! claim (`received`/`retry` → `submitting`, with a lease) is the
//! idempotency guard that keeps two handlers from both submitting.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::StoreError;
use chrono::{DateTime, Utc};

use crate::storage::VoucherStore;
use crate::voucher::{VoucherRequest, VoucherStatus};
pub use crate::voucher_filter::{VoucherFilter, LIST_FETCH_MAX};

pub use crate::voucher::{
    time, Attempt, Claim, FindCursor, Finish, Hold, LifecycleEntry, PendingEvent, Redriven,
    VoucherRecord, VoucherRef, FIND_LIMIT_MAX,
};

/// One page of a voucher list ([`DataCache::list`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherPage {
    /// The vouchers, newest received first.
    pub vouchers: Vec<VoucherRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<FindCursor>,
}

/// The DataCache: a [`VoucherStore`] (SQLite by default, DynamoDB in
/// `aws-backend`) plus the live-change notifications of its writes.
#[derive(Clone)]
pub struct DataCache {
    store: Arc<dyn VoucherStore>,
    changes: Option<crate::changes::Changes>,
}

impl std::fmt::Debug for DataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataCache")
            .field("notifies", &self.changes.is_some())
            .finish_non_exhaustive()
    }
}

impl DataCache {
    /// The DataCache on `store` (the embedded database, or DynamoDB).
    pub fn new(store: Arc<dyn VoucherStore>) -> Self {
        Self {
            store,
            changes: None,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn VoucherStore> {
        &self.store
    }

    /// Notifies `changes` (topic `voucher`, and `dlq` for dead-lettering and
    /// redrive) after every voucher status change.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    fn touched(&self, part: Option<&str>, dlq: bool) {
        if let Some(c) = &self.changes {
            c.notify(crate::changes::Topic::Voucher, part);
            if dlq {
                c.notify(crate::changes::Topic::Dlq, part);
            }
        }
    }

    /// Stores a new voucher as `received`; returns the stored voucher and
    /// whether it was new (a duplicate id returns the existing one untouched).
    pub async fn insert(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
    ) -> Result<(VoucherRecord, bool), StoreError> {
        let (rec, new) = self.store.insert(req, now).await?;
        if new {
            self.touched(Some(&rec.part), false);
        }
        Ok((rec, new))
    }

    /// Stores a new voucher and holds or claims it
    /// ([`VoucherStore::admit`]: [`DataCache::insert`] then
    /// [`DataCache::hold_or_claim_many`], one transaction on DynamoDB).
    pub async fn admit(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<crate::storage::Admitted, StoreError> {
        let out = self.store.admit(req, now, lease, detail).await?;
        if !matches!(out, crate::storage::Admitted::Duplicate(_)) {
            self.touched(Some(req.part().as_str()), false);
        }
        Ok(out)
    }

    /// The voucher `id`.
    pub async fn get(&self, id: &str) -> Result<Option<VoucherRecord>, StoreError> {
        self.store.get(id).await
    }

    /// Vouchers whose reference `field` (or any of the four) equals
    /// `value` exactly, newest received first, after `after` (the previous
    /// page's last voucher); at most `limit` (clamped to 1..=100). Each
    /// reference is indexed, so this reads only the matches.
    pub async fn find(
        &self,
        field: VoucherRef,
        value: &str,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        self.store.find(field, value, after, limit).await
    }

    /// One page of the vouchers `filter` passes, newest received first,
    /// after `after` (the previous page's last voucher): at most `limit`
    /// (clamped to 1..=100) and where the next page starts (`None` on the
    /// last page).
    pub async fn list(
        &self,
        filter: &VoucherFilter,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<VoucherPage, StoreError> {
        let limit = limit.clamp(1, FIND_LIMIT_MAX);
        let mut vouchers = self.store.list(filter, after, limit + 1).await?;
        let more = vouchers.len() > limit;
        vouchers.truncate(limit);
        let next = match (more, vouchers.last()) {
            (true, Some(last)) => Some((
                last.received_at.timestamp_millis(),
                last.keys.loyalty_request_id.clone(),
            )),
            _ => None,
        };
        Ok(VoucherPage { vouchers, next })
    }

    /// The voucher's lifecycle, oldest first.
    pub async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError> {
        self.store.lifecycle(id).await
    }

    /// If the voucher's part is down, marks a `received`/`retry` voucher
    /// `retry` and puts a retry event in the outbox. The circuit is read in
    /// the same transaction, so a voucher is either held before the part's
    /// down→up change commits (and its retry event is in the window the
    /// recovery replays) or sees the part up and is submitted.
    pub async fn hold_if_open(&self, id: &str, now: DateTime<Utc>) -> Result<Hold, StoreError> {
        let h = self.store.hold_if_open(id, now).await?;
        if h == Hold::Held {
            self.touched(None, false);
        }
        Ok(h)
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
        let c = self.store.claim(id, now, lease, detail).await?;
        if let Claim::Claimed { voucher, .. } = &c {
            self.touched(Some(&voucher.part), false);
        }
        Ok(c)
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
        let done = self.store.finish(id, token, status, detail, now).await?;
        if done {
            self.touched(None, false);
        }
        Ok(done)
    }

    /// [`DataCache::hold_if_open`] then, where the circuit is closed,
    /// [`DataCache::claim`], for many vouchers (one transaction on SQLite;
    /// the resubmission path handles replayed events in batches). `detail`
    /// is each voucher's reason for the claim. Results are in the order
    /// given; an id repeated in the batch is claimed once (the repeat is
    /// `Skipped`).
    pub async fn hold_or_claim_many(
        &self,
        items: Vec<(String, String)>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Attempt>, StoreError> {
        let out = self.store.hold_or_claim_many(items, now, lease).await?;
        if out.iter().any(|a| !matches!(a, Attempt::Skipped(_))) {
            self.touched(None, false);
        }
        Ok(out)
    }

    /// [`DataCache::finish`] for many claims; a voucher left `retry` after
    /// `dead_letter_after` failed calls since its last redrive is
    /// dead-lettered with it. Returns each voucher's status afterwards, in
    /// order (the intended status when the claim was lost).
    pub async fn finish_many(
        &self,
        items: Vec<Finish>,
        dead_letter_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<VoucherStatus>, StoreError> {
        let out = self
            .store
            .finish_many(items, dead_letter_after, now)
            .await?;
        if !out.is_empty() {
            self.touched(None, out.contains(&VoucherStatus::DeadLettered));
        }
        Ok(out)
    }

    /// The statuses of `ids` (`None` for unknown ones), in order, strongly
    /// consistent (the replay drain interleaves this with its own commits).
    pub async fn statuses(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<Option<VoucherStatus>>, StoreError> {
        self.store.statuses(ids).await
    }

    /// Marks a voucher that is not final `dead_lettered`; returns whether it did.
    pub async fn dead_letter(
        &self,
        id: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = self.store.dead_letter(id, detail, now).await?;
        if done {
            self.touched(None, true);
        }
        Ok(done)
    }

    /// Vouchers left behind: `received` before `received_before` (never
    /// attempted) or `submitting` whose lease ran out by `now`; at most `limit`.
    pub async fn stuck(
        &self,
        received_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.store.stuck(received_before, now, limit).await
    }

    /// SaaS calls made since the voucher was last redriven from the DLQ.
    pub async fn attempts_since_redrive(&self, id: &str) -> Result<i64, StoreError> {
        self.store.attempts_since_redrive(id).await
    }

    /// Dead-lettered vouchers, oldest first, after `after` (the previous
    /// page's last `(updated_ms, id)`); at most `limit`.
    pub async fn dead_lettered(
        &self,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError> {
        self.store.dead_lettered(after, limit).await
    }

    /// Moves a dead-lettered voucher back to `retry` (its retry event into
    /// the outbox) and restarts its failure count. `Ok(None)`: unknown;
    /// [`Redriven::Moved`] only for the one call that moved it.
    pub async fn redrive(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Redriven>, StoreError> {
        let s = self.store.redrive(id, now).await?;
        if s == Some(Redriven::Moved) {
            self.touched(None, true);
        }
        Ok(s)
    }

    /// Status events not yet published, oldest first.
    pub async fn unpublished_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        self.store.unpublished_events(limit).await
    }

    /// Marks outbox events published. The events just published may have
    /// reached an archive (retry events do): read caches of archive counts
    /// go stale ([`crate::Changes::invalidate`], no notification).
    pub async fn mark_published(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        self.store.mark_published(ids).await?;
        if let Some(c) = &self.changes {
            c.invalidate();
        }
        Ok(())
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
        self.store.count_retry_events(part, start, end).await
    }

    /// See [`VoucherStore::held_in_window`].
    pub async fn held_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError> {
        self.store.held_in_window(part, start, end).await
    }

    /// Vouchers of `part` still `retry`/`received` with a retry event in
    /// `[start, end)`: what a replay of that window would resubmit.
    pub async fn count_pending_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.store.count_pending_in_window(part, start, end).await
    }

    /// Each voucher of `part` still in `retry` and the time (ms) of its
    /// latest retry event.
    pub async fn retry_event_times(&self, part: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.store.retry_event_times(part).await
    }

    /// How many vouchers each (part, status) has.
    pub async fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.store.counts().await
    }

    /// Whether the part's circuit is up: its status is `up` (or an override
    /// keeps it closed) and no override forces it open.
    pub async fn part_is_up(&self, part: &str) -> Result<bool, StoreError> {
        self.store.part_is_up(part).await
    }

    /// Whether retry events of `part` before `end` still wait in the outbox
    /// (a replay started now would miss them).
    pub async fn retry_events_pending(
        &self,
        part: &str,
        end: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store.retry_events_pending(part, end).await
    }
}
