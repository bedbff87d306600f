//! The overview page's HTML cache (`server::pages::PageCache`), the
//! lazily resolved caller of public requests, and the status codes of the
//! console's server functions, against the real server on loopback.

use crate::auth::{raw_client, sign_in, Browser};
use crate::common;

use std::time::{Duration, Instant};

use common::{spawn_app, spawn_app_with};
use leptos::server_fn::ServerFn;
use mediator_core::access::{Access, Role};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE};
use serde_json::Value;
use server::config::AuthMode;

/// The nonce of a console page's CSP.
fn csp_nonce(res: &reqwest::Response) -> String {
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    csp.split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_owned()
}

/// `GET /`: the nonce and the body.
async fn overview(client: &reqwest::Client, url: &str, cookies: Option<&str>) -> (String, String) {
    let mut req = client.get(url);
    if let Some(c) = cookies {
        req = req.header(COOKIE, c);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let nonce = csp_nonce(&res);
    (nonce, res.text().await.unwrap())
}

#[tokio::test]
async fn overview_pages_get_a_fresh_nonce_each_and_show_notified_changes_at_once() {
    // Slow polls: routine checks do not refresh the overview all the time.
    let app = spawn_app_with(|a| a.poll_interval = Some(5.0)).await;
    let url = app.url("/");
    let mut pages = Vec::new();
    for _ in 0..5 {
        pages.push(overview(&app.client, &url, None).await);
    }
    let mut nonces: Vec<&String> = pages.iter().map(|(n, _)| n).collect();
    for (nonce, html) in &pages {
        assert!(nonce.len() >= 16, "{nonce}");
        let scripts = html.matches("<script").count();
        assert!(scripts >= 2, "{html}");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "every inline script carries this response's nonce"
        );
        assert_eq!(html.matches("part-card").count(), 3, "{html}");
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), pages.len(), "a new nonce for every response");
    // Apart from the nonce the pages are the same: they come from one
    // render (the generation time in the page has not moved).
    let same: Vec<String> = pages.iter().map(|(n, h)| h.replace(n, "N")).collect();
    assert!(
        same.windows(2).any(|w| w[0] == w[1]),
        "consecutive loads show the same page (one snapshot), nonce aside"
    );

    // A notified change (an override) is on the very next page.
    let (code, _) = app
        .post(
            "/api/v1/parts/points/override",
            &serde_json::json!({"mode": "force_open", "reason": "cache test", "by": "t"}),
        )
        .await;
    assert_eq!(code, 200);
    let (_, html) = overview(&app.client, &url, None).await;
    assert!(
        html.contains("cache test"),
        "the override's reason is shown"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_outage_is_on_the_overview_page_within_a_second() {
    // The test default: 0.1 s polls, down after 3 failed checks.
    let app = spawn_app().await;
    let url = app.url("/");
    overview(&app.client, &url, None).await;
    let t0 = Instant::now();
    app.sim_post("/sim/parts/voucher/down").await;
    loop {
        let (_, html) = overview(&app.client, &url, None).await;
        if html.contains("data-part=\"voucher\" data-status=\"down\"") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the overview page did not show the part down within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn each_caller_gets_its_own_page_and_public_requests_resolve_the_caller_only_when_shown() {
    let app = spawn_app_with(|a| a.auth = Some(AuthMode::Local)).await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    access
        .add_user("ann", Role::Admin, "ann-password")
        .await
        .unwrap();
    access
        .add_user("val", Role::Viewer, "val-password")
        .await
        .unwrap();
    let Browser {
        cookies: ann,
        csrf: ann_csrf,
        ..
    } = sign_in(&app, "ann", "ann-password", &[]).await;
    let Browser {
        cookies: val,
        csrf: val_csrf,
        ..
    } = sign_in(&app, "val", "val-password", &[]).await;
    let client = raw_client();
    let url = app.url("/");
    for _ in 0..3 {
        let (_, a) = overview(&client, &url, Some(&ann)).await;
        let (_, v) = overview(&client, &url, Some(&val)).await;
        assert!(
            a.contains("ann (admin)") && !a.contains("val ("),
            "ann's page"
        );
        assert!(
            v.contains("val (viewer)") && !v.contains("ann ("),
            "val's page"
        );
        // The sign-out form carries each session's own CSRF token.
        assert!(a.contains(&ann_csrf) && !a.contains(&val_csrf));
        assert!(v.contains(&val_csrf) && !v.contains(&ann_csrf));
    }
    // Without a session: the sign-in page, never a cached page.
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);

    // Public files need no caller, even with credentials that are wrong.
    let res = client
        .get(app.url("/favicon.svg"))
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The 404 page of a public-looking path still shows who is signed in
    // (the caller is looked up when the page is rendered), the login page too.
    for path in ["/no-such-file.txt", "/login"] {
        let res = client
            .get(app.url(path))
            .header(COOKIE, &ann)
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        assert!(html.contains("ann (admin)"), "{path}: {html}");
    }
    let res = client
        .get(app.url("/no-such-file.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains("(admin)"));
    app.stop().await;
}

#[tokio::test]
async fn server_functions_answer_422_naming_the_field_and_keep_other_statuses() {
    let app = spawn_app().await;
    let client = raw_client();
    let path = app::api::replays::PreviewReplay::PATH;
    let res = client
        .post(app.url(path))
        .form(&[
            ("part", "voucher"),
            ("start", "yesterday"),
            ("end", "2026-01-01T01:00:00Z"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "an invalid field");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["Invalid"]["field"], "start", "{err}");
    assert!(
        err["Invalid"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{err}"
    );
    // The console decodes it as the same error, naming the field.
    let e: app::api::ApiError = serde_json::from_value(err).unwrap();
    assert!(e.for_field("start").is_some(), "{e:?}");

    let res = client
        .post(app.url(app::api::replays::GetReplay::PATH))
        .form(&[("name", "no-such-replay")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "unknown replay");
    // A valid call is still a 200.
    let res = client
        .post(app.url(app::api::GetOverview::PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
}
