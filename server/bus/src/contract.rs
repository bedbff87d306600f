//! The [`EventBus`] trait — the bus surface the mediator uses — and a contract
//! suite written against it, so the embedded bus and an AWS-backed adapter
//! are held to the same behaviour. Each `check_*` function takes a name
//! `prefix` so runs against a shared AWS account do not collide.

use std::time::Duration;

use async_trait::async_trait;

use crate::types::*;
use crate::{Bus, BusError, BusResult, QueueConfig, Timestamp};

/// The event-bus operations of EventBridge, plus the two queue operations the
/// contract suite needs to observe deliveries (SQS on AWS, embedded queues here).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Account id used in ARNs.
    fn account(&self) -> String;
    /// Region used in ARNs.
    fn region(&self) -> String;
    /// `PutEvents`.
    async fn put_events(&self, req: PutEventsRequest) -> BusResult<PutEventsResponse>;
    /// `CreateEventBus`.
    async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse>;
    /// `DescribeEventBus`.
    async fn describe_event_bus(&self, name: Option<&str>) -> BusResult<crate::types::EventBus>;
    /// `DeleteEventBus`.
    async fn delete_event_bus(&self, name: &str) -> BusResult<()>;
    /// `PutRule`.
    async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse>;
    /// `DescribeRule`.
    async fn describe_rule(&self, name: &str, bus: Option<&str>) -> BusResult<Rule>;
    /// `EnableRule` (true) / `DisableRule` (false).
    async fn set_rule_state(&self, name: &str, bus: Option<&str>, enabled: bool) -> BusResult<()>;
    /// `DeleteRule`.
    async fn delete_rule(&self, name: &str, bus: Option<&str>, force: bool) -> BusResult<()>;
    /// `PutTargets`.
    async fn put_targets(&self, req: PutTargetsRequest) -> BusResult<TargetsResponse>;
    /// `RemoveTargets`.
    async fn remove_targets(&self, req: RemoveTargetsRequest) -> BusResult<TargetsResponse>;
    /// `CreateArchive`.
    async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive>;
    /// `DescribeArchive`.
    async fn describe_archive(&self, name: &str) -> BusResult<Archive>;
    /// `DeleteArchive`.
    async fn delete_archive(&self, name: &str) -> BusResult<()>;
    /// `StartReplay`.
    async fn start_replay(&self, req: StartReplayRequest) -> BusResult<Replay>;
    /// `DescribeReplay`.
    async fn describe_replay(&self, name: &str) -> BusResult<Replay>;
    /// `ListReplays`.
    async fn list_replays(&self, req: ListRequest) -> BusResult<ListReplaysResponse>;
    /// `CancelReplay`.
    async fn cancel_replay(&self, name: &str) -> BusResult<Replay>;
    /// Creates (or reuses) a queue usable as a target; returns its ARN.
    async fn create_test_queue(&self, name: &str) -> BusResult<String>;
    /// Receives and deletes up to `max` message bodies, waiting up to `wait`.
    async fn drain_test_queue(
        &self,
        queue_arn: &str,
        max: usize,
        wait: Duration,
    ) -> BusResult<Vec<String>>;
}

