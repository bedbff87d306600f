//! Current status of each part, as the console's overview shows it.
//!
//! Until the status monitor has checked a part its status is
//! [`PartState::Unknown`]; the board still lists every configured part.

use std::sync::Arc;

use crate::storage::{StatusStore, StoreError};
use chrono::{DateTime, Utc};

use crate::circuit::Thresholds;
use crate::part::{PartName, PartSettings};

pub use crate::circuit::PartState;

/// One part's row on the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSummary {
    /// The part.
    pub name: PartName,
    /// Its current status.
    pub state: PartState,
    /// When the status last changed, if it ever did.
    pub changed_at: Option<DateTime<Utc>>,
    /// Archive that keeps this part's retry events.
    pub archive_name: String,
    /// Consecutive failed checks so far.
    pub failures: u32,
    /// Consecutive good checks so far.
    pub successes: u32,
    /// The part's circuit thresholds.
    pub thresholds: Thresholds,
    /// When the part was last checked.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
}

/// Reads and seeds the status of the configured parts through a
/// [`StatusStore`].
#[derive(Clone)]
pub struct StatusBoard {
    store: Arc<dyn StatusStore>,
    parts: Vec<PartSettings>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl StatusBoard {
    /// A board over `parts` (in the order given) reading `store` (the
    /// embedded database, or DynamoDB shared by every replica).
    pub fn new(store: Arc<dyn StatusStore>, parts: Vec<PartSettings>) -> Self {
        Self { store, parts }
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartSettings] {
        &self.parts
    }

    /// Makes sure every configured part has a status row (`unknown` when new);
    /// rows of parts no longer configured are kept, so history is not lost.
    pub async fn seed(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let names: Vec<String> = self.parts.iter().map(|p| p.name.to_string()).collect();
        self.store.seed(&names, now).await
    }

    /// Status of every configured part, in configuration order.
    pub async fn overview(&self) -> Result<Vec<PartSummary>, StoreError> {
        let names: Vec<String> = self.parts.iter().map(|p| p.name.to_string()).collect();
        let mut stored = self.store.board(&names).await?;
        Ok(self
            .parts
            .iter()
            .map(|p| {
                let snap = stored.remove(p.name.as_str());
                let c = snap.as_ref().map(|s| s.circuit.clone()).unwrap_or_default();
                let state = match c.status {
                    PartState::Up | PartState::Unknown if c.failures > 0 => PartState::Pending,
                    s => s,
                };
                PartSummary {
                    name: p.name.clone(),
                    state,
                    changed_at: c.changed_at,
                    archive_name: p.archive_name.clone(),
                    failures: c.failures,
                    successes: c.successes,
                    thresholds: p.thresholds,
                    last_check_at: snap.as_ref().and_then(|s| s.last_check_at),
                    last_error: snap.and_then(|s| s.last_error),
                }
            })
            .collect())
    }

    /// Status of one part, `None` if it is not configured.
    pub async fn part(&self, name: &str) -> Result<Option<PartSummary>, StoreError> {
        if !self.parts.iter().any(|p| p.name.as_str() == name) {
            return Ok(None);
        }
        Ok(self
            .overview()
            .await?
            .into_iter()
            .find(|p| p.name.as_str() == name))
    }

    /// Raw status row, for diagnostics.
    pub async fn stored_status(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.store.stored_status(name).await
    }
}
