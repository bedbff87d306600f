//! Current status of each part, as the console's overview shows it.
//!
//! Until the status monitor has checked a part its status is
//! [`PartState::Unknown`]; the board still lists every configured part.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::storage::sqlite::Db;
use crate::storage::StoreError;
use chrono::{DateTime, Utc};
use store::rusqlite::{params, OptionalExtension};
use store::Database;

use crate::{PartName, PartSettings, Thresholds};

/// Health of one SaaS part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartState {
    /// Not checked yet.
    Unknown,
    /// Failing checks are accumulating but the failure threshold is not reached.
    Pending,
    /// Healthy: the circuit is closed.
    Up,
    /// Down: the circuit is open and requests are held back.
    Down,
}

impl PartState {
    /// Lowercase name, as stored and as used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Unknown => "unknown",
            PartState::Pending => "pending",
            PartState::Up => "up",
            PartState::Down => "down",
        }
    }
}

impl fmt::Display for PartState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unknown" => PartState::Unknown,
            "pending" => PartState::Pending,
            "up" => PartState::Up,
            "down" => PartState::Down,
            other => return Err(format!("unknown part status {other:?}")),
        })
    }
}

/// One part's row on the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSummary {
    /// The part.
    pub name: PartName,
    /// Its current status.
    pub state: PartState,
    /// When the status last changed, if it ever did.
    pub changed_at: Option<DateTime<Utc>>,
    /// Archive that keeps this part's retry events.
    pub archive_name: String,
    /// Consecutive failed checks so far.
    pub failures: u32,
    /// Consecutive good checks so far.
    pub successes: u32,
    /// The part's circuit thresholds.
    pub thresholds: Thresholds,
    /// When the part was last checked.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
}

/// A stored status row.
struct Row {
    status: String,
    changed_at: Option<String>,
    failures: u32,
    successes: u32,
    last_check_ms: Option<i64>,
    last_error: Option<String>,
}

