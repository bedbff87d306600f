//! The command layer's role check, policy and audit, on the services built
//! from the SQLite ports, with a fake bus (moved from mediator-core's unit
//! tests, assertions unchanged).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use store::Database;

use mediator_core::access::{Principal, Role, Via};
use mediator_core::audit::Audit;
use mediator_core::commands::overrides::OverrideChange;
use mediator_core::commands::replays::{ReplayAsk, StartReplay};
use mediator_core::commands::vouchers::Submission;
use mediator_core::commands::*;
use mediator_core::recovery::{
    ArchiveReplays, Recovery, RecoverySettings, ReplayError, ReplayInfo, ReplayRequest,
    FUTURE_TOLERANCE,
};
use mediator_core::{AuditEntry, OverrideRequest, Overrides, PartName, SubmissionFlow};

use crate::support;

/// How far in the future a window may end.
fn tolerance() -> chrono::Duration {
    chrono::Duration::from_std(FUTURE_TOLERANCE).unwrap()
}

/// Records the replays started and cancelled.
#[derive(Default)]
struct FakeBus {
    started: Mutex<Vec<ReplayRequest>>,
    cancelled: Mutex<Vec<String>>,
}

#[async_trait]
impl ArchiveReplays for FakeBus {
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
        self.started.lock().unwrap().push(req.clone());
        Ok(())
    }
    async fn describe_replay(&self, _name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        Ok(None)
    }
    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
        self.cancelled.lock().unwrap().push(name.to_owned());
        Ok(())
    }
    async fn count_archived(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<i64, ReplayError> {
        Ok(0)
    }
}

struct Services {
    _tmp: tempfile::TempDir,
    flow: Arc<SubmissionFlow>,
    recovery: Recovery,
    overrides: Overrides,
    audit: Audit,
    bus: Arc<FakeBus>,
}

fn services() -> Services {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = Arc::new(support::flow(
        db.clone(),
        Arc::new(support::AcceptAll),
        PartName::defaults(),
        Duration::from_secs(1),
    ));
    let bus = Arc::new(FakeBus::default());
    let recovery = support::recovery(
        db.clone(),
        flow.clone(),
        bus.clone(),
        RecoverySettings::default(),
    );
    Services {
        _tmp: tmp,
        overrides: support::overrides(db.clone(), PartName::defaults()),
        audit: support::audit(db),
        flow,
        recovery,
        bus,
    }
}

fn principal(name: &str, role: Role, via: Via) -> Principal {
    Principal {
        name: name.into(),
        role,
        via,
        csrf: None,
    }
}

fn viewer() -> Principal {
    principal("val", Role::Viewer, Via::Session)
}

fn operator() -> Principal {
    principal("olga", Role::Operator, Via::Session)
}

fn voucher(id: &str) -> Value {
    json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
           "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}})
}

fn ask(part: &str, start: Value, end: Value) -> ReplayAsk {
    ReplayAsk {
        part: part.into(),
        reason: Some("missed vouchers".into()),
        start,
        end,
    }
}

fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<StartReplay, CommandError> {
    Ok(StartReplay {
        window: Some((start, end)),
        by: "someone-else".into(),
    })
}

fn force_open(part: &str) -> OverrideChange {
    let body = json!({"mode": "force_open", "reason": "vendor maintenance", "by": "someone-else"});
    OverrideChange {
        part: part.into(),
        mode: "force_open".into(),
        reason: Some("vendor maintenance".into()),
        request: OverrideRequest::parse(&body).map_err(CommandError::from),
    }
}

/// The audit log, oldest first.
async fn entries(audit: &Audit) -> Vec<AuditEntry> {
    let mut e = audit.newest(None, 100).await.unwrap();
    e.reverse();
    e
}

