//! Bulk redrive: every dead-lettered voucher a filter matches, sent back
//! through the flow at a chosen rate (vouchers per second, like SQS's
//! redrive velocity), with live progress and cancellation.
//!
//! The vouchers are listed when the bulk redrive starts (its `total`); each
//! then goes through [`Recovery::redrive`], so the conditional move out of
//! `dead_lettered` decides which redrive sends a voucher: of two bulk
//! redrives (or a single one) reaching the same voucher, one resubmits it,
//! the other counts it `skipped`, and the flow's claim does the rest. A
//! voucher is started at most every `1 / rate` seconds, at most
//! [`BULK_CONCURRENCY`] of them waiting for the SaaS at once.
//!
//! Bulk redrives are followed in the process that runs them (the newest
//! [`BULK_KEPT`]); a restart ends them where they are: what was redriven
//! stays redriven, the rest stays in the dead-letter queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Recovery, RecoveryError};
use crate::dlq_filter::DlqFilter;
use crate::voucher::{VoucherRecord, VoucherStatus};

/// The fastest rate a bulk redrive takes (vouchers per second).
pub const BULK_RATE_MAX: u32 = 500;
/// The rate when none is given.
pub const BULK_RATE_DEFAULT: u32 = 10;
/// Most vouchers one bulk redrive takes (redrive again for the rest).
pub const BULK_MAX: usize = 100_000;
/// Most redriven vouchers waiting for the SaaS at once, per bulk redrive.
pub const BULK_CONCURRENCY: usize = 16;
/// Bulk redrives remembered (the oldest finished ones are forgotten).
pub const BULK_KEPT: usize = 50;
/// Dead-lettered vouchers read from the store per page while listing.
const SCAN_PAGE: usize = 1000;

/// Where a bulk redrive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkState {
    /// Sending vouchers.
    Running,
    /// Cancel asked: no voucher is started any more; those in flight end.
    Cancelling,
    /// Every listed voucher was taken.
    Completed,
    /// Cancelled before the end.
    Cancelled,
}

impl BulkState {
    /// The state as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkState::Running => "running",
            BulkState::Cancelling => "cancelling",
            BulkState::Completed => "completed",
            BulkState::Cancelled => "cancelled",
        }
    }

    /// Whether it is still running (or ending its in-flight vouchers).
    pub fn is_active(self) -> bool {
        matches!(self, BulkState::Running | BulkState::Cancelling)
    }
}

/// A bulk redrive as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRedrive {
    /// Its id (`dlq-redrive-<start time>-<n>`).
    pub id: String,
    /// Which dead-lettered vouchers it takes.
    pub filter: DlqFilter,
    /// Vouchers started per second, at most.
    pub rate_per_sec: u32,
    /// Where it is.
    pub state: BulkState,
    /// Vouchers the filter matched when it started.
    pub total: u64,
    /// Moved back to `retry` and resubmitted by this bulk redrive.
    pub redriven: u64,
    /// Of those, accepted by the SaaS.
    pub submitted: u64,
    /// No longer dead-lettered when reached (redriven by someone else).
    pub skipped: u64,
    /// Storage failed for them; they stay dead-lettered.
    pub failed: u64,
    /// Who started it.
    pub started_by: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl BulkRedrive {
    /// Vouchers taken so far (redriven, skipped or failed).
    pub fn done(&self) -> u64 {
        self.redriven + self.skipped + self.failed
    }
}

/// The bulk redrives this process runs and ran.
#[derive(Default)]
pub(super) struct BulkRedrives {
    jobs: Mutex<VecDeque<Arc<Job>>>,
    seq: AtomicU64,
}

struct Job {
    now: Mutex<BulkRedrive>,
    cancel: CancellationToken,
}

