//! Input hardening over real HTTP on loopback: security headers, body
//! limits (each refusal a 4xx naming the field), the EventBridge wire API's
//! loopback default and its SigV4 checking, driven by the real AWS SDK
//! signing with right and wrong keys.

use crate::common;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use common::{spawn_app, spawn_app_with, voucher};
use serde_json::{json, Value};
use server::config::ServeArgs;
use server::Settings;

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn console_pages_carry_a_nonce_csp_and_every_response_the_common_headers() {
    let app = spawn_app_with(|a| a.frame_ancestors = Some("http://127.0.0.1:4001".into())).await;

    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let csp = header(&res, "content-security-policy").to_owned();
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert_eq!(header(&res, "referrer-policy"), "same-origin");
    let html = res.text().await.unwrap();
    // The policy's nonce is the one on the page's inline scripts, and no
    // inline script goes without it.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    let scripts = html.matches("<script").count();
    assert!(scripts >= 2, "theme and hydration scripts: {html}");
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every inline script carries the nonce: {html}"
    );
    // A second render gets another nonce.
    let again = app.get("/").await;
    assert_ne!(header(&again, "content-security-policy"), csp);

    // JSON and the rest: the fallback policy, never framed.
    for path in ["/api/v1/parts", "/healthz", "/favicon.svg"] {
        let res = app.get(path).await;
        assert_eq!(
            header(&res, "content-security-policy"),
            server::security::FALLBACK_CSP,
            "{path}"
        );
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&res, "referrer-policy"), "same-origin", "{path}");
    }

    // The embeds: framed by the allow-list only, same common headers.
    let res = app.get("/embed/status").await;
    assert_eq!(res.status(), 200);
    let csp = header(&res, "content-security-policy");
    assert!(
        csp.ends_with("frame-ancestors 'self' http://127.0.0.1:4001"),
        "{csp}"
    );
    assert!(res.headers().get("x-frame-options").is_none());
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    app.stop().await;
}

