//! Error types returned by the crate.
//!
//! Every error carries an AWS error *code* (the exception name EventBridge uses) and a
//! *message* with the exact reason text AWS returns, so callers can print
//! `<code>: <message>` and get what the AWS CLI would print.

use std::fmt;

/// Prefix AWS puts in front of every pattern-validation reason.
pub const REASON_PREFIX: &str = "Event pattern is not valid. Reason: ";

/// An event pattern was rejected (AWS: `InvalidEventPatternException`).
///
/// `message()` is the AWS `Message` text without the parser-location suffix that
/// AWS appends (`\n at [Source: ...; line: 1, column: N]`); `raw_message()` includes
/// that suffix, rebuilt the way Jackson (the JSON parser behind EventBridge) writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    reason: String,
    source_excerpt: Option<String>,
    line: usize,
    column: usize,
}

impl PatternError {
    /// Build an error from the bare reason (the text after "Reason: ").
    pub(crate) fn new(reason: impl Into<String>, source: &str, line: usize, column: usize) -> Self {
        PatternError {
            reason: reason.into(),
            source_excerpt: Some(jackson_source(source)),
            line,
            column,
        }
    }

    /// Build an error that has no location in the pattern text (e.g. the size limit).
    pub(crate) fn without_location(reason: impl Into<String>) -> Self {
        PatternError {
            reason: reason.into(),
            source_excerpt: None,
            line: 0,
            column: 0,
        }
    }

    /// The AWS error code: always `"InvalidEventPatternException"`.
    pub fn code(&self) -> &'static str {
        "InvalidEventPatternException"
    }

    /// The AWS message, e.g. `Event pattern is not valid. Reason: Empty arrays are not allowed`.
    pub fn message(&self) -> String {
        format!("{REASON_PREFIX}{}", self.reason)
    }

    /// The reason alone (the part after `Reason: `).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message with AWS's Jackson location suffix, as in AWS's raw `Message`.
    pub fn raw_message(&self) -> String {
        match &self.source_excerpt {
            Some(src) => format!(
                "{}\n at [Source: (String){}; line: {}, column: {}]",
                self.message(),
                src,
                self.line,
                self.column
            ),
            None => self.message(),
        }
    }

    /// 1-based line and column of the parser when the error was found, if any.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.source_excerpt
            .as_ref()
            .map(|_| (self.line, self.column))
    }
}

/// Jackson quotes the source and truncates it after 500 characters.
fn jackson_source(source: &str) -> String {
    const MAX: usize = 500;
    let count = source.chars().count();
    if count <= MAX {
        format!("\"{source}\"")
    } else {
        let head: String = source.chars().take(MAX).collect();
        format!("\"{head}\"[truncated {} chars]", count - MAX)
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for PatternError {}

/// An event could not be examined (it is not well-formed JSON, too deep, or not an object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The bytes are not well-formed JSON; `offset` is the byte where scanning stopped.
    #[error("event is not valid JSON at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The event nests arrays/objects deeper than [`crate::MAX_EVENT_DEPTH`].
    #[error("event nests deeper than {0} levels")]
    TooDeep(usize),
    /// The event is valid JSON but its top level is not an object.
    #[error("event is not a JSON object")]
    NotAnObject,
}

/// Error of [`crate::test_event_pattern`], mirroring the EventBridge `TestEventPattern` API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestEventPatternError {
    /// The pattern is invalid (`InvalidEventPatternException`).
    InvalidEventPattern(PatternError),
    /// The event is not JSON, not an object, or lacks a mandatory envelope field
    /// (`ValidationException: Parameter Event is not valid.`).
    InvalidEvent,
}

impl TestEventPatternError {
    /// AWS error code (`InvalidEventPatternException` or `ValidationException`).
    pub fn code(&self) -> &'static str {
        match self {
            TestEventPatternError::InvalidEventPattern(e) => e.code(),
            TestEventPatternError::InvalidEvent => "ValidationException",
        }
    }

    /// AWS error message.
    pub fn message(&self) -> String {
        match self {
            TestEventPatternError::InvalidEventPattern(e) => e.message(),
            TestEventPatternError::InvalidEvent => "Parameter Event is not valid.".to_string(),
        }
    }
}

impl fmt::Display for TestEventPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for TestEventPatternError {}

impl From<PatternError> for TestEventPatternError {
    fn from(e: PatternError) -> Self {
        TestEventPatternError::InvalidEventPattern(e)
    }
}
