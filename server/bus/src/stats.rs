//! Counters of what the bus did since it was opened (this process): events
//! accepted, rule matches, deliveries and their failures, events replayed;
//! read by whoever exports metrics ([`Bus::stats`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::Bus;

/// The live counters (in the bus's shared state).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) puts: AtomicU64,
    pub(crate) matches: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) delivery_failures: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    /// Events replayed, by archive.
    pub(crate) replayed: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_replayed(&self, archive: &str, n: u64) {
        if n == 0 {
            return;
        }
        let mut replayed = self.replayed.lock().unwrap_or_else(|p| p.into_inner());
        *replayed.entry(archive.to_owned()).or_default() += n;
    }
}

/// What the bus did since it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStats {
    /// PutEvents entries accepted (committed).
    pub puts: u64,
    /// (event, enabled rule) matches of accepted and replayed events.
    pub matches: u64,
    /// Deliveries to API destinations and in-process consumers that succeeded.
    pub deliveries: u64,
    /// Delivery attempts that failed (each retry counts).
    pub delivery_failures: u64,
    /// Deliveries given up on and moved to the target's dead-letter queue.
    pub dead_lettered: u64,
    /// Archived events replayed, by archive name.
    pub replayed: BTreeMap<String, u64>,
}

impl Bus {
    /// The counters since this bus was opened.
    pub fn stats(&self) -> BusStats {
        let c = &self.inner.stats;
        BusStats {
            puts: c.puts.load(Ordering::Relaxed),
            matches: c.matches.load(Ordering::Relaxed),
            deliveries: c.deliveries.load(Ordering::Relaxed),
            delivery_failures: c.delivery_failures.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            replayed: c.replayed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Messages in each dead-letter queue (every queue named as another
    /// queue's dead-letter queue), by queue name.
    pub async fn dead_letter_depths(&self) -> crate::BusResult<Vec<(String, u64)>> {
        Ok(self
            .inner
            .db
            .read(|c| {
                c.prepare_cached(
                    "SELECT d.name, (SELECT count(*) FROM eb_queue_messages m WHERE m.queue = d.name)
                     FROM (SELECT DISTINCT dead_letter_queue AS name FROM eb_queues
                           WHERE dead_letter_queue IS NOT NULL) d ORDER BY d.name",
                )?
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
                .collect()
            })
            .await?)
    }
}
