//! Redrive: a dead-lettered voucher sent back through the flow.

use chrono::Utc;

use super::{Recovery, RecoveryError};
use crate::voucher::{Redriven, VoucherStatus};

impl Recovery {
    /// Moves a dead-lettered voucher back to `retry` and resubmits it through
    /// the flow now; returns its status afterwards. Only the call that moved
    /// it resubmits it: a concurrent redrive of the same voucher (another
    /// bulk redrive, another replica) gets [`RecoveryError::NotDeadLettered`],
    /// and the flow's claim keeps any other handler from sending it too.
    pub async fn redrive(&self, id: &str) -> Result<VoucherStatus, RecoveryError> {
        match self.flow.cache().redrive(id, Utc::now()).await? {
            None => Err(RecoveryError::UnknownVoucher(id.to_owned())),
            Some(Redriven::Moved) => Ok(self
                .flow
                .process(id, "redriven from the dead-letter queue")
                .await?
                .unwrap_or(VoucherStatus::Retry)),
            Some(Redriven::NotDeadLettered(status)) => Err(RecoveryError::NotDeadLettered {
                id: id.to_owned(),
                status,
            }),
        }
    }
}
