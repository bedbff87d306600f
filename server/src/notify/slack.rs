//! A Slack incoming webhook: `{"text", "blocks"}` (the text is the
//! fallback shown in notifications; the blocks add the facts).

use mediator_core::notify::Notification;
use serde_json::json;

/// The message's JSON.
pub fn body(n: &Notification) -> String {
    let icon = match n.kind.severity() {
        "critical" | "error" => ":red_circle:",
        "warning" => ":warning:",
        _ => ":large_green_circle:",
    };
    let mut facts = vec![
        format!("*Kind:* `{}`", n.kind.as_str()),
        format!("*Event:* `{}`", n.event_id),
    ];
    if let Some(p) = &n.part {
        facts.push(format!("*Part:* {p}"));
    }
    json!({
        "text": format!("{icon} {}", n.summary),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("{icon} *{}*", n.summary) } },
            { "type": "context", "elements": facts.into_iter()
                .map(|f| json!({ "type": "mrkdwn", "text": f })).collect::<Vec<_>>() },
        ],
    })
    .to_string()
}
