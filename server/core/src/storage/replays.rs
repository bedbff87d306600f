//! The [`ReplayStore`] port (its model in [`crate::replay_records`]): replay
//! records and progress, handled replayed events, latest intervals and the
//! recovery cursor — SQLite's `rec_*` tables (`mediator-sqlite`) or one
//! DynamoDB table every replica shares, so a replay started by one replica
//! is listed, counted and guarded — "one active replay per part" — by all
//! of them.

pub use crate::replay_records::{tally, Counted, HandledEvent, NewReplay, Recorded, ReplayStore};
