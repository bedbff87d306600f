//! Embedded storage foundation.
//!
//! This crate is the one place that owns SQLite connections. Everything else
//! asks a [`Database`] to run a closure on a connection: writes are serialised
//! through a single writer connection (SQLite allows one writer at a time, and
//! queuing in-process is cheaper than `SQLITE_BUSY` retries), reads go to a
//! small pool of read-only connections that WAL lets run beside the writer.
//! Closures run on tokio's blocking pool so async callers never block a worker.
//!
//! The schema is versioned: [`migrations`] lists every migration in order and
//! [`Database::open`] applies the missing ones at start-up.

mod migrations;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use rusqlite;
use rusqlite::{Connection, OpenFlags, Transaction};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "mediator.db";

/// Errors from opening or using the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or is not writable.
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// A storage backend other than SQLite (e.g. DynamoDB) failed; the text
    /// names the operation and the backend's error.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Handle to the embedded SQLite database; cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Number of read-only connections kept open beside the writer.
const READERS: usize = 4;

/// WAL size (in pages) at which the writer checkpoints on commit.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

impl Database {
    /// Opens (creating if needed) the database in `data_dir` and applies
    /// pending migrations.
    ///
    /// The directory is created if missing; a directory that cannot be
    /// created or written gives [`StoreError::DataDir`] naming the path and
    /// the reason, before SQLite is touched.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        ensure_writable_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoint every ~40 MB of WAL rather than SQLite's 4 MB: a burst
        // of small commits (a replay drain commits each SaaS answer as it
        // arrives) rewrites the same hot pages, and each checkpoint copies
        // them to the main file and fsyncs it. Fewer checkpoints copy each
        // hot page fewer times; the maintenance task still truncates the WAL.
        writer.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        migrations::migrations().to_latest(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_URI
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        tracing::info!(path = %path.display(), version = migrations::latest_version(), "database open");
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` inside a write transaction on the writer connection; commits
    /// if `f` returns `Ok`, rolls back otherwise.
    pub async fn write<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on one of the read-only connections.
    pub async fn read<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = lock(&inner.readers[i]);
            Ok(f(&conn)?)
        })
        .await
    }

    /// Runs `f` on the writer connection, outside any transaction (each
    /// statement reads the latest committed state), after any write in
    /// progress. For reads interleaved with a burst of writes: the writer's
    /// page cache stays warm across its own commits, whereas a read-only
    /// connection discards its whole cache whenever the database changed
    /// since its last read and has to read every page again. Keep `f`
    /// short: writes wait for it.
    pub async fn read_on_writer<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = lock(&inner.writer);
            Ok(f(&conn)?)
        })
        .await
    }

    /// Schema version currently applied (SQLite's `user_version`).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .await
    }

    /// Cheap liveness query used by `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }

    /// Moves the WAL's content into the main file and truncates it, so the
    /// WAL does not grow without bound under a steady write load. Returns the
    /// number of WAL frames that were checkpointed.
    pub async fn checkpoint(&self) -> Result<i64, StoreError> {
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = lock(&inner.writer);
            let frames = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(2)
            })?;
            conn.execute_batch("PRAGMA optimize")?;
            Ok(frames)
        })
        .await
    }
}

/// Latest schema version this build knows.
pub fn latest_schema_version() -> u32 {
    migrations::latest_version()
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // WAL + NORMAL is durable against process crashes; FULL adds an fsync per
    // commit for power loss. Components that must survive power loss set FULL
    // on their own transactions.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Hot paths (DataCache transitions, queues, archive) use `prepare_cached`;
    // rusqlite's default of 16 cached statements is fewer than they cycle through.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves the connection itself usable
    // (the transaction is rolled back on drop), so recover the guard.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run_blocking<F, R>(f: F) -> Result<R, StoreError>
where
    F: FnOnce() -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

fn ensure_writable_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |reason: String| StoreError::DataDir {
        path: dir.to_path_buf(),
        reason,
    };
    fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))?;
    if !dir.is_dir() {
        return Err(err("not a directory".into()));
    }
    let probe = dir.join(".write-probe");
    fs::write(&probe, b"ok").map_err(|e| err(format!("not writable: {e}")))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_creates_dir_and_migrates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/data");
        let db = Database::open(&dir).unwrap();
        assert!(dir.join(DB_FILE).exists());
        assert_eq!(db.schema_version().await.unwrap(), latest_schema_version());
        let mode: String = db
            .read(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn reopen_keeps_data_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let db = Database::open(tmp.path()).unwrap();
            db.write(|tx| {
                tx.execute(
                    "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'up', '2026-01-01T00:00:00Z')",
                    [],
                )
            })
            .await
            .unwrap();
        }
        let db = Database::open(tmp.path()).unwrap();
        let status: String = db
            .read(|c| {
                c.query_row(
                    "SELECT status FROM part_status WHERE part = 'voucher'",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap();
        assert_eq!(status, "up");
    }

    #[tokio::test]
    async fn failed_write_rolls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let res = db
            .write(|tx| {
                tx.execute(
                    "INSERT INTO part_status (part, status, updated_at) VALUES ('a', 'up', 'now')",
                    [],
                )?;
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])
            })
            .await;
        assert!(res.is_err());
        let n: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM part_status", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 0, "the first insert must have been rolled back");
    }

    #[test]
    fn unusable_data_dir_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let err = Database::open(&file.join("sub")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a-file/sub"), "{msg}");
        assert!(msg.contains("cannot create"), "{msg}");
    }

    #[tokio::test]
    async fn checkpoint_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        assert!(db.checkpoint().await.unwrap() >= 0);
    }

    #[tokio::test]
    async fn writer_reads_see_the_latest_commit_and_checkpoints_are_spaced() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        db.write(|tx| {
            tx.execute(
                "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
                [],
            )
        })
        .await
        .unwrap();
        let (status, pages): (String, i64) = db
            .read_on_writer(|c| {
                let status = c.query_row(
                    "SELECT status FROM part_status WHERE part = 'voucher'",
                    [],
                    |r| r.get(0),
                )?;
                let pages = c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
                Ok((status, pages))
            })
            .await
            .unwrap();
        assert_eq!(status, "down");
        assert_eq!(pages, WAL_AUTOCHECKPOINT_PAGES);
    }
}