#[tokio::test]
async fn a_viewer_is_refused_every_command_before_its_request_and_each_refusal_is_audited() {
    let s = services();
    let val = viewer();
    let now = Utc::now();
    let forbidden = |r: Result<(), CommandError>, what: &str| {
        assert_eq!(
            r,
            Err(CommandError::Forbidden {
                required: Role::Operator,
                reason: "requires the operator role (val is viewer)".into(),
            }),
            "{what}"
        );
    };
    forbidden(
        vouchers::submit(
            &s.flow,
            &s.audit,
            &val,
            Submission::console("v-1", "voucher", Ok(voucher("v-1"))),
        )
        .await
        .map(drop),
        "submit",
    );
    forbidden(
        vouchers::redrive(&s.flow, &s.recovery, &s.audit, &val, "v-1")
            .await
            .map(drop),
        "redrive",
    );
    // An invalid request: the role is still what the viewer hears about.
    forbidden(
        replays::start(
            &s.recovery,
            &s.audit,
            &val,
            ask("voucher", json!(null), json!(null)),
            Err(CommandError::invalid("start", "must be an RFC 3339 time")),
        )
        .await
        .map(drop),
        "start with a bad request",
    );
    forbidden(
        replays::start(
            &s.recovery,
            &s.audit,
            &val,
            ask("voucher", json!(null), json!(null)),
            window(now - chrono::Duration::minutes(10), now),
        )
        .await
        .map(drop),
        "start",
    );
    forbidden(
        replays::cancel(&s.recovery, &s.audit, &val, "R1")
            .await
            .map(drop),
        "cancel",
    );
    forbidden(
        overrides::set(&s.overrides, &s.audit, &val, force_open("voucher"))
            .await
            .map(drop),
        "override",
    );

    // Nothing was done…
    assert!(s.flow.cache().get("v-1").await.unwrap().is_none());
    assert!(s.bus.started.lock().unwrap().is_empty());
    assert!(s.bus.cancelled.lock().unwrap().is_empty());
    assert!(s.overrides.all().await.unwrap().is_empty());
    // …and every refusal is in the audit log, naming the role.
    let audited: Vec<(String, Option<String>, String, Option<Value>)> = entries(&s.audit)
        .await
        .into_iter()
        .map(|e| (e.actor, e.target, e.outcome, e.detail))
        .collect();
    let denied = |target: &str| {
        (
            "val".to_string(),
            Some(target.to_string()),
            "denied".to_string(),
            Some(json!({"required_role": "operator"})),
        )
    };
    assert_eq!(
        audited,
        [
            denied("v-1"),
            denied("v-1"),
            denied("voucher"),
            denied("voucher"),
            denied("R1"),
            denied("voucher"),
        ]
    );
    let actions: Vec<String> = entries(&s.audit)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "voucher.submit",
            "dlq.redrive",
            "replay.start",
            "replay.start",
            "replay.cancel",
            "override.set"
        ]
    );
}

