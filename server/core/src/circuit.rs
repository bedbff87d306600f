//! The per-part circuit: turns a stream of health checks into a status.
//!
//! Pure logic, no I/O, so every transition is unit-tested here and the
//! monitor only persists what [`Circuit::observe`] decides.
//!
//! - A failing check while up (or unknown) makes the part *pending*; after
//!   `failure_threshold` consecutive failures it is *down* (circuit open).
//! - A good check while down counts towards `recovery_threshold`; when it is
//!   reached the part is *up* again (circuit closed).
//! - Only up/down changes are status changes (they become SAAS_STATUS
//!   events); pending is the visible "thresholds are filling" state.

use chrono::{DateTime, Utc};

use std::fmt;
use std::str::FromStr;

/// Health of one SaaS part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartState {
    /// Not checked yet.
    Unknown,
    /// Failing checks are accumulating but the failure threshold is not reached.
    Pending,
    /// Healthy: the circuit is closed.
    Up,
    /// Down: the circuit is open and requests are held back.
    Down,
}

impl PartState {
    /// Lowercase name, as stored and as used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Unknown => "unknown",
            PartState::Pending => "pending",
            PartState::Up => "up",
            PartState::Down => "down",
        }
    }
}

impl fmt::Display for PartState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unknown" => PartState::Unknown,
            "pending" => PartState::Pending,
            "up" => PartState::Up,
            "down" => PartState::Down,
            other => return Err(format!("unknown part status {other:?}")),
        })
    }
}

/// How many consecutive checks flip the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failed checks before a part is down (≥ 1).
    pub failure: u32,
    /// Consecutive good checks before a down part is up again (≥ 1).
    pub recovery: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            failure: 3,
            recovery: 2,
        }
    }
}

/// A settled status change: what a SAAS_STATUS event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The new status (up or down).
    pub status: PartState,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
    /// The status before (unknown, up or down).
    pub prev_status: PartState,
    /// When the previous status began, if known.
    pub prev_change_at: Option<DateTime<Utc>>,
}

/// Circuit state of one part, as persisted in the status table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circuit {
    /// Settled status: unknown, up or down (never pending).
    pub status: PartState,
    /// When the settled status began.
    pub changed_at: Option<DateTime<Utc>>,
    /// The settled status before this one.
    pub prev_status: Option<PartState>,
    /// When the previous settled status began.
    pub prev_change_at: Option<DateTime<Utc>>,
    /// Consecutive failed checks (reset by a good one).
    pub failures: u32,
    /// Consecutive good checks (reset by a failed one).
    pub successes: u32,
}

impl Default for Circuit {
    fn default() -> Self {
        Self {
            status: PartState::Unknown,
            changed_at: None,
            prev_status: None,
            prev_change_at: None,
            failures: 0,
            successes: 0,
        }
    }
}

impl Circuit {
    /// Status to display: `pending` while failures accumulate on a part that
    /// is not yet down.
    pub fn display_state(&self) -> PartState {
        match self.status {
            PartState::Up | PartState::Unknown if self.failures > 0 => PartState::Pending,
            s => s,
        }
    }

    /// Whether requests may be sent (circuit closed): everything but down.
    /// An unknown part is tried, so a fresh start does not hold requests.
    pub fn is_closed(&self) -> bool {
        self.status != PartState::Down
    }

    /// Applies one check result; returns the settled change it causes, if any.
    pub fn observe(
        &mut self,
        ok: bool,
        now: DateTime<Utc>,
        th: Thresholds,
    ) -> Option<StatusChange> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            let flip = match self.status {
                PartState::Unknown => true,
                PartState::Down => self.successes >= th.recovery.max(1),
                _ => false,
            };
            flip.then(|| self.settle(PartState::Up, now))
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            let flip = self.status != PartState::Down && self.failures >= th.failure.max(1);
            flip.then(|| self.settle(PartState::Down, now))
        }
    }

    fn settle(&mut self, to: PartState, now: DateTime<Utc>) -> StatusChange {
        let change = StatusChange {
            status: to,
            changed_at: now,
            prev_status: self.status,
            prev_change_at: self.changed_at,
        };
        self.prev_status = Some(self.status);
        self.prev_change_at = self.changed_at;
        self.status = to;
        self.changed_at = Some(now);
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    const TH: Thresholds = Thresholds {
        failure: 3,
        recovery: 2,
    };

    #[test]
    fn first_good_check_settles_up() {
        let mut c = Circuit::default();
        let ch = c.observe(true, t(0), TH).unwrap();
        assert_eq!(ch.status, PartState::Up);
        assert_eq!(ch.prev_status, PartState::Unknown);
        assert_eq!(ch.prev_change_at, None);
        assert!(c.observe(true, t(1), TH).is_none());
    }

    #[test]
    fn failures_are_pending_until_the_threshold() {
        let mut c = Circuit::default();
        c.observe(true, t(0), TH);
        assert!(c.observe(false, t(1), TH).is_none());
        assert_eq!(c.display_state(), PartState::Pending);
        assert_eq!(c.failures, 1);
        assert!(c.is_closed(), "pending still submits");
        assert!(c.observe(false, t(2), TH).is_none());
        let ch = c.observe(false, t(3), TH).unwrap();
        assert_eq!(ch.status, PartState::Down);
        assert_eq!(ch.prev_status, PartState::Up);
        assert_eq!(ch.prev_change_at, Some(t(0)));
        assert_eq!(c.display_state(), PartState::Down);
        assert!(!c.is_closed());
        // More failures change nothing.
        assert!(c.observe(false, t(4), TH).is_none());
    }

    #[test]
    fn a_good_check_resets_pending() {
        let mut c = Circuit::default();
        c.observe(true, t(0), TH);
        c.observe(false, t(1), TH);
        c.observe(false, t(2), TH);
        assert!(c.observe(true, t(3), TH).is_none());
        assert_eq!(c.display_state(), PartState::Up);
        assert_eq!(c.failures, 0);
        c.observe(false, t(4), TH);
        c.observe(false, t(5), TH);
        assert!(c.observe(true, t(6), TH).is_none(), "counter restarted");
    }

    #[test]
    fn recovery_needs_consecutive_good_checks() {
        let mut c = Circuit::default();
        c.observe(true, t(0), TH);
        for s in 1..=3 {
            c.observe(false, t(s), TH);
        }
        assert!(c.observe(true, t(10), TH).is_none());
        assert!(
            c.observe(false, t(11), TH).is_none(),
            "a failure resets recovery"
        );
        assert!(c.observe(true, t(12), TH).is_none());
        let ch = c.observe(true, t(13), TH).unwrap();
        assert_eq!(ch.status, PartState::Up);
        assert_eq!(ch.prev_status, PartState::Down);
        assert_eq!(ch.prev_change_at, Some(t(3)));
        assert_eq!(ch.changed_at, t(13));
    }

    #[test]
    fn thresholds_of_one_flip_immediately() {
        let th = Thresholds {
            failure: 1,
            recovery: 1,
        };
        let mut c = Circuit::default();
        assert_eq!(c.observe(false, t(0), th).unwrap().status, PartState::Down);
        assert_eq!(c.observe(true, t(1), th).unwrap().status, PartState::Up);
    }
}