#[async_trait]
impl EventBus for Bus {
    fn account(&self) -> String {
        self.inner.cfg.account.clone()
    }
    fn region(&self) -> String {
        self.inner.cfg.region.clone()
    }
    async fn put_events(&self, req: PutEventsRequest) -> BusResult<PutEventsResponse> {
        Bus::put_events(self, req).await
    }
    async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse> {
        Bus::create_event_bus(self, req).await
    }
    async fn describe_event_bus(&self, name: Option<&str>) -> BusResult<crate::types::EventBus> {
        Bus::describe_event_bus(self, name).await
    }
    async fn delete_event_bus(&self, name: &str) -> BusResult<()> {
        Bus::delete_event_bus(self, name).await
    }
    async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse> {
        Bus::put_rule(self, req).await
    }
    async fn describe_rule(&self, name: &str, bus: Option<&str>) -> BusResult<Rule> {
        Bus::describe_rule(self, name, bus).await
    }
    async fn set_rule_state(&self, name: &str, bus: Option<&str>, enabled: bool) -> BusResult<()> {
        Bus::set_rule_state(self, name, bus, enabled).await
    }
    async fn delete_rule(&self, name: &str, bus: Option<&str>, force: bool) -> BusResult<()> {
        Bus::delete_rule(self, name, bus, force).await
    }
    async fn put_targets(&self, req: PutTargetsRequest) -> BusResult<TargetsResponse> {
        Bus::put_targets(self, req).await
    }
    async fn remove_targets(&self, req: RemoveTargetsRequest) -> BusResult<TargetsResponse> {
        Bus::remove_targets(self, req).await
    }
    async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive> {
        Bus::create_archive(self, req).await
    }
    async fn describe_archive(&self, name: &str) -> BusResult<Archive> {
        Bus::describe_archive(self, name).await
    }
    async fn delete_archive(&self, name: &str) -> BusResult<()> {
        Bus::delete_archive(self, name).await
    }
    async fn start_replay(&self, req: StartReplayRequest) -> BusResult<Replay> {
        Bus::start_replay(self, req).await
    }
    async fn describe_replay(&self, name: &str) -> BusResult<Replay> {
        Bus::describe_replay(self, name).await
    }
    async fn list_replays(&self, req: ListRequest) -> BusResult<ListReplaysResponse> {
        Bus::list_replays(self, req).await
    }
    async fn cancel_replay(&self, name: &str) -> BusResult<Replay> {
        Bus::cancel_replay(self, name).await
    }
    async fn create_test_queue(&self, name: &str) -> BusResult<String> {
        self.create_queue(name, QueueConfig::default()).await
    }
    async fn drain_test_queue(
        &self,
        queue_arn: &str,
        max: usize,
        wait: Duration,
    ) -> BusResult<Vec<String>> {
        let msgs = self.receive_messages(queue_arn, max, wait).await?;
        self.delete_messages(
            queue_arn,
            msgs.iter().map(|m| m.receipt_handle.clone()).collect(),
        )
        .await?;
        Ok(msgs.into_iter().map(|m| m.body).collect())
    }
}

// ---- the suite ------------------------------------------------------------

/// What a backend honours of EventBridge's behaviour. AWS and the embedded
/// bus honour everything ([`Fidelity::AWS`]); local emulators have known
/// gaps ([`Fidelity::MOTO`]). A check a backend cannot honour is left out
/// of that run only, never silently: each gap is named here, and the
/// AWS adapter's tests cover it elsewhere (against the embedded wire API,
/// and by recording what the adapter sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fidelity {
    /// PutEvents refuses a `Detail` that is not a JSON object (`MalformedDetail`).
    pub malformed_detail: bool,
    /// Disabled rules deliver nothing.
    pub disabled_rules: bool,
    /// Delivered events carry the envelope's `account`.
    pub envelope_account: bool,
    /// DescribeArchive reports a meaningful `SizeBytes`.
    pub archive_size: bool,
    /// Replays honour the time window and `Destination.FilterArns`, report
    /// `EventLastReplayedTime`, refuse to cancel a finished replay and can
    /// be listed by state.
    pub replay_semantics: bool,
}

impl Fidelity {
    /// Everything: AWS, the embedded bus and its wire API.
    pub const AWS: Fidelity = Fidelity {
        malformed_detail: true,
        disabled_rules: true,
        envelope_account: true,
        archive_size: true,
        replay_semantics: true,
    };
    /// moto 5.x (`moto_server`): accepts any JSON `Detail`, delivers to
    /// disabled rules, leaves `account` out of delivered events, reports `SizeBytes` 0, and runs replays inside
    /// StartReplay over the whole archive to every rule (no window, no
    /// `FilterArns`, no `EventLastReplayedTime`, cancel always succeeds,
    /// ListReplays by state returns nothing).
    pub const MOTO: Fidelity = Fidelity {
        malformed_detail: false,
        disabled_rules: false,
        envelope_account: false,
        archive_size: false,
        replay_semantics: false,
    };
}

