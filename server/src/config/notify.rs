//! The `[notify]` table and its `[notify.channels.<name>]` tables (serde,
//! unknown keys refused; errors name `notify.channels.<name>.<key>`).

use std::time::Duration;

use base64::Engine;
use mediator_core::notify::{
    Channel, ChannelFilter, ChannelTarget, EmailTarget, NotificationKind, NotifySettings,
};
use serde::Deserialize;

use super::checks::{
    http_url, NOTIFY_ATTEMPTS, NOTIFY_DLQ_THRESHOLD, NOTIFY_RETENTION_DAYS, NOTIFY_RETRY_BASE,
    NOTIFY_RETRY_MAX, NOTIFY_SEND_TIMEOUT,
};
use super::values::{Integer, Secs, Text};

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The channels and how they are served.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// The channels, in file order.
    pub channels: Vec<Channel>,
    /// Retries, time limit, DLQ threshold.
    pub settings: NotifySettings,
}

/// `[notify]`: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyTable {
    dlq_threshold: Option<Integer>,
    retry_base: Option<Secs>,
    retry_max: Option<Secs>,
    max_attempts: Option<Integer>,
    send_timeout: Option<Secs>,
    poll_interval: Option<Secs>,
    retention_days: Option<Integer>,
    channels: Option<toml::Table>,
}

/// `[notify.channels.<name>]`: `type` and the keys of that type.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelTable {
    #[serde(rename = "type")]
    kind: Option<Text>,
    url: Option<Text>,
    secret: Option<Text>,
    routing_key: Option<Text>,
    source: Option<Text>,
    parts: Option<Vec<Text>>,
    kinds: Option<Vec<Text>>,
    host: Option<Text>,
    port: Option<Integer>,
    from: Option<Text>,
    to: Option<Vec<Text>>,
    username: Option<Text>,
    password: Option<Text>,
    starttls: Option<bool>,
    ca_file: Option<Text>,
}

/// Reads `table` (the table's TOML text, as the part tables are read) as
/// `T`; errors name `prefix.<key>` and list the keys allowed.
fn read_table<T: serde::de::DeserializeOwned>(
    prefix: &str,
    what: &str,
    table: toml::Table,
) -> anyhow::Result<T> {
    let text = toml::to_string(&table)
        .map_err(|e| anyhow::anyhow!("{prefix}: cannot be read back ({e})"))?;
    let de = toml::de::Deserializer::parse(&text)
        .map_err(|e| anyhow::anyhow!("{prefix}: {}", e.message()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = format!("{prefix}.{}", e.path());
        let message = e.inner().message();
        match message.split_once(", expected one of ") {
            Some((unknown, keys)) if unknown.starts_with("unknown field") => anyhow::anyhow!(
                "{field}: unknown key ({what} may set {})",
                keys.replace('`', "")
            ),
            _ => anyhow::anyhow!("{field}: {message}"),
        }
    })
}

/// The file's `notify` value, resolved; `parts` are the configured parts
/// (a channel's `parts` must name some of them).
pub(super) fn resolve_notify(
    value: Option<toml::Value>,
    parts: &[String],
) -> anyhow::Result<NotifyConfig> {
    let Some(value) = value else {
        return Ok(NotifyConfig::default());
    };
    let toml::Value::Table(table) = value else {
        anyhow::bail!(
            "notify: must be a table ([notify]), got {}",
            value.type_str()
        );
    };
    let t: NotifyTable = read_table("notify", "[notify]", table)?;
    let mut settings = NotifySettings::default();
    if let Some(Integer(v)) = t.dlq_threshold {
        settings.dlq_threshold =
            Some(NOTIFY_DLQ_THRESHOLD.check("notify.dlq_threshold", v)? as u64);
    }
    if let Some(Secs(v)) = t.retry_base {
        settings.retry_base = NOTIFY_RETRY_BASE.check("notify.retry_base", v)?;
    }
    if let Some(Secs(v)) = t.retry_max {
        settings.retry_max = NOTIFY_RETRY_MAX.check("notify.retry_max", v)?;
    }
    if settings.retry_max < settings.retry_base {
        anyhow::bail!(
            "notify.retry_max: must be at least retry_base ({} s)",
            settings.retry_base.as_secs_f64()
        );
    }
    if let Some(Integer(v)) = t.max_attempts {
        settings.max_attempts = NOTIFY_ATTEMPTS.check("notify.max_attempts", v)? as u32;
    }
    if let Some(Secs(v)) = t.send_timeout {
        settings.send_timeout = NOTIFY_SEND_TIMEOUT.check("notify.send_timeout", v)?;
    }
    if let Some(Integer(v)) = t.retention_days {
        let days = NOTIFY_RETENTION_DAYS.check("notify.retention_days", v)? as u64;
        settings.retention = Duration::from_secs(days * 86_400);
    }
    if let Some(Secs(v)) = t.poll_interval {
        settings.poll = super::checks::POLL_INTERVAL.check("notify.poll_interval", v)?;
    }
    settings.poll = settings.poll.max(Duration::from_millis(50));
    let mut channels = Vec::new();
    for (name, value) in t.channels.unwrap_or_default() {
        let prefix = format!("notify.channels.{name}");
        let valid_name = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !valid_name {
            anyhow::bail!("{prefix}: a channel's name must be 1 to 64 letters, digits, '-' or '_'");
        }
        let toml::Value::Table(table) = value else {
            anyhow::bail!(
                "{prefix}: must be a table ([{prefix}]), got {}",
                value.type_str()
            );
        };
        let c: ChannelTable = read_table(&prefix, "a channel's table", table)?;
        channels.push(channel(&prefix, name, c, parts)?);
    }
    Ok(NotifyConfig { channels, settings })
}

