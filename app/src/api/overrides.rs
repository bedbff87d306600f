//! A part's manual circuit override, set or cleared from its card: the
//! same command as `POST /api/v1/parts/{part}/override` (role check,
//! change, audit), so the console and the JSON API cannot disagree.

use leptos::prelude::*;

pub use mediator_wire::OverrideResult;

use super::ApiError;

/// Sets `part`'s circuit override to `mode` (`force_open`, `force_closed`,
/// `disabled`; `none` clears it) for `reason` (operator). `by` names who
/// acts when sign-in is off; signed in, the caller does.
#[server(client = crate::api::access::CsrfClient)]
pub async fn set_override(
    part: String,
    mode: String,
    reason: String,
    by: String,
) -> Result<OverrideResult, ApiError> {
    use mediator_core::commands::{self, overrides::OverrideChange};
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let change = OverrideChange {
        part: part.clone(),
        request: ssr::request(
            &mode,
            &reason,
            commands::signed_in_name(&who).unwrap_or(&by),
        ),
        reason: Some(reason.trim().to_owned()).filter(|r| !r.is_empty()),
        mode,
    };
    let set = commands::overrides::set(&ctx.overrides, &ctx.audit, &who, change).await?;
    Ok(OverrideResult::new(&part, &set))
}

#[cfg(feature = "ssr")]
pub use ssr::request;

#[cfg(feature = "ssr")]
mod ssr {
    //! How the console's form is read.

    use mediator_core::{CommandError, OverrideRequest};
    use serde_json::json;

    /// The override the card's dialog asks for, each error naming its
    /// field: the JSON API's rules ([`OverrideRequest::parse`]), and
    /// what the console asks besides: a `reason` for every change, clearing
    /// too (the audit log and the card say why), and who acts (`by`, only
    /// asked when sign-in is off; signed in, the caller's name is given).
    pub fn request(mode: &str, reason: &str, by: &str) -> Result<OverrideRequest, CommandError> {
        let parsed = OverrideRequest::parse(&json!({ "mode": mode, "reason": reason, "by": by }))
            .map_err(CommandError::from)?;
        if parsed.reason.is_none() {
            return Err(CommandError::invalid(
                "reason",
                "is required (why the circuit's override changes)",
            ));
        }
        if parsed.by.is_none() {
            return Err(CommandError::invalid(
                "by",
                "is required (who changes the override)",
            ));
        }
        Ok(parsed)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use mediator_core::overrides::OverrideMode;

        #[test]
        fn every_change_needs_a_reason_and_who() {
            let field = |r: Result<OverrideRequest, CommandError>| {
                r.unwrap_err().field().map(str::to_owned)
            };
            assert_eq!(
                field(request("force_open", "  ", "ann")).as_deref(),
                Some("reason")
            );
            assert_eq!(field(request("none", "", "ann")).as_deref(), Some("reason"));
            assert_eq!(
                field(request("sideways", "r", "ann")).as_deref(),
                Some("mode")
            );
            assert_eq!(field(request("disabled", "r", " ")).as_deref(), Some("by"));
            let ok = request("none", " vendor fixed it ", "ann").unwrap();
            assert_eq!(
                (ok.mode, ok.reason.as_deref(), ok.by.as_deref()),
                (OverrideMode::None, Some("vendor fixed it"), Some("ann"))
            );
        }
    }
}
