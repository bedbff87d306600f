//! Notification commands: sending a test notification to a channel.

use chrono::Utc;
use serde_json::json;

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::notify::{Notification, Notifier};

/// Queues a test notification for `channel` only (admin), delivered like
/// any other (the delivery log shows the outcome). Audited as
/// `notify.test` with the event id; an unknown channel (or no notifier:
/// a backend without notifications) is 404 naming `channel`.
#[tracing::instrument(name = "command", skip_all, fields(action = "notify.test", channel = %channel, caller = %who.name))]
pub async fn send_test(
    notifier: Option<&Notifier>,
    audit: &Audit,
    who: &Principal,
    channel: &str,
) -> Result<Notification, CommandError> {
    const ACTION: &str = "notify.test";
    authorize(audit, who, Role::Admin, ACTION, channel).await?;
    let sent = match notifier {
        Some(n) => n.send_test(channel, &who.name, Utc::now()).await,
        None => Ok(None),
    };
    let out = match sent {
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(CommandError::NotFound {
            field: Some("channel".into()),
            what: format!("channel {channel:?} is not configured"),
        }),
        Err(e) => Err(CommandError::unavailable(e)),
    };
    let detail = match &out {
        Ok(n) => json!({ "event_id": n.event_id }),
        Err(_) => json!({}),
    };
    audit
        .log(
            NewAuditEntry::new(who, ACTION)
                .target(channel)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}
