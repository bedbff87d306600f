//! The generic webhook, per the Standard Webhooks specification: the body
//! `{"type", "timestamp", "data"}`, and the headers `webhook-id` (the
//! notification's stable event id), `webhook-timestamp` (seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use mediator_core::notify::Notification;
use serde_json::json;
use sha2_hmac::Sha256;

/// One signed webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, in seconds since the epoch.
    pub timestamp: i64,
    /// The JSON body.
    pub body: String,
    /// `webhook-signature`.
    pub signature: String,
}

impl WebhookMessage {
    /// `n` as sent at `timestamp`, signed with `secret` (the key's bytes).
    pub fn new(n: &Notification, secret: &[u8], timestamp: i64) -> Self {
        let body = json!({
            "type": format!("mediator.{}", n.kind.as_str()),
            "timestamp": n.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": {
                "event_id": n.event_id,
                "kind": n.kind.as_str(),
                "part": n.part,
                "summary": n.summary,
                "severity": n.kind.severity(),
                "detail": n.detail,
            },
        })
        .to_string();
        let signature = sign(secret, &n.event_id, timestamp, &body);
        Self {
            id: n.event_id.clone(),
            timestamp,
            body,
            signature,
        }
    }

    /// The three headers.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}

/// `v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    #[test]
    fn signs_as_the_specification_example() {
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