#[tokio::test]
async fn an_operator_acts_as_themselves_and_each_action_is_audited() {
    let s = services();
    let olga = operator();
    let now = Utc::now();

    let set = overrides::set(&s.overrides, &s.audit, &olga, force_open("voucher"))
        .await
        .unwrap();
    let current = set.current.expect("override in force");
    assert_eq!(current.by.as_deref(), Some("olga"), "signed in: the user");
    assert!(!set.closed, "forced open");
    let (start, end) = (now - chrono::Duration::minutes(10), now);
    let replay = replays::start(
        &s.recovery,
        &s.audit,
        &olga,
        ask("voucher", json!(start), json!(end)),
        window(start, end),
    )
    .await
    .unwrap();
    assert_eq!(replay.by.as_deref(), Some("olga"), "signed in: the user");
    assert_eq!(s.bus.started.lock().unwrap().len(), 1);
    replays::cancel(&s.recovery, &s.audit, &olga, &replay.name)
        .await
        .unwrap();
    assert_eq!(*s.bus.cancelled.lock().unwrap(), vec![replay.name.clone()]);
    let console = vouchers::submit(
        &s.flow,
        &s.audit,
        &olga,
        Submission::console(" v-1 ", "voucher", Ok(voucher("v-1"))),
    )
    .await
    .unwrap();
    assert!(!console.duplicate);
    let api = vouchers::submit(
        &s.flow,
        &s.audit,
        &olga,
        Submission::api(Ok(voucher("v-2"))),
    )
    .await
    .unwrap();
    assert!(!api.duplicate);
    let unknown = vouchers::redrive(&s.flow, &s.recovery, &s.audit, &olga, "nope").await;
    assert_eq!(
        unknown,
        Err(CommandError::not_found("voucher \"nope\" not found"))
    );

    let log = entries(&s.audit).await;
    let facts: Vec<(&str, Option<&str>, Option<&str>, &str)> = log
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.target.as_deref(),
                e.reason.as_deref(),
                e.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            (
                "override.set",
                Some("voucher"),
                Some("vendor maintenance"),
                "ok"
            ),
            (
                "replay.start",
                Some("voucher"),
                Some("missed vouchers"),
                "ok"
            ),
            ("replay.cancel", Some(replay.name.as_str()), None, "ok"),
            // The console's submission is audited; the API's machine traffic is not.
            ("voucher.submit", Some("v-1"), None, "ok"),
            ("dlq.redrive", Some("nope"), None, "failed"),
        ]
    );
    assert!(log
        .iter()
        .all(|e| e.actor == "olga" && e.role.as_deref() == Some("operator") && e.via == "session"));
    assert_eq!(log[0].detail, Some(json!({"mode": "force_open"})));
    assert_eq!(
        log[1].detail,
        Some(json!({
            "replay": replay.name,
            "window_start": replay.window_start,
            "window_end": replay.window_end,
        }))
    );
    assert_eq!(log[2].detail, None);
    assert_eq!(
        log[3].detail,
        Some(json!({"part": "voucher", "duplicate": false}))
    );
    assert_eq!(
        log[4].detail,
        Some(json!({"error": "voucher \"nope\" not found"}))
    );
}

#[tokio::test]
async fn a_replay_window_is_checked_once_and_what_was_asked_is_audited() {
    let s = services();
    // Sign-in off: the request's `by` is taken.
    let open = Principal::open();
    let now = Utc::now();
    let past_tolerance = now + tolerance() + chrono::Duration::seconds(30);
    let refused = replays::start(
        &s.recovery,
        &s.audit,
        &open,
        ask("voucher", json!("asked start"), json!("asked end")),
        window(now - chrono::Duration::minutes(10), past_tolerance),
    )
    .await;
    assert_eq!(
        refused,
        Err(CommandError::invalid("end", "must not be in the future"))
    );
    let bad_request = replays::start(
        &s.recovery,
        &s.audit,
        &open,
        ask("voucher", json!(7), json!(null)),
        Err(CommandError::invalid("start", "must be a string")),
    )
    .await;
    assert_eq!(
        bad_request,
        Err(CommandError::invalid("start", "must be a string"))
    );
    assert!(s.bus.started.lock().unwrap().is_empty(), "nothing started");

    // The end the console proposes is within the tolerance: accepted.
    let proposed = replays::proposed_end(now + chrono::Duration::hours(1), now);
    assert_eq!(proposed, now + chrono::Duration::seconds(60));
    assert!(proposed < now + tolerance());
    let started = replays::start(
        &s.recovery,
        &s.audit,
        &open,
        ask("voucher", json!(null), json!(null)),
        window(now - chrono::Duration::minutes(10), proposed),
    )
    .await
    .unwrap();
    assert_eq!(started.by.as_deref(), Some("someone-else"));
    assert_eq!(
        replays::proposed_end(now - chrono::Duration::hours(1), now),
        now - chrono::Duration::hours(1),
        "an end in the past is kept"
    );

    let log = entries(&s.audit).await;
    let outcomes: Vec<(&str, Option<&Value>)> = log
        .iter()
        .map(|e| (e.outcome.as_str(), e.detail.as_ref()))
        .collect();
    assert_eq!(
        outcomes[..2],
        [
            (
                "failed",
                Some(&json!({"start": "asked start", "end": "asked end",
                              "error": "end: must not be in the future"}))
            ),
            (
                "failed",
                Some(&json!({"start": 7, "end": null, "error": "start: must be a string"}))
            ),
        ]
    );
    assert_eq!(log[2].outcome, "ok");
    assert_eq!(log[2].actor, "anonymous");
}

