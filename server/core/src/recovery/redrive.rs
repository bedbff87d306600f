//! Redrive: a dead-lettered voucher sent back through the flow.

use chrono::Utc;

use super::{Recovery, RecoveryError};
use crate::voucher::VoucherStatus;

impl Recovery {
    /// Moves a dead-lettered voucher back to `retry` and resubmits it through
    /// the flow now; returns its status afterwards.
    pub async fn redrive(&self, id: &str) -> Result<VoucherStatus, RecoveryError> {
        match self.flow.cache().redrive(id, Utc::now()).await? {
            None => Err(RecoveryError::UnknownVoucher(id.to_owned())),
            Some(VoucherStatus::Retry) => Ok(self
                .flow
                .process(id, "redriven from the dead-letter queue")
                .await?
                .unwrap_or(VoucherStatus::Retry)),
            Some(status) => Err(RecoveryError::NotDeadLettered {
                id: id.to_owned(),
                status,
            }),
        }
    }
}
