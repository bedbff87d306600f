//! Group commit: the writer thread behind [`crate::Database::write`].
//!
//! Every write is queued for one thread that owns the turn on the writer
//! connection. It takes the first write waiting, runs it, then every other
//! write queued by then (those that arrived while the previous commit was
//! being synced) or while the transaction runs, one after the other, each
//! inside its own savepoint; it commits once, and only then answers them. With
//! `synchronous=FULL` the commit is one fsync for the whole group rather
//! than one per write.
//!
//! What each caller is told:
//! - its write returned `Ok` and the group's commit succeeded (so its
//!   changes are as durable as the configured `Durability` makes them):
//!   `Ok` with its value, sent after the commit returned;
//! - its write returned `Err` or panicked: that error, and only its own
//!   changes are undone (rolled back to its savepoint); the other writes of
//!   the group go on and commit;
//! - the commit itself failed (or SQLite dropped the whole transaction, as it
//!   does on a full disk or an I/O error): an error with SQLite's code, for
//!   every write whose changes were in it; none of them was committed.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::{lock, DbError, Shared, CHECKPOINT_EVERY_WRITES};

/// Writes one transaction takes at most (more wait for the next one).
pub(crate) const MAX_GROUP: usize = 256;

/// A queued write.
pub(crate) trait Job: Send {
    /// Runs the write on `tx`; `Some` (to be answered once the commit's
    /// outcome is known) if it succeeded, `None` if it failed (it has been
    /// answered with its own error: the caller must undo its changes).
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Done>>;
    /// Answers the write with `e` without running it.
    fn fail(self: Box<Self>, e: DbError);
}

/// A write that ran successfully, waiting for its group's commit.
pub(crate) trait Done: Send {
    /// Answers the caller: its value if `committed` is `Ok`.
    fn answer(self: Box<Self>, committed: Result<(), DbError>);
}

/// A caller's closure and where its answer goes.
pub(crate) struct Write<F, R> {
    pub f: F,
    pub reply: oneshot::Sender<Result<R, DbError>>,
}

struct Ran<R> {
    out: R,
    reply: oneshot::Sender<Result<R, DbError>>,
}

impl<F, R> Job for Write<F, R>
where
    F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Done>> {
        let Write { f, reply } = *self;
        match catch_unwind(AssertUnwindSafe(move || f(tx))) {
            Ok(Ok(out)) => Some(Box::new(Ran { out, reply })),
            Ok(Err(e)) => {
                let _ = reply.send(Err(DbError::Sqlite(e)));
                None
            }
            Err(panic) => {
                let _ = reply.send(Err(DbError::Task(format!(
                    "the write panicked: {}",
                    panic_text(&panic)
                ))));
                None
            }
        }
    }

    fn fail(self: Box<Self>, e: DbError) {
        let _ = self.reply.send(Err(e));
    }
}

impl<R: Send + 'static> Done for Ran<R> {
    fn answer(self: Box<Self>, committed: Result<(), DbError>) {
        let Ran { out, reply } = *self;
        let _ = reply.send(committed.map(|()| out));
    }
}

fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `e` again, for another write it concerns: SQLite's code (and message)
/// are kept, so a full disk still reads as one.
fn again(e: &rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => DbError::Task(format!("the group's transaction failed: {other}")),
    }
}

/// Runs one of the group's savepoint statements, prepared once per
/// connection: a group runs two or three of them per write.
fn savepoint(tx: &rusqlite::Transaction<'_>, sql: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The transaction was rolled back as a whole (SQLite does so on some
/// errors: a full disk, an I/O error, out of memory).
fn rolled_back(why: &str) -> DbError {
    DbError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some(format!(
            "the transaction was rolled back by SQLite after another write's error ({why})"
        )),
    ))
}

/// The writer thread: one group per iteration until every [`crate::Database`]
/// handle is gone and the queue is empty.
pub(crate) fn writer_loop(shared: Arc<Shared>, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let n = {
            let mut conn = lock(&shared.writer);
            run_group(&mut conn, first, &jobs)
        };
        if shared.writes.fetch_add(n, Ordering::Relaxed) + n >= CHECKPOINT_EVERY_WRITES {
            shared.writes.store(0, Ordering::Relaxed);
            // Full: a wake-up is pending already.
            let _ = shared.checkpointer.try_send(());
        }
    }
}

/// Runs `first` and the writes queued behind it in one transaction, commits,
/// then answers every write; returns how many writes it took. The writes
/// join while the transaction runs — those that arrived while the previous
/// commit was being synced, then those that arrive meanwhile — up to
/// [`MAX_GROUP`], so each need not wait for this commit and then have one of
/// its own. `first` runs without a savepoint (if it fails, the transaction
/// is rolled back with nothing else in it and nothing joins); each other
/// write in its own. If SQLite drops the transaction, every write in it is
/// answered with the error, and the queue's next writes go into the next one.
pub(crate) fn run_group(
    conn: &mut Connection,
    first: Box<dyn Job>,
    queue: &mpsc::Receiver<Box<dyn Job>>,
) -> usize {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            first.fail(again(&e));
            return 1;
        }
    };
    let mut ran: Vec<Box<dyn Done>> = first.run(&tx).into_iter().collect();
    let mut taken = 1;
    // Set when SQLite dropped the transaction: the writes in `ran` are undone.
    let mut lost: Option<DbError> = None;
    while !ran.is_empty() && taken < MAX_GROUP && !tx.is_autocommit() {
        let Ok(job) = queue.try_recv() else {
            break;
        };
        taken += 1;
        if let Err(e) = savepoint(&tx, "SAVEPOINT group_write") {
            job.fail(again(&e));
            if tx.is_autocommit() {
                lost = Some(again(&e));
                break;
            }
            continue;
        }
        match job.run(&tx) {
            Some(done) => {
                ran.push(done);
                if let Err(e) = savepoint(&tx, "RELEASE group_write") {
                    lost = Some(again(&e));
                    break;
                }
            }
            None => {
                // Only this write's changes are undone.
                if tx.is_autocommit() {
                    lost = Some(rolled_back("its changes were undone too"));
                    break;
                }
                if let Err(e) = savepoint(&tx, "ROLLBACK TO group_write")
                    .and_then(|()| savepoint(&tx, "RELEASE group_write"))
                {
                    lost = Some(again(&e));
                    break;
                }
            }
        }
    }
    if let Some(e) = lost {
        if !tx.is_autocommit() {
            let _ = tx.rollback();
        }
        for done in ran {
            done.answer(Err(match &e {
                DbError::Sqlite(e) => again(e),
                other => DbError::Task(other.to_string()),
            }));
        }
        return taken;
    }
    let committed = if tx.is_autocommit() {
        // A lone write whose error made SQLite drop the transaction:
        // nothing to commit (it has been answered already).
        drop(tx);
        Ok(())
    } else if ran.is_empty() {
        tx.rollback()
    } else {
        tx.commit()
    };
    match committed {
        Ok(()) => {
            for done in ran {
                done.answer(Ok(()));
            }
        }
        Err(e) => {
            for done in ran {
                done.answer(Err(again(&e)));
            }
        }
    }
    taken
}