fn entry(bus: &str, source: &str, detail: &str, time: Option<Timestamp>) -> PutEventsRequestEntry {
    PutEventsRequestEntry {
        time,
        source: Some(source.into()),
        detail_type: Some("task-status".into()),
        detail: Some(detail.into()),
        event_bus_name: Some(bus.into()),
        resources: Some(vec!["arn:aws:example:::thing/1".into()]),
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(r: BusResult<T>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

/// Drains `queue` until `want` bodies arrived or `patience` ran out.
async fn collect<B: EventBus + ?Sized>(
    b: &B,
    queue: &str,
    want: usize,
    patience: Duration,
) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        for body in b
            .drain_test_queue(queue, 10, Duration::from_millis(500))
            .await
            .expect("drain")
        {
            got.push(serde_json::from_str(&body).expect("queue body is JSON"));
        }
    }
    got
}

/// Buses, rules and their errors.
pub async fn check_buses_and_rules<B: EventBus + ?Sized>(b: &B, prefix: &str) {
    let bus = format!("{prefix}-bus");
    let arn = b
        .create_event_bus(CreateEventBusRequest {
            name: bus.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .event_bus_arn;
    assert_eq!(
        arn,
        format!(
            "arn:aws:events:{}:{}:event-bus/{bus}",
            b.region(),
            b.account()
        )
    );
    assert_eq!(
        code(
            b.create_event_bus(CreateEventBusRequest {
                name: bus.clone(),
                ..Default::default()
            })
            .await
        ),
        "ResourceAlreadyExistsException"
    );
    assert_eq!(b.describe_event_bus(Some(&bus)).await.unwrap().arn, arn);
    assert_eq!(
        code(
            b.describe_event_bus(Some(&format!("{prefix}-missing")))
                .await
        ),
        "ResourceNotFoundException"
    );

    let rule = format!("{prefix}-rule");
    let put = |pattern: &str, state: Option<&str>| PutRuleRequest {
        name: rule.clone(),
        event_pattern: Some(pattern.into()),
        state: state.map(str::to_string),
        event_bus_name: Some(bus.clone()),
        ..Default::default()
    };
    let rule_arn = b
        .put_rule(put(r#"{"source": ["a"]}"#, None))
        .await
        .unwrap()
        .rule_arn;
    assert_eq!(
        rule_arn,
        format!(
            "arn:aws:events:{}:{}:rule/{bus}/{rule}",
            b.region(),
            b.account()
        )
    );
    let r = b.describe_rule(&rule, Some(&bus)).await.unwrap();
    assert_eq!(
        (r.state.as_str(), r.event_bus_name.as_str()),
        ("ENABLED", bus.as_str())
    );
    assert_eq!(
        code(b.put_rule(put(r#"{"source": []}"#, None)).await),
        "InvalidEventPatternException"
    );
    assert_eq!(
        code(b.describe_rule(&format!("{prefix}-nope"), Some(&bus)).await),
        "ResourceNotFoundException"
    );
    b.set_rule_state(&rule, Some(&bus), false).await.unwrap();
    assert_eq!(
        b.describe_rule(&rule, Some(&bus)).await.unwrap().state,
        "DISABLED"
    );
    b.set_rule_state(&rule, Some(&bus), true).await.unwrap();

    let q = b
        .create_test_queue(&format!("{prefix}-rules-q"))
        .await
        .unwrap();
    let t = PutTargetsRequest {
        rule: rule.clone(),
        event_bus_name: Some(bus.clone()),
        targets: vec![Target {
            id: "q".into(),
            arn: q,
            ..Default::default()
        }],
    };
    assert_eq!(b.put_targets(t).await.unwrap().failed_entry_count, 0);
    assert_eq!(
        code(b.delete_rule(&rule, Some(&bus), false).await),
        "ValidationException"
    );
    b.remove_targets(RemoveTargetsRequest {
        rule: rule.clone(),
        event_bus_name: Some(bus.clone()),
        ids: vec!["q".into()],
        force: None,
    })
    .await
    .unwrap();
    b.delete_rule(&rule, Some(&bus), false).await.unwrap();
    assert_eq!(
        code(b.describe_rule(&rule, Some(&bus)).await),
        "ResourceNotFoundException"
    );
    b.delete_event_bus(&bus).await.unwrap();
    assert_eq!(
        code(b.delete_event_bus("default").await),
        "ValidationException"
    );
}

/// PutEvents entry validation, envelope, routing to a queue, disabled rules.
pub async fn check_put_events_and_routing<B: EventBus + ?Sized>(b: &B, prefix: &str) {
    check_put_events_and_routing_with(b, prefix, Fidelity::AWS).await
}

/// [`check_put_events_and_routing`] for a backend of fidelity `f`.
pub async fn check_put_events_and_routing_with<B: EventBus + ?Sized>(
    b: &B,
    prefix: &str,
    f: Fidelity,
) {
    let bus = format!("{prefix}-route-bus");
    b.create_event_bus(CreateEventBusRequest {
        name: bus.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let too_many = PutEventsRequest {
        entries: (0..11).map(|_| entry(&bus, "s", "{}", None)).collect(),
        ..Default::default()
    };
    assert_eq!(code(b.put_events(too_many).await), "ValidationException");

    let res = b
        .put_events(PutEventsRequest {
            entries: vec![
                entry(&bus, "s", r#"{"ok": true}"#, None),
                entry(&bus, "s", "[1]", None),
                PutEventsRequestEntry {
                    source: None,
                    ..entry(&bus, "s", "{}", None)
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        res.failed_entry_count,
        if f.malformed_detail { 2 } else { 1 }
    );
    assert!(res.entries[0].event_id.is_some());
    if f.malformed_detail {
        assert_eq!(
            res.entries[1].error_code.as_deref(),
            Some("MalformedDetail")
        );
    }
    assert_eq!(
        res.entries[2].error_code.as_deref(),
        Some("InvalidArgument")
    );

    let q = b
        .create_test_queue(&format!("{prefix}-route-q"))
        .await
        .unwrap();
    let rules: &[(&str, &str)] = if f.disabled_rules {
        &[("on", "ENABLED"), ("off", "DISABLED")]
    } else {
        &[("on", "ENABLED")]
    };
    for &(name, state) in rules {
        let rule = format!("{prefix}-{name}");
        b.put_rule(PutRuleRequest {
            name: rule.clone(),
            event_pattern: Some(format!(
                r#"{{"source": ["{prefix}.src"], "detail": {{"rule": ["{name}"]}}}}"#
            )),
            state: Some(state.into()),
            event_bus_name: Some(bus.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        b.put_targets(PutTargetsRequest {
            rule,
            event_bus_name: Some(bus.clone()),
            targets: vec![Target {
                id: "q".into(),
                arn: q.clone(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    }
    let src = format!("{prefix}.src");
    let res = b
        .put_events(PutEventsRequest {
            entries: vec![
                entry(
                    &bus,
                    &src,
                    r#"{"rule": "on", "n": 1}"#,
                    Some(Timestamp::from_secs(1_700_000_000)),
                ),
                entry(&bus, &src, r#"{"rule": "off", "n": 2}"#, None),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(res.failed_entry_count, 0);
    let got = collect(b, &q, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["version"], "0");
    assert_eq!(e["id"].as_str(), res.entries[0].event_id.as_deref());
    assert_eq!(e["detail-type"], "task-status");
    assert_eq!(e["source"], src.as_str());
    if f.envelope_account {
        assert_eq!(e["account"], b.account().as_str());
    }
    assert_eq!(e["region"], b.region().as_str());
    assert_eq!(e["time"], "2023-11-14T22:13:20Z");
    assert_eq!(e["resources"][0], "arn:aws:example:::thing/1");
    assert_eq!(e["detail"]["n"], 1);
    assert!(
        collect(b, &q, 1, Duration::from_secs(2)).await.is_empty(),
        "a disabled rule delivers nothing, nor does an unmatched event"
    );
}

/// The seed's cycle: archive retry events, replay a window into a queue with
/// FilterArns, skip disabled rules, never re-archive, refuse bad replays.
pub async fn check_archive_and_replay<B: EventBus + ?Sized>(b: &B, prefix: &str) {
    check_archive_and_replay_with(b, prefix, Fidelity::AWS).await
}

/// [`check_archive_and_replay`] for a backend of fidelity `f`: without
/// replay semantics only the archive, StartReplay's validation, the
/// replay's delivery (`replay-name`, each event once) and no re-archiving
/// are checked.
pub async fn check_archive_and_replay_with<B: EventBus + ?Sized>(b: &B, prefix: &str, f: Fidelity) {
    let bus = format!("{prefix}-arc-bus");
    let bus_arn = b
        .create_event_bus(CreateEventBusRequest {
            name: bus.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .event_bus_arn;
    let archive = format!("{prefix}-arc");
    let src = format!("{prefix}.mediator");
    let created = b
        .create_archive(CreateArchiveRequest {
            archive_name: archive.clone(),
            event_source_arn: bus_arn.clone(),
            event_pattern: Some(format!(
                r#"{{"source": ["{src}"], "detail": {{"status": ["retry"]}}}}"#
            )),
            retention_days: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    let archive_arn = created.archive_arn.clone().unwrap();
    assert_eq!(
        archive_arn,
        format!(
            "arn:aws:events:{}:{}:archive/{archive}",
            b.region(),
            b.account()
        )
    );
    assert_eq!(
        code(
            b.create_archive(CreateArchiveRequest {
                archive_name: archive.clone(),
                event_source_arn: bus_arn.clone(),
                ..Default::default()
            })
            .await
        ),
        "ResourceAlreadyExistsException"
    );

    // Rules: "resubmit" (replays only, FilterArns), "other" (not in FilterArns), "disabled".
    let q = b
        .create_test_queue(&format!("{prefix}-arc-q"))
        .await
        .unwrap();
    let mut arns = Vec::new();
    let n_rules = if f.replay_semantics && f.disabled_rules {
        3
    } else {
        1
    };
    for (name, pattern, state) in [
        (
            "resubmit",
            format!(r#"{{"source": ["{src}"], "replay-name": [{{"prefix": "{prefix}"}}]}}"#),
            "ENABLED",
        ),
        (
            "other",
            format!(r#"{{"source": ["{src}"], "replay-name": [{{"exists": true}}]}}"#),
            "ENABLED",
        ),
        (
            "disabled",
            format!(r#"{{"source": ["{src}"]}}"#),
            "DISABLED",
        ),
    ]
    .into_iter()
    .take(n_rules)
    {
        let rule = format!("{prefix}-{name}");
        arns.push(
            b.put_rule(PutRuleRequest {
                name: rule.clone(),
                event_pattern: Some(pattern),
                state: Some(state.into()),
                event_bus_name: Some(bus.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .rule_arn,
        );
        b.put_targets(PutTargetsRequest {
            rule,
            event_bus_name: Some(bus.clone()),
            targets: vec![Target {
                id: name.into(),
                arn: q.clone(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    }

    // Events: 3 in the window, 2 before, 1 after, 1 that the archive's pattern refuses.
    let base = (Timestamp::now().0 / 60_000 - 30) * 60_000; // a whole minute, half an hour ago
    let at = |min: i64| Some(Timestamp(base + min * 60_000 + 5_000));
    let mut entries = Vec::new();
    for (i, (min, status)) in [
        (-5, "retry"),
        (-1, "retry"),
        (0, "retry"),
        (2, "retry"),
        (4, "retry"),
        (6, "retry"),
        (3, "submitted"),
    ]
    .into_iter()
    .enumerate()
    {
        entries.push(entry(
            &bus,
            &src,
            &format!(r#"{{"status": "{status}", "n": {i}}}"#),
            at(min),
        ));
    }
    assert_eq!(
        b.put_events(PutEventsRequest {
            entries,
            ..Default::default()
        })
        .await
        .unwrap()
        .failed_entry_count,
        0
    );
    assert!(
        collect(b, &q, 1, Duration::from_secs(2)).await.is_empty(),
        "live events match no enabled rule"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let a = b.describe_archive(&archive).await.unwrap();
        if a.event_count == Some(6) {
            assert!(!f.archive_size || a.size_bytes.unwrap_or(0) > 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "archive never counted 6 events: {a:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let window = (Timestamp(base), Timestamp(base + 5 * 60_000)); // minutes 0..5: n = 2, 3, 4
    let replay = |name: &str, start: Timestamp, end: Timestamp, dest: &str| StartReplayRequest {
        replay_name: name.into(),
        event_source_arn: archive_arn.clone(),
        event_start_time: Some(start),
        event_end_time: Some(end),
        destination: ReplayDestination {
            arn: dest.into(),
            filter_arns: Some(if arns.len() == 3 {
                vec![arns[0].clone(), arns[2].clone()]
            } else {
                vec![arns[0].clone()]
            }),
        },
        ..Default::default()
    };
    let name = format!("{prefix}-replay-1");
    assert_eq!(
        code(
            b.start_replay(replay(&name, window.1, window.0, &bus_arn))
                .await
        ),
        "ValidationException"
    );
    let other_bus = format!(
        "arn:aws:events:{}:{}:event-bus/default",
        b.region(),
        b.account()
    );
    assert_eq!(
        code(
            b.start_replay(replay(&name, window.0, window.1, &other_bus))
                .await
        ),
        "ValidationException"
    );
    let started = b
        .start_replay(replay(&name, window.0, window.1, &bus_arn))
        .await
        .unwrap();
    assert_eq!(
        started.replay_arn.as_deref(),
        Some(
            format!(
                "arn:aws:events:{}:{}:replay/{name}",
                b.region(),
                b.account()
            )
            .as_str()
        )
    );
    assert_eq!(started.state, "STARTING");
    assert_eq!(
        code(
            b.start_replay(replay(&name, window.0, window.1, &bus_arn))
                .await
        ),
        "ResourceAlreadyExistsException"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let done = loop {
        let r = b.describe_replay(&name).await.unwrap();
        if !matches!(r.state.as_str(), "STARTING" | "RUNNING") {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay never finished: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done.state, "COMPLETED", "{done:?}");
    if f.replay_semantics {
        assert_eq!(done.event_last_replayed_time, Some(window.1));
    }
    assert!(done.replay_end_time.is_some());

    let got = collect(b, &q, 3, Duration::from_secs(30)).await;
    let mut ns: Vec<i64> = got
        .iter()
        .map(|e| e["detail"]["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    if f.replay_semantics {
        assert_eq!(
            ns,
            [2, 3, 4],
            "only in-window events, once each, only via the FilterArns rule: {got:?}"
        );
    } else {
        let mut once = ns.clone();
        once.dedup();
        assert_eq!(once, ns, "each archived event delivered once: {got:?}");
        assert!(
            [2, 3, 4].iter().all(|n| ns.contains(n)),
            "the window's events are replayed: {got:?}"
        );
        assert!(!ns.contains(&6), "the archive holds only retry events");
    }
    assert!(got.iter().all(|e| e["replay-name"] == name.as_str()));
    assert!(collect(b, &q, 1, Duration::from_secs(2)).await.is_empty());
    assert_eq!(
        b.describe_archive(&archive).await.unwrap().event_count,
        Some(6),
        "replays are not re-archived"
    );

    if f.replay_semantics {
        assert_eq!(code(b.cancel_replay(&name).await), "IllegalStatusException");
        let listed = b
            .list_replays(ListRequest {
                name_prefix: Some(format!("{prefix}-replay")),
                state: Some("COMPLETED".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.replays.len(), 1);
    }
    assert_eq!(
        code(b.describe_replay(&format!("{prefix}-nope")).await),
        "ResourceNotFoundException"
    );

    // Cancel right after the start: STARTING → CANCELLING → CANCELLED.
    let name2 = format!("{prefix}-replay-2");
    b.start_replay(replay(&name2, window.0, window.1, &bus_arn))
        .await
        .unwrap();
    match b.cancel_replay(&name2).await {
        Ok(r) => assert_eq!(r.state, "CANCELLING"),
        Err(e) => assert_eq!(
            e,
            BusError::IllegalStatus(e.message()),
            "only a finished replay may refuse"
        ),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let r = b.describe_replay(&name2).await.unwrap();
        if matches!(r.state.as_str(), "CANCELLED" | "COMPLETED") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cancel never finished: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.purge(&q).await;
}

#[async_trait]
trait Purge {
    async fn purge(&self, q: &str);
}

#[async_trait]
impl<B: EventBus + ?Sized> Purge for B {
    async fn purge(&self, q: &str) {
        while !self
            .drain_test_queue(q, 10, Duration::from_millis(100))
            .await
            .unwrap_or_default()
            .is_empty()
        {}
    }
}
