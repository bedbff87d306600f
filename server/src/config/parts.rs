//! The parts: the list (flag, environment or file) and each part's
//! `[parts.<name>]` table, applied over the global values; errors name
//! `parts.<name>.<key>`.

use std::time::Duration;

use mediator_core::{PartName, PartSettings};

use super::checks::{
    http_url, Count, Seconds, CHECK_TIMEOUT, POLL_INTERVAL, REPLAY_MARGIN, RESUBMIT_CONCURRENCY,
    RESUBMIT_RATE, RETENTION_DAYS, SUBMIT_TIMEOUT, THRESHOLD,
};

/// The global values every part starts from.
pub(super) struct PartDefaults {
    pub saas_url: Option<String>,
    pub poll_interval: Duration,
    pub submit_timeout: Duration,
    pub replay_margin: Duration,
    pub resubmit_rate: f64,
    pub resubmit_concurrency: usize,
}

/// Keys a `[parts.<name>]` table may hold.
const PART_KEYS: [&str; 12] = [
    "status_url",
    "submit_url",
    "poll_interval",
    "check_timeout",
    "submit_timeout",
    "failure_threshold",
    "recovery_threshold",
    "archive_name",
    "retention_days",
    "replay_margin",
    "resubmit_rate",
    "resubmit_concurrency",
];

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
            check_timeout_set = apply_part_table(&mut p, &table)?;
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

/// Applies one `[parts.<name>]` table; errors name `parts.<name>.<key>`.
/// Returns whether the table set the check timeout.
fn apply_part_table(p: &mut PartSettings, table: &toml::Table) -> anyhow::Result<bool> {
    let name = p.name.to_string();
    let mut check_timeout_set = false;
    for (key, value) in table {
        let field = format!("parts.{name}.{key}");
        let secs = |range: Seconds| -> anyhow::Result<Duration> {
            let v = match value {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                other => anyhow::bail!(
                    "{field}: must be a number of seconds, got {}",
                    other.type_str()
                ),
            };
            range.check(&field, v)
        };
        let int = |range: Count| -> anyhow::Result<i64> {
            match value {
                toml::Value::Integer(i) => range.check(&field, *i),
                other => anyhow::bail!("{field}: must be an integer, got {}", other.type_str()),
            }
        };
        let text = || -> anyhow::Result<&str> {
            match value {
                toml::Value::String(s) => Ok(s.as_str()),
                other => anyhow::bail!("{field}: must be a string, got {}", other.type_str()),
            }
        };
        match key.as_str() {
            "status_url" => p.status_url = Some(http_url(&field, text()?)?),
            "submit_url" => p.submit_url = Some(http_url(&field, text()?)?),
            "poll_interval" => p.poll_interval = secs(POLL_INTERVAL)?,
            "check_timeout" => {
                p.check_timeout = secs(CHECK_TIMEOUT)?;
                check_timeout_set = true;
            }
            "submit_timeout" => p.submit_timeout = secs(SUBMIT_TIMEOUT)?,
            "failure_threshold" => p.thresholds.failure = int(THRESHOLD)? as u32,
            "recovery_threshold" => p.thresholds.recovery = int(THRESHOLD)? as u32,
            "archive_name" => {
                let a = text()?;
                let valid = (1..=48).contains(&a.len())
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
                if !valid {
                    anyhow::bail!(
                        "{field}: must be 1 to 48 letters, digits, '.', '-' or '_', got {a:?}"
                    );
                }
                p.archive_name = a.to_owned();
            }
            "retention_days" => p.retention_days = int(RETENTION_DAYS)? as u32,
            "replay_margin" => p.replay_margin = secs(REPLAY_MARGIN)?,
            "resubmit_rate" => {
                let v = match value {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    other => anyhow::bail!("{field}: must be a number, got {}", other.type_str()),
                };
                p.resubmit_rate = RESUBMIT_RATE.check(&field, v)?;
            }
            "resubmit_concurrency" => p.resubmit_concurrency = int(RESUBMIT_CONCURRENCY)? as usize,
            _ => anyhow::bail!(
                "{field}: unknown key (a part's table may set {})",
                PART_KEYS.join(", ")
            ),
        }
    }
    Ok(check_timeout_set)
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
