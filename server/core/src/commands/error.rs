//! [`CommandError`]: why a command was refused, and its one HTTP answer.

use serde_json::{json, Value};

use crate::access::{Principal, Role};
use crate::monitor::{ceil_secs, CheckNowError};
use crate::overrides::OverrideError;
use crate::recovery::RecoveryError;
use crate::recovery::ReplayError;
use crate::submit::FlowError;
use crate::voucher_filter::FilterError;

/// Why a command (or a read shaped like one) was refused. The JSON API
/// answers it with [`CommandError::http_status`] and
/// [`CommandError::body`]; the console's server functions convert it to
/// their own error type in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The caller's role does not allow the action (403, naming `role`).
    #[error("{reason}")]
    Forbidden {
        /// The role the action needs.
        required: Role,
        /// Why, naming the role and the caller's.
        reason: String,
    },
    /// A field of the request is invalid (422, naming the field).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// Nothing of that name (404; naming `part` for an unknown part).
    #[error("{what}")]
    NotFound {
        /// The field that named it, when the answer names one.
        field: Option<String>,
        /// What was not found, in words.
        what: String,
    },
    /// Refused in the current state (409, naming what it concerns): an
    /// active replay, a finished one, a voucher not dead-lettered.
    #[error("{reason}")]
    Conflict {
        /// What it concerns (`part`, `name`, `loyalty_request_id`).
        field: String,
        /// Why.
        reason: String,
    },
    /// Asked again too soon (429 with `Retry-After`, naming the field).
    #[error("{reason}")]
    TooSoon {
        /// What it concerns (`part`).
        field: String,
        /// Why, and when to try again.
        reason: String,
        /// Seconds until it may be asked again.
        retry_after_secs: u64,
    },
    /// Storage or the bus failed (503).
    #[error("{0}")]
    Unavailable(String),
    /// No caller: sign-in is on and the request is not signed in (401).
    /// The JSON API's sign-in middleware answers this itself; the console's
    /// server functions take their status from here too.
    #[error("{0}")]
    Unauthenticated(String),
}

impl CommandError {
    /// `who` may not do what `required` may.
    pub fn forbidden(who: &Principal, required: Role) -> Self {
        CommandError::Forbidden {
            required,
            reason: format!(
                "requires the {required} role ({} is {})",
                who.name, who.role
            ),
        }
    }

    /// `field` is invalid because of `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CommandError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Nothing matches (the answer names no field).
    pub fn not_found(what: impl Into<String>) -> Self {
        CommandError::NotFound {
            field: None,
            what: what.into(),
        }
    }

    /// The part is not configured (404 naming `part`).
    pub fn unknown_part(part: &str) -> Self {
        CommandError::NotFound {
            field: Some("part".into()),
            what: format!("part {part:?} is not configured"),
        }
    }

    /// Storage or the bus failed.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        CommandError::Unavailable(e.to_string())
    }

    /// The HTTP status this refusal is answered with: the one mapping of
    /// refusals to statuses, for the JSON API and the console's server
    /// functions alike.
    pub fn http_status(&self) -> u16 {
        match self {
            CommandError::Unauthenticated(_) => 401,
            CommandError::Forbidden { .. } => 403,
            CommandError::Invalid { .. } => 422,
            CommandError::NotFound { .. } => 404,
            CommandError::Conflict { .. } => 409,
            CommandError::TooSoon { .. } => 429,
            CommandError::Unavailable(_) => 503,
        }
    }

    /// The field the answer names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            CommandError::Forbidden { .. } => Some("role"),
            CommandError::Invalid { field, .. }
            | CommandError::Conflict { field, .. }
            | CommandError::TooSoon { field, .. } => Some(field),
            CommandError::NotFound { field, .. } => field.as_deref(),
            CommandError::Unavailable(_) | CommandError::Unauthenticated(_) => None,
        }
    }

    /// Seconds the caller should wait before asking again (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            CommandError::TooSoon {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The JSON body of the answer: `{"error", "field"?}`.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.to_string() });
        if let Some(f) = self.field() {
            body["field"] = json!(f);
        }
        body
    }
}

