//! The submission flow (the seed's "data submission flow"): store the
//! voucher, hold it back while its part is down, otherwise call the SaaS and
//! record the outcome; and the publisher of the resulting status events.
//!
//! 2xx → `submitted`; 4xx → `error` (never retried); 5xx, timeout or no
//! connection → `retry`. Every call to the SaaS is made under a claim in the
//! DataCache, so a voucher is never submitted by two handlers at once and
//! never again once it is final.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::datacache::{Attempt, DataCache, Finish, VoucherRecord};
use crate::events::{voucher_status_event, EventPublisher, PublishError};
use crate::part::PartName;
use crate::storage::Admitted;
use crate::voucher::{submission_body, VoucherRequest, VoucherStatus};

/// What the SaaS said to one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// 2xx: accepted.
    Accepted {
        /// The HTTP status.
        status: u16,
    },
    /// 4xx: refused for good.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The answer, shortened.
        reason: String,
    },
    /// 5xx, timeout or no connection: try again later.
    Unavailable {
        /// What happened.
        reason: String,
    },
}

/// Sends one voucher to a part of the SaaS. The HTTP implementation lives in
/// the server; it must bound each call with a timeout.
#[async_trait]
pub trait SaasSubmitter: Send + Sync {
    /// Submits `body` (the voucher's keys and payload) to `part`.
    async fn submit(&self, part: &str, body: &Value) -> SubmitOutcome;
}

/// Errors of the submission flow.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The request was invalid.
    #[error(transparent)]
    Invalid(#[from] crate::voucher::VoucherError),
    /// The DataCache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of accepting a voucher.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The voucher after the flow ran.
    pub voucher: VoucherRecord,
    /// True when the id was known already (nothing was submitted again).
    pub duplicate: bool,
}

/// The submission flow.
pub struct SubmissionFlow {
    cache: DataCache,
    saas: Arc<dyn SaasSubmitter>,
    parts: Vec<PartName>,
    lease: Duration,
    max_attempts: i64,
    /// Every submit-and-record unit in flight: they outlive the request or
    /// drain step that started them, and shutdown waits for them.
    in_flight: TaskTracker,
}

