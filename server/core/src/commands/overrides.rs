//! Override commands: setting or clearing a part's manual circuit override.

use chrono::Utc;
use serde_json::json;

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::overrides::{CircuitOverride, OverrideRequest, Overrides};

/// An override change as asked, and the request parsed from it.
#[derive(Debug, Clone)]
pub struct OverrideChange {
    /// The part.
    pub part: String,
    /// The mode as given (`none` clears: audited as `override.clear`).
    pub mode: String,
    /// The reason as given, for the audit log.
    pub reason: Option<String>,
    /// The validated request, or why it is invalid.
    pub request: Result<OverrideRequest, CommandError>,
}

impl OverrideChange {
    /// The audit action: `override.clear` for mode `none`, else `override.set`.
    pub fn action(&self) -> &'static str {
        if self.mode == "none" {
            "override.clear"
        } else {
            "override.set"
        }
    }
}

/// A part's override after a change, and its effective circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideSet {
    /// The override in force (`None`: cleared).
    pub current: Option<CircuitOverride>,
    /// Whether the effective circuit is closed.
    pub closed: bool,
}

/// Sets (or, mode `none`, clears) a part's circuit override (operator).
#[tracing::instrument(name = "command", skip_all, fields(action = change.action(), part = %change.part, caller = %who.name))]
pub async fn set(
    overrides: &Overrides,
    audit: &Audit,
    who: &Principal,
    change: OverrideChange,
) -> Result<OverrideSet, CommandError> {
    let action = change.action();
    authorize(audit, who, Role::Operator, action, &change.part).await?;
    // Signed in, the override is set by the caller, whatever the request says.
    let request = change.request.map(|mut r| {
        if let Some(name) = super::signed_in_name(who) {
            r.by = Some(name.to_owned());
        }
        r
    });
    let out = apply(overrides, &change.part, request).await;
    audit
        .log(
            NewAuditEntry::new(who, action)
                .target(change.part.as_str())
                .reason(change.reason.as_deref())
                .detail(json!({ "mode": change.mode }))
                .result(&out),
        )
        .await;
    out
}

async fn apply(
    overrides: &Overrides,
    part: &str,
    request: Result<OverrideRequest, CommandError>,
) -> Result<OverrideSet, CommandError> {
    let current = overrides.set(part, request?, Utc::now()).await?;
    let closed = overrides
        .circuits()
        .await
        .map_err(CommandError::unavailable)?
        .into_iter()
        .find(|(p, _, _)| p.as_str() == part)
        .is_none_or(|(_, _, c)| c);
    Ok(OverrideSet { current, closed })
}
