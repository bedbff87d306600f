//! The parts: the list (flag, environment or file) and each part's
//! `[parts.<name>]` table, applied over the global values; errors name
//! `parts.<name>.<key>`.

use std::time::Duration;

use mediator_core::{PartName, PartSettings};
use serde::Deserialize;

use super::checks::{
    http_url, ARCHIVE_LAG, CHECK_TIMEOUT, POLL_INTERVAL, REPLAY_MARGIN, RESUBMIT_CONCURRENCY,
    RESUBMIT_RATE, RETENTION_DAYS, SUBMIT_TIMEOUT, THRESHOLD,
};
use super::values::{Integer, Number, Secs, Text};

/// The global values every part starts from.
pub(super) struct PartDefaults {
    pub saas_url: Option<String>,
    pub poll_interval: Duration,
    pub submit_timeout: Duration,
    pub replay_margin: Duration,
    pub resubmit_rate: f64,
    pub resubmit_concurrency: usize,
}

/// The file's `parts`: a list of names, or `[parts.<name>]` tables (whose
/// names, in file order, are then the list).
pub(super) type PartTables = Vec<(String, toml::Table)>;

/// Splits the file's `parts` into the names it lists and the tables it holds.
pub(super) fn split_file_parts(
    parts: Option<toml::Value>,
) -> anyhow::Result<(Option<Vec<String>>, PartTables)> {
    match parts {
        None => Ok((None, Vec::new())),
        Some(toml::Value::Array(items)) => {
            let names = items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => anyhow::bail!(
                        "parts: must list part names (strings), got {}",
                        other.type_str()
                    ),
                })
                .collect::<anyhow::Result<_>>()?;
            Ok((Some(names), Vec::new()))
        }
        Some(toml::Value::Table(table)) => {
            let mut names = Vec::new();
            let mut tables = Vec::new();
            for (name, value) in table {
                let toml::Value::Table(t) = value else {
                    anyhow::bail!(
                        "parts.{name}: must be a table ([parts.{name}]), got {}",
                        value.type_str()
                    );
                };
                names.push(name.clone());
                tables.push((name, t));
            }
            Ok((Some(names), tables))
        }
        Some(other) => anyhow::bail!(
            "parts: must be a list of names or [parts.<name>] tables, got {}",
            other.type_str()
        ),
    }
}

/// Each part's settings: the defaults, then the part's table.
pub(super) fn resolve_parts(
    parts: &[PartName],
    global: &PartDefaults,
    tables: PartTables,
) -> anyhow::Result<Vec<PartSettings>> {
    let mut tables: Vec<(String, toml::Table)> = tables;
    let mut out: Vec<PartSettings> = Vec::with_capacity(parts.len());
    for name in parts {
        let mut p = PartSettings::new(name.clone());
        p.poll_interval = global.poll_interval;
        if let Some(base) = &global.saas_url {
            let (status, submit) = crate::saas::default_urls(base, name.as_str());
            p.status_url = Some(status);
            p.submit_url = Some(submit);
        }
        p.submit_timeout = global.submit_timeout;
        p.replay_margin = global.replay_margin;
        p.resubmit_rate = global.resubmit_rate;
        p.resubmit_concurrency = global.resubmit_concurrency;
        let mut check_timeout_set = false;
        if let Some(i) = tables.iter().position(|(n, _)| n == name.as_str()) {
            let (_, table) = tables.remove(i);
            check_timeout_set = PartTable::read(name.as_str(), table)?.apply(&mut p)?;
        }
        if !check_timeout_set {
            // The default check timeout never exceeds the part's poll interval.
            p.check_timeout = p
                .check_timeout
                .min(p.poll_interval.max(Duration::from_millis(50)));
        }
        if let Some(other) = out.iter().find(|o| o.archive_name == p.archive_name) {
            anyhow::bail!(
                "parts.{name}.archive_name: {:?} is already the archive of part {}",
                p.archive_name,
                other.name
            );
        }
        out.push(p);
    }
    if let Some((name, _)) = tables.first() {
        let listed: Vec<&str> = parts.iter().map(PartName::as_str).collect();
        anyhow::bail!(
            "parts.{name}: not a configured part (parts are {})",
            listed.join(", ")
        );
    }
    Ok(out)
}