/// Failed SaaS calls after which a voucher is dead-lettered, by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl SubmissionFlow {
    /// A flow over `cache` sending to `saas` for `parts`. `submit_timeout`
    /// bounds each SaaS call; a claim's lease is comfortably longer, so a
    /// live call never loses its claim.
    pub fn new(
        cache: DataCache,
        saas: Arc<dyn SaasSubmitter>,
        parts: Vec<PartName>,
        submit_timeout: Duration,
    ) -> Self {
        Self {
            cache,
            saas,
            parts,
            lease: submit_timeout * 2 + Duration::from_secs(30),
            max_attempts: DEFAULT_MAX_ATTEMPTS.into(),
            in_flight: TaskTracker::new(),
        }
    }

    /// The submissions in flight. Each one (the SaaS call and the recording
    /// of its outcome) runs as its own task on this tracker, so a caller that
    /// goes away (a client disconnecting, a request timing out, a drain step
    /// cancelled at shutdown) never cuts a call the SaaS may have accepted
    /// off from its recording. At shutdown, `close()` it and `wait()` (with
    /// a bound) after new work has stopped.
    pub fn in_flight(&self) -> &TaskTracker {
        &self.in_flight
    }

    /// Dead-letters a voucher once `n` SaaS calls (since its last redrive)
    /// failed as unavailable.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1).into();
        self
    }

    /// Notifies `changes` after every voucher status change (see
    /// [`DataCache::with_changes`]).
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.cache = self.cache.with_changes(changes);
        self
    }

    /// How long a claim lasts.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The DataCache.
    pub fn cache(&self) -> &DataCache {
        &self.cache
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartName] {
        &self.parts
    }

    /// Validates a request body and accepts it.
    pub async fn accept_json(&self, body: &Value) -> Result<Accepted, FlowError> {
        let req = VoucherRequest::parse(body, &self.parts)?;
        Ok(self.accept(&req).await?)
    }

    /// Stores a voucher and runs it through the flow; a duplicate id returns
    /// the existing voucher without submitting it again.
    ///
    /// Storing and holding or claiming is one step ([`DataCache::admit`]: one
    /// transaction on DynamoDB); a voucher the SaaS accepted is answered
    /// from what the flow knows, so the happy path reads nothing back.
    pub async fn accept(&self, req: &VoucherRequest) -> Result<Accepted, StoreError> {
        let id = &req.keys().loyalty_request_id;
        let admitted = self
            .cache
            .admit(req, Utc::now(), self.lease, "submitted by the flow".into())
            .await?;
        let claimed = match admitted {
            Admitted::Duplicate(voucher) => {
                return Ok(Accepted {
                    voucher: *voucher,
                    duplicate: true,
                })
            }
            Admitted::Held(voucher) => {
                return Ok(Accepted {
                    voucher: *voucher,
                    duplicate: false,
                })
            }
            Admitted::Claimed { token, voucher } => Some((token, *voucher)),
            Admitted::Stored(_) => None,
        };
        if let Some((token, voucher)) = claimed {
            let done = self
                .submit_claimed(vec![(0, token, voucher.clone())], 1)
                .await?;
            if let [(_, VoucherStatus::Submitted, at)] = done.as_slice() {
                // What `finish` wrote: the status and its time in ms (the
                // claim's lease is not part of the record; the error stays).
                return Ok(Accepted {
                    voucher: VoucherRecord {
                        status: VoucherStatus::Submitted,
                        updated_at: DateTime::from_timestamp_millis(at.timestamp_millis())
                            .unwrap_or(*at),
                        ..voucher
                    },
                    duplicate: false,
                });
            }
        }
        let voucher = self
            .cache
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("voucher {id}")))?;
        Ok(Accepted {
            voucher,
            duplicate: false,
        })
    }

    /// Runs a stored voucher through the flow: hold it if its part is down,
    /// otherwise claim it and call the SaaS. Returns the voucher's status
    /// afterwards, or `None` if it does not exist. A final voucher, or one
    /// another handler holds, is left alone (its status is returned).
    pub async fn process(&self, id: &str, why: &str) -> Result<Option<VoucherStatus>, StoreError> {
        let mut out = self
            .process_many(vec![(id.to_owned(), why.to_owned())], 1)
            .await?;
        Ok(out.pop().flatten())
    }

    /// [`SubmissionFlow::process`] for many vouchers `(id, why)` at once:
    /// one transaction holds or claims them all, the SaaS calls run
    /// `concurrency` at a time, one transaction records every outcome (and
    /// dead-letters those that failed too often). Returns each voucher's
    /// status afterwards, in the order given.
    pub async fn process_many(
        &self,
        items: Vec<(String, String)>,
        concurrency: usize,
    ) -> Result<Vec<Option<VoucherStatus>>, StoreError> {
        Ok(self
            .process_each(items, concurrency)
            .await?
            .into_iter()
            .map(Processed::status)
            .collect())
    }

    /// [`SubmissionFlow::process_many`], telling apart the vouchers it left
    /// alone from those it held or sent, in the order given.
    pub async fn process_each(
        &self,
        items: Vec<(String, String)>,
        concurrency: usize,
    ) -> Result<Vec<Processed>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let attempts = self
            .cache
            .hold_or_claim_many(items, Utc::now(), self.lease)
            .await?;
        let mut out = vec![Processed::Unknown; attempts.len()];
        let mut claimed = Vec::new();
        for (i, attempt) in attempts.into_iter().enumerate() {
            match attempt {
                Attempt::Held => out[i] = Processed::Done(VoucherStatus::Retry),
                Attempt::Skipped(None) => {}
                Attempt::Skipped(Some(status)) => out[i] = Processed::Left(status),
                Attempt::Claimed { token, voucher } => claimed.push((i, token, *voucher)),
            }
        }
        for (i, status, _) in self.submit_claimed(claimed, concurrency).await? {
            out[i] = Processed::Done(status);
        }
        Ok(out)
    }

    /// Calls the SaaS for claimed vouchers `(index, token, voucher)`,
    /// `concurrency` at a time, and records each outcome as soon as it
    /// arrives; returns `(index, status afterwards, when recorded)` per
    /// recorded outcome.
    ///
    /// The calls and their recording are one unit spawned on
    /// [`SubmissionFlow::in_flight`]: dropping this future (the caller was
    /// cancelled) leaves the unit running to the end.
    async fn submit_claimed(
        &self,
        claimed: Vec<(usize, i64, VoucherRecord)>,
        concurrency: usize,
    ) -> Result<Vec<(usize, VoucherStatus, DateTime<Utc>)>, StoreError> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let unit = SubmitUnit {
            cache: self.cache.clone(),
            saas: self.saas.clone(),
            backstop: self.lease / 2,
            max_attempts: self.max_attempts,
        };
        self.in_flight
            .spawn(unit.run(claimed, concurrency))
            .await
            .map_err(|e| {
                StoreError::unavailable(
                    "database task failed",
                    format!("recording SaaS outcomes: {e}"),
                )
            })?
    }
}