fn channel(
    prefix: &str,
    name: String,
    c: ChannelTable,
    parts: &[String],
) -> anyhow::Result<Channel> {
    let field = |key: &str| format!("{prefix}.{key}");
    let Some(Text(kind)) = c.kind.clone() else {
        anyhow::bail!(
            "{}: is required (webhook, slack, pagerduty or email)",
            field("type")
        );
    };
    let url = |default: Option<&str>| -> anyhow::Result<String> {
        match (&c.url, default) {
            (Some(Text(u)), _) => http_url(&field("url"), u),
            (None, Some(d)) => Ok(d.to_owned()),
            (None, None) => anyhow::bail!("{}: is required for a {kind} channel", field("url")),
        }
    };
    let refuse = |key: &str, given: bool| -> anyhow::Result<()> {
        if given {
            anyhow::bail!("{}: is not a key of a {kind} channel", field(key));
        }
        Ok(())
    };
    if kind != "email" {
        for (key, given) in [
            ("host", c.host.is_some()),
            ("port", c.port.is_some()),
            ("from", c.from.is_some()),
            ("to", c.to.is_some()),
            ("username", c.username.is_some()),
            ("password", c.password.is_some()),
            ("starttls", c.starttls.is_some()),
            ("ca_file", c.ca_file.is_some()),
        ] {
            refuse(key, given)?;
        }
    }
    let target = match kind.as_str() {
        "email" => {
            for (key, given) in [
                ("url", c.url.is_some()),
                ("secret", c.secret.is_some()),
                ("routing_key", c.routing_key.is_some()),
                ("source", c.source.is_some()),
            ] {
                refuse(key, given)?;
            }
            ChannelTarget::Email(email(&field, &c)?)
        }
        "webhook" => {
            refuse("routing_key", c.routing_key.is_some())?;
            refuse("source", c.source.is_some())?;
            let Some(Text(secret)) = &c.secret else {
                anyhow::bail!(
                    "{}: is required for a webhook channel (whsec_<base64>)",
                    field("secret")
                );
            };
            ChannelTarget::Webhook {
                url: url(None)?,
                secret: webhook_secret(&field("secret"), secret)?,
            }
        }
        "slack" => {
            refuse("secret", c.secret.is_some())?;
            refuse("routing_key", c.routing_key.is_some())?;
            refuse("source", c.source.is_some())?;
            ChannelTarget::Slack { url: url(None)? }
        }
        "pagerduty" => {
            refuse("secret", c.secret.is_some())?;
            let Some(Text(key)) = &c.routing_key else {
                anyhow::bail!(
                    "{}: is required for a pagerduty channel",
                    field("routing_key")
                );
            };
            if key.trim().is_empty() {
                anyhow::bail!("{}: must not be empty", field("routing_key"));
            }
            ChannelTarget::PagerDuty {
                url: url(Some(PAGERDUTY_URL))?,
                routing_key: key.trim().to_owned(),
                source: c
                    .source
                    .as_ref()
                    .map(|Text(s)| s.clone())
                    .unwrap_or_else(|| "vendor-mediator".into()),
            }
        }
        other => anyhow::bail!(
            "{}: must be webhook, slack, pagerduty or email, got {other:?}",
            field("type")
        ),
    };
    let mut filter = ChannelFilter::default();
    for Text(p) in c.parts.unwrap_or_default() {
        if !parts.contains(&p) {
            anyhow::bail!(
                "{}: {p:?} is not a configured part (parts are {})",
                field("parts"),
                parts.join(", ")
            );
        }
        filter.parts.push(p);
    }
    for Text(k) in c.kinds.unwrap_or_default() {
        let Some(kind) = NotificationKind::parse(&k).filter(|k| *k != NotificationKind::Test)
        else {
            let names: Vec<&str> = NotificationKind::ALL
                .iter()
                .filter(|k| **k != NotificationKind::Test)
                .map(|k| k.as_str())
                .collect();
            anyhow::bail!(
                "{}: {k:?} is not a kind of notification (kinds are {})",
                field("kinds"),
                names.join(", ")
            );
        };
        filter.kinds.push(kind);
    }
    Ok(Channel {
        name,
        target,
        filter,
    })
}

