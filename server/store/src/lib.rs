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

pub mod backup;
mod group;
mod migrations;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use rusqlite;
use rusqlite::{Connection, OpenFlags, Transaction};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "mediator.db";

/// Errors from opening or using the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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
}

/// Handle to the embedded SQLite database; cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    shared: Arc<Shared>,
    /// Queue of the writer thread ([`group::writer_loop`]); dropped (with the
    /// last handle) to end it.
    writes: Option<mpsc::Sender<Box<dyn group::Job>>>,
    writer_thread: Option<JoinHandle<()>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// What the writer thread shares with the handles.
struct Shared {
    writer: Mutex<Connection>,
    /// Writes committed since the last wake-up of the checkpointer.
    writes: AtomicUsize,
    /// Wakes the background checkpointer (see [`checkpoint_loop`]); dropping
    /// it (with the writer thread) ends the checkpointer's thread.
    checkpointer: mpsc::SyncSender<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer thread finishes the writes queued, then closes the
        // writer connection: once the last handle is gone, so is every
        // connection but the checkpointer's (a restore may replace the file).
        drop(self.writes.take());
        if let Some(t) = self.writer_thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
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

/// WAL size (in pages) at which the writer checkpoints on commit itself: a
/// backstop for when the background checkpointer falls behind.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 20_000;

/// Writes after which the background checkpointer is woken.
const CHECKPOINT_EVERY_WRITES: usize = 256;

/// What a committed write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is on disk (fsynced) before it returns: a commit
    /// survives a process crash, a kernel crash and a power cut. SQLite's
    /// `synchronous=FULL` in WAL mode. The default: a voucher or an event is
    /// acknowledged only after its commit.
    #[default]
    Full,
    /// A commit survives a process crash, but the last commits before a
    /// kernel crash or power cut may be lost (they are fsynced at the next
    /// checkpoint). SQLite's `synchronous=NORMAL`: faster, for benchmarks or
    /// data that can be rebuilt.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

impl Database {
    /// Opens (creating if needed) the database in `data_dir` and applies
    /// pending migrations, with [`Durability::Full`].
    ///
    /// The directory is created if missing; a directory that cannot be
    /// created or written gives [`DbError::DataDir`] naming the path and
    /// the reason, before SQLite is touched.
    pub fn open(data_dir: &Path) -> Result<Self, DbError> {
        Self::open_with(data_dir, Durability::Full)
    }

    /// [`Database::open`] with the given durability of commits.
    pub fn open_with(data_dir: &Path, durability: Durability) -> Result<Self, DbError> {
        ensure_writable_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        // Only the writer commits; its setting decides what an acknowledged
        // write survives (WAL mode: FULL fsyncs the WAL at every commit).
        writer.pragma_update(None, "synchronous", durability.pragma())?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoints run on their own connection and thread (woken every
        // CHECKPOINT_EVERY_WRITES writes), beside the writer rather than
        // inside its commits: copying WAL pages to the main file and fsyncing
        // it no longer holds up the next write. The writer checkpoints itself
        // only past ~80 MB of WAL (a backstop); the maintenance task still
        // truncates the WAL.
        writer.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        migrations::migrations().to_latest(&mut writer)?;
        let checkpointer = Connection::open(&path)?;
        configure(&checkpointer)?;
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, woken))
            .map_err(|e| DbError::Task(format!("cannot start the checkpointer: {e}")))?;
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
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            writes: AtomicUsize::new(0),
            checkpointer: wake,
        });
        let (writes, queue) = mpsc::channel();
        let writer_thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || group::writer_loop(shared, queue))
                .map_err(|e| DbError::Task(format!("cannot start the writer: {e}")))?
        };
        tracing::info!(path = %path.display(), version = migrations::latest_version(), "database open");
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                shared,
                writes: Some(writes),
                writer_thread: Some(writer_thread),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` inside a write transaction on the writer connection and
    /// returns its value once that transaction is committed (with
    /// [`Durability::Full`], fsynced); if `f` returns `Err` (or panics), its
    /// changes are rolled back and its error returned.
    ///
    /// Group commit: writes queued while a commit is in flight share the
    /// next transaction, each in a savepoint of its own (see [`group`]), so
    /// concurrent writers share one fsync. A write sees the changes of the
    /// writes before it in its group (they are serialised, as always); one
    /// write's failure undoes only its own changes. `f` runs on the writer
    /// thread: keep it short, and do not wait in it for another write.
    pub async fn write<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Box<dyn group::Job> = Box::new(group::Write { f, reply });
        let stopped = || DbError::Task("the database writer has stopped".into());
        self.inner
            .writes
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `f` on one of the read-only connections.
    pub async fn read<F, R>(&self, f: F) -> Result<R, DbError>
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

    /// Runs `f` on the writer connection, in one read transaction (the
    /// latest committed state; one WAL read lock for all its statements,
    /// where each statement outside a transaction would take and release
    /// it), after any write in progress. For reads interleaved with a burst
    /// of writes: the writer's page cache stays warm across its own commits,
    /// whereas a read-only connection discards its whole cache whenever the
    /// database changed since its last read and has to read every page
    /// again. Keep `f` short: writes wait for it.
    pub async fn read_on_writer<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = lock(&inner.shared.writer);
            let tx = conn.unchecked_transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Schema version currently applied (SQLite's `user_version`).
    pub async fn schema_version(&self) -> Result<u32, DbError> {
        self.read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .await
    }

    /// Cheap liveness query used by `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }

    /// Moves the WAL's content into the main file and truncates it, so the
    /// WAL does not grow without bound under a steady write load. Returns the
    /// number of WAL frames that were checkpointed.
    pub async fn checkpoint(&self) -> Result<i64, DbError> {
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = lock(&inner.shared.writer);
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

/// The background checkpointer: on each wake-up, a PASSIVE checkpoint on
/// its own connection (it copies what no reader still needs, waiting for
/// nobody; the writer keeps committing meanwhile, and restarts the WAL once
/// everything was copied). Ends when the database's last handle is dropped
/// (with the writer thread).
fn checkpoint_loop(conn: Connection, woken: mpsc::Receiver<()>) {
    // Retried at the next wake-up; the writer's backstop and the maintenance
    // task's TRUNCATE checkpoint remain. A failure (disk full, I/O error) is
    // a warning once, then debug until a checkpoint succeeds again, so a
    // full disk does not flood the log at every 256 writes.
    let mut failing = false;
    while woken.recv().is_ok() {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("background checkpoint works again");
            }
            Ok(()) => {}
            Err(e) if failing => tracing::debug!("background checkpoint: {e}"),
            Err(e) => {
                failing = true;
                tracing::warn!(
                    "background checkpoint failed (the WAL grows until one succeeds): {e}"
                );
            }
        }
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // WAL + NORMAL is durable against process crashes; the writer raises it
    // to the configured `Durability` (FULL: an fsync per commit, for power
    // loss). Readers and the checkpointer commit nothing of their own.
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

async fn run_blocking<F, R>(f: F) -> Result<R, DbError>
where
    F: FnOnce() -> Result<R, DbError> + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
}

