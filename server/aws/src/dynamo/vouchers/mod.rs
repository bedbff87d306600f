//! [`VoucherStore`] on DynamoDB: the DataCache in the `vouchers` and
//! `voucher-events` tables (key design in docs/aws.md).
//!
//! * A voucher is one item with its lifecycle (`hist`, appended by every
//!   transition) and a write version `ver`. Every transition is one
//!   conditional write; those that publish an event are a
//!   TransactWriteItems with the outbox item (and, for `retry`, the ledger
//!   item), so an event exists exactly when its transition committed.
//! * Hold and the batch claim decide on the voucher and on the part's
//!   `STATUS` item (written by the [`StatusStore`](mediator_core::storage::StatusStore)),
//!   and commit with `ver = :read` on the voucher and a ConditionCheck that
//!   the circuit is still what was read: a voucher is held before the
//!   part's down→up change commits, or sees it up. Both may decide on the
//!   last state this replica saw (no read); a stale guess cancels the
//!   transaction and is retried on fresh reads.
//! * A claim's token is its attempt number, as on SQLite: `finish` commits
//!   only while the voucher is `submitting` with `attempts = token`.
//! * The outbox: events this replica commits are remembered and returned
//!   first by `unpublished_events` without a read; the outbox partitions are
//!   queried when nothing is remembered (at most every
//!   [`OUTBOX_SWEEP`](outbox::OUTBOX_SWEEP)), which publishes events a crashed replica left.
//!   `PendingEvent::id`s are handles into this replica's memory. A sweep
//!   may also return an event a live replica is about to publish: publication
//!   stays at-least-once, as on SQLite after a crash.
//! * A published event's outbox item is deleted without a request of its
//!   own: the delete rides on this replica's next voucher transaction
//!   (admit, claim, hold, finish, redrive; at most [`CARRIED_DELETES`](outbox::CARRIED_DELETES) per
//!   transaction). Deletes still owed after [`FLUSH_DELAY`](outbox::FLUSH_DELAY) without a
//!   voucher write ([`RETRY_FLUSH_DELAY`](outbox::RETRY_FLUSH_DELAY) for a retry event's: recovery
//!   waits for those to leave the outbox, and `retry_events_pending` sends
//!   this replica's at once), or [`FLUSH_MAX`](outbox::FLUSH_MAX) of them, go in one
//!   BatchWriteItem; so do those left at shutdown
//!   ([`DynamoStore::flush_published`]). Only published items are ever
//!   deleted, so a crash loses no unpublished event; it can leave published
//!   ones, which a sweep publishes again (at least once). Sweeps skip the
//!   items this replica owes a delete for and items younger than
//!   [`SWEEP_MIN_AGE`](outbox::SWEEP_MIN_AGE) (`wr`, the writer's clock), which their live writer
//!   is still publishing or about to delete.
//! * `counts()`: the open statuses from the sparse `open` index (exact, read
//!   every time); the final ones (`submitted`, `error`: the table's bulk,
//!   and never left) from a Scan at most [`FINAL_COUNTS_MAX_AGE`](counts::FINAL_COUNTS_MAX_AGE) old plus
//!   this replica's own final transitions since, so the console's overview
//!   (re-read up to twice a second while watched) does not Scan the table
//!   each time. Other replicas' final transitions show within that age;
//!   one that commits while a Scan runs may count twice until the next.
//! * Not yet: batching the per-voucher writes of `hold_or_claim_many` /
//!   `finish_many` into shared transactions; exact per-part counter items
//!   (they would put one hot item in every final transition).
//!
//! Files: `codec.rs` (items ⇄ records, update expressions), `memory.rs`
//! (what this replica remembers: vouchers, circuits), `outbox.rs` (the
//! outbox and its owed deletes), `counts.rs` (the counts cache), `ledger.rs`
//! (the retry ledger), `transact.rs` (conditional transactions carrying
//! owed deletes), `transitions.rs` (hold, claim and finish of one voucher),
//! `queries.rs` (the reference and open indexes) and `store.rs` (the
//! [`VoucherStore`](mediator_core::storage::VoucherStore) impl).

mod codec;
mod counts;
mod ledger;
mod memory;
mod outbox;
mod queries;
mod store;
mod transact;
mod transitions;

pub(super) use memory::VoucherMemory;

use codec::*;
use counts::*;
use memory::*;
use outbox::*;
use transact::*;
use transitions::*;
