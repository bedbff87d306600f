//! Query parameters the HTTP shells share, each refused with one error
//! shape: [`CommandError::Invalid`] naming the parameter (answered 422
//! `{"error": "<field>: <reason>", "field"}`).

use chrono::{DateTime, Utc};
use mediator_core::CommandError;

/// Why an RFC 3339 parameter is refused.
pub const NOT_RFC3339: &str = "must be an RFC 3339 time";

/// The optional RFC 3339 time `value` of parameter `field`, in UTC; an
/// absent or blank value is `None`.
pub fn rfc3339(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, CommandError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| CommandError::invalid(field, NOT_RFC3339))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_utc_and_blanks_are_absent() {
        let t = rfc3339("start", Some(" 2026-11-26T10:00:00+01:00 ")).unwrap();
        assert_eq!(t.unwrap().to_rfc3339(), "2026-11-26T09:00:00+00:00");
        assert_eq!(rfc3339("start", Some("  ")).unwrap(), None);
        assert_eq!(rfc3339("start", None).unwrap(), None);
    }

    #[test]
    fn a_bad_time_names_its_field() {
        let e = rfc3339("until", Some("yesterday")).unwrap_err();
        assert_eq!(e, CommandError::invalid("until", NOT_RFC3339));
        assert_eq!(
            e.body(),
            serde_json::json!({"error": "until: must be an RFC 3339 time", "field": "until"})
        );
        assert_eq!(e.http_status(), 422);
    }
}
