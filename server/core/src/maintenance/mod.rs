//! Maintenance windows: a part's planned outage. While a window holds, the
//! part's circuit is held open (vouchers are held as `retry`, as under a
//! `force_open` override, decided in the hold's own write from the stored
//! windows), checks keep running and being recorded, and the part's
//! down/up notifications are muted (`notify`). Once its hold ends — at its
//! end or ended early — the circuit follows the checks again and
//! [`Maintenance::step`] replays `[start − margin, end + margin]` through
//! recovery, once (also for a window that ended while the process was
//! down: the step reads the stored windows).
//!
//! The window and the request that schedules one are model types
//! ([`crate::maintenance_window`]); this file is the service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::part::PartName;
use crate::recovery::{Recovery, RecoveryError};
use crate::storage::maintenance::{MaintenanceStore, Scheduled};
use crate::storage::StoreError;

pub use crate::maintenance_window::{
    FieldError, MaintenanceRequest, MaintenanceWindow, WindowState, MAX_AHEAD, MAX_DURATION,
    MAX_REASON, PAST_TOLERANCE,
};

/// How often [`Maintenance::step`] runs.
pub const STEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long ended windows stay listed.
pub const LISTED_AFTER_END: Duration = Duration::days(1);

/// `t` to the millisecond, as both stores keep times.
fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Why scheduling or ending a window was refused.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The part is not configured.
    #[error("part {0:?} is not configured")]
    UnknownPart(String),
    /// No such window of the part.
    #[error("no maintenance window {0:?} of this part")]
    UnknownWindow(String),
    /// It overlaps another window of the part.
    #[error("overlaps maintenance window {} ({} – {})", .0.id, .0.start.to_rfc3339(), .0.effective_end().to_rfc3339())]
    Overlaps(Box<MaintenanceWindow>),
    /// The window's hold already ended.
    #[error("maintenance window {0:?} already ended")]
    AlreadyEnded(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldError> for MaintenanceError {
    fn from((field, reason): FieldError) -> Self {
        MaintenanceError::Invalid { field, reason }
    }
}

/// Schedules, ends and lists the parts' windows, and replays ended ones.
pub struct Maintenance {
    store: Arc<dyn MaintenanceStore>,
    parts: Vec<PartName>,
    recovery: Option<Arc<Recovery>>,
    changes: Option<crate::changes::Changes>,
    /// Each window's state as the step last saw it (to notify changes).
    seen: Mutex<HashMap<String, WindowState>>,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Maintenance {
    /// Windows of `parts` kept in `store`.
    pub fn new(store: Arc<dyn MaintenanceStore>, parts: Vec<PartName>) -> Self {
        Self {
            store,
            parts,
            recovery: None,
            changes: None,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Replays ended windows through `recovery`.
    pub fn with_recovery(mut self, recovery: Arc<Recovery>) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Notifies `changes` (topic `override`: the circuit as shown) when a
    /// window is scheduled, starts, ends or is replayed.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn MaintenanceStore> {
        &self.store
    }

    fn notify(&self, part: &str) {
        if let Some(c) = &self.changes {
            c.notify(crate::changes::Topic::Override, Some(part));
        }
    }

    fn known(&self, part: &str) -> Result<(), MaintenanceError> {
        if self.parts.iter().any(|p| p.as_str() == part) {
            Ok(())
        } else {
            Err(MaintenanceError::UnknownPart(part.to_owned()))
        }
    }

    /// Schedules a window of `part` by `by`.
    pub async fn schedule(
        &self,
        part: &str,
        req: MaintenanceRequest,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        self.known(part)?;
        let now = millis(now);
        let w = MaintenanceWindow {
            id: format!("mw-{}-{part}", now.timestamp_millis()),
            part: part.to_owned(),
            start: millis(req.start),
            end: millis(req.end),
            reason: req.reason,
            by: by.to_owned(),
            created_at: now,
            ended_at: None,
            ended_by: None,
            end_reason: None,
            replay: None,
        };
        match self.store.schedule(&w).await? {
            Scheduled::Recorded => {}
            Scheduled::Overlaps(other) => return Err(MaintenanceError::Overlaps(other)),
        }
        tracing::info!(part, id = %w.id, start = %w.start, end = %w.end, reason = %w.reason, "maintenance window scheduled");
        self.notify(part);
        Ok(w)
    }

    /// Ends the window `id` of `part` now (cancels it if it has not
    /// started).
    pub async fn end(
        &self,
        part: &str,
        id: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        self.known(part)?;
        let now = millis(now);
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(MaintenanceError::Invalid {
                field: "reason",
                reason: "is required".into(),
            });
        }
        if reason.chars().count() > MAX_REASON {
            return Err(MaintenanceError::Invalid {
                field: "reason",
                reason: format!("must be at most {MAX_REASON} characters"),
            });
        }
        let Some(w) = self.store.window(id).await?.filter(|w| w.part == part) else {
            return Err(MaintenanceError::UnknownWindow(id.to_owned()));
        };
        if w.cancelled() || w.effective_end() <= now {
            return Err(MaintenanceError::AlreadyEnded(id.to_owned()));
        }
        let ended = self
            .store
            .end(id, now, by, reason)
            .await?
            .filter(|e| e.ended_at == Some(now))
            .ok_or_else(|| MaintenanceError::AlreadyEnded(id.to_owned()))?;
        tracing::info!(
            part,
            id,
            reason,
            cancelled = ended.cancelled(),
            "maintenance window ended early"
        );
        self.notify(part);
        Ok(ended)
    }

    /// The windows of `part` (every part when `None`) not ended more than
    /// [`LISTED_AFTER_END`] before `now`, by start.
    pub async fn list(
        &self,
        part: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        self.store.windows(part, now - LISTED_AFTER_END).await
    }

    /// The window holding each part at `now`, by part.
    pub async fn holding(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, MaintenanceWindow>, StoreError> {
        Ok(self
            .store
            .windows(None, now)
            .await?
            .into_iter()
            .filter(|w| w.holds(now))
            .map(|w| (w.part.clone(), w))
            .collect())
    }

    /// Notifies windows that started or ended since the last step, and
    /// replays each ended window not replayed yet (once its events are
    /// archived and no other replay of its part runs; else next step).
    /// Returns how many replays it started.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<usize, RecoveryError> {
        let windows = self.store.windows(None, now - LISTED_AFTER_END).await?;
        let mut moved = Vec::new();
        {
            let mut seen = self.seen.lock().expect("maintenance states");
            for w in &windows {
                let st = w.state(now);
                if seen.insert(w.id.clone(), st) != Some(st) {
                    moved.push(w.part.clone());
                }
            }
            seen.retain(|id, _| windows.iter().any(|w| &w.id == id));
        }
        for p in moved {
            self.notify(&p);
        }
        let Some(recovery) = &self.recovery else {
            return Ok(0);
        };
        let mut started = 0;
        for w in windows
            .iter()
            .filter(|w| w.state(now) == WindowState::Ended)
        {
            let Some(part) = self.parts.iter().find(|p| p.as_str() == w.part) else {
                continue;
            };
            match recovery
                .replay_maintenance(part, w.start, w.effective_end(), &w.by)
                .await
            {
                Ok(None) => {}
                Ok(Some(name)) => {
                    if self.store.mark_replayed(&w.id, &name).await? {
                        tracing::info!(part = %part, id = %w.id, replay = %name, "maintenance window replayed");
                        started += 1;
                    }
                    self.notify(part.as_str());
                }
                Err(RecoveryError::Replay(crate::recovery::ReplayError::Rejected(e))) => {
                    tracing::error!(part = %part, id = %w.id, "maintenance replay refused: {e}");
                    self.store
                        .mark_replayed(&w.id, &format!("refused: {e}"))
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(started)
    }

    /// Runs [`Maintenance::step`] every [`STEP_EVERY`] until `shutdown`.
    pub fn spawn(self: Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(STEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = self.step(Utc::now()).await {
                    tracing::warn!("maintenance: {e}");
                }
            }
        });
    }
}
