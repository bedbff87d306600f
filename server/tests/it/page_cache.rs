//! Rendered console pages and embeds kept between changes
//! (`server::pages::PageCache`), against the real server on loopback: a
//! kept page is served while nothing it shows changed, shows a change on
//! its topics on the very next load, is never served to another caller or
//! role, and gets its own nonce every time, also compressed.

use crate::auth::{raw_client, sign_in, Browser};
use crate::common;

use std::time::{Duration, Instant};

use common::{spawn_app, spawn_app_with, TestApp};
use mediator_core::access::{Access, Role};
use mediator_core::{Audit, NewAuditEntry};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, X_FRAME_OPTIONS};
use serde_json::json;
use server::config::AuthMode;

/// How long a kept page is reused without a change (`PAGE_MAX_AGE`): a
/// write the server was not told of is not shown within it.
const MAX_AGE: Duration = server::pages::PAGE_MAX_AGE;

/// A page's body, with `cookies` if given; must be a 200.
async fn page(app: &TestApp, path: &str, cookies: Option<&str>) -> String {
    let mut req = app.client.get(app.url(path));
    if let Some(c) = cookies {
        req = req.header(COOKIE, c);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

/// The nonce of a console page's CSP.
fn csp_nonce(res: &reqwest::Response) -> String {
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    csp.split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_owned()
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn kept_pages_show_a_change_on_their_topics_on_the_next_load() {
    let app = spawn_app().await;
    let db = store::Database::open(&app.data_dir).unwrap();
    // Written behind the server's back: no change is notified.
    let unnotified = Audit::new(mediator_sqlite::ports(&db).audit);
    app.wait_for_part("up").await;

    // The audit log. Routine checks (every 0.1 s) do not matter to it.
    let t0 = Instant::now();
    let before = page(&app, "/audit", None).await;
    assert!(!before.contains("written-behind"), "{before}");
    unnotified
        .record(NewAuditEntry::unauthenticated("written-behind", "note"))
        .await
        .unwrap();
    let kept = page(&app, "/audit", None).await;
    if t0.elapsed() < MAX_AGE {
        assert!(
            !kept.contains("written-behind"),
            "the kept page is served while nothing it shows was notified"
        );
    }
    // An action through the server appends to the log: the next load shows
    // it (and what was written behind its back).
    let (code, v) = app
        .post(
            "/api/v1/parts/points/override",
            &json!({"mode": "force_open", "reason": "audited-now", "by": "t"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let after = page(&app, "/audit", None).await;
    assert!(after.contains("audited-now"), "the new entry at once");
    assert!(after.contains("written-behind"));

    // Vouchers: a new voucher is on the next load of the list.
    let list = "/vouchers?part=voucher";
    assert!(!page(&app, list, None).await.contains("kept-v1"));
    let (code, v) = app
        .post("/api/v1/vouchers", &common::voucher("kept-v1"))
        .await;
    assert!(code == 200 || code == 202, "{v}");
    assert!(page(&app, list, None).await.contains("kept-v1"));

    // A status change (the part goes down): on the incidents page at once.
    let incidents = page(&app, "/incidents", None).await;
    assert!(!incidents.contains("data-incident"), "{incidents}");
    assert!(page(&app, "/embed/parts/voucher", None)
        .await
        .contains("part up"));
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    // The monitor notifies right after its write commits, which the API
    // may show a moment before.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(page(&app, "/incidents", None)
        .await
        .contains("data-incident"));
    assert!(page(&app, "/embed/parts/voucher", None)
        .await
        .contains("part down"));

    // A maintenance window (topic override): on today's timeline and on
    // both embeds at once.
    let day = format!("/timeline?at={}", today());
    let embed_part = "/embed/parts/member?theme=dark";
    assert!(!page(&app, &day, None).await.contains("maintenance-band"));
    assert!(!page(&app, embed_part, None)
        .await
        .contains("part maintenance"));
    assert!(!page(&app, "/embed/status", None)
        .await
        .contains("part maintenance"));
    let end = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (code, v) = app
        .post(
            "/api/v1/parts/member/maintenance",
            &json!({"end": end, "reason": "kept-window"}),
        )
        .await;
    assert!(code == 200 || code == 201, "{v}");
    assert!(page(&app, &day, None).await.contains("kept-window"));
    assert!(page(&app, embed_part, None)
        .await
        .contains("part maintenance"));
    assert!(page(&app, "/embed/status", None)
        .await
        .contains("part maintenance"));

    app.stop().await;
}

#[tokio::test]
async fn kept_pages_get_a_fresh_nonce_and_the_same_headers_every_time() {
    // Slow polls: nothing changes during the test.
    let app = spawn_app_with(|a| a.poll_interval = Some(5.0)).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let res = app.get("/timeline").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[X_FRAME_OPTIONS], "DENY");
        let nonce = csp_nonce(&res);
        let html = res.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts >= 2, "{html}");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "every inline script carries this response's nonce"
        );
        seen.push((nonce.clone(), html.replace(&nonce, "N")));
    }
    let mut nonces: Vec<&String> = seen.iter().map(|(n, _)| n).collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), seen.len(), "a new nonce for every response");

    // Embeds: kept too (the "Updated" time is the render's), with their
    // own policy, per look.
    let t0 = Instant::now();
    let a = app.get("/embed/status?theme=dark").await;
    let csp = a.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(a.headers().get(X_FRAME_OPTIONS).is_none());
    let a = a.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = page(&app, "/embed/status?theme=dark", None).await;
    if t0.elapsed() < MAX_AGE {
        assert_eq!(a, b, "one render");
    }
    assert!(a.contains("data-theme=\"dark\""));
    let light = page(&app, "/embed/status?theme=light", None).await;
    assert!(light.contains("data-theme=\"light\"") && !light.contains("data-theme=\"dark\""));
    app.stop().await;
}

