//! Where notifications go: the configured channels and their filters.

use crate::notification::{Notification, NotificationKind};

/// How a channel is reached (`Debug` leaves the secrets out).
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    /// A generic webhook, signed per the Standard Webhooks specification.
    Webhook {
        /// Where to `POST`.
        url: String,
        /// The signing secret's bytes (configured as `whsec_<base64>`).
        secret: Vec<u8>,
    },
    /// A Slack incoming webhook (`{"text", "blocks"}`).
    Slack {
        /// The incoming webhook's URL.
        url: String,
    },
    /// PagerDuty's Events API v2.
    PagerDuty {
        /// The enqueue endpoint (`https://events.pagerduty.com/v2/enqueue`).
        url: String,
        /// The integration's routing key.
        routing_key: String,
        /// The `payload.source` sent (default: `vendor-mediator`).
        source: String,
    },
    /// Email through an SMTP relay.
    Email(EmailTarget),
}

/// An SMTP relay and the mail's addresses (`Debug` leaves the password
/// out).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailTarget {
    /// The relay's host name or address.
    pub host: String,
    /// Its port (587 with STARTTLS, 25 without, unless configured).
    pub port: u16,
    /// The sender (`From`), an address or `Name <address>`.
    pub from: String,
    /// The recipients (`To`), at least one.
    pub to: Vec<String>,
    /// SMTP AUTH user and password, when the relay asks for them.
    pub credentials: Option<(String, String)>,
    /// Whether the connection must be upgraded with STARTTLS before
    /// anything else is sent (default); `false` sends in clear.
    pub starttls: bool,
    /// Extra trusted root certificates (PEM) for the relay's certificate,
    /// besides the usual public ones (a private relay's CA).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for EmailTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("starttls", &self.starttls)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChannelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", url)
                .finish_non_exhaustive(),
            Self::Slack { .. } => f.debug_struct("Slack").finish_non_exhaustive(),
            Self::PagerDuty { url, source, .. } => f
                .debug_struct("PagerDuty")
                .field("url", url)
                .field("source", source)
                .finish_non_exhaustive(),
            Self::Email(e) => e.fmt(f),
        }
    }
}

impl ChannelTarget {
    /// `webhook`, `slack`, `pagerduty` or `email`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::PagerDuty { .. } => "pagerduty",
            Self::Email(_) => "email",
        }
    }
}

/// Which notifications a channel takes: empty lists take everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFilter {
    /// Only these parts (a notification about no part, such as the DLQ
    /// threshold, passes).
    pub parts: Vec<String>,
    /// Only these kinds.
    pub kinds: Vec<NotificationKind>,
}

impl ChannelFilter {
    /// Whether `n` passes. A test notification always does: it is sent to
    /// the one channel asked for.
    pub fn accepts(&self, n: &Notification) -> bool {
        if n.kind == NotificationKind::Test {
            return true;
        }
        let kind_ok = self.kinds.is_empty() || self.kinds.contains(&n.kind);
        let part_ok = match &n.part {
            Some(p) => self.parts.is_empty() || self.parts.iter().any(|q| q == p),
            None => true,
        };
        kind_ok && part_ok
    }
}

/// One configured channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Its name (the configuration table's key; the delivery log's
    /// `channel`).
    pub name: String,
    /// Where it goes.
    pub target: ChannelTarget,
    /// What it takes.
    pub filter: ChannelFilter,
}
