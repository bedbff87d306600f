//! Manual circuit overrides per part (resilience4j's forced states).
//!
//! - `force_open`: the circuit is open whatever the checks say (vouchers are
//!   held as `retry`);
//! - `force_closed`: the circuit is closed whatever the checks say (vouchers
//!   are submitted);
//! - `disabled`: the circuit never opens (treated as closed);
//! - `none`: no override, the checks decide.
//!
//! Checks keep being recorded and the underlying status keeps being
//! computed; an override only changes the *effective* circuit the
//! submission flow (and the sweeper) reads. It is stored on the part's
//! `part_status` row (migration 6).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;

use crate::storage::StoreError;

use crate::part::PartName;
use crate::storage::OverrideStore;

pub use crate::circuit_override::{effective_closed, CircuitOverride, OverrideMode};

/// A validated `POST …/override` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRequest {
    /// The mode.
    pub mode: OverrideMode,
    /// Why (required unless the mode is `none`).
    pub reason: Option<String>,
    /// Who.
    pub by: Option<String>,
}

/// Errors of setting an override.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
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
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn text(body: &Value, field: &'static str) -> Result<Option<String>, OverrideError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(OverrideError::Invalid {
            field,
            reason: "must be a string".into(),
        }),
    }
}

impl OverrideRequest {
    /// Validates a request body, naming the offending field.
    pub fn parse(body: &Value) -> Result<Self, OverrideError> {
        if !body.is_object() {
            return Err(OverrideError::Invalid {
                field: "body",
                reason: "must be a JSON object".into(),
            });
        }
        let mode = match body.get("mode") {
            Some(Value::String(s)) => s.parse().map_err(|reason| OverrideError::Invalid {
                field: "mode",
                reason,
            })?,
            None | Some(Value::Null) => {
                return Err(OverrideError::Invalid {
                    field: "mode",
                    reason: "is required".into(),
                })
            }
            Some(_) => {
                return Err(OverrideError::Invalid {
                    field: "mode",
                    reason: "must be a string".into(),
                })
            }
        };
        let reason = text(body, "reason")?;
        let by = text(body, "by")?;
        if mode != OverrideMode::None && reason.is_none() {
            return Err(OverrideError::Invalid {
                field: "reason",
                reason: format!("is required for mode {mode}"),
            });
        }
        Ok(Self { mode, reason, by })
    }
}

/// Reads and sets the overrides of the configured parts.
#[derive(Clone)]
pub struct Overrides {
    store: Arc<dyn OverrideStore>,
    parts: Vec<PartName>,
    changes: Option<crate::changes::Changes>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Overrides {
    /// Overrides of `parts` kept in `store` (the embedded database, or
    /// DynamoDB).
    pub fn new(store: Arc<dyn OverrideStore>, parts: Vec<PartName>) -> Self {
        Self {
            store,
            parts,
            changes: None,
        }
    }

    /// Notifies `changes` (topic `override`) whenever an override is set or cleared.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Sets (or with `none` clears) the override of `part`; returns the
    /// override now in force.
    pub async fn set(
        &self,
        part: &str,
        req: OverrideRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<CircuitOverride>, OverrideError> {
        if !self.parts.iter().any(|p| p.as_str() == part) {
            return Err(OverrideError::UnknownPart(part.to_owned()));
        }
        let name = part.to_owned();
        let stored = (req.mode != OverrideMode::None).then(|| CircuitOverride {
            mode: req.mode,
            reason: req.reason.clone().unwrap_or_default(),
            by: req.by.clone(),
            at: now,
        });
        self.store.set_override(part, stored.as_ref(), now).await?;
        if let Some(o) = &stored {
            tracing::info!(part = %name, mode = %o.mode, reason = %o.reason, "circuit override set");
        } else {
            tracing::info!(part = %name, "circuit override cleared");
        }
        if let Some(c) = &self.changes {
            c.notify(crate::changes::Topic::Override, Some(&name));
        }
        Ok(stored)
    }

    /// The override of one part, if any.
    pub async fn get(&self, part: &str) -> Result<Option<CircuitOverride>, StoreError> {
        Ok(self.all().await?.remove(part))
    }

    /// Every override in force, by part.
    pub async fn all(&self) -> Result<HashMap<String, CircuitOverride>, StoreError> {
        self.store.overrides().await
    }

    /// Each configured part's override and effective circuit (`true`:
    /// closed), in configuration order.
    /// Every part's stored status (`up`, `down`, …) as the status store
    /// holds it (DynamoDB's is the one every replica shares).
    pub async fn statuses(&self) -> Result<HashMap<String, String>, StoreError> {
        Ok(self.store.overrides_and_statuses().await?.1)
    }

    pub async fn circuits(
        &self,
    ) -> Result<Vec<(PartName, Option<CircuitOverride>, bool)>, StoreError> {
        let (mut overrides, statuses) = self.store.overrides_and_statuses().await?;
        Ok(self
            .parts
            .iter()
            .map(|p| {
                let o = overrides.remove(p.as_str());
                let closed = effective_closed(
                    statuses.get(p.as_str()).map(String::as_str),
                    o.as_ref().map(|o| o.mode),
                );
                (p.clone(), o, closed)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn effective_circuit_follows_the_override() {
        use OverrideMode::{Disabled, ForceClosed, ForceOpen};
        assert!(effective_closed(Some("up"), None));
        assert!(effective_closed(Some("unknown"), None));
        assert!(effective_closed(None, None));
        assert!(!effective_closed(Some("down"), None));
        assert!(!effective_closed(Some("down"), Some(OverrideMode::None)));
        assert!(!effective_closed(Some("up"), Some(ForceOpen)));
        assert!(effective_closed(Some("down"), Some(ForceClosed)));
        assert!(effective_closed(Some("down"), Some(Disabled)));
        assert!(effective_closed(Some("up"), Some(Disabled)));
    }

    #[test]
    fn requests_name_the_bad_field() {
        let f = |v: Value| match OverrideRequest::parse(&v) {
            Err(OverrideError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(f(json!({"mode": "sideways", "reason": "x"})), "mode");
        assert_eq!(f(json!({"reason": "x"})), "mode");
        assert_eq!(f(json!({"mode": 3, "reason": "x"})), "mode");
        assert_eq!(f(json!({"mode": "force_open"})), "reason");
        assert_eq!(f(json!({"mode": "disabled", "reason": "  "})), "reason");
        assert_eq!(f(json!({"mode": "none", "by": 1})), "by");
        assert_eq!(f(json!([])), "body");
        let ok = OverrideRequest::parse(&json!({"mode": "none"})).unwrap();
        assert_eq!(ok.mode, OverrideMode::None);
        let ok =
            OverrideRequest::parse(&json!({"mode": "force_closed", "reason": "r", "by": "ann"}))
                .unwrap();
        assert_eq!(
            (ok.mode, ok.reason.as_deref(), ok.by.as_deref()),
            (OverrideMode::ForceClosed, Some("r"), Some("ann"))
        );
    }
}
