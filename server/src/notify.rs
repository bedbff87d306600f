//! Outbound notifications: the `NotificationSender` of
//! `mediator_core::notify`, one body per channel type — over HTTP a generic
//! webhook signed per the Standard Webhooks specification (`webhook.rs`), a
//! Slack incoming webhook (`slack.rs`) and PagerDuty's Events API v2
//! (`pagerduty.rs`; no redirects are followed, any 2xx is delivered); and
//! email over SMTP with STARTTLS (`email.rs`).

pub mod email;
mod pagerduty;
mod slack;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use mediator_core::notify::{Channel, ChannelTarget, Notification, NotificationSender, SendError};

pub use webhook::{sign, WebhookMessage};

/// Sends notifications with one HTTP client (and SMTP connections).
pub struct HttpNotifier {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpNotifier {
    /// A sender whose requests end after `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("vendor-mediator/", env!("CARGO_PKG_VERSION")))
                .build()?,
            timeout,
        })
    }

    async fn post(
        &self,
        url: &str,
        body: String,
        headers: &[(&str, String)],
    ) -> Result<(), SendError> {
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        match req.send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => {
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                Err(SendError(if text.trim().is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {}", text.trim())
                }))
            }
            Err(e) if e.is_timeout() => Err(SendError("timed out".into())),
            Err(e) if e.is_connect() => Err(SendError("connection refused".into())),
            Err(e) => Err(SendError(e.to_string())),
        }
    }
}

#[async_trait]
impl NotificationSender for HttpNotifier {
    async fn send(
        &self,
        channel: &Channel,
        n: &Notification,
        _attempt: i64,
    ) -> Result<(), SendError> {
        match &channel.target {
            ChannelTarget::Webhook { url, secret } => {
                let msg = WebhookMessage::new(n, secret, chrono::Utc::now().timestamp());
                self.post(url, msg.body.clone(), &msg.headers()).await
            }
            ChannelTarget::Slack { url } => self.post(url, slack::body(n), &[]).await,
            ChannelTarget::Email(target) => email::send(target, n, self.timeout).await,
            ChannelTarget::PagerDuty {
                url,
                routing_key,
                source,
            } => {
                self.post(url, pagerduty::body(n, routing_key, source), &[])
                    .await
            }
        }
    }
}