#[tokio::test]
async fn oversized_or_mistyped_bodies_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/vouchers");

    // Over the API's body limit: 413 naming body.
    let mut big = voucher("big-1");
    big["payload"] = json!({ "blob": "x".repeat(300 * 1024) });
    let res = app.client.post(&url).json(&big).send().await.unwrap();
    assert_eq!(res.status(), 413);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["field"], "body", "{j}");
    assert!(j["error"].as_str().unwrap().contains("262144 bytes"), "{j}");

    // Under the body limit, over the payload's: 422 naming payload.
    let mut large = voucher("big-2");
    large["payload"] = json!({ "blob": "x".repeat(70 * 1024) });
    let (code, j) = app.post("/api/v1/vouchers", &large).await;
    assert_eq!((code, j["field"].clone()), (422, json!("payload")), "{j}");

    // Not JSON: 415 naming content-type; broken JSON: 400 naming body.
    let res = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(voucher("t-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["field"], "content-type", "{j}");
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"part\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["field"], "body", "{j}");

    // Anywhere else on the listener (server functions too): 1 MiB at most.
    let res = app
        .client
        .post(app.url("/api/some_server_fn"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["field"], "body", "{j}");

    // Keys and lists are bounded too.
    let mut long = voucher("k");
    long["loyalty_reference"] = json!("r".repeat(300));
    let (code, j) = app.post("/api/v1/vouchers", &long).await;
    assert_eq!(
        (code, j["field"].clone()),
        (422, json!("loyalty_reference")),
        "{j}"
    );
    for (path, field) in [
        ("/api/v1/vouchers?ref=x&limit=1000", "limit"),
        ("/api/v1/dlq?limit=100000", "limit"),
        ("/api/v1/incidents?limit=5000", "limit"),
        ("/api/v1/parts/voucher/timeline?days=1000", "days"),
    ] {
        let (code, j) = app.get_json(path).await;
        assert_eq!(
            (code, j["field"].clone()),
            (422, json!(field)),
            "{path}: {j}"
        );
    }
    // A replay window longer than the archive's retention.
    let (code, j) = app
        .post(
            "/api/v1/replays",
            &json!({"part": "voucher", "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(code, 422, "{j}");
    assert!(j["field"].is_string(), "{j}");

    // The wire API: over 1 MiB is a 413 in AWS's error shape, naming body.
    let res = app
        .client
        .post(format!("http://{}/", app.events_addr))
        .header("x-amz-target", "AWSEvents.PutEvents")
        .header("content-type", "application/x-amz-json-1.1")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["__type"], "ValidationException", "{j}");
    assert!(j["message"].as_str().unwrap().starts_with("body:"), "{j}");
    // An oversized pattern: AWS's InvalidEventPatternException, a 400.
    let pattern = json!({ "source": ["x".repeat(5000)] }).to_string();
    let res = app
        .client
        .post(format!("http://{}/", app.events_addr))
        .header("x-amz-target", "AWSEvents.TestEventPattern")
        .header("content-type", "application/x-amz-json-1.1")
        .body(json!({"EventPattern": pattern, "Event": "{}"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let j: Value = res.json().await.unwrap();
    assert!(j["__type"].as_str().unwrap().ends_with("Exception"), "{j}");
    app.stop().await;
}

#[test]
fn the_wire_api_listens_beyond_loopback_only_when_asked() {
    let args = |allow: bool| ServeArgs {
        events_listen: Some("0.0.0.0:4010".parse().unwrap()),
        events_allow_remote: allow,
        ..Default::default()
    };
    let err = Settings::resolve(args(false)).unwrap_err().to_string();
    assert!(
        err.starts_with("events_listen: 0.0.0.0:4010 is not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--events-allow-remote"), "{err}");
    // Asked for, but without keys anyone reaching it could change rules.
    let err = Settings::resolve(args(true)).unwrap_err().to_string();
    assert!(
        err.starts_with("events_access_keys: required when events_listen (0.0.0.0:4010)"),
        "{err}"
    );
    let s = Settings::resolve(ServeArgs {
        events_access_keys: Some("AKID1:s3cret".into()),
        ..args(true)
    })
    .unwrap();
    assert!(s.events_allow_remote);
    // The default stays on loopback.
    let s = Settings::resolve(ServeArgs::default()).unwrap();
    assert!(s.events_listen.ip().is_loopback());
    // Keys are checked and never printed.
    let err = Settings::resolve(ServeArgs {
        events_access_keys: Some("AKID1:s3cret,broken".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "events_access_keys: pair 2 is not ACCESS_KEY_ID:SECRET"
    );
    let s = Settings::resolve(ServeArgs {
        events_access_keys: Some("AKID1:s3cret".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(!format!("{s:?}").contains("s3cret"));
}

#[tokio::test]
async fn sigv4_signatures_are_checked_against_the_configured_keys() {
    let app = spawn_app_with(|a| {
        a.events_access_keys = Some("AKIDMEDIATOR1:right-secret,AKIDOTHER:other".into())
    })
    .await;
    let endpoint = format!("http://{}", app.events_addr);

    // The right key: every call works, PutEvents included.
    let good = common::eventbridge_client(&endpoint, "AKIDMEDIATOR1", "right-secret").await;
    let buses = good.list_event_buses().send().await.expect("signed call");
    assert!(buses
        .event_buses()
        .iter()
        .any(|b| b.name() == Some("loyalty-bus")));
    let out = good
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name("loyalty-bus")
                .source("test")
                .detail_type("t")
                .detail("{\"a\":1}")
                .build(),
        )
        .send()
        .await
        .expect("signed PutEvents");
    assert_eq!(out.failed_entry_count(), 0);
    let other = common::eventbridge_client(&endpoint, "AKIDOTHER", "other").await;
    other.list_event_buses().send().await.expect("second key");

    // A wrong secret, an unknown key.
    for (id, secret, code) in [
        ("AKIDMEDIATOR1", "wrong-secret", "InvalidSignatureException"),
        ("AKIDUNKNOWN", "right-secret", "UnrecognizedClientException"),
    ] {
        let client = common::eventbridge_client(&endpoint, id, secret).await;
        let err = client
            .list_event_buses()
            .send()
            .await
            .expect_err("refused")
            .into_service_error();
        assert_eq!(err.code(), Some(code), "{id}: {err:?}");
        let err = client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name("loyalty-bus")
                    .source("test")
                    .detail_type("t")
                    .detail("{}")
                    .build(),
            )
            .send()
            .await
            .expect_err("refused")
            .into_service_error();
        assert_eq!(err.code(), Some(code), "{id}: {err:?}");
    }

    // Unsigned: 403 in AWS's shape.
    let res = app
        .client
        .post(format!("{endpoint}/"))
        .header("x-amz-target", "AWSEvents.ListEventBuses")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["__type"], "MissingAuthenticationTokenException", "{j}");
    assert!(
        j["message"].as_str().unwrap().starts_with("Authorization:"),
        "{j}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_timeline_zoom_with_multi_byte_characters_renders() {
    let app = spawn_app().await;
    for at in [
        "2026-11-26%C3%A910",
        "2026-11-2%C3%A9",
        "%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/timeline?at={at}")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        // Not a day or an hour: the page renders and says so.
        let html = res.text().await.unwrap();
        assert!(html.contains("at: must be"), "{at}: {html}");
    }
}

/// Posts `ListEventBuses` to the wire API with extra headers; status and
/// JSON body.
async fn wire_call(app: &common::TestApp, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("http://{}/", app.events_addr))
        .header("x-amz-target", "AWSEvents.ListEventBuses")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_wire_api_refuses_browsers_and_foreign_host_names() {
    let app = spawn_app_with(|a| a.events_allowed_hosts = Some("Mediator.Internal".into())).await;
    let port = app.events_addr.port();
    // What a web page's fetch carries: refused in AWS's shape.
    for h in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "no-cors"),
    ] {
        let (status, j) = wire_call(&app, &[h]).await;
        assert_eq!(status, 403, "{h:?}: {j}");
        assert_eq!(j["__type"], "AccessDeniedException", "{h:?}: {j}");
        assert!(j["message"].as_str().unwrap().starts_with(h.0), "{j}");
    }
    // A DNS-rebinding page sends its own name.
    let evil = format!("evil.example:{port}");
    let (status, j) = wire_call(&app, &[("host", &evil)]).await;
    assert_eq!(status, 403, "{j}");
    assert_eq!(j["__type"], "AccessDeniedException", "{j}");
    assert!(j["message"].as_str().unwrap().starts_with("Host:"), "{j}");
    // Loopback names, the listen address and the allowed names work.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "mediator.internal".to_string(),
        format!("MEDIATOR.internal.:{port}"),
    ] {
        let (status, j) = wire_call(&app, &[("host", &host)]).await;
        assert_eq!(status, 200, "{host}: {j}");
    }
    // Bad names are refused at start, naming the field.
    let err = Settings::resolve(ServeArgs {
        events_allowed_hosts: Some("https://x.example/".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("events_allowed_hosts: "), "{err}");
    app.stop().await;
}