/// One batch of claimed vouchers: their SaaS calls and the recording of
/// every outcome, run as a task of its own (see
/// [`SubmissionFlow::submit_claimed`]).
struct SubmitUnit {
    cache: DataCache,
    saas: Arc<dyn SaasSubmitter>,
    /// Bound of one call beside the submitter's own timeout, so a claim is
    /// always finished within its lease.
    backstop: Duration,
    max_attempts: i64,
}

impl SubmitUnit {
    async fn run(
        self,
        claimed: Vec<(usize, i64, VoucherRecord)>,
        concurrency: usize,
    ) -> Result<Vec<(usize, VoucherStatus, DateTime<Utc>)>, StoreError> {
        let mut out = Vec::with_capacity(claimed.len());
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut calls = tokio::task::JoinSet::new();
        for (i, token, voucher) in claimed {
            let (saas, permits, backstop) = (self.saas.clone(), permits.clone(), self.backstop);
            calls.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let outcome = call_saas(saas.as_ref(), &voucher, backstop).await;
                (
                    i,
                    token,
                    voucher.keys.loyalty_request_id,
                    voucher.part,
                    outcome,
                )
            });
        }
        // Outcomes are recorded as soon as they arrive (those that arrived
        // together in one transaction), never held back for the rest of the
        // batch: an answer the SaaS gave must reach the DataCache before a
        // crash can make the voucher look unsent (it would be sent again).
        while let Some(first) = calls.join_next().await {
            let mut done = vec![first];
            while let Some(more) = calls.try_join_next() {
                done.push(more);
            }
            let mut finished = Vec::with_capacity(done.len());
            let mut order = Vec::with_capacity(done.len());
            // `call_saas` turns a panicking submitter into an outcome, so a
            // call task only fails if the runtime itself is going away.
            for (i, token, id, part, outcome) in done.into_iter().flatten() {
                let (status, detail) = match outcome {
                    SubmitOutcome::Accepted { status } => (
                        VoucherStatus::Submitted,
                        format!("accepted by the SaaS (HTTP {status})"),
                    ),
                    SubmitOutcome::Rejected { status, reason } => (
                        VoucherStatus::Error,
                        format!("refused by the SaaS (HTTP {status}): {reason}"),
                    ),
                    SubmitOutcome::Unavailable { reason } => {
                        (VoucherStatus::Retry, format!("SaaS unavailable: {reason}"))
                    }
                };
                order.push(i);
                finished.push(Finish {
                    id,
                    part,
                    token,
                    status,
                    detail,
                });
            }
            if !finished.is_empty() {
                let now = Utc::now();
                let statuses = self
                    .cache
                    .finish_many(finished, self.max_attempts, now)
                    .await?;
                out.extend(order.into_iter().zip(statuses).map(|(i, st)| (i, st, now)));
            }
        }
        Ok(out)
    }
}

/// One SaaS call for a claimed voucher, bounded by `backstop`. A submitter
/// that panics (a bug in it, or a vendor's answer it could not handle) is
/// that voucher's failed attempt — recorded and counted toward the
/// dead-letter limit like a 5xx — never a missing outcome that would leave
/// the voucher claimed and resent forever.
async fn call_saas(
    saas: &dyn SaasSubmitter,
    voucher: &VoucherRecord,
    backstop: Duration,
) -> SubmitOutcome {
    let body = submission_body(&voucher.keys, &voucher.payload);
    let call = std::panic::AssertUnwindSafe(saas.submit(&voucher.part, &body)).catch_unwind();
    match tokio::time::timeout(backstop, call).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(
                loyalty_request_id = %voucher.keys.loyalty_request_id,
                part = %voucher.part,
                "SaaS submission panicked: {what}"
            );
            SubmitOutcome::Unavailable {
                reason: "the submission failed unexpectedly (internal error)".into(),
            }
        }
        Err(_) => SubmitOutcome::Unavailable {
            reason: "no answer in time".into(),
        },
    }
}

