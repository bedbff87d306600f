//! Timestamps: epoch milliseconds inside, epoch seconds (JSON numbers) on the wire.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now, from the system clock.
    pub fn now() -> Self {
        Timestamp::from(chrono::Utc::now())
    }
    /// From whole seconds.
    pub fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }
    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
    /// The same instant in UTC; `None` beyond chrono's range.
    pub fn to_datetime(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }
    /// RFC 3339 with second precision and `Z`, as EventBridge's envelope `time`.
    pub fn to_rfc3339(self) -> String {
        match self.to_datetime() {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            None => "1970-01-01T00:00:00Z".to_string(),
        }
    }
    /// Parses RFC 3339 text.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(Timestamp::from)
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for Timestamp {
    /// The same instant, to the millisecond.
    fn from(t: chrono::DateTime<Tz>) -> Self {
        Timestamp(t.timestamp_millis())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(s) => Ok(Timestamp(s.saturating_mul(1000))),
            Raw::Float(f) => Ok(Timestamp((f * 1000.0).round() as i64)),
            Raw::Text(t) => {
                if let Ok(f) = t.parse::<f64>() {
                    return Ok(Timestamp((f * 1000.0).round() as i64));
                }
                Timestamp::parse_rfc3339(&t)
                    .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {t:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(
            serde_json::to_string(&Timestamp(1_700_000_000_000)).unwrap(),
            "1700000000"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp(1_700_000_000_500)).unwrap(),
            "1700000000.5"
        );
        let t: Timestamp = serde_json::from_str("1700000000.25").unwrap();
        assert_eq!(t.0, 1_700_000_000_250);
        let t: Timestamp = serde_json::from_str("\"2023-11-14T22:13:20Z\"").unwrap();
        assert_eq!(t.0, 1_700_000_000_000);
        assert_eq!(
            Timestamp(1_700_000_000_000).to_rfc3339(),
            "2023-11-14T22:13:20Z"
        );
    }
}