impl From<RecoveryError> for CommandError {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::Invalid { field, reason } => CommandError::invalid(field, reason),
            RecoveryError::Replay(ReplayError::Rejected(r)) => CommandError::invalid("start", r),
            RecoveryError::UnknownVoucher(id) => {
                CommandError::not_found(format!("voucher {id:?} not found"))
            }
            e @ RecoveryError::NotDeadLettered { .. } => CommandError::Conflict {
                field: "loyalty_request_id".into(),
                reason: e.to_string(),
            },
            e @ RecoveryError::Busy { .. } => CommandError::Conflict {
                field: "part".into(),
                reason: e.to_string(),
            },
            e @ RecoveryError::UnknownBulkRedrive(_) => CommandError::not_found(e.to_string()),
            e @ RecoveryError::BulkRedriveFinished(_) => CommandError::Conflict {
                field: "id".into(),
                reason: e.to_string(),
            },
            RecoveryError::Replay(ReplayError::NotFound(r)) => {
                CommandError::not_found(format!("replay {r:?} not found"))
            }
            RecoveryError::Replay(e @ ReplayError::Finished(_)) => CommandError::Conflict {
                field: "name".into(),
                reason: e.to_string(),
            },
            other => CommandError::unavailable(other),
        }
    }
}

impl From<FilterError> for CommandError {
    fn from(e: FilterError) -> Self {
        CommandError::invalid(e.field, e.reason)
    }
}

impl From<OverrideError> for CommandError {
    fn from(e: OverrideError) -> Self {
        match e {
            OverrideError::Invalid { field, reason } => CommandError::invalid(field, reason),
            OverrideError::UnknownPart(p) => CommandError::unknown_part(&p),
            OverrideError::Store(e) => CommandError::unavailable(e),
        }
    }
}

impl From<crate::maintenance::MaintenanceError> for CommandError {
    fn from(e: crate::maintenance::MaintenanceError) -> Self {
        use crate::maintenance::MaintenanceError as M;
        match e {
            M::Invalid { field, reason } => CommandError::invalid(field, reason),
            M::UnknownPart(p) => CommandError::unknown_part(&p),
            M::UnknownWindow(_) => CommandError::NotFound {
                field: Some("id".into()),
                what: e.to_string(),
            },
            M::Overlaps(_) => CommandError::Conflict {
                field: "start".into(),
                reason: e.to_string(),
            },
            M::AlreadyEnded(_) => CommandError::Conflict {
                field: "id".into(),
                reason: e.to_string(),
            },
            M::Store(e) => CommandError::unavailable(e),
        }
    }
}

impl From<CheckNowError> for CommandError {
    fn from(e: CheckNowError) -> Self {
        match e {
            CheckNowError::UnknownPart(p) => CommandError::unknown_part(&p),
            e @ CheckNowError::TooSoon { retry_after, .. } => CommandError::TooSoon {
                field: "part".into(),
                reason: e.to_string(),
                retry_after_secs: ceil_secs(retry_after),
            },
            CheckNowError::Store(e) => CommandError::unavailable(e),
        }
    }
}

impl From<FlowError> for CommandError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(v) => CommandError::invalid(v.field, v.reason),
            FlowError::Store(s) => CommandError::unavailable(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Via;

    #[test]
    fn each_refusal_has_one_status_and_body() {
        let val = Principal {
            name: "val".into(),
            role: Role::Viewer,
            via: Via::Session,
            csrf: None,
        };
        let forbidden = CommandError::forbidden(&val, Role::Operator);
        assert_eq!(forbidden.http_status(), 403);
        assert_eq!(
            forbidden.body(),
            json!({"error": "requires the operator role (val is viewer)", "field": "role"})
        );
        let invalid = CommandError::invalid("end", "must not be in the future");
        assert_eq!(invalid.http_status(), 422);
        assert_eq!(
            invalid.body(),
            json!({"error": "end: must not be in the future", "field": "end"})
        );
        let part = CommandError::unknown_part("nope");
        assert_eq!(
            (part.http_status(), part.body()),
            (
                404,
                json!({"error": "part \"nope\" is not configured", "field": "part"})
            )
        );
        let gone = CommandError::not_found("replay \"r\" not found");
        assert_eq!(
            (gone.http_status(), gone.body()),
            (404, json!({"error": "replay \"r\" not found"}))
        );
        let busy = CommandError::from(RecoveryError::Busy {
            part: "voucher".into(),
            replay: "R".into(),
        });
        assert_eq!(
            (busy.http_status(), busy.body()),
            (
                409,
                json!({"error": "part voucher has an active replay: R", "field": "part"})
            )
        );
        let down = CommandError::unavailable("disk I/O error");
        assert_eq!(
            (down.http_status(), down.body()),
            (503, json!({"error": "disk I/O error"}))
        );
    }
}
