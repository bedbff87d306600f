//! Errors of recovery.

use super::ReplayError;
use crate::storage::StoreError;
use crate::voucher::VoucherStatus;

/// Errors of recovery.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus refused or failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A queue failed.
    #[error("queue: {0}")]
    Queue(String),
    /// The part has an active replay (one at a time per part).
    #[error("part {part} has an active replay: {replay}")]
    Busy {
        /// The part.
        part: String,
        /// Its active replay.
        replay: String,
    },
    /// No such voucher.
    #[error("voucher {0:?} not found")]
    UnknownVoucher(String),
    /// The voucher is not dead-lettered.
    #[error("voucher {id:?} is {status}, not dead_lettered")]
    NotDeadLettered {
        /// The voucher.
        id: String,
        /// Its status.
        status: VoucherStatus,
    },
    /// No bulk redrive of that id (in this process).
    #[error("bulk redrive {0:?} not found")]
    UnknownBulkRedrive(String),
    /// The bulk redrive has ended already.
    #[error("bulk redrive {0:?} has ended")]
    BulkRedriveFinished(String),
    /// A request named something invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
}
