//! [`AwsIntake`]: the Order Processing service's voucher requests, routed by
//! the intake rule to the `voucher-requests` queue, run through the
//! submission flow (on the embedded backend an in-process consumer does the
//! same).

use std::sync::Arc;
use std::time::Duration;

use mediator_core::submit::{accept_request_event, RequestOutcome};
use mediator_core::SubmissionFlow;
use tokio_util::sync::CancellationToken;

use crate::provision::REQUEST_QUEUE;
use crate::queues::SqsQueues;

/// How long a long poll of the intake queue waits for a first message.
pub const INTAKE_WAIT: Duration = Duration::from_secs(20);

/// What one [`AwsIntake::step`] did with the messages it received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IntakeStep {
    /// Accepted by the flow (duplicates included) and deleted.
    pub accepted: usize,
    /// Not valid voucher requests: handed straight back, so that SQS moves
    /// them to the intake's dead-letter queue after its maximum receives,
    /// where they stay visible.
    pub invalid: usize,
    /// Left for redelivery after the visibility timeout (storage failures).
    pub failed: usize,
}

/// The intake queue's consumer.
pub struct AwsIntake {
    queues: SqsQueues,
    queue: String,
}

impl AwsIntake {
    /// The consumer of the provisioned intake queue ([`REQUEST_QUEUE`]).
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            queues: SqsQueues::new(conf),
            queue: REQUEST_QUEUE.to_string(),
        }
    }

    /// One long poll (up to `wait` for the first message, at most 10):
    /// every request is run through `flow`; accepted ones are deleted in one
    /// batch, invalid ones made visible again at once.
    pub async fn step(&self, flow: &SubmissionFlow, wait: Duration) -> Result<IntakeStep, String> {
        let messages = self.queues.receive(&self.queue, 10, wait).await?;
        let (mut done, mut invalid, mut step) = (Vec::new(), Vec::new(), IntakeStep::default());
        for m in messages {
            match accept_request_event(flow, &m.body).await {
                Ok(RequestOutcome::Accepted(_)) => {
                    step.accepted += 1;
                    done.push(m.receipt);
                }
                Ok(RequestOutcome::Invalid(reason)) => {
                    tracing::warn!(
                        "voucher request refused, on its way to the dead-letter queue: {reason}"
                    );
                    step.invalid += 1;
                    invalid.push(m.receipt);
                }
                Err(e) => {
                    tracing::warn!("voucher request left for redelivery: {e}");
                    step.failed += 1;
                }
            }
        }
        if !done.is_empty() {
            self.queues.delete_many(&self.queue, &done).await?;
        }
        if !invalid.is_empty() {
            self.queues
                .change_visibility(&self.queue, &invalid, Duration::ZERO)
                .await?;
        }
        Ok(step)
    }

    /// Repeats [`AwsIntake::step`] until `shutdown`; after an error, waits
    /// a second before polling again.
    pub async fn run(self, flow: Arc<SubmissionFlow>, shutdown: CancellationToken) {
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => return,
                s = self.step(&flow, INTAKE_WAIT) => s,
            };
            if let Err(e) = step {
                tracing::warn!("intake queue: {e}");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
