//! PagerDuty's Events API v2: a part going down triggers an alert and its
//! coming back up resolves it (the same `dedup_key`, `mediator/part/<part>`);
//! every other notification triggers an alert of its own (keyed by its
//! event id).

use mediator_core::notify::{Notification, NotificationKind};
use serde_json::json;

/// The alert's `dedup_key`.
pub fn dedup_key(n: &Notification) -> String {
    match (n.kind, &n.part) {
        (NotificationKind::PartDown | NotificationKind::PartUp, Some(p)) => {
            format!("mediator/part/{p}")
        }
        _ => format!("mediator/{}", n.event_id),
    }
}

/// The event's JSON.
pub fn body(n: &Notification, routing_key: &str, source: &str) -> String {
    let action = if n.kind == NotificationKind::PartUp {
        "resolve"
    } else {
        "trigger"
    };
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(n),
        "payload": {
            "summary": n.summary.chars().take(1024).collect::<String>(),
            "source": source,
            "severity": n.kind.severity(),
            "timestamp": n.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "component": n.part,
            "class": n.kind.as_str(),
            "custom_details": n.detail,
        },
    })
    .to_string()
}
