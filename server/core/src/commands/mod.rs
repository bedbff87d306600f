//! The command layer: every change a caller makes to the mediator, once.
//!
//! Each mutation is one function taking the caller ([`Principal`]) and its
//! request: the role check ([`authorize`]: a refusal is audited as
//! `denied`), the policy (who the caller acts as, the replay window), the
//! action (the existing services) and the audit entry (`ok` or `failed`
//! with the error). The JSON API's handlers and the console's server
//! functions are thin shells over these: they parse, call the command and
//! shape the answer; both answer refusals through [`CommandError`].
//!
//! A request is parsed by its shell (the JSON API and the console's forms
//! read differently) and handed over as a `Result`: a request the shell
//! could not parse is reported only after the role check, so a caller
//! without the role hears about the role first, and the failure is audited
//! like any other.
//!
//! - [`vouchers`]: submit a voucher, redrive a dead-lettered one.
//! - [`dead_letters`]: redrive the dead-lettered vouchers a filter matches, at a rate; cancel it.
//! - [`replays`]: start and cancel a replay; the window the console proposes.
//! - [`overrides`]: set or clear a part's circuit override.
//! - [`maintenance`]: schedule a part's maintenance window; end or cancel it.
//! - [`parts`]: check a part's health now.
//! - [`notify`]: send a test notification to a channel.

pub mod dead_letters;
mod error;
pub mod maintenance;
pub mod notify;
pub mod overrides;
pub mod parts;
pub mod replays;
pub mod vouchers;

pub use error::CommandError;

use crate::access::{Principal, Role, Via};
use crate::audit::{Audit, NewAuditEntry};

/// Checks that `who` holds `required` to do `action` to `target`; a refusal
/// is written to the audit log (outcome `denied`, naming the role).
pub async fn authorize(
    audit: &Audit,
    who: &Principal,
    required: Role,
    action: &str,
    target: &str,
) -> Result<(), CommandError> {
    if who.role.allows(required) {
        return Ok(());
    }
    audit
        .log(
            NewAuditEntry::new(who, action)
                .target(target)
                .outcome("denied")
                .detail(serde_json::json!({ "required_role": required })),
        )
        .await;
    Err(CommandError::forbidden(who, required))
}

/// The name a signed-in caller acts as (recorded as who started a replay or
/// set an override, whatever the request says); `None` when sign-in is off,
/// where the request's own `by` is taken.
pub fn signed_in_name(who: &Principal) -> Option<&str> {
    (who.via != Via::Open).then_some(who.name.as_str())
}
