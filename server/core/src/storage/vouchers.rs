//! [`VoucherStore`]: the DataCache's storage — vouchers, their lifecycle,
//! the status-event outbox and the ledger of retry events.
//!
//! `DataCache` wraps an `Arc<dyn VoucherStore>` and adds the
//! live-change notifications; the SQLite implementation is
//! `SqliteVoucherStore`, the DynamoDB one lives in
//! `aws-backend`. Every method's contract is the DataCache method of the
//! same name; the `check_voucher_*` checks of [`super::contract`] check it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::voucher::{
    Attempt, Claim, FindCursor, Finish, Hold, LifecycleEntry, PendingEvent, Redriven,
    VoucherRecord, VoucherRef,
};
use crate::voucher::{VoucherRequest, VoucherStatus};
use crate::voucher_filter::VoucherFilter;

/// What [`VoucherStore::admit`] did with a voucher request.
#[derive(Debug, Clone, PartialEq)]
pub enum Admitted {
    /// The id was known: the stored voucher, untouched.
    Duplicate(Box<VoucherRecord>),
    /// Stored and held: its part's circuit is open, it is `retry` and its
    /// retry event is in the outbox. The voucher as stored.
    Held(Box<VoucherRecord>),
    /// Stored and claimed for its first SaaS call (token 1).
    Claimed {
        /// The claim token, for [`VoucherStore::finish`].
        token: i64,
        /// The voucher (`submitting`).
        voucher: Box<VoucherRecord>,
    },
    /// Stored, but another handler claimed or held it first (its status).
    Stored(Option<VoucherStatus>),
}

/// Vouchers and their status transitions. Every transition is atomic with
/// its lifecycle entry and, for `retry`/`submitted`/`error`/`dead_lettered`,
/// its outbox event; claims are conditional so two handlers never both submit.
#[async_trait]
pub trait VoucherStore: Send + Sync {
    /// Stores a new voucher as `received`; returns the stored voucher and
    /// whether it was new (a duplicate id returns the existing one untouched).
    async fn insert(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
    ) -> Result<(VoucherRecord, bool), StoreError>;

