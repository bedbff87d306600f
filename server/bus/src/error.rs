//! [`BusError`]: one variant per EventBridge error code, so the wire layer is
//! a plain mapping (`code()` is the `__type`, `Display` the `message`).

/// Errors of the embedded EventBridge; each variant is one AWS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `ResourceAlreadyExistsException`.
    #[error("{0}")]
    ResourceAlreadyExists(String),
    /// `ValidationException`.
    #[error("{0}")]
    Validation(String),
    /// `InvalidEventPatternException`: AWS's message with the JSON parser's
    /// location appended (`\n at [Source: (String)"…"; line: 1, column: N]`),
    /// as the wire API answers it.
    #[error("{0}")]
    InvalidEventPattern(String),
    /// `IllegalStatusException`.
    #[error("{0}")]
    IllegalStatus(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `ManagedRuleException`: the rule belongs to an archive.
    #[error("{0}")]
    ManagedRule(String),
    /// `InternalException`: storage failed.
    #[error("{0}")]
    Internal(String),
}

impl BusError {
    /// The AWS error code (`__type` on the wire).
    pub fn code(&self) -> &'static str {
        match self {
            BusError::ResourceNotFound(_) => "ResourceNotFoundException",
            BusError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            BusError::Validation(_) => "ValidationException",
            BusError::InvalidEventPattern(_) => "InvalidEventPatternException",
            BusError::IllegalStatus(_) => "IllegalStatusException",
            BusError::LimitExceeded(_) => "LimitExceededException",
            BusError::ManagedRule(_) => "ManagedRuleException",
            BusError::Internal(_) => "InternalException",
        }
    }

    /// The AWS message.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// `true` for errors caused by the server rather than the request (HTTP 500).
    pub fn is_internal(&self) -> bool {
        matches!(self, BusError::Internal(_))
    }
}

impl From<store::DbError> for BusError {
    fn from(e: store::DbError) -> Self {
        BusError::Internal(e.to_string())
    }
}

impl From<store::rusqlite::Error> for BusError {
    fn from(e: store::rusqlite::Error) -> Self {
        BusError::Internal(e.to_string())
    }
}

impl BusError {
    /// `InvalidEventPatternException` for `pattern`, worded as AWS's wire
    /// API words it (the parser's location where AWS gives one).
    pub fn invalid_pattern(pattern: &str, e: &patterns::PatternError) -> Self {
        BusError::InvalidEventPattern(crate::pattern_errors::wire_message(pattern, e))
    }
}

impl From<patterns::PatternError> for BusError {
    fn from(e: patterns::PatternError) -> Self {
        BusError::InvalidEventPattern(e.raw_message())
    }
}

/// Result alias of this crate.
pub type BusResult<T> = Result<T, BusError>;