/// What [`SubmissionFlow::process_each`] did with one voucher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// No such voucher.
    Unknown,
    /// Left alone: final, or claimed by another handler (its status).
    Left(VoucherStatus),
    /// Held (its part is down) or sent to the SaaS: its status afterwards.
    Done(VoucherStatus),
}

impl Processed {
    /// The voucher's status afterwards (`None` if it does not exist).
    pub fn status(self) -> Option<VoucherStatus> {
        match self {
            Processed::Unknown => None,
            Processed::Left(s) | Processed::Done(s) => Some(s),
        }
    }
}

/// What became of a voucher request that arrived as a bus event.
#[derive(Debug)]
pub enum RequestOutcome {
    /// Accepted (or a duplicate of an accepted one).
    Accepted(Box<Accepted>),
    /// Refused for good: the event is not a valid voucher request. Delivering
    /// it again changes nothing.
    Invalid(String),
}

/// The request body inside an Order Processing event (the seed's shape:
/// the voucher in `detail.data`, its part in `detail.metadata.type`).
pub fn request_body(event: &Value) -> Value {
    let mut body = event
        .pointer("/detail/data")
        .cloned()
        .unwrap_or(Value::Null);
    if let (Some(obj), Some(part)) = (
        body.as_object_mut(),
        event.pointer("/detail/metadata/type").cloned(),
    ) {
        obj.insert("part".into(), part);
    }
    body
}

/// Runs a voucher request that arrived as a bus event (`event`: the event's
/// JSON, as a rule target receives it) through the flow. `Err` is a
/// transient failure (storage): deliver the event again later.
pub async fn accept_request_event(
    flow: &SubmissionFlow,
    event: &str,
) -> Result<RequestOutcome, FlowError> {
    let event: Value = match serde_json::from_str(event) {
        Ok(v) => v,
        Err(e) => return Ok(RequestOutcome::Invalid(format!("event is not JSON: {e}"))),
    };
    match flow.accept_json(&request_body(&event)).await {
        Ok(a) => {
            tracing::info!(
                loyalty_request_id = %a.voucher.keys.loyalty_request_id,
                status = %a.voucher.status,
                duplicate = a.duplicate,
                "voucher request from the bus"
            );
            Ok(RequestOutcome::Accepted(Box::new(a)))
        }
        Err(FlowError::Invalid(e)) => Ok(RequestOutcome::Invalid(e.to_string())),
        Err(e) => Err(e),
    }
}

/// Publishes pending voucher status events (oldest first) and marks them
/// published; returns how many. A failure leaves them for the next call, so
/// every event is published at least once.
pub async fn publish_status_step(
    cache: &DataCache,
    publisher: &dyn EventPublisher,
) -> Result<usize, PublishError> {
    let pending = cache
        .unpublished_events(crate::events::OUTBOX_BATCH)
        .await
        .map_err(|e| PublishError(e.to_string()))?;
    if pending.is_empty() {
        return Ok(0);
    }
    let events: Vec<_> = pending
        .iter()
        .map(|p| voucher_status_event(&p.part, p.status, &p.keys, p.at))
        .collect();
    publisher.publish(&events).await?;
    cache
        .mark_published(pending.iter().map(|p| p.id).collect())
        .await
        .map_err(|e| PublishError(e.to_string()))?;
    Ok(pending.len())
}

/// Runs [`publish_status_step`] every `every` until `shutdown`, draining
/// backlogs in one go.
pub async fn publish_status_run(
    cache: DataCache,
    publisher: Arc<dyn EventPublisher>,
    every: Duration,
    shutdown: CancellationToken,
) {
    crate::events::run_outbox("voucher status events", every, shutdown, || {
        publish_status_step(&cache, publisher.as_ref())
    })
    .await
}
