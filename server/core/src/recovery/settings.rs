//! How recovery runs: the defaults, and each part's own values.

use std::time::Duration;

/// How recovery runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoverySettings {
    /// Added before the outage's start and after its end.
    pub margin: Duration,
    /// Replayed events handled per second, at most.
    pub rate_per_sec: f64,
    /// Replayed events handled at once, at most.
    pub concurrency: usize,
    /// How often the trigger looks for status changes.
    pub poll: Duration,
    /// How long an archive keeps events: a longer window is refused.
    pub retention: Duration,
    /// How often the sweeper looks for vouchers no replay covered.
    pub sweep_interval: Duration,
    /// How long the bus may take to archive an accepted event: a replay
    /// starts only once its window ended this long ago (the embedded bus
    /// archives in the PutEvents transaction: zero; see
    /// [`AWS_ARCHIVE_LAG`]).
    pub archive_lag: Duration,
}

/// The archive lag assumed on AWS: EventBridge documents a delay between an
/// event reaching the bus and reaching the archive, and recommends waiting
/// 10 minutes before replaying so every event is replayed.
pub const AWS_ARCHIVE_LAG: Duration = Duration::from_secs(600);

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            rate_per_sec: 50.0,
            concurrency: 4,
            poll: Duration::from_millis(250),
            retention: Duration::from_secs(10 * 86_400),
            sweep_interval: Duration::from_secs(60),
            archive_lag: Duration::ZERO,
        }
    }
}

/// How one part is replayed: its archive, and the values of
/// [`RecoverySettings`] its configuration overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRecovery {
    /// The part's archive.
    pub archive: String,
    /// Added before the outage's start and after its end.
    pub margin: Duration,
    /// Replayed events handled per second, at most.
    pub rate_per_sec: f64,
    /// Replayed events handled at once, at most.
    pub concurrency: usize,
    /// How long the archive keeps events: a longer window is refused.
    pub retention: Duration,
    /// How long the bus may take to archive an accepted event.
    pub archive_lag: Duration,
}
