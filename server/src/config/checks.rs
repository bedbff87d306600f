//! The range of every bounded setting, defined once: a value from a flag,
//! the environment, the file or a part's `[parts.<name>]` table is checked
//! against the same range, and the error names the setting and the range.

use std::fmt::Display;
use std::time::Duration;

/// A number of seconds from `min` to `max`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seconds {
    pub min: f64,
    pub max: f64,
}

impl Seconds {
    /// `v` seconds as a duration, or an error naming `field`.
    pub fn check(self, field: &str, v: f64) -> anyhow::Result<Duration> {
        let Seconds { min, max } = self;
        if !(v.is_finite() && (min..=max).contains(&v)) {
            anyhow::bail!("{field}: must be between {min} and {max} seconds, got {v}");
        }
        Ok(Duration::from_secs_f64(v))
    }
}

/// A rate per second from `min` to `max`.
#[derive(Debug, Clone, Copy)]
pub(super) struct PerSecond {
    pub min: f64,
    pub max: f64,
}

impl PerSecond {
    /// `v`, or an error naming `field`.
    pub fn check(self, field: &str, v: f64) -> anyhow::Result<f64> {
        let PerSecond { min, max } = self;
        if !(v.is_finite() && (min..=max).contains(&v)) {
            anyhow::bail!("{field}: must be between {min} and {max} per second, got {v}");
        }
        Ok(v)
    }
}

/// A whole number from `min` to `max`; `unit` (e.g. `" days"`) follows the
/// range in the error.
#[derive(Debug, Clone, Copy)]
pub(super) struct Count {
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

impl Count {
    /// `v`, or an error naming `field`.
    pub fn check<T: Copy + Display + TryInto<u64>>(self, field: &str, v: T) -> anyhow::Result<T> {
        let Count { min, max, unit } = self;
        if !v.try_into().is_ok_and(|n| (min..=max).contains(&n)) {
            anyhow::bail!("{field}: must be between {min} and {max}{unit}, got {v}");
        }
        Ok(v)
    }
}

const fn count(min: u64, max: u64) -> Count {
    Count { min, max, unit: "" }
}

/// `poll_interval`, global and per part.
pub(super) const POLL_INTERVAL: Seconds = Seconds {
    min: 0.05,
    max: 86_400.0,
};
/// A part's `check_timeout`.
pub(super) const CHECK_TIMEOUT: Seconds = Seconds {
    min: 0.05,
    max: 300.0,
};
/// `submit_timeout`, global and per part.
pub(super) const SUBMIT_TIMEOUT: Seconds = Seconds {
    min: 0.05,
    max: 300.0,
};
/// `replay_margin`, global and per part.
pub(super) const REPLAY_MARGIN: Seconds = Seconds {
    min: 0.0,
    max: 86_400.0,
};
/// A part's `archive_lag`.
pub(super) const ARCHIVE_LAG: Seconds = Seconds {
    min: 0.0,
    max: 86_400.0,
};
/// `resubmit_rate`, global and per part.
pub(super) const RESUBMIT_RATE: PerSecond = PerSecond {
    min: 0.01,
    max: 100_000.0,
};
/// `resubmit_concurrency`, global and per part.
pub(super) const RESUBMIT_CONCURRENCY: Count = count(1, 256);
/// A part's `failure_threshold` and `recovery_threshold`.
pub(super) const THRESHOLD: Count = count(1, 1000);
/// A part's `retention_days` (its archive's retention).
pub(super) const RETENTION_DAYS: Count = count(1, 3650);
/// `sweep_interval`.
pub(super) const SWEEP_INTERVAL: Seconds = Seconds {
    min: 0.05,
    max: 86_400.0,
};
/// `max_attempts`.
pub(super) const MAX_ATTEMPTS: Count = count(1, 1000);
/// `demo_rate`.
pub(super) const DEMO_RATE: PerSecond = PerSecond {
    min: 0.01,
    max: 10_000.0,
};
/// `audit_retention_days`.
pub(super) const AUDIT_RETENTION_DAYS: Count = Count {
    min: 1,
    max: 36_500,
    unit: " days",
};
/// `header_read_timeout` (every listener).
pub(super) const HEADER_READ_TIMEOUT: Seconds = Seconds {
    min: 0.1,
    max: 3600.0,
};
/// `idle_timeout` (every listener).
pub(super) const IDLE_TIMEOUT: Seconds = Seconds {
    min: 0.1,
    max: 86_400.0,
};
/// `events_request_timeout`.
pub(super) const EVENTS_REQUEST_TIMEOUT: Seconds = Seconds {
    min: 0.1,
    max: 3600.0,
};
/// `max_connections`, `events_max_connections` and `max_stream_subscribers`.
pub(super) const CONNECTIONS: Count = count(1, 1_000_000);

/// `notify.retry_base`: the first retry's delay.
pub(super) const NOTIFY_RETRY_BASE: Seconds = Seconds {
    min: 0.01,
    max: 3600.0,
};
/// `notify.retry_max`: the longest delay between retries.
pub(super) const NOTIFY_RETRY_MAX: Seconds = Seconds {
    min: 0.01,
    max: 86_400.0,
};
/// `notify.send_timeout`: one delivery attempt's time limit.
pub(super) const NOTIFY_SEND_TIMEOUT: Seconds = Seconds {
    min: 0.1,
    max: 120.0,
};
/// `notify.max_attempts`: attempts per delivery.
pub(super) const NOTIFY_ATTEMPTS: Count = Count {
    min: 1,
    max: 100,
    unit: "",
};
/// `notify.retention_days`: how long deliveries are kept.
pub(super) const NOTIFY_RETENTION_DAYS: Count = Count {
    min: 1,
    max: 3650,
    unit: " days",
};
/// `notify.dlq_threshold`: the DLQ size that notifies.
pub(super) const NOTIFY_DLQ_THRESHOLD: Count = Count {
    min: 1,
    max: 1_000_000_000,
    unit: " vouchers",
};

/// `u` when it is an `http://` or `https://` URL with something after the
/// scheme; the error names `field`.
pub(super) fn http_url(field: &str, u: &str) -> anyhow::Result<String> {
    let ok = ["http://", "https://"]
        .iter()
        .any(|scheme| u.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
    if !ok {
        anyhow::bail!("{field}: must start with http:// or https://, got {u:?}");
    }
    Ok(u.to_owned())
}
