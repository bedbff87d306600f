//! [`ChangeRelay`]: live changes across replicas. Each process's hub
//! ([`Changes`]) hears only what that process does; replicas sharing a
//! storage with a [`ChangeFeed`] (DynamoDB) relay through it, so a page
//! open on any replica follows a status change, replay progress or voucher
//! outcome another replica produced.
//!
//! * **Out:** the changes this process notifies are coalesced (each topic
//!   and part once) and appended as one feed entry at most every
//!   [`FLUSH_EVERY`]; nothing is written while nothing changes. A failed
//!   append is kept and tried again with what follows.
//! * **In:** the feed is read every [`POLL_EVERY`], looking back
//!   [`LOOKBACK`] (entries are stamped by their writer's clock before the
//!   write lands, and clocks differ a little), entries already seen or
//!   written by this replica skipped; each change is notified on the hub as
//!   [`Change::relayed`](crate::changes::Change::relayed), which is never
//!   relayed again. A change thus reaches another replica's subscribers
//!   within `FLUSH_EVERY + POLL_EVERY` plus two storage calls.
//!
//! Notifications carry no data (subscribers read the state again), so a
//! change relayed twice or coalesced costs nothing but a refetch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::changes::{Change, Changes, Topic};
use crate::storage::feed::{ChangeFeed, FeedEntry};
use crate::storage::StoreError;

/// This process's changes are appended at most this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// The feed is read this often.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How far back each read looks (writers' clock differences and write
/// latency up to this are tolerated).
pub const LOOKBACK: Duration = Duration::from_secs(10);
/// Wait after a failed append or read.
const BACKOFF: Duration = Duration::from_secs(1);

/// What this process changed since the last append.
type Pending = BTreeSet<(Topic, Option<String>)>;

/// Relays one process's changes to the other replicas and theirs to it.
pub struct ChangeRelay {
    feed: Arc<dyn ChangeFeed>,
    changes: Changes,
    replica: String,
    /// Subscribed at construction, so nothing notified after it is missed.
    outgoing: Mutex<broadcast::Receiver<Change>>,
    /// Appended entries so far (the `seq` of the next id).
    seq: std::sync::atomic::AtomicU64,
    /// Nothing older is relayed in (a restarted replica does not replay
    /// what happened before it started).
    started: DateTime<Utc>,
    /// Entries relayed in, by id, with their time (forgotten once older
    /// than the look-back).
    seen: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl std::fmt::Debug for ChangeRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeRelay")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl ChangeRelay {
    /// A relay of `changes` through `feed`, naming this process `replica`
    /// (unique among the replicas: `Monitor::replica`).
    pub fn new(feed: Arc<dyn ChangeFeed>, changes: Changes, replica: impl Into<String>) -> Self {
        Self {
            outgoing: Mutex::new(changes.subscribe()),
            feed,
            changes,
            replica: replica.into(),
            seq: Default::default(),
            started: Utc::now(),
            seen: Default::default(),
        }
    }