/// Records every span opened: its name and its fields as text.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", f.name(), v));
            }
        }
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields.0));
    }
}

/// Each command runs in a `command` span naming the action, its target and
/// the caller, so whatever it logs (and the storage calls under it) can be
/// traced back to who asked for what.
#[tokio::test(flavor = "current_thread")]
async fn each_command_runs_in_a_span_naming_action_target_and_caller() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let s = services();
    let olga = operator();
    overrides::set(&s.overrides, &s.audit, &olga, force_open("voucher"))
        .await
        .unwrap();
    let refused = vouchers::redrive(&s.flow, &s.recovery, &s.audit, &viewer(), "v-9").await;
    assert!(refused.is_err());
    let commands: Vec<String> = spans
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, _)| name == "command")
        .map(|(_, fields)| fields.trim().to_owned())
        .collect();
    assert_eq!(
        commands,
        [
            "action=\"override.set\" part=voucher caller=olga",
            "action=\"dlq.redrive\" voucher=\"v-9\" caller=val",
        ],
        "{commands:?}"
    );
}

/// A vendor whose `voucher` part answers as scripted (good when empty).
struct Vendor(Mutex<Vec<Result<(), String>>>);

#[async_trait]
impl mediator_core::HealthProbe for Vendor {
    async fn check(&self, _part: &str) -> Result<(), String> {
        self.0.lock().unwrap().pop().unwrap_or(Ok(()))
    }
}

#[tokio::test]
async fn checking_a_part_now_records_a_check_once_per_interval_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let parts: Vec<_> = PartName::defaults()
        .into_iter()
        .map(mediator_core::PartSettings::new)
        .collect();
    let probe = Arc::new(Vendor(Mutex::new(vec![Err("503 from vendor".into())])));
    let monitor = support::monitor(db.clone(), probe, parts.clone());
    support::board(db.clone(), parts.clone())
        .seed(Utc::now())
        .await
        .unwrap();
    let audit = support::audit(db.clone());

    let refused = parts::check_now(&monitor, &audit, &viewer(), "voucher").await;
    assert!(
        matches!(refused, Err(CommandError::Forbidden { .. })),
        "{refused:?}"
    );

    let rec = parts::check_now(&monitor, &audit, &operator(), "voucher")
        .await
        .unwrap();
    assert!(!rec.ok);
    assert_eq!(rec.error.as_deref(), Some("503 from vendor"));
    assert_eq!(rec.circuit.failures, 1, "it counts like a poll");

    let again = parts::check_now(&monitor, &audit, &operator(), "voucher").await;
    let Err(e) = again else {
        panic!("a second check at once is refused")
    };
    assert_eq!(e.http_status(), 429);
    assert_eq!(e.field(), Some("part"));
    let wait = e.retry_after_secs().unwrap();
    assert!((1..=5).contains(&wait), "retry after {wait} s");
    // Another part is not held back by the first one's interval.
    assert!(
        parts::check_now(&monitor, &audit, &operator(), "member")
            .await
            .unwrap()
            .ok
    );
    let unknown = parts::check_now(&monitor, &audit, &operator(), "loyalty").await;
    assert_eq!(unknown.unwrap_err().http_status(), 404);

    let log: Vec<_> = entries(&audit)
        .await
        .into_iter()
        .map(|e| (e.action, e.target.unwrap_or_default(), e.outcome))
        .collect();
    let row = |t: &str, o: &str| ("part.check".to_owned(), t.to_owned(), o.to_owned());
    assert_eq!(
        log,
        [
            row("voucher", "denied"),
            row("voucher", "ok"),
            row("voucher", "failed"),
            row("member", "ok"),
            row("loyalty", "failed"),
        ]
    );
}
