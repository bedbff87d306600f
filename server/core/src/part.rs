//! SaaS parts: the independently monitored pieces of the vendor's platform
//! (the seed design watches three: voucher, member, points).

use std::fmt;

/// The parts configured when none are given.
pub const DEFAULT_PARTS: [&str; 3] = ["voucher", "member", "points"];

/// Name of a SaaS part: 1–32 characters of lowercase ASCII letters, digits,
/// `-` or `_`, starting with a letter. The name appears in event patterns,
/// archive names and URLs, so it is kept to a safe alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartName(String);

/// Why a part name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid part name {name:?}: {reason}")]
pub struct PartNameError {
    /// The rejected input.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PartName {
    /// Validates and wraps a part name.
    pub fn parse(name: &str) -> Result<Self, PartNameError> {
        let fail = |reason| {
            Err(PartNameError {
                name: name.to_owned(),
                reason,
            })
        };
        if name.is_empty() {
            return fail("must not be empty");
        }
        if name.len() > 32 {
            return fail("must be at most 32 characters");
        }
        if !name.as_bytes()[0].is_ascii_lowercase() {
            return fail("must start with a lowercase letter");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return fail("may only contain lowercase letters, digits, '-' and '_'");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part's default archive name, `Loyalty<Part>Archive` as in the seed
    /// design (`voucher` → `LoyaltyVoucherArchive`).
    pub fn default_archive_name(&self) -> String {
        format!("Loyalty{}Archive", pascal_case(&self.0))
    }

    /// The default set of parts.
    pub fn defaults() -> Vec<PartName> {
        DEFAULT_PARTS
            .iter()
            .map(|n| PartName(n.to_string()))
            .collect()
    }
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn pascal_case(s: &str) -> String {
    s.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_defaults() {
        let names: Vec<_> = PartName::defaults().iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["voucher", "member", "points"]);
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        for (input, reason) in [
            ("", "must not be empty"),
            ("Voucher", "must start with a lowercase letter"),
            ("1abc", "must start with a lowercase letter"),
            (
                "vou cher",
                "may only contain lowercase letters, digits, '-' and '_'",
            ),
            (&"a".repeat(33), "must be at most 32 characters"),
        ] {
            let err = PartName::parse(input).unwrap_err();
            assert_eq!(err.reason, reason, "input {input:?}");
        }
    }

    #[test]
    fn archive_names_follow_the_seed() {
        let p = PartName::parse("voucher").unwrap();
        assert_eq!(p.default_archive_name(), "LoyaltyVoucherArchive");
        let p = PartName::parse("gift-card").unwrap();
        assert_eq!(p.default_archive_name(), "LoyaltyGiftCardArchive");
    }
}

/// How one part is watched and recovered: poll cadence, check timeout,
/// circuit thresholds, where its SaaS endpoints are, its archive and the
/// pace of its replays. Built from the configuration (global defaults, then
/// the part's own `[parts.<name>]` table).
#[derive(Debug, Clone, PartialEq)]
pub struct PartSettings {
    /// The part.
    pub name: PartName,
    /// Time between two health checks.
    pub poll_interval: std::time::Duration,
    /// A check that takes longer counts as failed.
    pub check_timeout: std::time::Duration,
    /// Consecutive checks that flip the circuit.
    pub thresholds: crate::circuit::Thresholds,
    /// URL of the part's status endpoint (any 2xx is healthy); `None` while
    /// it is the simulated SaaS's, known only once that listens.
    pub status_url: Option<String>,
    /// URL vouchers of the part are POSTed to; `None` like `status_url`.
    pub submit_url: Option<String>,
    /// A submission that takes longer counts as unavailable (retry).
    pub submit_timeout: std::time::Duration,
    /// The archive that keeps the part's retry events.
    pub archive_name: String,
    /// Days the archive keeps events (also the longest replay window).
    pub retention_days: u32,
    /// Added before an outage's start and after its end when it is replayed.
    pub replay_margin: std::time::Duration,
    /// Replayed events resubmitted per second, at most.
    pub resubmit_rate: f64,
    /// Replayed events resubmitted at once, at most.
    pub resubmit_concurrency: usize,
    /// How long the bus may take to archive an event after accepting it:
    /// a replay waits until its window's end is this far in the past.
    /// `None`: the backend's default (see `RecoverySettings::archive_lag`).
    pub archive_lag: Option<std::time::Duration>,
}

/// Days an archive keeps retry events by default (the seed's value).
pub const DEFAULT_RETENTION_DAYS: u32 = 10;

impl PartSettings {
    /// Settings with the defaults: 15 s poll, 5 s check timeout, 3 failures
    /// down, 2 good checks up, the simulated SaaS's endpoints, 10 s submit
    /// timeout, archive `Loyalty<Part>Archive` kept 10 days, 60 s replay
    /// margin, 50 resubmissions per second, 4 at once.
    pub fn new(name: PartName) -> Self {
        Self {
            archive_name: name.default_archive_name(),
            name,
            poll_interval: std::time::Duration::from_secs(15),
            check_timeout: std::time::Duration::from_secs(5),
            thresholds: crate::circuit::Thresholds::default(),
            status_url: None,
            submit_url: None,
            submit_timeout: std::time::Duration::from_secs(10),
            retention_days: DEFAULT_RETENTION_DAYS,
            replay_margin: std::time::Duration::from_secs(60),
            resubmit_rate: 50.0,
            resubmit_concurrency: 4,
            archive_lag: None,
        }
    }

    /// How long the part's archive keeps events.
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400)
    }
}
