//! The console's controls of a part's card and replay dialog: its server
//! functions call the same commands as the JSON API (one role check, one
//! audit entry), ask a reason, and say who acted — against the real
//! server on loopback.

use crate::auth::{admin_token, audit, find, local_app, raw_client, sign_in};
use crate::common::{spawn_app, TestApp};

use chrono::{DateTime, Utc};
use leptos::server_fn::ServerFn;
use mediator_core::access::Role;
use serde_json::{json, Value};

/// The field an `ApiError::Invalid` answer names.
fn invalid_field(body: &Value) -> &str {
    body["Invalid"]["field"].as_str().unwrap_or_default()
}

/// The window of the last `minutes` minutes, as the dialog's fields give it.
fn last_minutes(minutes: i64) -> (String, String) {
    let now = Utc::now();
    (
        (now - chrono::Duration::minutes(minutes)).to_rfc3339(),
        now.to_rfc3339(),
    )
}

#[tokio::test]
async fn the_cards_override_controls_need_an_operator_and_a_reason_and_are_audited() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("olga", Role::Operator, "olga-password")
        .await
        .unwrap();
    access
        .add_user("val", Role::Viewer, "val-password")
        .await
        .unwrap();
    let olga = sign_in(&app, "olga", "olga-password", &[]).await;
    let val = sign_in(&app, "val", "val-password", &[]).await;
    let path = app::api::overrides::SetOverride::PATH;
    let set = |mode: &'static str, reason: &'static str| {
        [
            ("part", "points"),
            ("mode", mode),
            ("reason", reason),
            ("by", "someone-else"),
        ]
    };

    // A viewer is refused, naming the role, and the refusal is audited.
    let (status, body) = val.call(&app, path, &set("force_open", "r")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["Forbidden"]["required"], "operator", "{body}");
    // Every change needs a reason, clearing too: the error names `reason`.
    for mode in ["force_open", "none"] {
        let (status, body) = olga.call(&app, path, &set(mode, "  ")).await;
        assert_eq!(status, 422, "{mode}: {body}");
        assert_eq!(invalid_field(&body), "reason", "{mode}: {body}");
    }
    let before = Utc::now();
    let (status, body) = olga
        .call(&app, path, &set("force_open", "vendor maintenance"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["circuit"], "open");
    assert_eq!(body["override"]["by"], "olga", "signed in, the user acts");

    // The card's read (and the JSON API's) says who, when and why.
    let (status, parts) = val.get(&app, "/api/v1/parts").await;
    assert_eq!(status, 200);
    let points = parts["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "points")
        .unwrap();
    let o = &points["override"];
    assert_eq!(
        (&o["mode"], &o["by"]),
        (&json!("force_open"), &json!("olga"))
    );
    assert_eq!(o["reason"], "vendor maintenance");
    let at: DateTime<Utc> = o["at"].as_str().unwrap().parse().unwrap();
    assert!(
        at >= before - chrono::Duration::seconds(1) && at <= Utc::now(),
        "{at}"
    );
    assert_eq!(points["circuit"], "open");

    let (status, body) = olga.call(&app, path, &set("none", "vendor is back")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["override"], Value::Null);

    // The JSON API's own rule is unchanged: a reason for setting one.
    let (status, body) = olga
        .post(
            &app,
            "/api/v1/parts/points/override",
            &json!({"mode": "disabled"}),
            true,
        )
        .await;
    assert_eq!((status, &body["field"]), (422, &json!("reason")), "{body}");

    let entries = audit(&app, &token).await;
    let denied = find(&entries, "override.set", "denied");
    assert_eq!(
        (&denied["actor"], &denied["target"]),
        (&json!("val"), &json!("points"))
    );
    let ok = find(&entries, "override.set", "ok");
    assert_eq!(
        (
            &ok["actor"],
            &ok["via"],
            &ok["target"],
            &ok["reason"],
            &ok["detail"]["mode"]
        ),
        (
            &json!("olga"),
            &json!("session"),
            &json!("points"),
            &json!("vendor maintenance"),
            &json!("force_open")
        )
    );
    let cleared = find(&entries, "override.clear", "ok");
    assert_eq!(
        (&cleared["actor"], &cleared["reason"]),
        (&json!("olga"), &json!("vendor is back"))
    );
    // The refused changes are audited as failed, naming the field.
    let failed = find(&entries, "override.clear", "failed");
    assert!(
        failed["detail"]["error"]
            .as_str()
            .unwrap()
            .starts_with("reason:"),
        "{failed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_replay_from_the_console_needs_an_operator_and_a_reason_and_audits_it() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("olga", Role::Operator, "olga-password")
        .await
        .unwrap();
    access
        .add_user("val", Role::Viewer, "val-password")
        .await
        .unwrap();
    let olga = sign_in(&app, "olga", "olga-password", &[]).await;
    let val = sign_in(&app, "val", "val-password", &[]).await;
    let path = app::api::replays::StartReplay::PATH;
    let (start, end) = last_minutes(10);
    // Signed in, the dialog sends no `by`: the user starts it.
    let form = |reason| {
        [
            ("part", "member"),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("by", ""),
            ("reason", reason),
        ]
    };

    let (status, body) = val.call(&app, path, &form("")).await;
    assert_eq!(status, 403, "the role comes first: {body}");
    assert_eq!(body["Forbidden"]["required"], "operator");
    let (status, body) = olga.call(&app, path, &form(" ")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(invalid_field(&body), "reason", "{body}");
    let (status, replay) = olga.call(&app, path, &form("member vouchers held")).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["by"], "olga");
    let name = replay["name"].as_str().unwrap().to_owned();
    // The dialog's view carries the replay's cursor field.
    assert!(
        replay.as_object().unwrap().contains_key("cursor"),
        "{replay}"
    );

    // The dialog's Cancel is the Replays page's: the cancel command.
    let (status, body) = olga
        .call(
            &app,
            app::api::replays::CancelReplay::PATH,
            &[("name", name.as_str())],
        )
        .await;
    assert!(status == 200 || status == 409, "{status} {body}");

    let entries = audit(&app, &token).await;
    find(&entries, "replay.start", "denied");
    let failed = find(&entries, "replay.start", "failed");
    assert!(
        failed["detail"]["error"]
            .as_str()
            .unwrap()
            .starts_with("reason:"),
        "{failed}"
    );
    let started = find(&entries, "replay.start", "ok");
    assert_eq!(
        (
            &started["actor"],
            &started["target"],
            &started["reason"],
            &started["detail"]["replay"]
        ),
        (
            &json!("olga"),
            &json!("member"),
            &json!("member vouchers held"),
            &json!(name)
        )
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "replay.cancel" && e["target"] == name.as_str()),
        "the cancel is audited"
    );
    app.stop().await;
}

/// A console server function called as the console does with sign-in off.
async fn open_call(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = raw_client()
        .post(app.url(path))
        .header("x-csrf-token", "1")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn with_sign_in_off_the_console_asks_who_acts() {
    let app = spawn_app().await;
    let path = app::api::overrides::SetOverride::PATH;
    let form = |by: &'static str| {
        [
            ("part", "voucher"),
            ("mode", "force_closed"),
            ("reason", "vendor says it is fine"),
            ("by", by),
        ]
    };
    let (status, body) = open_call(&app, path, &form("")).await;
    assert_eq!((status, invalid_field(&body)), (422, "by"), "{body}");
    let (status, body) = open_call(&app, path, &form("ann")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["override"]["by"], &body["override"]["reason"]),
        (&json!("ann"), &json!("vendor says it is fine"))
    );
    let (start, end) = last_minutes(5);
    let replay = [
        ("part", "voucher"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("by", " "),
        ("reason", "check"),
    ];
    let (status, body) = open_call(&app, app::api::replays::StartReplay::PATH, &replay).await;
    assert_eq!((status, invalid_field(&body)), (422, "by"), "{body}");
    app.stop().await;
}
