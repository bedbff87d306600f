//! A maintenance window of a part, as scheduled, and the request that
//! schedules one (validated here, naming the field at fault).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// How far in the past a window may start (a form filled in a minute ago
/// with "now" is still accepted).
pub const PAST_TOLERANCE: Duration = Duration::minutes(5);
/// The longest window.
pub const MAX_DURATION: Duration = Duration::days(7);
/// How far ahead a window may start.
pub const MAX_AHEAD: Duration = Duration::days(90);
/// The longest reason, in characters.
pub const MAX_REASON: usize = 500;

/// Where a window is in its life, at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    /// Not started yet.
    Scheduled,
    /// In force: the part's circuit is held open.
    Active,
    /// Ended (at its end or early); its replay has not started yet.
    Ended,
    /// Ended and replayed.
    Replayed,
    /// Cancelled before it started: nothing held, nothing to replay.
    Cancelled,
}

impl WindowState {
    /// Name as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowState::Scheduled => "scheduled",
            WindowState::Active => "active",
            WindowState::Ended => "ended",
            WindowState::Replayed => "replayed",
            WindowState::Cancelled => "cancelled",
        }
    }
}

/// A part's maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceWindow {
    /// Its id (`mw-…`).
    pub id: String,
    /// The part.
    pub part: String,
    /// When the hold starts.
    pub start: DateTime<Utc>,
    /// When the hold ends, as scheduled.
    pub end: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Who scheduled it.
    pub by: String,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When it was ended early or cancelled, if it was.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who ended or cancelled it.
    pub ended_by: Option<String>,
    /// Why it was ended or cancelled.
    pub end_reason: Option<String>,
    /// The replay of the window once started (or why none could be).
    pub replay: Option<String>,
}

impl MaintenanceWindow {
    /// When the hold ends: the scheduled end, or the early end.
    pub fn effective_end(&self) -> DateTime<Utc> {
        match self.ended_at {
            Some(e) if e < self.end => e,
            _ => self.end,
        }
    }

    /// Whether it was cancelled before it started.
    pub fn cancelled(&self) -> bool {
        self.ended_at.is_some_and(|e| e <= self.start)
    }

    /// Whether it holds its part's circuit open at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        !self.cancelled() && self.start <= now && now < self.effective_end()
    }

    /// Whether its hold overlaps `[start, end)` (a cancelled one never does).
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        !self.cancelled() && self.start < end && start < self.effective_end()
    }

    /// Its state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> WindowState {
        if self.cancelled() {
            WindowState::Cancelled
        } else if now < self.start {
            WindowState::Scheduled
        } else if now < self.effective_end() {
            WindowState::Active
        } else if self.replay.is_some() {
            WindowState::Replayed
        } else {
            WindowState::Ended
        }
    }
}

/// A validated request to schedule a window (`POST …/maintenance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceRequest {
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// Why (required).
    pub reason: String,
    /// Who, when sign-in is off (signed in, the caller).
    pub by: Option<String>,
}

/// A field at fault and why.
pub type FieldError = (&'static str, String);

fn text(body: &Value, field: &'static str) -> Result<Option<String>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err((field, "must be a string".into())),
    }
}

fn time(body: &Value, field: &'static str) -> Result<Option<DateTime<Utc>>, FieldError> {
    text(body, field)?
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    (
                        field,
                        format!("{s:?} is not an RFC 3339 time (e.g. 2026-12-07T06:00:00Z)"),
                    )
                })
        })
        .transpose()
}

impl MaintenanceRequest {
    /// Validates a request body at `now`: `start` (RFC 3339; default now,
    /// at most [`PAST_TOLERANCE`] ago, at most [`MAX_AHEAD`] ahead), `end`
    /// (required, after `start`, at most [`MAX_DURATION`] later), `reason`
    /// (required, at most [`MAX_REASON`] characters), `by` (optional).
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, FieldError> {
        if !body.is_object() {
            return Err(("body", "must be a JSON object".into()));
        }
        let start = time(body, "start")?.unwrap_or(now);
        let end = time(body, "end")?.ok_or(("end", "is required".to_string()))?;
        let reason = text(body, "reason")?.ok_or(("reason", "is required".to_string()))?;
        let by = text(body, "by")?;
        Self::new(start, end, reason, by, now)
    }

