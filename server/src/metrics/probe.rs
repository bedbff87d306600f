//! Health-check durations: a [`HealthProbe`] that times the one it wraps.

use std::time::Instant;

use async_trait::async_trait;
use mediator_core::HealthProbe;

use super::Metrics;

/// Times each check of `inner` into `mediator_health_check_duration_seconds`
/// by part and outcome; a check the monitor stops waiting for (its check
/// timeout) is recorded as `timed_out` when it is dropped.
pub struct TimedProbe<P> {
    inner: P,
    metrics: Metrics,
}

impl<P> TimedProbe<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, metrics: Metrics) -> Self {
        TimedProbe { inner, metrics }
    }
}

/// Records a check when dropped: its outcome once known, else `timed_out`.
struct Timing<'a> {
    metrics: &'a Metrics,
    part: &'a str,
    started: Instant,
    outcome: &'static str,
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        self.metrics
            .observe_check(self.part, self.outcome, self.started.elapsed());
    }
}

#[async_trait]
impl<P: HealthProbe> HealthProbe for TimedProbe<P> {
    async fn check(&self, part: &str) -> Result<(), String> {
        let mut timing = Timing {
            metrics: &self.metrics,
            part,
            started: Instant::now(),
            outcome: "timed_out",
        };
        let result = self.inner.check(part).await;
        timing.outcome = if result.is_ok() { "ok" } else { "failed" };
        result
    }
}
