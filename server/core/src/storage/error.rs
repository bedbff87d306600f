//! The storage ports' error: what the domain can tell apart, whichever
//! backend stored it. Adapters map their own errors into it (SQLite's and
//! DynamoDB's), keeping the backend's message for the people reading it.

/// A backend's own error, kept as the source of an [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a storage port could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost to another writer (the stored item changed
    /// since it was read); the text names the operation.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Something the operation needs is not stored; the text names it.
    #[error("not found: {0}")]
    NotFound(String),
    /// The storage cannot serve now (disk full, read-only, busy, throttled,
    /// unreachable); trying again later may work. `what` names the storage
    /// or operation, `source` is the backend's error (its text is what an
    /// operator reads, e.g. SQLite's "database or disk is full").
    #[error("{what}: {source}")]
    Unavailable {
        /// The storage or operation that failed.
        what: String,
        /// The backend's error.
        source: BoxError,
    },
    /// The storage failed in another way (an unexpected answer, a row it
    /// cannot read, an operation it refused); not expected to pass on retry.
    #[error("{what}: {source}")]
    Failed {
        /// The storage or operation that failed.
        what: String,
        /// The backend's error.
        source: BoxError,
    },
}

impl StoreError {
    /// [`StoreError::Unavailable`] from a name and the backend's error (or
    /// its text).
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: source.into(),
        }
    }

    /// [`StoreError::Failed`] from a name and the backend's error (or its
    /// text).
    pub fn failed(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Failed {
            what: what.into(),
            source: source.into(),
        }
    }

    /// Whether trying again later may succeed ([`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_keep_the_backends_message() {
        let full = StoreError::unavailable("database error", "database or disk is full");
        assert_eq!(full.to_string(), "database error: database or disk is full");
        assert!(full.is_unavailable());
        let other = StoreError::failed("storage backend", "DynamoDB get: oops");
        assert_eq!(other.to_string(), "storage backend: DynamoDB get: oops");
        assert!(!other.is_unavailable());
        assert_eq!(
            StoreError::NotFound("voucher v1".into()).to_string(),
            "not found: voucher v1"
        );
    }
}
