//! Live changes: a small in-process hub that tells the console (and the SSE
//! stream) *that* something changed — a topic and a part — never *what*; the
//! subscriber reads the current state again. Sending never blocks; a
//! subscriber that falls behind skips ahead (tokio broadcast's `Lagged`) and
//! should read everything again.
//!
//! The hub also counts changes ([`Changes::version`]): [`Cached`] keeps a
//! value read from the database (the console's overview) until the count
//! moves, so a read after a change never gets what was read before it.
//! Counts per topic ([`Changes::version_of`]) let a cache of something that
//! shows only some topics (a console page) ignore the others, and the audit
//! log, which has no topic (its entries are not broadcast), has its own
//! count ([`Changes::audited`], [`Changes::audit_version`]).
//!
//! The hub is per process. Replicas sharing a storage relay their changes
//! to each other through it ([`crate::relay::ChangeRelay`]): a change
//! another replica made arrives marked [`Change::relayed`] and is never
//! relayed again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// What changed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// A part's status, or its counters against the thresholds (failed
    /// checks while up, good checks while down), or its check error changed.
    Status,
    /// A routine health check of a part that changed none of what
    /// [`Topic::Status`] covers: only the part's "last checked" time moved.
    Check,
    /// A manual circuit override was set or cleared.
    Override,
    /// A replay started, progressed or ended.
    Replay,
    /// A voucher changed status.
    Voucher,
    /// The dead-letter queue changed (a voucher dead-lettered or redriven),
    /// or a bulk redrive started, progressed or ended.
    Dlq,
    /// A notification was queued, or one of its deliveries was claimed or
    /// ended (the delivery log changed).
    Notification,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 7] = [
        Topic::Status,
        Topic::Check,
        Topic::Override,
        Topic::Replay,
        Topic::Voucher,
        Topic::Dlq,
        Topic::Notification,
    ];

    /// The topic named `name` ([`Topic::as_str`]).
    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// This topic's position in [`Topic::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lowercase name, as sent on the stream.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Status => "status",
            Topic::Check => "check",
            Topic::Override => "override",
            Topic::Replay => "replay",
            Topic::Voucher => "voucher",
            Topic::Dlq => "dlq",
            Topic::Notification => "notification",
        }
    }
}

/// One change notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// What changed.
    pub topic: Topic,
    /// The part concerned, when there is one.
    pub part: Option<String>,
    /// When it was notified (by the replica that made it).
    pub at: DateTime<Utc>,
    /// Made by another replica and relayed here through the shared storage
    /// (relayed changes are not relayed again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relayed: bool,
}

/// Replay progress notifications per replay, at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The hub; cheap to clone (all clones share one channel).
#[derive(Clone)]
pub struct Changes {
    tx: broadcast::Sender<Change>,
    last_progress: Arc<Mutex<HashMap<String, Instant>>>,
    /// Bumped by every notification (throttled progress included) and
    /// [`Changes::invalidate`], before subscribers hear of it.
    version: Arc<AtomicU64>,
    /// Per topic (indexed by [`Topic::index`]), bumped with `version`.
    topics: Arc<[AtomicU64; Topic::ALL.len()]>,
    /// Bumped by [`Changes::invalidate`] (writes without a topic).
    untopical: Arc<AtomicU64>,
    /// Bumped by [`Changes::audited`] only.
    audit: Arc<AtomicU64>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("subscribers", &self.tx.receiver_count())
            .finish()
    }
}

