//! Prometheus metrics (text exposition format 0.0.4), formatted by hand.
//!
//! Per configured part: `mediator_part_up` (its checked status is up),
//! `mediator_circuit_open` (the effective circuit, overrides included),
//! `mediator_checks_total{outcome="ok"|"failed"}` (from the daily
//! roll-ups, [`MonitorHistory::check_totals`]), `mediator_vouchers{status}` (DataCache counts, every status)
//! and `mediator_replays_active` (STARTING/RUNNING/CANCELLING replays).

use std::collections::HashMap;
use std::fmt::Write;

use crate::datacache::DataCache;
use crate::overrides::Overrides;
use crate::recovery::{Recovery, RecoveryError};
use crate::storage::history::MonitorHistory;

/// Every voucher status, in lifecycle order.
const VOUCHER_STATUSES: [&str; 6] = [
    "received",
    "submitting",
    "retry",
    "submitted",
    "error",
    "dead_lettered",
];

/// One part's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartMetrics {
    /// The part.
    pub part: String,
    /// Its checked status is `up`.
    pub up: bool,
    /// Its effective circuit is open.
    pub circuit_open: bool,
    /// Good checks so far.
    pub checks_ok: u64,
    /// Failed checks so far.
    pub checks_failed: u64,
    /// Vouchers by status.
    pub vouchers: HashMap<String, u64>,
    /// Active replays (0 or 1).
    pub replays_active: u64,
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the metrics in the text exposition format 0.0.4.
pub fn render(parts: &[PartMetrics]) -> String {
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, lines: &mut dyn Iterator<Item = String>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for l in lines {
                let _ = writeln!(out, "{name}{l}");
            }
        };
    let b = |x: bool| u8::from(x);
    family(
        "mediator_part_up",
        "gauge",
        "1 if the part's checked status is up.",
        &mut parts
            .iter()
            .map(|p| format!("{{part=\"{}\"}} {}", label(&p.part), b(p.up))),
    );
    family(
        "mediator_circuit_open",
        "gauge",
        "1 if the part's effective circuit (overrides included) is open.",
        &mut parts
            .iter()
            .map(|p| format!("{{part=\"{}\"}} {}", label(&p.part), b(p.circuit_open))),
    );
    family(
        "mediator_checks_total",
        "counter",
        "Health checks of the part, by outcome.",
        &mut parts.iter().flat_map(|p| {
            [("ok", p.checks_ok), ("failed", p.checks_failed)]
                .map(|(o, n)| format!("{{part=\"{}\",outcome=\"{o}\"}} {n}", label(&p.part)))
        }),
    );
    family(
        "mediator_vouchers",
        "gauge",
        "Vouchers in the DataCache, by part and status.",
        &mut parts.iter().flat_map(|p| {
            VOUCHER_STATUSES.map(|s| {
                format!(
                    "{{part=\"{}\",status=\"{s}\"}} {}",
                    label(&p.part),
                    p.vouchers.get(s).copied().unwrap_or(0)
                )
            })
        }),
    );
    family(
        "mediator_replays_active",
        "gauge",
        "Active (starting, running or cancelling) replays of the part.",
        &mut parts
            .iter()
            .map(|p| format!("{{part=\"{}\"}} {}", label(&p.part), p.replays_active)),
    );
    out
}

/// Reads the metrics of every part `overrides` knows (the configured ones).
pub async fn collect(
    cache: &DataCache,
    recovery: &Recovery,
    overrides: &Overrides,
    monitor: &dyn MonitorHistory,
) -> Result<Vec<PartMetrics>, RecoveryError> {
    let circuits = overrides.circuits().await?;
    let vouchers = cache.counts().await?;
    let statuses = overrides.statuses().await?;
    let mut out = Vec::with_capacity(circuits.len());
    for (part, _, closed) in circuits {
        let name = part.as_str();
        let (all, failed) = monitor.check_totals(name).await?;
        out.push(PartMetrics {
            part: name.to_owned(),
            up: statuses.get(name).map(String::as_str) == Some("up"),
            circuit_open: !closed,
            checks_ok: all.saturating_sub(failed),
            checks_failed: failed,
            vouchers: vouchers
                .iter()
                .filter(|(p, _, _)| p == name)
                .map(|(_, s, n)| (s.clone(), *n))
                .collect(),
            replays_active: u64::from(recovery.active_replay(name).await?.is_some()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let text = render(&[
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
        ]);
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
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with('\n'));
    }
}