    /// Validates the fields (see [`MaintenanceRequest::parse`]).
    pub fn new(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: String,
        by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, FieldError> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(("reason", "is required".into()));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(("reason", format!("must be at most {MAX_REASON} characters")));
        }
        if start < now - PAST_TOLERANCE {
            return Err((
                "start",
                format!(
                    "must not be in the past (more than {} minutes ago)",
                    PAST_TOLERANCE.num_minutes()
                ),
            ));
        }
        if start > now + MAX_AHEAD {
            return Err((
                "start",
                format!("must be at most {} days ahead", MAX_AHEAD.num_days()),
            ));
        }
        if end <= start {
            return Err(("end", "must be after start".into()));
        }
        if end <= now {
            return Err(("end", "must be in the future".into()));
        }
        if end - start > MAX_DURATION {
            return Err((
                "end",
                format!(
                    "the window must last at most {} days",
                    MAX_DURATION.num_days()
                ),
            ));
        }
        Ok(Self {
            start,
            end,
            reason,
            by: by.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
    }

    fn field(v: Value) -> &'static str {
        MaintenanceRequest::parse(&v, now()).unwrap_err().0
    }

    #[test]
    fn requests_name_the_bad_field() {
        let ok = |s: &str, e: &str| json!({"start": s, "end": e, "reason": "upgrade"});
        assert_eq!(field(json!([])), "body");
        assert_eq!(field(json!({"end": "2026-12-07T07:00:00Z"})), "reason");
        assert_eq!(field(json!({"reason": "x"})), "end");
        assert_eq!(
            field(json!({"reason": 3, "end": "2026-12-07T07:00:00Z"})),
            "reason"
        );
        assert_eq!(field(ok("yesterday", "2026-12-07T07:00:00Z")), "start");
        assert_eq!(
            field(ok("2026-12-07T05:00:00Z", "2026-12-07T07:00:00Z")),
            "start"
        );
        assert_eq!(
            field(ok("2027-06-07T05:00:00Z", "2027-06-07T07:00:00Z")),
            "start"
        );
        assert_eq!(
            field(ok("2026-12-07T07:00:00Z", "2026-12-07T07:00:00Z")),
            "end"
        );
        assert_eq!(
            field(ok("2026-12-07T07:00:00Z", "2026-12-07T06:30:00Z")),
            "end"
        );
        assert_eq!(
            field(ok("2026-12-07T07:00:00Z", "2026-12-15T07:00:00Z")),
            "end"
        );
        let long = "x".repeat(MAX_REASON + 1);
        assert_eq!(
            field(json!({"end": "2026-12-07T07:00:00Z", "reason": long})),
            "reason"
        );
        // Within the tolerance, and `start` defaults to now.
        let r =
            MaintenanceRequest::parse(&ok("2026-12-07T05:57:00Z", "2026-12-07T07:00:00Z"), now())
                .unwrap();
        assert_eq!(r.reason, "upgrade");
        let r = MaintenanceRequest::parse(
            &json!({"end": "2026-12-07T07:30:00+01:00", "reason": " r ", "by": "ann"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            (r.start, r.reason.as_str(), r.by.as_deref()),
            (now(), "r", Some("ann"))
        );
    }

    #[test]
    fn a_window_holds_from_start_to_its_effective_end() {
        let t = |m: i64| now() + Duration::minutes(m);
        let mut w = MaintenanceWindow {
            id: "mw-1".into(),
            part: "voucher".into(),
            start: t(10),
            end: t(20),
            reason: "r".into(),
            by: "ann".into(),
            created_at: t(0),
            ended_at: None,
            ended_by: None,
            end_reason: None,
            replay: None,
        };
        assert_eq!(w.state(t(0)), WindowState::Scheduled);
        assert!(!w.holds(t(9)) && w.holds(t(10)) && w.holds(t(19)) && !w.holds(t(20)));
        assert_eq!(w.state(t(10)), WindowState::Active);
        assert_eq!(w.state(t(20)), WindowState::Ended);
        assert!(w.overlaps(t(19), t(30)) && !w.overlaps(t(20), t(30)) && !w.overlaps(t(0), t(10)));
        w.ended_at = Some(t(15));
        assert!(!w.holds(t(15)) && w.holds(t(14)));
        assert!(!w.overlaps(t(15), t(30)));
        w.replay = Some("r1".into());
        assert_eq!(w.state(t(16)), WindowState::Replayed);
        w.ended_at = Some(t(5));
        assert!(w.cancelled() && !w.holds(t(12)) && !w.overlaps(t(0), t(30)));
        assert_eq!(w.state(t(12)), WindowState::Cancelled);
    }
}