    /// Appends `pending` as one entry; on failure it stays pending.
    pub async fn append(&self, pending: &mut Pending) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let at = Utc::now();
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = FeedEntry {
            id: format!("{:013}#{}#{seq:06}", at.timestamp_millis(), self.replica),
            replica: self.replica.clone(),
            at,
            changes: pending.iter().cloned().collect(),
        };
        self.feed.append(&entry).await?;
        pending.clear();
        Ok(())
    }

    /// Reads the feed once and notifies what other replicas changed that
    /// was not relayed yet; answers how many changes were notified.
    pub async fn poll_step(&self) -> Result<usize, StoreError> {
        let lookback = chrono::Duration::from_std(LOOKBACK).unwrap_or_default();
        let since = self.started.max(Utc::now() - lookback);
        let entries = self.feed.since(since).await?;
        let mut seen = self.seen.lock().await;
        let mut notified = 0;
        for e in entries {
            if e.replica == self.replica || seen.contains_key(&e.id) {
                continue;
            }
            for (topic, part) in &e.changes {
                self.changes.notify_relayed(*topic, part.as_deref(), e.at);
                notified += 1;
            }
            seen.insert(e.id, e.at);
        }
        // Entries this old are no longer read.
        seen.retain(|_, at| *at >= since - chrono::Duration::seconds(1));
        Ok(notified)
    }

    /// Starts the two loops on `tracker`; they stop when `shutdown` is
    /// cancelled (what this process changed last is appended first).
    pub fn spawn(self: Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(self.clone().out_run(shutdown.clone()));
        tracker.spawn(self.in_run(shutdown));
    }

    /// Appends this process's changes, coalesced over [`FLUSH_EVERY`].
    async fn out_run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut rx = self.outgoing.lock().await;
        let mut pending = Pending::new();
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let flush = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.recv() => match r {
                    Ok(c) if c.relayed => continue,
                    Ok(c) => {
                        pending.insert((c.topic, c.part));
                    }
                    // Missed some: every topic, any part.
                    Err(RecvError::Lagged(_)) => {
                        pending.extend(Topic::ALL.into_iter().map(|t| (t, None)));
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = flush => {
                    due = None;
                    if let Err(e) = self.append(&mut pending).await {
                        tracing::warn!("live changes not relayed to other replicas yet: {e}");
                        due = Some(tokio::time::Instant::now() + BACKOFF);
                    }
                    continue;
                }
            }
            due.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_EVERY);
        }
        // What changed last still reaches the others.
        while let Ok(c) = rx.try_recv() {
            if !c.relayed {
                pending.insert((c.topic, c.part));
            }
        }
        if let Err(e) = self.append(&mut pending).await {
            tracing::debug!("last live changes not relayed: {e}");
        }
    }

    /// Reads the feed every [`POLL_EVERY`].
    async fn in_run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.poll_step().await {
                tracing::warn!("other replicas' live changes not read: {e}");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(BACKOFF) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// A shared feed in memory (what DynamoDB holds).
    #[derive(Default)]
    struct MemoryFeed(std::sync::Mutex<Vec<FeedEntry>>);

    #[async_trait]
    impl ChangeFeed for MemoryFeed {
        async fn append(&self, entry: &FeedEntry) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(entry.clone());
            Ok(())
        }

        async fn since(&self, since: DateTime<Utc>) -> Result<Vec<FeedEntry>, StoreError> {
            let mut out: Vec<FeedEntry> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.at >= since)
                .cloned()
                .collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        }
    }

    async fn next(rx: &mut broadcast::Receiver<Change>) -> Change {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a change within 5 s")
            .unwrap()
    }

    #[tokio::test]
    async fn changes_made_on_one_replica_reach_the_others_once_and_never_echo() {
        let feed = Arc::new(MemoryFeed::default());
        let (hub_a, hub_b) = (Changes::default(), Changes::default());
        let a = Arc::new(ChangeRelay::new(feed.clone(), hub_a.clone(), "a"));
        let b = Arc::new(ChangeRelay::new(feed.clone(), hub_b.clone(), "b"));
        let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
        a.clone().spawn(&tracker, stop.clone());
        b.clone().spawn(&tracker, stop.clone());
        let mut on_b = hub_b.subscribe();
        let mut on_a = hub_a.subscribe();

        // A burst on a: coalesced into one entry.
        for _ in 0..20 {
            hub_a.notify(Topic::Voucher, Some("voucher"));
        }
        hub_a.notify(Topic::Override, Some("member"));
        let mut got = [next(&mut on_b).await, next(&mut on_b).await];
        got.sort_by_key(|c| c.topic.as_str());
        assert!(got.iter().all(|c| c.relayed));
        assert_eq!(
            got.iter()
                .map(|c| (c.topic, c.part.as_deref()))
                .collect::<Vec<_>>(),
            [
                (Topic::Override, Some("member")),
                (Topic::Voucher, Some("voucher"))
            ]
        );
        // Polls go on: nothing more arrives on b (no duplicate), and a does
        // not hear its own changes back, nor b relay them again.
        tokio::time::sleep(POLL_EVERY * 3).await;
        assert!(on_b.try_recv().is_err(), "relayed once");
        let own: Vec<Change> = std::iter::from_fn(|| on_a.try_recv().ok()).collect();
        assert!(own.iter().all(|c| !c.relayed), "{own:?}");
        assert_eq!(feed.0.lock().unwrap().len(), 1, "one entry for the burst");

        // And the other way.
        hub_b.notify(Topic::Status, Some("points"));
        let c = next(&mut on_a).await;
        assert_eq!(
            (c.topic, c.part.as_deref(), c.relayed),
            (Topic::Status, Some("points"), true)
        );

        // At shutdown what changed last is still appended.
        hub_a.notify(Topic::Dlq, None);
        stop.cancel();
        tracker.close();
        tracker.wait().await;
        let last = feed.0.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            (last.replica.as_str(), last.changes.clone()),
            ("a", vec![(Topic::Dlq, None)])
        );
    }

    #[tokio::test]
    async fn entries_written_late_within_the_look_back_are_still_relayed() {
        let feed = Arc::new(MemoryFeed::default());
        let hub = Changes::default();
        let relay = ChangeRelay::new(feed.clone(), hub.clone(), "b");
        let mut rx = hub.subscribe();
        let entry = |id: &str, at: DateTime<Utc>| FeedEntry {
            id: id.into(),
            replica: "a".into(),
            at,
            changes: vec![(Topic::Replay, Some("voucher".into()))],
        };
        let now = Utc::now();
        feed.append(&entry("2", now + chrono::Duration::milliseconds(5)))
            .await
            .unwrap();
        assert_eq!(relay.poll_step().await.unwrap(), 1);
        // An entry stamped before the one already read lands afterwards (a
        // slower writer, a clock behind): still relayed, and once.
        feed.append(&entry("1", now)).await.unwrap();
        assert_eq!(relay.poll_step().await.unwrap(), 1);
        assert_eq!(relay.poll_step().await.unwrap(), 0);
        assert_eq!(rx.try_recv().unwrap().topic, Topic::Replay);
        // What happened before a relay started is not replayed.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let fresh = ChangeRelay::new(feed, Changes::default(), "d");
        assert_eq!(fresh.poll_step().await.unwrap(), 0);
    }
}