impl Job {
    fn snapshot(&self) -> BulkRedrive {
        self.now.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut BulkRedrive)) {
        f(&mut self.now.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl BulkRedrives {
    fn find(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find(|j| j.snapshot().id == id).cloned()
    }

    fn add(&self, job: Arc<Job>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.push_front(job);
        while jobs.len() > BULK_KEPT {
            match jobs.iter().rposition(|j| !j.snapshot().state.is_active()) {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
    }
}

/// One page of the dead-letter queue through a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqScan {
    /// The matching vouchers, oldest dead-lettered first.
    pub vouchers: Vec<VoucherRecord>,
    /// Where the next page starts; `None`: the queue was read to its end.
    pub next: Option<(i64, String)>,
}

impl Recovery {
    /// Dead-lettered vouchers matching `filter` among the next `scan`
    /// after `after` (the previous page's `next`), oldest first.
    pub async fn dead_letters(
        &self,
        filter: &DlqFilter,
        after: Option<(i64, String)>,
        scan: usize,
    ) -> Result<DlqScan, RecoveryError> {
        let page = self.flow.cache().dead_lettered(after, scan.max(1)).await?;
        let next = (page.len() >= scan.max(1)).then(|| {
            let last = page.last().expect("a full page");
            (
                last.updated_at.timestamp_millis(),
                last.keys.loyalty_request_id.clone(),
            )
        });
        Ok(DlqScan {
            vouchers: page.into_iter().filter(|v| filter.matches(v)).collect(),
            next,
        })
    }

    /// Starts redriving every dead-lettered voucher `filter` matches (at
    /// most [`BULK_MAX`]), at most `rate_per_sec` a second; answers it as
    /// started (its `total` counted).
    pub async fn start_bulk_redrive(
        self: &Arc<Self>,
        filter: DlqFilter,
        rate_per_sec: u32,
        by: &str,
    ) -> Result<BulkRedrive, RecoveryError> {
        if !(1..=BULK_RATE_MAX).contains(&rate_per_sec) {
            return Err(RecoveryError::Invalid {
                field: "rate",
                reason: format!("must be between 1 and {BULK_RATE_MAX} vouchers per second"),
            });
        }
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = self.dead_letters(&filter, after, SCAN_PAGE).await?;
            ids.extend(page.vouchers.into_iter().map(|v| v.keys.loyalty_request_id));
            after = page.next;
            if after.is_none() || ids.len() >= BULK_MAX {
                break;
            }
        }
        ids.truncate(BULK_MAX);
        let started_at = Utc::now();
        let n = self.bulk.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job {
            now: Mutex::new(BulkRedrive {
                id: format!("dlq-redrive-{}-{n}", started_at.format("%Y%m%d%H%M%S")),
                filter,
                rate_per_sec,
                state: BulkState::Running,
                total: ids.len() as u64,
                redriven: 0,
                submitted: 0,
                skipped: 0,
                failed: 0,
                started_by: by.to_owned(),
                started_at,
                ended_at: None,
            }),
            cancel: CancellationToken::new(),
        });
        self.bulk.add(job.clone());
        let started = job.snapshot();
        tracing::info!(bulk_redrive = %started.id, total = started.total, rate_per_sec, "bulk redrive started");
        self.notify_dlq();
        tokio::spawn(self.clone().run_bulk(job, ids));
        Ok(started)
    }

    /// A bulk redrive of this process.
    pub fn bulk_redrive(&self, id: &str) -> Option<BulkRedrive> {
        self.bulk.find(id).map(|j| j.snapshot())
    }

    /// The bulk redrives of this process, newest first.
    pub fn bulk_redrives(&self) -> Vec<BulkRedrive> {
        let jobs = self.bulk.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().map(|j| j.snapshot()).collect()
    }

    /// Cancels a running bulk redrive: no voucher is started any more (those
    /// in flight end); the untouched stay dead-lettered.
    pub fn cancel_bulk_redrive(&self, id: &str) -> Result<BulkRedrive, RecoveryError> {
        let job = self
            .bulk
            .find(id)
            .ok_or_else(|| RecoveryError::UnknownBulkRedrive(id.to_owned()))?;
        let mut out = Err(RecoveryError::BulkRedriveFinished(id.to_owned()));
        job.update(|b| {
            if b.state == BulkState::Running {
                b.state = BulkState::Cancelling;
            }
            if b.state.is_active() {
                out = Ok(());
            }
        });
        out?;
        job.cancel.cancel();
        self.notify_dlq();
        Ok(job.snapshot())
    }

    fn notify_dlq(&self) {
        if let Some(c) = &self.changes {
            c.notify(crate::changes::Topic::Dlq, None);
        }
    }

    async fn run_bulk(self: Arc<Self>, job: Arc<Job>, ids: Vec<String>) {
        let rate = job.snapshot().rate_per_sec.max(1);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        // A late start is not made up for: never faster than the rate.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let slots = Arc::new(tokio::sync::Semaphore::new(BULK_CONCURRENCY));
        let mut running = tokio::task::JoinSet::new();
        for id in ids {
            tokio::select! {
                biased;
                _ = job.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let slot = tokio::select! {
                biased;
                _ = job.cancel.cancelled() => break,
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let (me, job) = (self.clone(), job.clone());
            running.spawn(async move {
                let out = me.redrive(&id).await;
                drop(slot);
                job.update(|b| match &out {
                    Ok(status) => {
                        b.redriven += 1;
                        if *status == VoucherStatus::Submitted {
                            b.submitted += 1;
                        }
                    }
                    Err(
                        RecoveryError::NotDeadLettered { .. } | RecoveryError::UnknownVoucher(_),
                    ) => b.skipped += 1,
                    Err(e) => {
                        tracing::warn!(loyalty_request_id = %id, "bulk redrive: {e}");
                        b.failed += 1;
                    }
                });
                if let Some(c) = &me.changes {
                    c.progress(crate::changes::Topic::Dlq, &job.snapshot().id, None);
                }
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
        job.update(|b| {
            b.state = if b.state == BulkState::Cancelling {
                BulkState::Cancelled
            } else {
                BulkState::Completed
            };
            b.ended_at = Some(Utc::now());
        });
        let end = job.snapshot();
        tracing::info!(
            bulk_redrive = %end.id, state = end.state.as_str(), redriven = end.redriven,
            skipped = end.skipped, failed = end.failed, "bulk redrive ended"
        );
        self.notify_dlq();
    }
}