fn ensure_writable_dir(dir: &Path) -> Result<(), DbError> {
    let err = |reason: String| DbError::DataDir {
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
    async fn commits_are_fsynced_unless_asked_otherwise() {
        let tmp = tempfile::tempdir().unwrap();
        let sync_of = |db: Database| async move {
            db.write(|tx| tx.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
                .await
                .unwrap()
        };
        // 2 = FULL, 1 = NORMAL (SQLite's numbering).
        assert_eq!(sync_of(Database::open(tmp.path()).unwrap()).await, 2);
        let normal = Database::open_with(tmp.path(), Durability::Normal).unwrap();
        assert_eq!(sync_of(normal).await, 1);
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
    async fn the_background_checkpointer_copies_the_wal_into_the_database_file() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        for i in 0..CHECKPOINT_EVERY_WRITES {
            db.write(move |tx| {
                tx.execute(
                    "INSERT INTO part_status (part, status, updated_at) VALUES (?1, 'up', 'now')",
                    [format!("part-{i}")],
                )
            })
            .await
            .unwrap();
        }
        // The last commit woke the checkpointer: the main file ends up
        // holding every page (until then they were only in the WAL), without
        // the writer checkpointing (its backstop is far away).
        let (pages, page_size): (u64, u64) = db
            .read(|c| {
                Ok((
                    c.query_row("PRAGMA page_count", [], |r| r.get(0))?,
                    c.query_row("PRAGMA page_size", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let len = std::fs::metadata(db.path()).unwrap().len();
            if len >= pages * page_size {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "database file {len} bytes, {pages} pages of {page_size} expected"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `fut` once: enough for a write to be queued for the writer.
    async fn queue<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
        std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx)))
            .await
    }

    fn insert(
        part: &'static str,
    ) -> impl FnOnce(&Transaction<'_>) -> Result<usize, rusqlite::Error> + Send + 'static {
        move |tx| {
            tx.execute(
                "INSERT INTO part_status (part, status, updated_at) VALUES (?1, 'up', 'now')",
                [part],
            )
        }
    }

    /// The parts a separate connection sees: what is committed.
    fn committed(path: &Path) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut stmt = c
            .prepare("SELECT part FROM part_status ORDER BY part")
            .unwrap();
        let parts = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        parts
    }

    /// Holds the writer thread inside a write until `release` is sent;
    /// returns that write's future (already queued and running).
    async fn hold_writer(
        db: &Database,
    ) -> (
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), DbError>> + Send + '_>>,
        mpsc::Sender<()>,
    ) {
        let (release, held) = mpsc::channel::<()>();
        let (running, is_running) = tokio::sync::oneshot::channel();
        let mut first = Box::pin(db.write(move |_| {
            let _ = running.send(());
            let _ = held.recv();
            Ok(())
        }));
        assert!(queue(&mut first).await.is_pending());
        is_running.await.unwrap();
        (first, release)
    }

    #[tokio::test]
    async fn grouped_writes_are_answered_after_their_commit_and_fail_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let (mut first, release) = hold_writer(&db).await;
        // Queued while the writer runs `first`: they join its transaction.
        let mut a = Box::pin(db.write(insert("a")));
        assert!(queue(&mut a).await.is_pending());
        // A duplicate of `a`: fails inside the group.
        let mut dup = Box::pin(db.write(insert("a")));
        assert!(queue(&mut dup).await.is_pending());
        let mut panics = Box::pin(db.write(|tx| -> Result<(), rusqlite::Error> {
            insert("p")(tx)?;
            panic!("a bug in one write");
        }));
        assert!(queue(&mut panics).await.is_pending());
        let path = db.path().to_path_buf();
        let (at_b, b_running) = tokio::sync::oneshot::channel();
        let (go, b_waits) = mpsc::channel::<()>();
        let mut b = Box::pin(db.write(move |tx| {
            let n = insert("b")(tx)?;
            // `a` ran in this transaction and is not committed yet.
            let seen: i64 = tx.query_row(
                "SELECT count(*) FROM part_status WHERE part = 'a'",
                [],
                |r| r.get(0),
            )?;
            let _ = at_b.send((seen, committed(&path)));
            let _ = b_waits.recv();
            Ok(n)
        }));
        assert!(queue(&mut b).await.is_pending());
        release.send(()).unwrap();
        let (seen, outside) = b_running.await.unwrap();
        assert_eq!(seen, 1, "b runs after a, in the same transaction");
        assert!(outside.is_empty(), "nothing committed yet: {outside:?}");
        // The group is not committed while `b` runs: nobody is answered
        // yet, not even `first` and `a`, whose writes are done.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            queue(&mut first).await.is_pending(),
            "first answered before the commit of the writes that joined it"
        );
        assert!(
            queue(&mut a).await.is_pending(),
            "a answered before its commit"
        );
        go.send(()).unwrap();
        first.await.unwrap();
        assert_eq!(a.await.unwrap(), 1);
        // Answered only now: the commit is done, a separate connection sees it.
        assert_eq!(committed(db.path()), ["a", "b"]);
        assert_eq!(b.await.unwrap(), 1);
        // The failures are their own, and undid only their own changes.
        match dup.await {
            Err(DbError::Sqlite(e)) => assert_eq!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation),
                "{e}"
            ),
            other => panic!("the duplicate must fail with its constraint: {other:?}"),
        }
        match panics.await {
            Err(DbError::Task(m)) => assert!(m.contains("a bug in one write"), "{m}"),
            other => panic!("the panicking write must fail alone: {other:?}"),
        }
        assert_eq!(committed(db.path()), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_transaction_sqlite_drops_fails_every_write_in_it() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let (first, release) = hold_writer(&db).await;
        let mut a = Box::pin(db.write(insert("a")));
        assert!(queue(&mut a).await.is_pending());
        // What SQLite does on a full disk or an I/O error: the whole
        // transaction is rolled back, `a`'s changes with it.
        let mut drops = Box::pin(db.write(|tx| -> Result<(), rusqlite::Error> {
            tx.execute_batch("ROLLBACK")?;
            Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("database or disk is full".into()),
            ))
        }));
        assert!(queue(&mut drops).await.is_pending());
        let mut c = Box::pin(db.write(insert("c")));
        assert!(queue(&mut c).await.is_pending());
        release.send(()).unwrap();
        // `first` is in the same transaction (`a` and `drops` joined it).
        assert!(first.await.is_err(), "first reported committed");
        assert!(drops.await.is_err());
        // `a` was not committed, so it must not be told it was.
        assert!(
            a.await.is_err(),
            "a reported committed, but was rolled back"
        );
        // The writes after it go into a transaction of their own.
        assert_eq!(c.await.unwrap(), 1);
        assert_eq!(committed(db.path()), ["c"]);
    }

    #[tokio::test]
    async fn writes_queued_before_the_last_handle_is_dropped_are_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let path = db.path().to_path_buf();
        let (first, release) = hold_writer(&db).await;
        let mut a = Box::pin(db.write(insert("a")));
        assert!(queue(&mut a).await.is_pending());
        drop(a);
        release.send(()).unwrap();
        first.await.unwrap();
        drop(db);
        assert_eq!(committed(&path), ["a"]);
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
