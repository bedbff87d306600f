//! What the per-part Prometheus families show, read from the ports (the
//! server encodes them; see its `metrics` module).
//!
//! Per configured part: `mediator_part_up` (its checked status is up),
//! `mediator_circuit_open` (the effective circuit, overrides included),
//! `mediator_checks_total{outcome="ok"|"failed"}` (from the daily
//! roll-ups, [`MonitorHistory::check_totals`]), `mediator_vouchers{status}` (DataCache counts, every status)
//! and `mediator_replays_active` (STARTING/RUNNING/CANCELLING replays).

use std::collections::HashMap;

use crate::datacache::DataCache;
use crate::overrides::Overrides;
use crate::recovery::{Recovery, RecoveryError};
use crate::storage::history::MonitorHistory;

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