impl Default for Changes {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Changes {
    /// A hub keeping up to `capacity` notifications for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
            last_progress: Default::default(),
            version: Default::default(),
            topics: Default::default(),
            untopical: Default::default(),
            audit: Default::default(),
        }
    }

    /// How many changes have been notified (or invalidated) so far. Callers
    /// notify after their write committed, so a value read from the database
    /// while this number stayed the same is still current ([`Cached`]).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Marks read caches stale without telling subscribers: for writes the
    /// console shows but that have no topic of their own (e.g. events
    /// reaching an archive after the outbox published them).
    pub fn invalidate(&self) {
        self.untopical.fetch_add(1, Ordering::SeqCst);
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// How many changes of `topics`, and writes without a topic
    /// ([`Changes::invalidate`]), have been notified so far: a value that
    /// shows only these topics, read while this number stayed the same, is
    /// still current. Other topics' notifications leave it unchanged.
    pub fn version_of(&self, topics: &[Topic]) -> u64 {
        let mut seen = [false; Topic::ALL.len()];
        let mut sum = self.untopical.load(Ordering::SeqCst);
        for t in topics {
            if !std::mem::replace(&mut seen[t.index()], true) {
                sum = sum.wrapping_add(self.topics[t.index()].load(Ordering::SeqCst));
            }
        }
        sum
    }

    /// An entry was appended to the audit log. Nobody is told (the audit
    /// log is not on the stream): only [`Changes::audit_version`] moves, so
    /// a cached copy of the log's page is read again.
    pub fn audited(&self) {
        self.audit.fetch_add(1, Ordering::SeqCst);
    }

    /// How many audit entries were appended through this hub's
    /// [`Changes::audited`] so far (this process only).
    pub fn audit_version(&self) -> u64 {
        self.audit.load(Ordering::SeqCst)
    }

    /// Marks what shows `topic` stale without telling subscribers.
    fn touch(&self, topic: Topic) {
        self.topics[topic.index()].fetch_add(1, Ordering::SeqCst);
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Tells every subscriber that `topic` changed for `part`.
    pub fn notify(&self, topic: Topic, part: Option<&str>) {
        self.send(Change {
            topic,
            part: part.map(str::to_owned),
            at: Utc::now(),
            relayed: false,
        });
    }

    /// Tells every subscriber that another replica changed `topic` for
    /// `part` at `at` (read caches go stale too).
    pub fn notify_relayed(&self, topic: Topic, part: Option<&str>, at: DateTime<Utc>) {
        self.send(Change {
            topic,
            part: part.map(str::to_owned),
            at,
            relayed: true,
        });
    }

    fn send(&self, change: Change) {
        self.touch(change.topic);
        // No subscriber is not an error.
        let _ = self.tx.send(change);
    }

    /// A replay's progress moved: notified at most once per
    /// [`PROGRESS_EVERY`] per replay (≤ 5 per second), so a fast replay does
    /// not flood the stream. Starts and ends use [`Changes::notify`].
    pub fn replay_progress(&self, replay: &str, part: &str) {
        self.progress(Topic::Replay, replay, Some(part));
    }

    /// A long-running job's progress moved (a replay, a bulk redrive of
    /// the dead-letter queue, named `job`): `topic` is notified at most once
    /// per [`PROGRESS_EVERY`] per job. Starts and ends use
    /// [`Changes::notify`].
    pub fn progress(&self, topic: Topic, job: &str, part: Option<&str>) {
        // Caches go stale at once; only the notification is throttled.
        self.touch(topic);
        let now = Instant::now();
        {
            let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
            if last
                .get(job)
                .is_some_and(|t| now.duration_since(*t) < PROGRESS_EVERY)
            {
                return;
            }
            if last.len() > 1024 {
                last.retain(|_, t| now.duration_since(*t) < PROGRESS_EVERY);
            }
            last.insert(job.to_owned(), now);
        }
        self.notify(topic, part);
    }

    /// A new subscriber, receiving what is notified from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// How many subscribers listen.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// A value derived from the database, computed once and shared until a
/// change is notified on the hub or it is older than `max_age` (for what
/// moves without a notification: time-based figures, other replicas'
/// writes). Concurrent callers that find it stale wait for one computation
/// rather than each running their own.
pub struct Cached<T> {
    changes: Changes,
    max_age: Duration,
    /// `(hub version read before computing, when, value)`.
    slot: Mutex<Option<(u64, Instant, Arc<T>)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl<T> std::fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl<T> Cached<T> {
    /// An empty cache following `changes`, keeping values at most `max_age`.
    pub fn new(changes: Changes, max_age: Duration) -> Self {
        Self {
            changes,
            max_age,
            slot: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref()
            .filter(|(v, at, _)| *v == self.changes.version() && at.elapsed() < self.max_age)
            .map(|(_, _, value)| value.clone())
    }

    /// The cached value while no change was notified since it was computed
    /// and it is younger than `max_age`; otherwise computes it with
    /// `compute` (one caller at a time) and keeps it. An error is returned
    /// and nothing is kept.
    pub async fn get_or_try<E, F, Fut>(&self, compute: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.current() {
            return Ok(v);
        }
        let _one = self.refresh.lock().await;
        if let Some(v) = self.current() {
            return Ok(v);
        }
        // Read before computing: a change committed and notified while we
        // read leaves the value tagged with an older version (never reused).
        let version = self.changes.version();
        let at = Instant::now();
        let value = Arc::new(compute().await?);
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, at, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_changes_and_progress_is_throttled() {
        let hub = Changes::new(64);
        let mut rx = hub.clone().subscribe();
        hub.notify(Topic::Status, Some("voucher"));
        let c = rx.recv().await.unwrap();
        assert_eq!(
            (c.topic, c.part.as_deref()),
            (Topic::Status, Some("voucher"))
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap()["topic"],
            serde_json::json!("status")
        );
        for _ in 0..50 {
            hub.replay_progress("R1", "voucher");
        }
        hub.replay_progress("R2", "member");
        assert_eq!(rx.recv().await.unwrap().part.as_deref(), Some("voucher"));
        assert_eq!(rx.recv().await.unwrap().part.as_deref(), Some("member"));
        assert!(rx.try_recv().is_err(), "one progress per replay per 200 ms");
        tokio::time::sleep(PROGRESS_EVERY).await;
        hub.replay_progress("R1", "voucher");
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Replay);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_blocking() {
        let hub = Changes::new(4);
        let mut rx = hub.subscribe();
        for _ in 0..10 {
            hub.notify(Topic::Voucher, None);
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(6))
        ));
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Voucher);
    }

    #[test]
    fn topic_versions_move_only_with_their_topics() {
        for (i, t) in Topic::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
        }
        let hub = Changes::new(4);
        let page = [Topic::Status, Topic::Override];
        let v0 = hub.version_of(&page);
        hub.notify(Topic::Check, Some("voucher"));
        hub.notify(Topic::Voucher, None);
        hub.audited();
        assert_eq!(hub.version_of(&page), v0, "other topics and the audit log");
        hub.notify(Topic::Override, Some("member"));
        let v1 = hub.version_of(&page);
        assert!(v1 > v0);
        assert_eq!(hub.version_of(&[Topic::Override, Topic::Override]), 1);
        // Throttled progress counts at once; writes without a topic count
        // for every topic set.
        hub.progress(Topic::Status, "job", None);
        hub.progress(Topic::Status, "job", None);
        let v2 = hub.version_of(&page);
        assert_eq!(v2, v1 + 3, "two progress calls, one notification");
        hub.invalidate();
        assert!(hub.version_of(&page) > v2);
        assert!(hub.version_of(&[]) > 0);
        // The audit log has its own count, outside the global one.
        let (a, g) = (hub.audit_version(), hub.version());
        hub.audited();
        assert_eq!((hub.audit_version(), hub.version()), (a + 1, g));
    }

    async fn read(
        cache: &Cached<u32>,
        db: &std::sync::atomic::AtomicU32,
        calls: &AtomicU64,
    ) -> u32 {
        *cache
            .get_or_try(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(db.load(Ordering::SeqCst))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn cached_values_are_reused_until_a_change_is_notified() {
        use std::sync::atomic::AtomicU32;
        let hub = Changes::new(4);
        let cache = Cached::new(hub.clone(), Duration::from_secs(3600));
        let (db, calls) = (AtomicU32::new(1), AtomicU64::new(0));
        assert_eq!(read(&cache, &db, &calls).await, 1);
        assert_eq!(read(&cache, &db, &calls).await, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "computed once");
        // A write, then its notification: the next read sees it.
        db.store(2, Ordering::SeqCst);
        hub.notify(Topic::Voucher, Some("voucher"));
        assert_eq!(read(&cache, &db, &calls).await, 2);
        // Throttled progress and bare invalidations count too.
        db.store(3, Ordering::SeqCst);
        hub.replay_progress("R1", "voucher");
        hub.replay_progress("R1", "voucher");
        assert_eq!(read(&cache, &db, &calls).await, 3);
        db.store(4, Ordering::SeqCst);
        hub.invalidate();
        assert_eq!(read(&cache, &db, &calls).await, 4);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_change_during_the_computation_is_not_missed() {
        let hub = Changes::new(4);
        let cache: Cached<u32> = Cached::new(hub.clone(), Duration::from_secs(3600));
        // The computation reads the old state, then a write commits and is
        // notified before the computation ends: its value must not be reused.
        let v = cache
            .get_or_try(|| async {
                let old = 1;
                hub.notify(Topic::Status, Some("voucher"));
                Ok::<_, ()>(old)
            })
            .await
            .unwrap();
        assert_eq!(*v, 1, "the caller that computed gets its own read");
        let v = cache.get_or_try(|| async { Ok::<_, ()>(2) }).await.unwrap();
        assert_eq!(*v, 2, "the next caller reads again");
    }

    #[tokio::test]
    async fn cached_values_expire_errors_are_not_kept_and_callers_share_one_computation() {
        use std::sync::atomic::AtomicU32;
        let hub = Changes::new(4);
        let cache = Arc::new(Cached::new(hub.clone(), Duration::from_millis(50)));
        let err = cache.get_or_try(|| async { Err::<u32, _>("down") }).await;
        assert_eq!(err.unwrap_err(), "down");
        let (db, calls) = (AtomicU32::new(7), AtomicU64::new(0));
        assert_eq!(read(&cache, &db, &calls).await, 7);
        db.store(8, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(read(&cache, &db, &calls).await, 8, "older than max_age");
        // Many callers finding it stale at once: one computation.
        hub.invalidate();
        let calls = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.spawn(async move {
                *cache
                    .get_or_try(|| async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(9)
                    })
                    .await
                    .unwrap()
            });
        }
        while let Some(v) = tasks.join_next().await {
            assert_eq!(v.unwrap(), 9);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
