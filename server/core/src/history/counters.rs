//! The overview's counters of each part.

use std::collections::HashMap;

use super::incidents::{incident_replay, IncidentReplay};
use super::{History, HistoryError};
use crate::voucher::VoucherStatus;

/// The overview's counters of one part.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartCounters {
    /// The part.
    pub part: String,
    /// Vouchers held back now (`retry`).
    pub pending_retries: i64,
    /// Events the part's archive holds; `None` when the bus did not answer.
    pub archived: Option<i64>,
    /// Vouchers resubmitted by the part's replays, in total.
    pub resubmitted: i64,
    /// Vouchers dead-lettered now.
    pub dead_lettered: i64,
    /// The part's latest replay with its progress.
    pub latest_replay: Option<IncidentReplay>,
}

impl History {
    /// The overview counters of every configured part, in configuration order.
    pub async fn all_counters(&self) -> Result<Vec<PartCounters>, HistoryError> {
        let archived: Option<HashMap<String, i64>> = match &self.archives {
            Some(a) => a.event_counts().await.ok(),
            None => None,
        };
        let counts = self.vouchers.open_counts().await?;
        let count = |part: &str, status: VoucherStatus| -> i64 {
            counts
                .iter()
                .filter(|(p, st, _)| p == part && st == status.as_str())
                .map(|(_, _, n)| *n as i64)
                .sum()
        };
        let mut replays = Vec::with_capacity(self.parts.len());
        for p in self.parts.iter().map(|p| p.name.to_string()) {
            let resubmitted = self.replays.resubmitted_total(&p).await?;
            let latest = self
                .replays
                .newest(Some(&p), false, 1)
                .await?
                .pop()
                .map(incident_replay);
            replays.push((p, resubmitted, latest));
        }
        let rows: Vec<_> = replays
            .into_iter()
            .map(|(p, resubmitted, latest)| {
                let (pending, dead) = (
                    count(&p, VoucherStatus::Retry),
                    count(&p, VoucherStatus::DeadLettered),
                );
                (p, pending, dead, resubmitted, latest)
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for ((part, pending_retries, dead_lettered, resubmitted, latest), settings) in
            rows.into_iter().zip(self.parts.iter())
        {
            let latest_replay = match latest {
                Some((mut r, started)) => {
                    r.state = self.replay_state(&r.name, started).await;
                    Some(r)
                }
                None => None,
            };
            out.push(PartCounters {
                archived: archived
                    .as_ref()
                    .map(|a| a.get(&settings.archive_name).copied().unwrap_or(0)),
                part,
                pending_retries,
                resubmitted,
                dead_lettered,
                latest_replay,
            });
        }
        Ok(out)
    }

    /// The overview counters of one part.
    pub async fn counters(&self, part: &str) -> Result<PartCounters, HistoryError> {
        let part = self.known(part)?;
        Ok(self
            .all_counters()
            .await?
            .into_iter()
            .find(|c| c.part == part)
            .expect("a configured part has counters"))
    }
}
