//! Part commands: checking a part's health now, outside its poll schedule.

use serde_json::json;

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::monitor::{CheckRecord, Monitor};

/// Runs `part`'s health check now and records it like any poll (operator;
/// at most once per [`crate::monitor::CHECK_NOW_INTERVAL`] per part, a
/// refusal answered 429 with the seconds to wait). Audited as
/// `part.check` with the result.
#[tracing::instrument(name = "command", skip_all, fields(action = "part.check", part = %part, caller = %who.name))]
pub async fn check_now(
    monitor: &Monitor,
    audit: &Audit,
    who: &Principal,
    part: &str,
) -> Result<CheckRecord, CommandError> {
    const ACTION: &str = "part.check";
    authorize(audit, who, Role::Operator, ACTION, part).await?;
    let out = monitor.check_now(part).await.map_err(CommandError::from);
    let detail = match &out {
        Ok(rec) => json!({
            "ok": rec.ok,
            "latency_ms": rec.latency_ms,
            "error": rec.error,
            "status": rec.circuit.status,
        }),
        Err(_) => json!({}),
    };
    audit
        .log(
            NewAuditEntry::new(who, ACTION)
                .target(part)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}
