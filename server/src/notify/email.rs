//! Email over SMTP (lettre on the rustls the other clients use): a plain
//! text mail whose subject is the summary and whose body lists the kind,
//! part, event id and facts. The connection is upgraded with STARTTLS
//! before anything is sent (`starttls = true`, the default; the relay's
//! certificate checked against the public roots and the channel's
//! `ca_file`); `Message-ID` is derived from the event id, so a retried
//! mail carries the same id and mail clients can deduplicate on it.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mediator_core::notify::{EmailTarget, Notification, SendError};

/// `[Vendor Mediator] <kind>: <summary>`.
pub fn subject(n: &Notification) -> String {
    format!("[Vendor Mediator] {}: {}", n.kind, n.summary)
}

/// The mail's text.
pub fn body(n: &Notification) -> String {
    let mut text = format!("{}\n\nKind:     {}\n", n.summary, n.kind);
    if let Some(p) = &n.part {
        text.push_str(&format!("Part:     {p}\n"));
    }
    text.push_str(&format!(
        "Event id: {}\nAt:       {}\nSeverity: {}\n",
        n.event_id,
        n.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        n.kind.severity()
    ));
    if !n.detail.is_null() {
        let detail = serde_json::to_string_pretty(&n.detail).unwrap_or_default();
        text.push_str(&format!("\nDetail:\n{detail}\n"));
    }
    text.push_str(
        "\n-- \nSent by Vendor Mediator. The same event id is sent on every attempt; \
         deduplicate on it (it is also this mail's Message-ID).\n",
    );
    text
}

/// The `Message-ID` of `n`'s mail: the event id (characters outside
/// letters, digits, `.`, `-` and `_` as `_`) at `vendor-mediator`.
pub fn message_id(n: &Notification) -> String {
    let local: String = n
        .event_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("<{local}@vendor-mediator>")
}

/// The mail of `n` for `t`.
pub fn message(t: &EmailTarget, n: &Notification) -> Result<Message, SendError> {
    let mailbox = |s: &str| -> Result<Mailbox, SendError> {
        s.parse()
            .map_err(|e| SendError(format!("bad address {s:?}: {e}")))
    };
    let mut b = Message::builder()
        .from(mailbox(&t.from)?)
        .subject(subject(n))
        .message_id(Some(message_id(n)))
        .header(ContentType::TEXT_PLAIN);
    for to in &t.to {
        b = b.to(mailbox(to)?);
    }
    b.body(body(n))
        .map_err(|e| SendError(format!("cannot build the mail: {e}")))
}

/// Sends `n` to `t`'s relay; the relay's refusal or a connection error in
/// words.
pub async fn send(t: &EmailTarget, n: &Notification, timeout: Duration) -> Result<(), SendError> {
    let mail = message(t, n)?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&t.host)
        .port(t.port)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain("vendor-mediator".into()));
    if t.starttls {
        let mut params = TlsParameters::builder(t.host.clone());
        if let Some(pem) = &t.ca_pem {
            let ca = Certificate::from_pem(pem)
                .map_err(|e| SendError(format!("ca_file: not a PEM certificate: {e}")))?;
            params = params.add_root_certificate(ca);
        }
        let params = params
            .build_rustls()
            .map_err(|e| SendError(format!("TLS: {e}")))?;
        builder = builder.tls(Tls::Required(params));
    }
    if let Some((user, password)) = &t.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder.build().send(mail).await.map(|_| ()).map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let more = s.to_string();
            if !text.contains(&more) {
                text.push_str(&format!(": {more}"));
            }
            source = s.source();
        }
        SendError(format!("SMTP {}:{}: {text}", t.host, t.port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediator_core::notify::NotificationKind;

    #[test]
    fn the_mail_names_the_event_and_the_part() {
        let n = Notification {
            event_id: "dead-lettered-req/1-17".into(),
            kind: NotificationKind::DeadLettered,
            part: Some("voucher".into()),
            summary: "Voucher req/1 of part voucher dead-lettered".into(),
            at: chrono::Utc::now(),
            detail: serde_json::json!({ "attempts": 8 }),
        };
        let t = EmailTarget {
            host: "127.0.0.1".into(),
            port: 25,
            from: "Mediator <mediator@example.com>".into(),
            to: vec!["ops@example.com".into()],
            credentials: None,
            starttls: true,
            ca_pem: None,
        };
        let raw = String::from_utf8(message(&t, &n).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Subject: [Vendor Mediator] dead_lettered: Voucher req/1"),
            "{raw}"
        );
        assert!(
            raw.contains("Message-ID: <dead-lettered-req_1-17@vendor-mediator>"),
            "{raw}"
        );
        assert!(raw.contains("Part:     voucher"), "{raw}");
        assert!(raw.contains("\"attempts\": 8"), "{raw}");
        let bad = EmailTarget {
            to: vec!["not an address".into()],
            ..t
        };
        assert!(message(&bad, &n).unwrap_err().0.contains("not an address"));
    }
}