#[tokio::test]
async fn callers_and_roles_never_see_each_others_kept_pages() {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.poll_interval = Some(5.0);
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    for (name, role) in [("ann", Role::Admin), ("val", Role::Viewer)] {
        access
            .add_user(name, role, &format!("{name}-password"))
            .await
            .unwrap();
    }
    let Browser {
        cookies: ann,
        csrf: ann_csrf,
        ..
    } = sign_in(&app, "ann", "ann-password", &[]).await;
    let Browser {
        cookies: ann2,
        csrf: ann2_csrf,
        ..
    } = sign_in(&app, "ann", "ann-password", &[]).await;
    let Browser {
        cookies: val,
        csrf: val_csrf,
        ..
    } = sign_in(&app, "val", "val-password", &[]).await;
    let client = raw_client();
    let get = |path: &'static str, cookies: String| {
        let req = client.get(app.url(path)).header(COOKIE, cookies);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    for _ in 0..3 {
        // The audit log needs operator: ann's kept page is never val's.
        let (code, a) = get("/audit", ann.clone()).await;
        assert_eq!(code, 200);
        assert!(a.contains("id=\"audit\"") && a.contains("ann (admin)"));
        let (code, v) = get("/audit", val.clone()).await;
        assert!(code == 403 || code == 200, "{code}: {v}");
        assert!(
            v.contains("audit-error") && v.contains("val (viewer)"),
            "{v}"
        );
        assert!(!v.contains("id=\"audit\"") && !v.contains("ann ("));
        // Every page names its own caller and carries its own session's
        // CSRF token, also two sessions of one user.
        for path in ["/timeline", "/incidents", "/vouchers", "/replays"] {
            for (cookies, label, csrf, others) in [
                (&ann, "ann (admin)", &ann_csrf, [&ann2_csrf, &val_csrf]),
                (&ann2, "ann (admin)", &ann2_csrf, [&ann_csrf, &val_csrf]),
                (&val, "val (viewer)", &val_csrf, [&ann_csrf, &ann2_csrf]),
            ] {
                let (code, html) = get(path, cookies.clone()).await;
                assert_eq!(code, 200, "{path}");
                assert!(html.contains(label), "{path}: {label}");
                assert!(html.contains(csrf.as_str()), "{path}: own token");
                assert!(
                    others.iter().all(|o| !html.contains(o.as_str())),
                    "{path}: another session's token"
                );
            }
        }
    }
    // Without a session: the sign-in page, never a kept page.
    let res = client.get(app.url("/timeline")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    app.stop().await;
}

/// A gzip body, decoded (its CRC-32 and length checked).
fn gunzip(body: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .expect("a valid gzip stream");
    out
}

#[tokio::test]
async fn a_kept_page_sent_compressed_decodes_to_the_page_with_its_own_nonce() {
    use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
    // Slow polls: nothing changes during the test once the first checks
    // (a status change each) are in.
    let app = spawn_app_with(|a| a.poll_interval = Some(5.0)).await;
    app.wait_for_part("up").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/timeline", "/embed/status"] {
        // The first load renders; the next ones are the kept page (while
        // younger than MAX_AGE: compared only then).
        let t0 = Instant::now();
        let plain = app.get(path).await;
        assert_eq!(plain.status(), 200);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let res = app
                .client
                .get(app.url(path))
                .header(ACCEPT_ENCODING, "gzip, deflate, br, zstd")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(res.headers()[CONTENT_ENCODING], "gzip", "{path}");
            assert_eq!(res.headers()[VARY], "accept-encoding", "{path}");
            let len: usize = res.headers()[CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let nonce = (path == "/timeline").then(|| csp_nonce(&res));
            let body = res.bytes().await.unwrap();
            assert_eq!(body.len(), len, "{path}: Content-Length");
            let html = gunzip(&body);
            assert!(
                len * 2 < html.len(),
                "{path}: compressed ({len} of {})",
                html.len()
            );
            // The same page an API client gets, but for the nonce.
            let plain = app.get(path).await;
            let plain_nonce = nonce.as_ref().map(|_| csp_nonce(&plain));
            let plain = plain.text().await.unwrap();
            match (&nonce, &plain_nonce) {
                (Some(n), Some(p)) => {
                    let scripts = html.matches("<script").count();
                    assert!(scripts >= 2, "{html}");
                    assert_eq!(
                        html.matches(&format!("nonce=\"{n}\"")).count(),
                        scripts,
                        "every inline script carries this response's nonce"
                    );
                    assert_ne!(n, p);
                    if t0.elapsed() < MAX_AGE {
                        assert_eq!(html.replace(n, "N"), plain.replace(p, "N"));
                    }
                    seen.push(n.clone());
                }
                _ if t0.elapsed() < MAX_AGE => assert_eq!(html, plain, "{path}"),
                _ => assert!(html.contains("class=\"part"), "{html}"),
            }
        }
        seen.dedup();
        assert!(seen.is_empty() || seen.len() == 3, "a new nonce every time");
    }
    // Only brotli accepted: compressed on the way out, as every response.
    let res = app
        .client
        .get(app.url("/timeline"))
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[CONTENT_ENCODING], "br");
    app.stop().await;
}
