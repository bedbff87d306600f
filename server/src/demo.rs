//! Demo traffic (`mediator serve --demo-rate N`): synthetic, valid vouchers
//! submitted at a steady rate, round-robin over the configured parts,
//! through the same [`SubmissionFlow`] as the API and the bus, so they show
//! up everywhere (overview counters, vouchers, archives, replays, metrics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mediator_core::submit::{Accepted, FlowError};
use mediator_core::SubmissionFlow;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Demo submissions in flight at most; beyond it the generator waits (a
/// hanging SaaS slows the demo down instead of piling up tasks).
const MAX_IN_FLIGHT: usize = 64;
/// Shortest pause between two ticks of the generator.
const MIN_TICK: Duration = Duration::from_millis(20);

/// Generates demo vouchers.
pub struct DemoTraffic {
    flow: Arc<SubmissionFlow>,
    rate: f64,
    run: String,
    seq: AtomicU64,
}

impl DemoTraffic {
    /// A generator of `rate` vouchers per second through `flow`. Ids are
    /// `demo-<start time in ms>-<n>`, so a restarted demo never reuses one.
    pub fn new(flow: Arc<SubmissionFlow>, rate: f64) -> Self {
        Self {
            flow,
            rate,
            run: chrono::Utc::now().timestamp_millis().to_string(),
            seq: AtomicU64::new(0),
        }
    }

    /// The `n`-th demo voucher (for part `n mod parts`), as the API takes it.
    pub fn voucher(&self, n: u64) -> Value {
        let parts = self.flow.parts();
        let part = &parts[(n % parts.len() as u64) as usize];
        let id = format!("demo-{}-{n}", self.run);
        json!({
            "part": part.as_str(),
            "loyalty_request_id": id,
            "loyalty_reference": format!("LR-{}", 100_000 + n % 900_000),
            "merchant_reference": format!("M-{}", n % 97),
            "loyalty_order_reference": format!("M101-S76-OP{}-T{}", n % 50, n % 90),
            "payload": { "points": 10 + n % 490, "demo": true }
        })
    }

    /// Submits the next demo voucher through the flow.
    pub async fn step(&self) -> Result<Accepted, FlowError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.flow.accept_json(&self.voucher(n)).await
    }

    /// Submits at the configured rate until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let period = Duration::from_secs_f64(1.0 / self.rate).max(MIN_TICK);
        let per_tick = self.rate * period.as_secs_f64();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut owed = 0.0;
        let mut in_flight = tokio::task::JoinSet::new();
        tracing::info!(rate = self.rate, "demo traffic started");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            owed += per_tick;
            while owed >= 1.0 {
                owed -= 1.0;
                while in_flight.len() >= MAX_IN_FLIGHT {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = in_flight.join_next() => {}
                    }
                }
                let me = self.clone();
                in_flight.spawn(async move {
                    if let Err(e) = me.step().await {
                        tracing::warn!("demo voucher not accepted: {e}");
                    }
                });
            }
            while in_flight.try_join_next().is_some() {}
        }
        // Let the submissions under way finish (their claims stay consistent either way).
        while in_flight.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use mediator_core::{PartName, SaasSubmitter, SubmitOutcome, VoucherStatus};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Value)>>);

    #[async_trait]
    impl SaasSubmitter for Recorder {
        async fn submit(&self, part: &str, body: &Value) -> SubmitOutcome {
            self.0.lock().unwrap().push((part.into(), body.clone()));
            SubmitOutcome::Accepted { status: 200 }
        }
    }

    fn flow(dir: &std::path::Path, saas: Arc<Recorder>) -> Arc<SubmissionFlow> {
        let db = store::Database::open(dir).unwrap();
        Arc::new(SubmissionFlow::new(
            mediator_core::DataCache::new(mediator_sqlite::ports(&db).vouchers),
            saas,
            PartName::defaults(),
            Duration::from_secs(1),
        ))
    }

    #[tokio::test]
    async fn each_step_submits_a_new_valid_voucher_round_robin() {
        let tmp = tempfile::tempdir().unwrap();
        let saas = Arc::new(Recorder::default());
        let demo = DemoTraffic::new(flow(tmp.path(), saas.clone()), 10.0);
        for _ in 0..6 {
            let a = demo.step().await.unwrap();
            assert!(!a.duplicate);
            assert_eq!(a.voucher.status, VoucherStatus::Submitted);
        }
        let sent = saas.0.lock().unwrap().clone();
        let parts: Vec<&str> = sent.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            parts,
            ["voucher", "member", "points", "voucher", "member", "points"]
        );
        let ids: std::collections::HashSet<_> = sent
            .iter()
            .map(|(_, b)| b["loyalty_request_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 6, "every id is new");
    }

    #[tokio::test]
    async fn the_loop_keeps_the_rate_and_stops_on_cancel() {
        let tmp = tempfile::tempdir().unwrap();
        let saas = Arc::new(Recorder::default());
        let demo = Arc::new(DemoTraffic::new(flow(tmp.path(), saas.clone()), 50.0));
        let stop = CancellationToken::new();
        let task = tokio::spawn(demo.run(stop.clone()));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops on cancel")
            .unwrap();
        let n = saas.0.lock().unwrap().len();
        assert!((25..=75).contains(&n), "50/s for 1 s gave {n}");
    }
}
