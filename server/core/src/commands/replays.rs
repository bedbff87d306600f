//! Replay commands: starting a replay of a part's window and cancelling
//! one; and the window rule the console's proposals follow.
//!
//! The window an operator asks for is checked once, by
//! [`Recovery::validate_part_window`] (start before end, within the
//! archive's retention, ending at most [`FUTURE_TOLERANCE`] from now), when
//! the replay is started or previewed. The console proposes windows that
//! end at most [`PROPOSAL_LEAD`] from now, half that tolerance, so a
//! proposal is still accepted when the operator confirms it a minute later.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::part::PartName;
use crate::recovery::{Recovery, RecoverySettings, ReplayRecord, FUTURE_TOLERANCE};

/// Audit action of starting a replay.
pub const START: &str = "replay.start";
/// Audit action of cancelling a replay.
pub const CANCEL: &str = "replay.cancel";

/// How far past now a window the console proposes may end.
pub const PROPOSAL_LEAD: Duration = Duration::from_secs(FUTURE_TOLERANCE.as_secs() / 2);

/// The end the console proposes for a window that would end at `end`:
/// no later than [`PROPOSAL_LEAD`] from `now`.
pub fn proposed_end(end: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let lead = chrono::Duration::from_std(PROPOSAL_LEAD).unwrap_or_default();
    end.min(now + lead)
}

/// The margin the console adds around an outage of `part` when it proposes
/// a replay window: the part's replay margin (the default one for a name
/// that is not a part name).
pub fn margin(recovery: &Recovery, part: &str) -> Duration {
    PartName::parse(part)
        .map(|p| recovery.part_recovery(&p).margin)
        .unwrap_or(RecoverySettings::default().margin)
}

/// A replay to start, as validated by the shell.
#[derive(Debug, Clone, PartialEq)]
pub struct StartReplay {
    /// The window `[start, end)`; `None`: the part's latest replay interval.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Who starts it, as the request says: the caller's own name replaces
    /// it when signed in ([`super::signed_in_name`]).
    pub by: String,
}

/// A replay start as asked: what the audit log records whatever happens.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayAsk {
    /// The part as given (the audit target).
    pub part: String,
    /// Why, when the request gives a reason.
    pub reason: Option<String>,
    /// The window's start as given (recorded when the start fails).
    pub start: Value,
    /// The window's end as given.
    pub end: Value,
}

/// Starts a manual replay of a part's window (operator), recorded as
/// started by the request's `by`, or by the caller when signed in.
#[tracing::instrument(name = "command", skip_all, fields(action = START, part = %ask.part, caller = %who.name))]
pub async fn start(
    recovery: &Recovery,
    audit: &Audit,
    who: &Principal,
    ask: ReplayAsk,
    request: Result<StartReplay, CommandError>,
) -> Result<ReplayRecord, CommandError> {
    authorize(audit, who, Role::Operator, START, &ask.part).await?;
    let out = match request {
        Ok(r) => {
            let by = super::signed_in_name(who).unwrap_or(&r.by);
            recovery
                .replay_again(&ask.part, r.window, by)
                .await
                .map_err(CommandError::from)
        }
        Err(e) => Err(e),
    };
    let detail = match &out {
        Ok(r) => json!({
            "replay": r.name,
            "window_start": r.window_start,
            "window_end": r.window_end,
        }),
        Err(_) => json!({ "start": ask.start, "end": ask.end }),
    };
    audit
        .log(
            NewAuditEntry::new(who, START)
                .target(ask.part)
                .reason(ask.reason.as_deref())
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}

/// Cancels a replay the mediator started (operator).
#[tracing::instrument(name = "command", skip_all, fields(action = CANCEL, replay = name, caller = %who.name))]
pub async fn cancel(
    recovery: &Recovery,
    audit: &Audit,
    who: &Principal,
    name: &str,
) -> Result<ReplayRecord, CommandError> {
    authorize(audit, who, Role::Operator, CANCEL, name).await?;
    let out = recovery.cancel(name).await.map_err(CommandError::from);
    audit
        .log(NewAuditEntry::new(who, CANCEL).target(name).result(&out))
        .await;
    out
}
