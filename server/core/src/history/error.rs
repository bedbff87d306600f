//! Why a read model could not be built.

use crate::archives::ArchiveError;
use crate::storage::StoreError;

/// Why a read model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The part is not configured (field `part`).
    #[error("part {0:?} is not configured")]
    UnknownPart(String),
    /// A parameter is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The parameter at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No archive of that name (field `name`).
    #[error("archive {0:?} not found")]
    UnknownArchive(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error("bus unavailable: {0}")]
    Bus(String),
    /// The backend cannot do this (e.g. list archived events on AWS).
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

impl From<ArchiveError> for HistoryError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::NotFound(n) => HistoryError::UnknownArchive(n),
            ArchiveError::Unavailable(m) => HistoryError::Bus(m),
            ArchiveError::Unsupported(m) => HistoryError::Unsupported(m),
        }
    }
}