/// Reads and seeds the status table for the configured parts.
#[derive(Clone)]
pub struct StatusBoard {
    db: Db,
    parts: Vec<PartSettings>,
    /// Where the circuits are read from when not the embedded database.
    store: Option<std::sync::Arc<dyn crate::storage::StatusStore>>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("parts", &self.parts)
            .field("shared_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl StatusBoard {
    /// A board over `parts`, in the order given.
    pub fn new(db: Database, parts: Vec<PartSettings>) -> Self {
        Self {
            db: db.into(),
            parts,
            store: None,
        }
    }

    /// Reads each part's circuit from `store` (e.g. DynamoDB, shared by
    /// every replica) instead of the database given to [`StatusBoard::new`].
    pub fn with_store(mut self, store: std::sync::Arc<dyn crate::storage::StatusStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The overview from the status store: one strongly consistent read per
    /// part.
    async fn overview_from(
        &self,
        store: &dyn crate::storage::StatusStore,
    ) -> Result<Vec<PartSummary>, StoreError> {
        let mut out = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            let snap = store.load(p.name.as_str()).await?;
            let c = &snap.circuit;
            let state = match c.status {
                PartState::Up | PartState::Unknown if c.failures > 0 => PartState::Pending,
                s => s,
            };
            out.push(PartSummary {
                name: p.name.clone(),
                state,
                changed_at: c.changed_at,
                archive_name: p.archive_name.clone(),
                failures: c.failures,
                successes: c.successes,
                thresholds: p.thresholds,
                last_check_at: snap.last_check_at,
                last_error: snap.last_error.clone(),
            });
        }
        Ok(out)
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartSettings] {
        &self.parts
    }

    /// Makes sure every configured part has a status row (`unknown` when new);
    /// rows of parts no longer configured are kept, so history is not lost.
    pub async fn seed(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let names: Vec<String> = self.parts.iter().map(|p| p.name.to_string()).collect();
        let now = now.to_rfc3339();
        self.db
            .write(move |tx| {
                let mut stmt = tx.prepare(
                    "INSERT INTO part_status (part, status, updated_at) VALUES (?1, 'unknown', ?2)
                     ON CONFLICT (part) DO NOTHING",
                )?;
                for n in &names {
                    stmt.execute(params![n, now])?;
                }
                Ok(())
            })
            .await
    }

    /// Status of every configured part, in configuration order.
    pub async fn overview(&self) -> Result<Vec<PartSummary>, StoreError> {
        if let Some(store) = &self.store {
            return self.overview_from(store.as_ref()).await;
        }
        let mut rows: HashMap<String, Row> = self
            .db
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT part, status, changed_at, failures, successes, last_check_ms, last_error
                     FROM part_status",
                )?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get(0)?,
                            Row {
                                status: r.get(1)?,
                                changed_at: r.get(2)?,
                                failures: r.get(3)?,
                                successes: r.get(4)?,
                                last_check_ms: r.get(5)?,
                                last_error: r.get(6)?,
                            },
                        ))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(self
            .parts
            .iter()
            .map(|p| {
                let row = rows.remove(p.name.as_str());
                let settled: PartState = row
                    .as_ref()
                    .and_then(|r| r.status.parse().ok())
                    .unwrap_or(PartState::Unknown);
                let failures = row.as_ref().map_or(0, |r| r.failures);
                let state = match settled {
                    PartState::Up | PartState::Unknown if failures > 0 => PartState::Pending,
                    s => s,
                };
                PartSummary {
                    name: p.name.clone(),
                    state,
                    changed_at: row.as_ref().and_then(|r| {
                        r.changed_at
                            .as_deref()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.with_timezone(&Utc))
                    }),
                    archive_name: p.archive_name.clone(),
                    failures,
                    successes: row.as_ref().map_or(0, |r| r.successes),
                    thresholds: p.thresholds,
                    last_check_at: row
                        .as_ref()
                        .and_then(|r| r.last_check_ms)
                        .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).single()),
                    last_error: row.and_then(|r| r.last_error),
                }
            })
            .collect())
    }

    /// Status of one part, `None` if it is not configured.
    pub async fn part(&self, name: &str) -> Result<Option<PartSummary>, StoreError> {
        if !self.parts.iter().any(|p| p.name.as_str() == name) {
            return Ok(None);
        }
        Ok(self
            .overview()
            .await?
            .into_iter()
            .find(|p| p.name.as_str() == name))
    }

    /// Raw status row, for diagnostics.
    pub async fn stored_status(&self, name: &str) -> Result<Option<String>, StoreError> {
        if let Some(store) = &self.store {
            let snap = store.load(name).await?;
            return Ok(
                (snap.version > 0 || snap.circuit.status != PartState::Unknown)
                    .then(|| snap.circuit.status.as_str().to_string()),
            );
        }
        let name = name.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT status FROM part_status WHERE part = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<PartSettings> {
        PartName::defaults()
            .into_iter()
            .map(PartSettings::new)
            .collect()
    }

    fn board(dir: &std::path::Path) -> StatusBoard {
        StatusBoard::new(Database::open(dir).unwrap(), defaults())
    }

    #[tokio::test]
    async fn with_a_store_the_board_reads_the_circuits_there() {
        use crate::storage::{sqlite::SqliteStore, CheckWrite, StatusStore};
        let (own, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = std::sync::Arc::new(SqliteStore::new(Database::open(shared.path()).unwrap()));
        let at = Utc::now();
        let snap = store.load("member").await.unwrap();
        let mut circuit = snap.circuit.clone();
        circuit.observe(
            false,
            at,
            Thresholds {
                failure: 3,
                recovery: 2,
            },
        );
        let write = CheckWrite {
            at,
            ok: false,
            latency_ms: 3,
            error: Some("HTTP 503".into()),
            circuit,
            change: None,
        };
        store.record("member", &snap, &write).await.unwrap();
        let b = board(own.path()).with_store(store);
        b.seed(Utc::now()).await.unwrap();
        let parts = b.overview().await.unwrap();
        let member = parts.iter().find(|p| p.name.as_str() == "member").unwrap();
        assert_eq!(member.state, PartState::Pending, "1 failed check of 3");
        assert_eq!(member.failures, 1);
        assert_eq!(member.last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(
            member.last_check_at.map(|t| t.timestamp_millis()),
            Some(at.timestamp_millis())
        );
        let voucher = parts.iter().find(|p| p.name.as_str() == "voucher").unwrap();
        assert_eq!(voucher.state, PartState::Unknown, "never checked");
    }

    #[tokio::test]
    async fn unchecked_parts_are_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let b = board(tmp.path());
        b.seed(Utc::now()).await.unwrap();
        let parts = b.overview().await.unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.state == PartState::Unknown));
        assert_eq!(parts[0].archive_name, "LoyaltyVoucherArchive");
        assert_eq!(
            b.stored_status("member").await.unwrap().as_deref(),
            Some("unknown")
        );
    }

    #[tokio::test]
    async fn seeding_keeps_existing_status() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        db.write(|tx| {
            tx.execute(
                "INSERT INTO part_status (part, status, changed_at, updated_at)
                 VALUES ('points', 'down', '2026-11-01T10:00:00Z', '2026-11-01T10:00:00Z')",
                [],
            )
        })
        .await
        .unwrap();
        let b = StatusBoard::new(db, defaults());
        b.seed(Utc::now()).await.unwrap();
        let points = b.part("points").await.unwrap().unwrap();
        assert_eq!(points.state, PartState::Down);
        assert_eq!(
            points.changed_at.unwrap().to_rfc3339(),
            "2026-11-01T10:00:00+00:00"
        );
        assert!(b.part("nope").await.unwrap().is_none());
    }
}
