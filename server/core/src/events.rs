//! The events the mediator puts on the bus, in the seed design's shapes, and
//! the patterns that route them. Backends publish them through
//! [`EventPublisher`]; this module knows nothing of any bus.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::circuit::StatusChange;
use crate::part::PartName;

/// `detail.metadata.domain` of every event the mediator emits.
pub const DOMAIN: &str = "LEGO-LOYALTY";
/// `detail.metadata.service`, also the events' `Source`.
pub const SERVICE: &str = "service-loyalty-vendor-mediator";
/// `detail.metadata.category` of status events.
pub const CATEGORY: &str = "task-status";
/// `detail.metadata.type` of SaaS status events.
pub const SAAS_STATUS: &str = "SAAS_STATUS";
/// `DetailType` of the mediator's events.
pub const DETAIL_TYPE: &str = "task-status";

/// An event to publish: what PutEvents needs, minus the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    /// The event's `source`.
    pub source: String,
    /// The event's `detail-type`.
    pub detail_type: String,
    /// The event's `detail` object.
    pub detail: Value,
    /// The event's `time` (replay windows are defined on it).
    pub time: DateTime<Utc>,
}

/// Why publishing failed; the caller retries later (publication is at least once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publishing events failed: {0}")]
pub struct PublishError(pub String);

/// Puts events on the mediator's bus (embedded EventBridge or AWS).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event or fails as a whole.
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<(), PublishError>;
}

/// Largest batch one outbox step publishes; a full batch means more may be waiting.
pub const OUTBOX_BATCH: usize = 100;