    /// Stores a new voucher and, in the same step where the backend can,
    /// holds it (circuit open) or claims it until `now + lease` for its
    /// first SaaS call (`detail`: the claim's reason). The default is
    /// [`VoucherStore::insert`] then [`VoucherStore::hold_or_claim_many`];
    /// DynamoDB does it in one transaction (a cost optimisation: the
    /// outcome is the same).
    async fn admit(
        &self,
        req: &VoucherRequest,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Admitted, StoreError> {
        let (rec, new) = self.insert(req, now).await?;
        if !new {
            return Ok(Admitted::Duplicate(Box::new(rec)));
        }
        let id = rec.keys.loyalty_request_id;
        let mut out = self
            .hold_or_claim_many(vec![(id.clone(), detail)], now, lease)
            .await?;
        Ok(match out.pop() {
            Some(Attempt::Held) => match self.get(&id).await? {
                Some(held) => Admitted::Held(Box::new(held)),
                None => Admitted::Stored(None),
            },
            Some(Attempt::Claimed { token, voucher }) => Admitted::Claimed { token, voucher },
            Some(Attempt::Skipped(s)) => Admitted::Stored(s),
            None => Admitted::Stored(None),
        })
    }

    /// The voucher `id` (strongly consistent).
    async fn get(&self, id: &str) -> Result<Option<VoucherRecord>, StoreError>;

    /// Vouchers whose reference `field` (or any of the four) equals `value`
    /// exactly, newest received first, strictly after `after`; at most
    /// `limit` (clamped to 1..=`FIND_LIMIT_MAX`).
    async fn find(
        &self,
        field: VoucherRef,
        value: &str,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError>;

    /// Vouchers passing `filter`, newest received first (by received time,
    /// then id, both descending), strictly after `after`; at most `limit`
    /// (clamped to 1..=[`LIST_FETCH_MAX`](crate::voucher_filter::LIST_FETCH_MAX)).
    async fn list(
        &self,
        filter: &VoucherFilter,
        after: Option<FindCursor>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError>;

    /// The voucher's lifecycle, oldest first.
    async fn lifecycle(&self, id: &str) -> Result<Vec<LifecycleEntry>, StoreError>;

    /// Holds a `received`/`retry` voucher (or one whose claim expired) as
    /// `retry` with its retry event when its part's circuit is open, deciding
    /// on the circuit as stored at commit time.
    async fn hold_if_open(&self, id: &str, now: DateTime<Utc>) -> Result<Hold, StoreError>;

    /// Claims the voucher for one SaaS call until `now + lease`.
    async fn claim(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease: Duration,
        detail: String,
    ) -> Result<Claim, StoreError>;

    /// Ends a claim; `false` when the claim `token` was lost.
    async fn finish(
        &self,
        id: &str,
        token: i64,
        status: VoucherStatus,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// [`VoucherStore::hold_if_open`] then, where the circuit is closed,
    /// [`VoucherStore::claim`], for each `(id, detail)` in order.
    async fn hold_or_claim_many(
        &self,
        items: Vec<(String, String)>,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Attempt>, StoreError>;

    /// [`VoucherStore::finish`] for many claims, dead-lettering a `retry`
    /// voucher after `dead_letter_after` failed calls since its redrive.
    async fn finish_many(
        &self,
        items: Vec<Finish>,
        dead_letter_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<VoucherStatus>, StoreError>;

    /// The statuses of `ids` (`None` for unknown ones), in order, strongly
    /// consistent.
    async fn statuses(&self, ids: Vec<String>) -> Result<Vec<Option<VoucherStatus>>, StoreError>;

    /// Marks a voucher that is not final `dead_lettered`; whether it did.
    async fn dead_letter(
        &self,
        id: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Ids of vouchers `received` before `received_before` or `submitting`
    /// with a lease ended by `now`; at most `limit`.
    async fn stuck(
        &self,
        received_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// SaaS calls since the voucher was last redriven (0 when unknown).
    async fn attempts_since_redrive(&self, id: &str) -> Result<i64, StoreError>;

    /// Dead-lettered vouchers by `(updated_ms, id)`, after `after`; at most
    /// `limit`.
    async fn dead_lettered(
        &self,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<VoucherRecord>, StoreError>;

    /// Moves a dead-lettered voucher back to `retry` (conditionally: of
    /// concurrent redrives of a voucher, one moves it). `None`: unknown.
    async fn redrive(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Redriven>, StoreError>;

    /// Status events not yet published, oldest first. Their `id`s are
    /// handles for [`VoucherStore::mark_published`] on the same store.
    async fn unpublished_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError>;

    /// Marks outbox events published (they leave the outbox).
    async fn mark_published(&self, ids: Vec<i64>) -> Result<(), StoreError>;

    /// Retry events of `part` with an event time in `[start, end)`.
    async fn count_retry_events(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Vouchers of `part` still `retry`/`received` with a retry event in
    /// `[start, end)`.
    async fn count_pending_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// The vouchers of `part` with a retry event in `[start, end)` (each
    /// once, in no particular order) and their current status: what an
    /// outage held back and what became of it.
    async fn held_in_window(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError>;

    /// Per voucher of `part` still in `retry`: its `loyalty_request_id` and
    /// the time (ms) of its latest retry event (in no particular order).
    async fn retry_event_times(&self, part: &str) -> Result<Vec<(String, i64)>, StoreError>;

    /// How many vouchers each (part, status) has.
    async fn counts(&self) -> Result<Vec<(String, String, u64)>, StoreError>;

    /// [`VoucherStore::counts`] of the statuses that are not final
    /// (`received`, `submitting`, `retry`, `dead_lettered`): what the
    /// overview shows, read without touching the (many) final vouchers where
    /// the store indexes open ones.
    async fn open_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        Ok(self
            .counts()
            .await?
            .into_iter()
            .filter(|(_, st, _)| {
                st.parse::<VoucherStatus>()
                    .is_ok_and(|s| !s.is_final() || s == VoucherStatus::DeadLettered)
            })
            .collect())
    }

    /// Whether the part's circuit is closed (status `up` or an override
    /// keeps it closed, and no override forces it open).
    async fn part_is_up(&self, part: &str) -> Result<bool, StoreError>;

    /// Whether retry events of `part` before `end` are still unpublished
    /// (strongly consistent).
    async fn retry_events_pending(
        &self,
        part: &str,
        end: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
