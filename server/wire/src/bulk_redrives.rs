//! Bulk redrives of the dead-letter queue: the filter, the request, a
//! redrive's live progress, and the console's form.

use serde::{Deserialize, Serialize};

/// Which dead-lettered vouchers a bulk redrive or an export takes; every
/// field given must match. Times are RFC 3339, each range `since <= t <
/// until`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DlqFilterBody))]
pub struct DlqFilter {
    /// The vouchers' part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// Text the dead-letter reason contains (case-insensitive, at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_contains: Option<String>,
    /// Received at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub received_since: Option<String>,
    /// Received before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub received_until: Option<String>,
    /// Dead-lettered at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub dead_lettered_since: Option<String>,
    /// Dead-lettered before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub dead_lettered_until: Option<String>,
}

/// `POST /api/v1/dlq/redrives`: the filter's fields and the rate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BulkRedriveRequestBody))]
pub struct BulkRedriveRequest {
    /// Which vouchers (none given: the whole queue).
    #[serde(flatten)]
    pub filter: DlqFilter,
    /// Vouchers started per second, 1–500 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
}

/// A bulk redrive and its progress: `done` of `total` vouchers taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BulkRedriveBody))]
pub struct BulkRedrive {
    /// Its id.
    pub id: String,
    /// `running`, `cancelling`, `completed` or `cancelled`.
    pub state: String,
    /// Which vouchers it takes.
    pub filter: DlqFilter,
    /// Vouchers started per second, at most.
    pub rate: u32,
    /// Vouchers the filter matched when it started.
    pub total: u64,
    /// Vouchers taken so far (`redriven + skipped + failed`).
    pub done: u64,
    /// Moved back to `retry` and resubmitted by this redrive.
    pub redriven: u64,
    /// Of those, accepted by the SaaS.
    pub submitted: u64,
    /// No longer dead-lettered when reached (redriven by someone else).
    pub skipped: u64,
    /// Storage failed for them; they stay dead-lettered.
    pub failed: u64,
    /// Who started it.
    pub started_by: String,
    /// When it started (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: String,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub ended_at: Option<String>,
}

impl BulkRedrive {
    /// Still running (or ending the vouchers in flight).
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "running" | "cancelling")
    }

    /// `done / total` in whole percent (100 when there was nothing to do).
    pub fn percent(&self) -> u32 {
        (self.done.min(self.total) * 100)
            .checked_div(self.total)
            .map_or(100, |p| p as u32)
    }
}

/// The bulk redrives this server runs and ran, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BulkRedriveListBody))]
pub struct BulkRedriveList {
    /// The bulk redrives.
    pub redrives: Vec<BulkRedrive>,
}

/// The console's "Redrive…" form: the filter's fields and the rate as
/// typed (times from `datetime-local` inputs are taken as UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRedriveForm {
    /// The part (empty: every part).
    pub part: String,
    /// Text in the reason.
    pub reason_contains: String,
    /// Received at or after.
    pub received_since: String,
    /// Received before.
    pub received_until: String,
    /// Dead-lettered at or after.
    pub dead_lettered_since: String,
    /// Dead-lettered before.
    pub dead_lettered_until: String,
    /// Vouchers per second.
    pub rate: String,
}

impl BulkRedriveForm {
    /// The filter's fields as a query string for the export
    /// (`format=…&part=…`), empty fields left out.
    pub fn export_query(&self, format: &str) -> String {
        let mut q = format!("format={format}");
        for (name, value) in self.filter_fields() {
            if !value.trim().is_empty() {
                q.push('&');
                q.push_str(name);
                q.push('=');
                q.push_str(&urlencode(&utc_time(value.trim())));
            }
        }
        q
    }

    /// `(name, value)` of the filter's fields.
    pub fn filter_fields(&self) -> [(&'static str, &str); 6] {
        [
            ("part", self.part.as_str()),
            ("reason_contains", self.reason_contains.as_str()),
            ("received_since", self.received_since.as_str()),
            ("received_until", self.received_until.as_str()),
            ("dead_lettered_since", self.dead_lettered_since.as_str()),
            ("dead_lettered_until", self.dead_lettered_until.as_str()),
        ]
    }
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `datetime-local` value (`2026-01-31T12:00`, no zone) as an RFC 3339
/// UTC time; anything else unchanged (the server names it if it is bad).
pub fn utc_time(s: &str) -> String {
    let b = s.as_bytes();
    let local = |len: usize| {
        b.len() == len
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && (len == 16 || b[16] == b':')
    };
    if local(16) {
        format!("{s}:00Z")
    } else if local(19) {
        format!("{s}Z")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_values_are_utc() {
        assert_eq!(utc_time("2026-01-31T12:05"), "2026-01-31T12:05:00Z");
        assert_eq!(utc_time("2026-01-31T12:05:09"), "2026-01-31T12:05:09Z");
        assert_eq!(
            utc_time("2026-01-31T12:05:09+01:00"),
            "2026-01-31T12:05:09+01:00"
        );
        assert_eq!(utc_time("soon"), "soon");
        let form = BulkRedriveForm {
            part: "voucher".into(),
            reason_contains: "503 x".into(),
            dead_lettered_since: "2026-01-31T12:05".into(),
            ..Default::default()
        };
        assert_eq!(
            form.export_query("csv"),
            "format=csv&part=voucher&reason_contains=503%20x&dead_lettered_since=2026-01-31T12%3A05%3A00Z"
        );
    }
}
