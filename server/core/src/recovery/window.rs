//! Operators' windows: validation (the error names the field) and what a
//! replay of a window would do.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Recovery, RecoveryError};
use crate::part::PartName;

/// How far in the future an operator's window may end (clock skew, margin).
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(120);

/// What a replay of a window would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// Retry events of the part in the window, by event time, from the
    /// mediator's own ledger of the retry events it published (exact on
    /// both backends): what the archive holds in the window once archived.
    pub archived: i64,
    /// The bus's own figure, labelled as what it is: on AWS the archive's
    /// `EventCount` (every event it holds, of any time, and approximate:
    /// EventBridge updates it with a delay); on the embedded bus the
    /// archive's events in the window. `None` when the bus cannot say.
    pub archive_event_count: Option<i64>,
    /// Vouchers of the part still `retry`/`received` whose retry event falls
    /// in the window (from the DataCache).
    pub pending: i64,
}

impl Recovery {
    /// Checks an operator's window: start before end, not longer than the
    /// archive's retention, not ending in the future (beyond
    /// [`FUTURE_TOLERANCE`]). The error names the field.
    pub fn validate_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), RecoveryError> {
        self.check_window(start, end, self.settings.retention)
    }

    /// [`Recovery::validate_window`] against `part`'s own archive retention.
    pub fn validate_part_window(
        &self,
        part: &PartName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), RecoveryError> {
        self.check_window(start, end, self.part_recovery(part).retention)
    }

    fn check_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        retention: Duration,
    ) -> Result<(), RecoveryError> {
        let invalid = |field, reason: String| Err(RecoveryError::Invalid { field, reason });
        if start >= end {
            return invalid("start", "must be before end".into());
        }
        let retention = chrono::Duration::from_std(retention).unwrap_or_default();
        if end - start > retention {
            return invalid(
                "start",
                format!(
                    "window longer than the archive's retention ({} s)",
                    retention.num_seconds()
                ),
            );
        }
        let tolerance = chrono::Duration::from_std(FUTURE_TOLERANCE).unwrap_or_default();
        if end > Utc::now() + tolerance {
            return invalid("end", "must not be in the future".into());
        }
        Ok(())
    }

    /// What replaying `part`'s archive over `[start, end)` would deliver
    /// (the retry events of the window, from our own ledger), how many held
    /// vouchers it concerns (pending) and the bus's own archive figure.
    pub async fn preview(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Preview, RecoveryError> {
        let p = self.known_part(part)?;
        self.validate_part_window(&p, start, end)?;
        let cache = self.flow.cache();
        let archived = cache.count_retry_events(p.as_str(), start, end).await?;
        let pending = cache
            .count_pending_in_window(p.as_str(), start, end)
            .await?;
        let archive_event_count = match self
            .replays
            .count_archived(&self.part_recovery(&p).archive, start, end)
            .await
        {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(part = %p, "the archive's event count: {e}");
                None
            }
        };
        Ok(Preview {
            archived,
            pending,
            archive_event_count,
        })
    }
}
