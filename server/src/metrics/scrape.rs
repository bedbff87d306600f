//! The families read on each scrape: per part (status, circuit, checks,
//! vouchers, active replays: [`mediator_core::metrics::collect`]) and, with
//! the embedded backend, the bus's counters and dead-letter depths.

use std::sync::Arc;

use mediator_core::metrics::PartMetrics;
use mediator_core::recovery::RecoveryError;
use mediator_core::{Overrides, Recovery, SubmissionFlow};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Every voucher status, in lifecycle order (each has a sample, zero or not).
const VOUCHER_STATUSES: [&str; 6] = [
    "received",
    "submitting",
    "retry",
    "submitted",
    "error",
    "dead_lettered",
];

/// Where the per-scrape families are read.
pub struct Sources {
    /// The submission flow (voucher counts).
    pub flow: Arc<SubmissionFlow>,
    /// Recovery (active replays).
    pub recovery: Arc<Recovery>,
    /// Manual overrides and the parts' circuits and statuses.
    pub overrides: Overrides,
    /// The read models (the checks' daily roll-ups).
    pub history: mediator_core::History,
    /// The embedded bus (`--backend embedded`).
    pub bus: Option<bus::Bus>,
    /// Outbound notifications (their delivery counts).
    pub notifier: Option<Arc<mediator_core::notify::Notifier>>,
}

impl Sources {
    /// Reads this scrape's values.
    pub async fn read(&self) -> Result<ScrapeState, RecoveryError> {
        let parts = mediator_core::metrics::collect(
            self.flow.cache(),
            &self.recovery,
            &self.overrides,
            self.history.monitor_history(),
        )
        .await?;
        let bus = match &self.bus {
            Some(bus) => {
                let depths = bus
                    .dead_letter_depths()
                    .await
                    .map_err(|e| RecoveryError::Queue(e.to_string()))?;
                Some((bus.stats(), depths))
            }
            None => None,
        };
        let notifications = self
            .notifier
            .as_ref()
            .map(|n| n.counts())
            .unwrap_or_default();
        Ok(ScrapeState {
            parts,
            bus,
            notifications,
        })
    }
}

/// One scrape's values, encoded as the families above.
#[derive(Debug)]
pub struct ScrapeState {
    /// Per part.
    pub parts: Vec<PartMetrics>,
    /// The embedded bus's counters and its dead-letter queues' depths.
    pub bus: Option<(bus::BusStats, Vec<(String, u64)>)>,
    /// Notification attempts since start, by channel, kind and outcome.
    pub notifications: mediator_core::notify::DeliveryCounts,
}

type Encoded = Result<(), std::fmt::Error>;