/// Runs an outbox publication `step` every `every` until `shutdown`,
/// repeating it at once while it returns full batches so a backlog drains in
/// one go. A failure is logged and retried on the next tick (the rows stay in
/// the outbox, so publication is at least once).
pub async fn run_outbox<F, Fut>(
    what: &str,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
    step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, PublishError>>,
{
    run_outbox_woken(what, every, None, shutdown, step).await
}

/// [`run_outbox`], also stepping as soon as `wake` delivers a change of
/// `topic` made by this process (or reports it missed some): an outbox on a billed store is read
/// on a slow tick, and at once after this process wrote to it.
pub async fn run_outbox_woken<F, Fut>(
    what: &str,
    every: std::time::Duration,
    mut wake: Option<(
        tokio::sync::broadcast::Receiver<crate::changes::Change>,
        crate::changes::Topic,
    )>,
    shutdown: tokio_util::sync::CancellationToken,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, PublishError>>,
{
    use tokio::sync::broadcast::error::RecvError;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let woken = async {
            let Some((rx, topic)) = wake.as_mut() else {
                return std::future::pending().await;
            };
            loop {
                match rx.recv().await {
                    // Another replica's change is in its own outbox.
                    Ok(c) if c.topic != *topic || c.relayed => continue,
                    other => return other.map(|_| ()),
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            r = woken => {
                if let Err(RecvError::Closed) = r {
                    wake = None;
                }
            }
        }
        loop {
            match step().await {
                Ok(OUTBOX_BATCH) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!("{what} not published yet: {e}");
                    break;
                }
            }
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The SAAS_STATUS event for a part's status change:
/// `detail.metadata` = {domain, service, category, type: SAAS_STATUS, status},
/// `detail.data` = {part, changed_at, prev_status, prev_change_at}.
pub fn saas_status_event(part: &str, change: &StatusChange) -> OutgoingEvent {
    OutgoingEvent {
        source: SERVICE.into(),
        detail_type: DETAIL_TYPE.into(),
        detail: json!({
            "metadata": {
                "domain": DOMAIN,
                "service": SERVICE,
                "category": CATEGORY,
                "type": SAAS_STATUS,
                "status": change.status.as_str(),
            },
            "data": {
                "part": part,
                "changed_at": rfc3339(change.changed_at),
                "prev_status": change.prev_status.as_str(),
                "prev_change_at": change.prev_change_at.map(rfc3339),
            }
        }),
        time: change.changed_at,
    }
}

/// `detail.metadata.category` of the Order Processing service's voucher
/// requests (the events the submission flow consumes).
pub const REQUEST_CATEGORY: &str = "task-request";

/// The submission status event of a voucher: `detail.metadata` =
/// {domain, service, category, type: <part>, status}, `detail.data` = the
/// four keys only, never the payload.
pub fn voucher_status_event(
    part: &str,
    status: crate::voucher::VoucherStatus,
    keys: &crate::voucher::VoucherKeys,
    at: DateTime<Utc>,
) -> OutgoingEvent {
    OutgoingEvent {
        source: SERVICE.into(),
        detail_type: DETAIL_TYPE.into(),
        detail: json!({
            "metadata": {
                "domain": DOMAIN,
                "service": SERVICE,
                "category": CATEGORY,
                "type": part,
                "status": status.as_str(),
            },
            "data": {
                "loyalty_request_id": keys.loyalty_request_id,
                "loyalty_reference": keys.loyalty_reference,
                "merchant_reference": keys.merchant_reference,
                "loyalty_order_reference": keys.loyalty_order_reference,
            }
        }),
        time: at,
    }
}

/// Pattern of the rule that feeds the submission flow: voucher requests
/// (`detail.metadata.category` = `task-request`) of the loyalty domain,
/// never replayed ones. The request's `detail.metadata.type` is the part,
/// `detail.data` the API's body fields (keys and `payload`).
pub fn voucher_request_pattern() -> String {
    json!({
        "detail": { "metadata": { "domain": [DOMAIN], "category": [REQUEST_CATEGORY] } },
        "replay-name": [{ "exists": false }]
    })
    .to_string()
}

/// The seed's archive pattern for a part: its `retry` status events.
pub fn archive_pattern(part: &PartName) -> String {
    json!({
        "detail": {
            "metadata": {
                "domain": [DOMAIN],
                "service": [SERVICE],
                "category": [CATEGORY],
                "type": [part.as_str()],
                "status": ["retry"]
            }
        }
    })
    .to_string()
}

/// The seed's resubmit pattern: the part's retry events replayed by one of
/// its replays (`replay-name` starts with `<ArchiveBase>Replay`).
pub fn resubmit_pattern(part: &PartName, archive_name: &str) -> String {
    json!({
        "detail": {
            "metadata": {
                "domain": [DOMAIN],
                "service": [SERVICE],
                "type": [part.as_str()],
                "status": ["retry"]
            }
        },
        "replay-name": [{ "prefix": replay_prefix(archive_name) }]
    })
    .to_string()
}

/// `LoyaltyVoucherArchive` → `LoyaltyVoucherReplay`.
pub fn replay_prefix(archive_name: &str) -> String {
    format!(
        "{}Replay",
        archive_name.strip_suffix("Archive").unwrap_or(archive_name)
    )
}

/// The bus the mediator's events travel on (the seed's `loyalty-bus`), on
/// both backends.
pub const BUS_NAME: &str = "loyalty-bus";

/// The resubmit rule of the part whose archive is `archive`:
/// `LoyaltyVoucherArchive` → `LoyaltyVoucherResubmit`.
pub fn resubmit_rule(archive: &str) -> String {
    let prefix = replay_prefix(archive);
    format!("{}Resubmit", prefix.trim_end_matches("Replay"))
}

/// The queue the part's resubmit rule feeds.
pub fn resubmit_queue(part: &PartName) -> String {
    format!("{part}-resubmit")
}

/// The part's dead-letter queue (replayed events that failed too often).
pub fn dead_letter_queue(part: &PartName) -> String {
    format!("{part}-resubmit-dlq")
}

/// The replay name for a replay started at `at`:
/// `<ArchiveBase>Replay_YYYYMMDDHHMMSS`.
pub fn replay_name(archive_name: &str, at: DateTime<Utc>) -> String {
    format!(
        "{}_{}",
        replay_prefix(archive_name),
        at.format("%Y%m%d%H%M%S")
    )
}

/// Pattern of the rule that starts a replay: a part's SAAS_STATUS event
/// going from down to up.
pub fn recovery_pattern(part: &PartName) -> String {
    json!({
        "detail": {
            "metadata": { "type": [SAAS_STATUS], "status": ["up"] },
            "data": { "part": [part.as_str()], "prev_status": ["down"] }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::PartState;
    use chrono::TimeZone;

    #[tokio::test]
    async fn a_woken_outbox_steps_on_its_topic_not_on_others() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::time::Duration;
        let hub = crate::changes::Changes::default();
        let steps = Arc::new(AtomicUsize::new(0));
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn({
            let (steps, stop) = (steps.clone(), stop.clone());
            let wake = Some((hub.subscribe(), crate::changes::Topic::Status));
            async move {
                run_outbox_woken("test", Duration::from_secs(3600), wake, stop, || {
                    steps.fetch_add(1, Ordering::SeqCst);
                    async { Ok(0) }
                })
                .await
            }
        });
        let settle = || tokio::time::sleep(Duration::from_millis(100));
        settle().await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            1,
            "the first tick steps at once"
        );
        hub.notify(crate::changes::Topic::Check, Some("voucher"));
        hub.notify(crate::changes::Topic::Voucher, Some("voucher"));
        settle().await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            1,
            "other topics do not wake it"
        );
        hub.notify_relayed(crate::changes::Topic::Status, Some("voucher"), Utc::now());
        settle().await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            1,
            "another replica's change is in its own outbox"
        );
        hub.notify(crate::changes::Topic::Status, Some("voucher"));
        settle().await;
        assert_eq!(steps.load(Ordering::SeqCst), 2, "its topic wakes it");
        stop.cancel();
        task.await.unwrap();
    }

    fn envelope(e: &OutgoingEvent) -> String {
        json!({
            "id": "1", "account": "1", "source": e.source, "time": rfc3339(e.time),
            "region": "us-east-1", "resources": [], "detail-type": e.detail_type,
            "detail": e.detail
        })
        .to_string()
    }

    fn change(status: PartState, prev: PartState) -> StatusChange {
        StatusChange {
            status,
            changed_at: Utc.with_ymd_and_hms(2021, 11, 10, 13, 15, 30).unwrap(),
            prev_status: prev,
            prev_change_at: Some(Utc.with_ymd_and_hms(2021, 11, 1, 18, 35, 10).unwrap()),
        }
    }

    #[test]
    fn saas_status_has_the_seed_shape() {
        let e = saas_status_event("voucher", &change(PartState::Down, PartState::Up));
        assert_eq!(
            e.detail,
            json!({
                "metadata": {"domain": "LEGO-LOYALTY", "service": "service-loyalty-vendor-mediator",
                             "category": "task-status", "type": "SAAS_STATUS", "status": "down"},
                "data": {"part": "voucher", "changed_at": "2021-11-10T13:15:30Z",
                         "prev_status": "up", "prev_change_at": "2021-11-01T18:35:10Z"}
            })
        );
    }

    #[test]
    fn recovery_pattern_matches_only_down_to_up_of_its_part() {
        let voucher = PartName::parse("voucher").unwrap();
        let p = recovery_pattern(&voucher);
        let up = saas_status_event("voucher", &change(PartState::Up, PartState::Down));
        let first_up = saas_status_event("voucher", &change(PartState::Up, PartState::Unknown));
        let other = saas_status_event("points", &change(PartState::Up, PartState::Down));
        assert!(patterns::test_event_pattern(&p, &envelope(&up)).unwrap());
        assert!(!patterns::test_event_pattern(&p, &envelope(&first_up)).unwrap());
        assert!(!patterns::test_event_pattern(&p, &envelope(&other)).unwrap());
    }

    #[test]
    fn voucher_status_events_carry_keys_only_and_retries_are_archived() {
        let voucher = PartName::parse("voucher").unwrap();
        let keys = crate::voucher::VoucherKeys {
            loyalty_request_id: "AbLh".into(),
            loyalty_reference: "P6IF".into(),
            merchant_reference: "xz5C".into(),
            loyalty_order_reference: "M101".into(),
        };
        let at = Utc.with_ymd_and_hms(2021, 11, 10, 13, 15, 30).unwrap();
        let retry =
            voucher_status_event("voucher", crate::voucher::VoucherStatus::Retry, &keys, at);
        assert_eq!(
            retry.detail,
            json!({
                "metadata": {"domain": "LEGO-LOYALTY", "service": "service-loyalty-vendor-mediator",
                             "category": "task-status", "type": "voucher", "status": "retry"},
                "data": {"loyalty_request_id": "AbLh", "loyalty_reference": "P6IF",
                         "merchant_reference": "xz5C", "loyalty_order_reference": "M101"}
            })
        );
        let archive = archive_pattern(&voucher);
        assert!(patterns::test_event_pattern(&archive, &envelope(&retry)).unwrap());
        let done = voucher_status_event(
            "voucher",
            crate::voucher::VoucherStatus::Submitted,
            &keys,
            at,
        );
        assert!(!patterns::test_event_pattern(&archive, &envelope(&done)).unwrap());
        // Upstream consumers learn a voucher was given up on: the same
        // key-only shape, never archived (nothing replays it).
        let gave_up = voucher_status_event(
            "voucher",
            crate::voucher::VoucherStatus::DeadLettered,
            &keys,
            at,
        );
        assert_eq!(gave_up.detail["metadata"]["status"], "dead_lettered");
        assert_eq!(gave_up.detail["data"], retry.detail["data"]);
        assert!(!patterns::test_event_pattern(&archive, &envelope(&gave_up)).unwrap());
        let request = OutgoingEvent {
            detail: json!({"metadata": {"domain": DOMAIN, "category": REQUEST_CATEGORY, "type": "voucher"}}),
            ..retry.clone()
        };
        assert!(
            patterns::test_event_pattern(&voucher_request_pattern(), &envelope(&request)).unwrap()
        );
        assert!(
            !patterns::test_event_pattern(&voucher_request_pattern(), &envelope(&retry)).unwrap()
        );
    }

    #[test]
    fn archive_and_replay_names_follow_the_seed() {
        let voucher = PartName::parse("voucher").unwrap();
        let archive = voucher.default_archive_name();
        assert_eq!(replay_prefix(&archive), "LoyaltyVoucherReplay");
        let at = Utc.with_ymd_and_hms(2021, 11, 10, 13, 15, 30).unwrap();
        assert_eq!(
            replay_name(&archive, at),
            "LoyaltyVoucherReplay_20211110131530"
        );
        let retry = json!({"metadata": {"domain": DOMAIN, "service": SERVICE, "category": CATEGORY,
                                        "type": "voucher", "status": "retry"}});
        let ev = |extra: &str| {
            format!(
                r#"{{"id":"1","account":"1","source":"s","time":"2021-11-10T13:15:30Z","region":"r","resources":[],"detail-type":"t","detail":{retry}{extra}}}"#
            )
        };
        assert!(patterns::test_event_pattern(&archive_pattern(&voucher), &ev("")).unwrap());
        let resubmit = resubmit_pattern(&voucher, &archive);
        assert!(!patterns::test_event_pattern(&resubmit, &ev("")).unwrap());
        assert!(patterns::test_event_pattern(
            &resubmit,
            &ev(r#","replay-name":"LoyaltyVoucherReplay_20211110131530""#)
        )
        .unwrap());
        assert!(!patterns::test_event_pattern(
            &resubmit,
            &ev(r#","replay-name":"LoyaltyPointsReplay_20211110131530""#)
        )
        .unwrap());
    }
}