/// An email channel's relay and addresses.
fn email(field: &dyn Fn(&str) -> String, c: &ChannelTable) -> anyhow::Result<EmailTarget> {
    let Some(Text(host)) = &c.host else {
        anyhow::bail!(
            "{}: is required for an email channel (the SMTP relay)",
            field("host")
        );
    };
    let host = host.trim();
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        anyhow::bail!(
            "{}: must be a host name or address, got {host:?}",
            field("host")
        );
    }
    let starttls = c.starttls.unwrap_or(true);
    let port = match c.port {
        None => {
            if starttls {
                587
            } else {
                25
            }
        }
        Some(Integer(p)) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| anyhow::anyhow!("{}: must be 1 to 65535, got {p}", field("port")))?,
    };
    let address = |key: &str, v: &str| -> anyhow::Result<String> {
        v.parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("{}: {v:?} is not an email address ({e})", field(key)))?;
        Ok(v.to_owned())
    };
    let Some(Text(from)) = &c.from else {
        anyhow::bail!("{}: is required for an email channel", field("from"));
    };
    let from = address("from", from.trim())?;
    let to: Vec<String> =
        c.to.as_ref()
            .map(|to| to.iter().map(|Text(t)| address("to", t.trim())).collect())
            .transpose()?
            .unwrap_or_default();
    if to.is_empty() {
        anyhow::bail!(
            "{}: is required for an email channel (at least one address)",
            field("to")
        );
    }
    let credentials = match (&c.username, &c.password) {
        (None, None) => None,
        (Some(Text(u)), Some(Text(p))) if !u.is_empty() => Some((u.clone(), p.clone())),
        (Some(_), Some(_)) => anyhow::bail!("{}: must not be empty", field("username")),
        (Some(_), None) => anyhow::bail!("{}: is required with username", field("password")),
        (None, Some(_)) => anyhow::bail!("{}: is required with password", field("username")),
    };
    if credentials.is_some() && !starttls {
        anyhow::bail!(
            "{}: a password is only sent over STARTTLS (starttls = false sends it in clear)",
            field("password")
        );
    }
    let ca_pem = match &c.ca_file {
        None => None,
        Some(Text(path)) => {
            if !starttls {
                anyhow::bail!("{}: is only used with starttls = true", field("ca_file"));
            }
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("{}: cannot read {path}: {e}", field("ca_file")))?;
            lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {path} is not a PEM certificate ({e})",
                    field("ca_file")
                )
            })?;
            Some(pem)
        }
    };
    Ok(EmailTarget {
        host: host.to_owned(),
        port,
        from,
        to,
        credentials,
        starttls,
        ca_pem,
    })
}