/// A family with one sample per label set.
fn family<'a, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Vec<(&'a str, String)>, M)>,
) -> Encoded {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in samples {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(v: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Collector for ScrapeState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Encoded {
        let part = |p: &PartMetrics| vec![("part", p.part.clone())];
        family(
            &mut encoder,
            "mediator_part_up",
            "1 if the part's checked status is up",
            MetricType::Gauge,
            self.parts.iter().map(|p| (part(p), gauge(u64::from(p.up)))),
        )?;
        family(
            &mut encoder,
            "mediator_circuit_open",
            "1 if the part's effective circuit (overrides included) is open",
            MetricType::Gauge,
            self.parts
                .iter()
                .map(|p| (part(p), gauge(u64::from(p.circuit_open)))),
        )?;
        family(
            &mut encoder,
            "mediator_checks",
            "Health checks of the part, by outcome",
            MetricType::Counter,
            self.parts.iter().flat_map(|p| {
                [("ok", p.checks_ok), ("failed", p.checks_failed)].map(|(outcome, n)| {
                    (
                        vec![("part", p.part.clone()), ("outcome", outcome.to_owned())],
                        ConstCounter::new(n),
                    )
                })
            }),
        )?;
        family(
            &mut encoder,
            "mediator_vouchers",
            "Vouchers in the DataCache, by part and status",
            MetricType::Gauge,
            self.parts.iter().flat_map(|p| {
                VOUCHER_STATUSES.map(|s| {
                    (
                        vec![("part", p.part.clone()), ("status", s.to_owned())],
                        gauge(p.vouchers.get(s).copied().unwrap_or(0)),
                    )
                })
            }),
        )?;
        family(
            &mut encoder,
            "mediator_replays_active",
            "Active (starting, running or cancelling) replays of the part",
            MetricType::Gauge,
            self.parts
                .iter()
                .map(|p| (part(p), gauge(p.replays_active))),
        )?;
        family(
            &mut encoder,
            "mediator_notification_deliveries",
            "Notification attempts since start, by channel, kind and outcome (delivered, retried: failed and tried again, failed: given up)",
            MetricType::Counter,
            self.notifications
                .iter()
                .map(|((channel, kind, outcome), n)| {
                    (
                        vec![
                            ("channel", channel.clone()),
                            ("kind", kind.as_str().to_owned()),
                            ("outcome", outcome.as_str().to_owned()),
                        ],
                        ConstCounter::new(*n),
                    )
                }),
        )?;
        let Some((stats, depths)) = &self.bus else {
            return Ok(());
        };
        for (name, help, value) in [
            (
                "mediator_bus_events_put",
                "Events the embedded bus accepted (PutEvents entries committed) since start",
                stats.puts,
            ),
            (
                "mediator_bus_rule_matches",
                "Rules the embedded bus's events (live and replayed) matched since start",
                stats.matches,
            ),
            (
                "mediator_bus_deliveries",
                "Deliveries to API destinations and in-process consumers that succeeded since start",
                stats.deliveries,
            ),
            (
                "mediator_bus_delivery_failures",
                "Delivery attempts that failed (each retry counts) since start",
                stats.delivery_failures,
            ),
            (
                "mediator_bus_dead_lettered",
                "Deliveries given up on and moved to a dead-letter queue since start",
                stats.dead_lettered,
            ),
        ] {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        family(
            &mut encoder,
            "mediator_bus_dead_letter_messages",
            "Messages waiting in each dead-letter queue of the embedded bus",
            MetricType::Gauge,
            depths
                .iter()
                .map(|(queue, n)| (vec![("queue", queue.clone())], gauge(*n))),
        )?;
        family(
            &mut encoder,
            "mediator_replay_events",
            "Archived events replayed since start, by archive (replay throughput)",
            MetricType::Counter,
            stats
                .replayed
                .iter()
                .map(|(archive, n)| (vec![("archive", archive.clone())], ConstCounter::new(*n))),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prometheus_client::registry::Registry;

    use super::*;

    fn encoded(state: ScrapeState) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(state));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn every_part_family_keeps_its_name_labels_and_type() {
        let text = encoded(ScrapeState {
            parts: vec![
                PartMetrics {
                    part: "voucher".into(),
                    up: true,
                    circuit_open: false,
                    checks_ok: 7,
                    checks_failed: 2,
                    vouchers: HashMap::from([("retry".to_string(), 3)]),
                    replays_active: 1,
                },
                PartMetrics {
                    part: "we\"ird".into(),
                    ..Default::default()
                },
            ],
            bus: Some((
                bus::BusStats {
                    puts: 5,
                    replayed: [("LoyaltyVoucherArchive".to_string(), 4)].into(),
                    ..Default::default()
                },
                vec![("voucher-resubmit-dlq".into(), 2)],
            )),
            notifications: [(
                (
                    "ops".to_string(),
                    mediator_core::notify::NotificationKind::PartDown,
                    mediator_core::notify::Outcome::Delivered,
                ),
                3,
            )]
            .into(),
        });
        for line in [
            "# TYPE mediator_part_up gauge",
            "mediator_part_up{part=\"voucher\"} 1",
            "mediator_circuit_open{part=\"voucher\"} 0",
            "# TYPE mediator_checks_total counter",
            "mediator_checks_total{part=\"voucher\",outcome=\"ok\"} 7",
            "mediator_checks_total{part=\"voucher\",outcome=\"failed\"} 2",
            "mediator_vouchers{part=\"voucher\",status=\"retry\"} 3",
            "mediator_vouchers{part=\"voucher\",status=\"submitted\"} 0",
            "mediator_replays_active{part=\"voucher\"} 1",
            "mediator_part_up{part=\"we\\\"ird\"} 0",
            "# TYPE mediator_bus_events_put_total counter",
            "mediator_bus_events_put_total 5",
            "mediator_bus_dead_letter_messages{queue=\"voucher-resubmit-dlq\"} 2",
            "mediator_replay_events_total{archive=\"LoyaltyVoucherArchive\"} 4",
            "# TYPE mediator_notification_deliveries_total counter",
            "mediator_notification_deliveries_total{channel=\"ops\",kind=\"part_down\",outcome=\"delivered\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn the_aws_backend_has_no_bus_families() {
        let text = encoded(ScrapeState {
            parts: Vec::new(),
            bus: None,
            notifications: Default::default(),
        });
        assert!(text.contains("# TYPE mediator_part_up gauge"), "{text}");
        assert!(!text.contains("mediator_bus_"), "{text}");
    }
}