/// One `[parts.<name>]` table: every key optional, unknown keys refused,
/// each value's type checked as serde reads it ([`super::values`]); the
/// ranges are checked when the table is applied ([`super::checks`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartTable {
    status_url: Option<Text>,
    submit_url: Option<Text>,
    poll_interval: Option<Secs>,
    check_timeout: Option<Secs>,
    submit_timeout: Option<Secs>,
    failure_threshold: Option<Integer>,
    recovery_threshold: Option<Integer>,
    archive_name: Option<Text>,
    retention_days: Option<Integer>,
    replay_margin: Option<Secs>,
    resubmit_rate: Option<Number>,
    resubmit_concurrency: Option<Integer>,
    archive_lag: Option<Secs>,
}

impl PartTable {
    /// Reads part `name`'s table; errors name `parts.<name>.<key>`. The
    /// table is read from its TOML text, where a datetime is still one.
    fn read(name: &str, table: toml::Table) -> anyhow::Result<Self> {
        let text = toml::to_string(&table)
            .map_err(|e| anyhow::anyhow!("parts.{name}: cannot be read back ({e})"))?;
        let de = toml::de::Deserializer::parse(&text)
            .map_err(|e| anyhow::anyhow!("parts.{name}: {}", e.message()))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = format!("parts.{name}.{}", e.path());
            let message = e.inner().message();
            match message.split_once(", expected one of ") {
                Some((unknown, keys)) if unknown.starts_with("unknown field") => anyhow::anyhow!(
                    "{field}: unknown key (a part's table may set {})",
                    keys.replace('`', "")
                ),
                _ => anyhow::anyhow!("{field}: {message}"),
            }
        })
    }

    /// Applies the table over `p`. Returns whether it set the check timeout.
    fn apply(self, p: &mut PartSettings) -> anyhow::Result<bool> {
        let name = p.name.to_string();
        let field = |key: &str| format!("parts.{name}.{key}");
        if let Some(Text(u)) = self.status_url {
            p.status_url = Some(http_url(&field("status_url"), &u)?);
        }
        if let Some(Text(u)) = self.submit_url {
            p.submit_url = Some(http_url(&field("submit_url"), &u)?);
        }
        if let Some(Secs(v)) = self.poll_interval {
            p.poll_interval = POLL_INTERVAL.check(&field("poll_interval"), v)?;
        }
        let check_timeout_set = self.check_timeout.is_some();
        if let Some(Secs(v)) = self.check_timeout {
            p.check_timeout = CHECK_TIMEOUT.check(&field("check_timeout"), v)?;
        }
        if let Some(Secs(v)) = self.submit_timeout {
            p.submit_timeout = SUBMIT_TIMEOUT.check(&field("submit_timeout"), v)?;
        }
        if let Some(Integer(v)) = self.failure_threshold {
            p.thresholds.failure = THRESHOLD.check(&field("failure_threshold"), v)? as u32;
        }
        if let Some(Integer(v)) = self.recovery_threshold {
            p.thresholds.recovery = THRESHOLD.check(&field("recovery_threshold"), v)? as u32;
        }
        if let Some(Text(a)) = self.archive_name {
            let valid = (1..=48).contains(&a.len())
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !valid {
                anyhow::bail!(
                    "{}: must be 1 to 48 letters, digits, '.', '-' or '_', got {a:?}",
                    field("archive_name")
                );
            }
            p.archive_name = a;
        }
        if let Some(Integer(v)) = self.retention_days {
            p.retention_days = RETENTION_DAYS.check(&field("retention_days"), v)? as u32;
        }
        if let Some(Secs(v)) = self.replay_margin {
            p.replay_margin = REPLAY_MARGIN.check(&field("replay_margin"), v)?;
        }
        if let Some(Number(v)) = self.resubmit_rate {
            p.resubmit_rate = RESUBMIT_RATE.check(&field("resubmit_rate"), v)?;
        }
        if let Some(Integer(v)) = self.resubmit_concurrency {
            p.resubmit_concurrency =
                RESUBMIT_CONCURRENCY.check(&field("resubmit_concurrency"), v)? as usize;
        }
        if let Some(Secs(v)) = self.archive_lag {
            p.archive_lag = Some(ARCHIVE_LAG.check(&field("archive_lag"), v)?);
        }
        Ok(check_timeout_set)
    }
}

/// The part names, checked: valid, each once, at least one.
pub(super) fn parse_parts(names: &[String]) -> anyhow::Result<Vec<PartName>> {
    let mut parts = Vec::with_capacity(names.len());
    for raw in names {
        let name = PartName::parse(raw.trim()).map_err(|e| anyhow::anyhow!("parts: {e}"))?;
        if parts.contains(&name) {
            anyhow::bail!("parts: {name:?} is listed twice");
        }
        parts.push(name);
    }
    if parts.is_empty() {
        anyhow::bail!("parts: at least one part is required");
    }
    Ok(parts)
}