/// A Standard Webhooks secret: `whsec_` then the key in base64 (at least
/// 24 bytes).
fn webhook_secret(field: &str, s: &str) -> anyhow::Result<Vec<u8>> {
    let Some(b64) = s.strip_prefix("whsec_") else {
        anyhow::bail!("{field}: must be whsec_ followed by the key in base64");
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| anyhow::anyhow!("{field}: the key after whsec_ is not base64 ({e})"))?;
    if !(24..=64).contains(&key.len()) {
        anyhow::bail!("{field}: the key must be 24 to 64 bytes, got {}", key.len());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<String> {
        vec!["voucher".into(), "member".into()]
    }

    fn resolve(text: &str) -> anyhow::Result<NotifyConfig> {
        let v: toml::Table = toml::from_str(text).unwrap();
        resolve_notify(v.get("notify").cloned(), &parts())
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn channels_of_each_type_are_read_with_their_filters() {
        let c = resolve(&format!(
            r#"
            [notify]
            dlq_threshold = 10
            retry_base = 0.5
            [notify.channels.ops]
            type = "webhook"
            url = "https://hooks.example.com/mediator"
            secret = "{SECRET}"
            parts = ["voucher"]
            kinds = ["part_down", "part_up"]
            [notify.channels.chat]
            type = "slack"
            url = "https://hooks.slack.com/services/T/B/X"
            [notify.channels.pager]
            type = "pagerduty"
            routing_key = "R0UT1NG"
            "#
        ))
        .unwrap();
        assert_eq!(c.settings.dlq_threshold, Some(10));
        assert_eq!(c.settings.retry_base, Duration::from_millis(500));
        let names: Vec<&str> = c.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ops", "chat", "pager"]);
        assert_eq!(c.channels[0].filter.parts, ["voucher"]);
        assert_eq!(
            c.channels[0].filter.kinds,
            [NotificationKind::PartDown, NotificationKind::PartUp]
        );
        match &c.channels[2].target {
            ChannelTarget::PagerDuty { url, .. } => assert_eq!(url, PAGERDUTY_URL),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_channels_are_refused_naming_the_key() {
        for (text, want) in [
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"https://x\"\ncolour = 1",
                "notify.channels.a.colour: unknown key",
            ),
            ("[notify]\nflavour = 1", "notify.flavour: unknown key"),
            (
                "[notify.channels.a]\ntype = \"fax\"",
                "notify.channels.a.type: must be webhook, slack, pagerduty or email",
            ),
            (
                "[notify.channels.a]\ntype = \"webhook\"\nurl = \"https://x\"\nsecret = \"abc\"",
                "notify.channels.a.secret: must be whsec_",
            ),
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"ftp://x\"",
                "notify.channels.a.url: must start with http",
            ),
            (
                "[notify.channels.a]\ntype = \"pagerduty\"",
                "notify.channels.a.routing_key: is required",
            ),
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"https://x\"\nparts = [\"points\"]",
                "notify.channels.a.parts: \"points\" is not a configured part",
            ),
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"https://x\"\nkinds = [\"lunch\"]",
                "notify.channels.a.kinds: \"lunch\" is not a kind",
            ),
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"https://x\"\nsecret = \"whsec_x\"",
                "notify.channels.a.secret: is not a key of a slack channel",
            ),
            (
                "[notify]\nmax_attempts = 0",
                "notify.max_attempts: must be between 1 and 100",
            ),
            (
                "[notify]\nretention_days = 0",
                "notify.retention_days: must be between 1 and 3650",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
                "notify.channels.m.host: is required for an email channel",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nto = [\"b@example.com\"]",
                "notify.channels.m.from: is required",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"",
                "notify.channels.m.to: is required for an email channel (at least one address)",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"\nto = [\"not an address\"]",
                "notify.channels.m.to: \"not an address\" is not an email address",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nport = 0\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]",
                "notify.channels.m.port: must be 1 to 65535, got 0",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\npassword = \"p\"",
                "notify.channels.m.username: is required with password",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nusername = \"u\"\npassword = \"p\"\nstarttls = false",
                "notify.channels.m.password: a password is only sent over STARTTLS",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nca_file = \"/nonexistent/ca.pem\"",
                "notify.channels.m.ca_file: cannot read /nonexistent/ca.pem",
            ),
            (
                "[notify.channels.m]\ntype = \"email\"\nhost = \"smtp\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nurl = \"https://x\"",
                "notify.channels.m.url: is not a key of a email channel",
            ),
            (
                "[notify.channels.a]\ntype = \"slack\"\nurl = \"https://x\"\nhost = \"smtp\"",
                "notify.channels.a.host: is not a key of a slack channel",
            ),
        ] {
            let e = resolve(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text}: {e}");
        }
    }

    #[test]
    fn an_email_channel_is_read_with_its_defaults() {
        let c = resolve(
            "[notify]\nretention_days = 30\n[notify.channels.mail]\ntype = \"email\"\nhost = \"smtp.example.com\"\n\
             from = \"Mediator <m@example.com>\"\nto = [\"a@example.com\", \"B <b@example.com>\"]\n\
             username = \"u\"\npassword = \"secret-pw\"\n",
        )
        .unwrap();
        assert_eq!(c.settings.retention, Duration::from_secs(30 * 86_400));
        let ChannelTarget::Email(e) = &c.channels[0].target else {
            panic!("{:?}", c.channels[0].target);
        };
        assert_eq!(
            (e.host.as_str(), e.port, e.starttls),
            ("smtp.example.com", 587, true)
        );
        assert_eq!(e.to, ["a@example.com", "B <b@example.com>"]);
        assert_eq!(e.credentials, Some(("u".into(), "secret-pw".into())));
        assert!(
            !format!("{:?}", c.channels[0]).contains("secret-pw"),
            "no password in logs"
        );
        let plain = resolve(
            "[notify.channels.mail]\ntype = \"email\"\nhost = \"relay\"\nstarttls = false\n\
             from = \"m@example.com\"\nto = [\"a@example.com\"]\n",
        )
        .unwrap();
        let ChannelTarget::Email(e) = &plain.channels[0].target else {
            panic!();
        };
        assert_eq!((e.port, e.starttls), (25, false));
        assert_eq!(
            NotifyConfig::default().settings.retention,
            Duration::from_secs(14 * 86_400)
        );
    }
}
