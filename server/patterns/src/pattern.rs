//! [`EventPattern`] (one validated pattern) and [`test_event_pattern`] (the EventBridge
//! `TestEventPattern` API).

use crate::compile::{compile, Branch};
use crate::error::{EventError, PatternError, TestEventPatternError};
use crate::lexer::{Lexer, Token};
use crate::matcher::Matcher;

/// Default maximum pattern length in characters: EventBridge's default "event pattern
/// size" quota (2048, adjustable by AWS up to the API limit of 4096).
pub const DEFAULT_MAX_PATTERN_LENGTH: usize = 2048;

/// The `TestEventPattern`/`PutRule` API's hard maximum pattern length in characters.
pub const API_MAX_PATTERN_LENGTH: usize = 4096;

/// Envelope fields `TestEventPattern` requires in the event (AWS documents `resources`
/// too, but does not enforce it; LocalStack's recorded AWS behaviour agrees).
pub const MANDATORY_ENVELOPE_FIELDS: [&str; 6] =
    ["id", "account", "source", "time", "region", "detail-type"];

/// One validated, compiled event pattern.
///
/// Parsing validates the pattern exactly as EventBridge does (same checks, same order,
/// same reason texts) and compiles it for matching.
pub struct EventPattern {
    json: String,
    branches: Vec<Branch>,
    matcher: Matcher<()>,
}

impl std::fmt::Debug for EventPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPattern")
            .field("json", &self.json)
            .finish()
    }
}

impl Clone for EventPattern {
    fn clone(&self) -> Self {
        EventPattern::from_branches(self.json.clone(), self.branches.clone())
    }
}

impl PartialEq for EventPattern {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl EventPattern {
    /// Parse and validate a pattern, with the default length limit
    /// ([`DEFAULT_MAX_PATTERN_LENGTH`]).
    pub fn parse(json: &str) -> Result<EventPattern, PatternError> {
        Self::parse_with_max_length(json, DEFAULT_MAX_PATTERN_LENGTH)
    }

    /// Parse and validate a pattern with a custom length limit in characters (e.g.
    /// [`API_MAX_PATTERN_LENGTH`] for accounts with a raised quota, `usize::MAX` for none).
    pub fn parse_with_max_length(
        json: &str,
        max_chars: usize,
    ) -> Result<EventPattern, PatternError> {
        if json.len() > max_chars && json.chars().count() > max_chars {
            return Err(PatternError::without_location(format!(
                "Event pattern length exceeds the maximum of {max_chars} characters"
            )));
        }
        let branches = compile(json)?;
        Ok(Self::from_branches(json.to_string(), branches))
    }

    fn from_branches(json: String, branches: Vec<Branch>) -> EventPattern {
        let mut p = EventPattern {
            json,
            branches,
            matcher: Matcher::new(),
        };
        let mut m = Matcher::new_direct();
        m.set_strict(true);
        m.add_branches((), &p.branches);
        p.matcher = m;
        p
    }

    /// The pattern text as given.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// Number of `$or` alternatives the pattern expands into.
    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    /// Does the event (any JSON object; no envelope needed) match? The whole event is
    /// validated as JSON.
    pub fn matches(&self, event_json: &str) -> Result<bool, EventError> {
        self.matcher.has_matches(event_json.as_bytes())
    }

    /// Like [`EventPattern::matches`], from raw bytes.
    pub fn matches_bytes(&self, event_json: &[u8]) -> Result<bool, EventError> {
        self.matcher.has_matches(event_json)
    }
}

/// The matcher's entry points for rules given as patterns (the matcher itself works on
/// compiled branches, so it does not depend on this module).
impl<Id: Clone + Eq + std::hash::Hash> Matcher<Id> {
    /// Parse, validate and add a pattern under `id`, replacing the pattern `id` had.
    /// On error the matcher is unchanged.
    pub fn add_rule(&mut self, id: Id, pattern: &str) -> Result<(), PatternError> {
        let p = EventPattern::parse(pattern)?;
        self.add_pattern(id, &p);
        Ok(())
    }

    /// Add an already-validated pattern under `id`, replacing the pattern `id` had.
    pub fn add_pattern(&mut self, id: Id, pattern: &EventPattern) {
        self.add_branches(id, &pattern.branches);
    }
}

impl std::str::FromStr for EventPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventPattern::parse(s)
    }
}

/// Is `event` a JSON object with all [`MANDATORY_ENVELOPE_FIELDS`] at its top level?
fn envelope_ok(event: &str) -> bool {
    let mut lx = Lexer::new(event);
    let mut seen = [false; MANDATORY_ENVELOPE_FIELDS.len()];
    if !matches!(lx.next_token(), Ok(Some(Token::StartObject))) {
        return false;
    }
    let mut depth = 1usize;
    while depth > 0 {
        match lx.next_token() {
            Ok(Some(Token::StartObject | Token::StartArray)) => depth += 1,
            Ok(Some(Token::EndObject | Token::EndArray)) => depth -= 1,
            Ok(Some(Token::FieldName(n))) if depth == 1 => {
                if let Some(i) = MANDATORY_ENVELOPE_FIELDS.iter().position(|f| *f == n) {
                    seen[i] = true;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
    lx.at_end() && seen.iter().all(|&s| s)
}

/// EventBridge's `TestEventPattern`: does `event` match `pattern`?
///
/// As AWS does, the event must be a JSON object carrying the envelope fields
/// [`MANDATORY_ENVELOPE_FIELDS`]; otherwise the error is
/// `ValidationException: Parameter Event is not valid.` The event is checked before the
/// pattern (as LocalStack's AWS-validated implementation does). An invalid pattern gives
/// `InvalidEventPatternException` with AWS's reason. The pattern length limit is the API
/// maximum ([`API_MAX_PATTERN_LENGTH`]).
pub fn test_event_pattern(pattern: &str, event: &str) -> Result<bool, TestEventPatternError> {
    if !envelope_ok(event) {
        return Err(TestEventPatternError::InvalidEvent);
    }
    let p = EventPattern::parse_with_max_length(pattern, API_MAX_PATTERN_LENGTH)?;
    p.matches(event)
        .map_err(|_| TestEventPatternError::InvalidEvent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str =
        r#""id":"1","account":"1","source":"s","time":"t","region":"r","detail-type":"d""#;

    #[test]
    fn envelope() {
        assert!(envelope_ok(&format!("{{{ENV}}}")));
        assert!(!envelope_ok(r#"{"testEvent": "value"}"#));
        assert!(!envelope_ok("plain string"));
        assert!(!envelope_ok(r#"["plain string"]"#));
        assert!(!envelope_ok(&format!("{{{ENV}}} x")));
        assert!(!envelope_ok(&format!(r#"{{"detail": {{{ENV}}}}}"#)));
    }

    #[test]
    fn test_event_pattern_errors() {
        let e = test_event_pattern(r#"{"a": ["b"]}"#, r#"{"testEvent": "value"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ValidationException: Parameter Event is not valid."
        );
        let e = test_event_pattern(r#"{"a": []}"#, &format!("{{{ENV}}}")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "InvalidEventPatternException: Event pattern is not valid. Reason: Empty arrays are not allowed"
        );
        assert!(test_event_pattern(r#"{"source": ["s"]}"#, &format!("{{{ENV}}}")).unwrap());
    }
}
