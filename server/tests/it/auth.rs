//! Sign-in, roles, CSRF, API tokens, the trusted-proxy mode and the audit
//! log, against the real server on loopback (`--auth local` / `proxy`).

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{spawn_app_with, voucher, TestApp};
use leptos::server_fn::ServerFn;
use mediator_core::access::{Access, Role};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use server::config::AuthMode;

/// A client that does not follow redirects (the tests look at them).
pub(crate) fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) async fn local_app() -> (TestApp, Access) {
    let app = spawn_app_with(|a| a.auth = Some(AuthMode::Local)).await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    (app, access)
}

/// A signed-in browser: its cookies and CSRF token.
pub(crate) struct Browser {
    pub(crate) cookies: String,
    pub(crate) csrf: String,
    set_cookies: Vec<String>,
}

fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn sign_in(
    app: &TestApp,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Browser {
    let mut req = raw_client().post(app.url("/login")).form(&[
        ("username", user),
        ("password", password),
        ("next", "/replays"),
    ]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 303, "sign-in of {user}");
    assert_eq!(res.headers()[LOCATION], "/replays");
    let set = set_cookies(res.headers());
    // `name=value` as set (`__Host-` prefixed over HTTPS).
    let pair = |name: &str| {
        set.iter()
            .map(|c| c.split(';').next().unwrap())
            .find(|c| {
                c.starts_with(&format!("{name}=")) || c.starts_with(&format!("__Host-{name}="))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{name} cookie in {set:?}"))
    };
    let (session, csrf) = (pair("mediator_session"), pair("mediator_csrf"));
    Browser {
        cookies: format!("{session}; {csrf}"),
        csrf: csrf.split_once('=').unwrap().1.to_owned(),
        set_cookies: set,
    }
}

impl Browser {
    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> (u16, Value) {
        let res = raw_client()
            .get(app.url(path))
            .header(COOKIE, &self.cookies)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// POST with the CSRF header (`csrf: false`: without it).
    pub(crate) async fn post(
        &self,
        app: &TestApp,
        path: &str,
        body: &Value,
        csrf: bool,
    ) -> (u16, Value) {
        let mut req = raw_client()
            .post(app.url(path))
            .header(COOKIE, &self.cookies)
            .json(body);
        if csrf {
            req = req.header("x-csrf-token", &self.csrf);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Calls a console server function (`path`: its `ServerFn::PATH`) as
    /// the console does: its arguments as a form, with the CSRF header.
    pub(crate) async fn call(
        &self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let res = raw_client()
            .post(app.url(path))
            .header(COOKIE, &self.cookies)
            .header("x-csrf-token", &self.csrf)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

async fn bearer_post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = raw_client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn audit(app: &TestApp, admin_token: &str) -> Vec<Value> {
    let res = raw_client()
        .get(app.url("/api/v1/audit?format=json"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["entries"].as_array().unwrap().clone()
}

pub(crate) fn find<'a>(entries: &'a [Value], action: &str, outcome: &str) -> &'a Value {
    entries
        .iter()
        .rev()
        .find(|e| e["action"] == action && e["outcome"] == outcome)
        .unwrap_or_else(|| panic!("no {action}/{outcome} entry in {entries:#?}"))
}

pub(crate) async fn admin_token(access: &Access) -> String {
    access
        .add_user("root", Role::Admin, "root-password")
        .await
        .unwrap();
    access
        .add_token("root", Role::Admin, "tests")
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn anonymous_callers_are_sent_to_sign_in_and_public_routes_stay_open() {
    let (app, access) = local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let c = raw_client();
    let res = c.get(app.url("/replays?name=x")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login?next=/replays%3Fname%3Dx");
    for path in ["/api/v1/parts", "/metrics", "/api/v1/audit"] {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert!(res.headers().contains_key("www-authenticate"), "{path}");
    }
    let res = c
        .post(app.url("/api/v1/vouchers"))
        .json(&voucher("anon-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    for path in [
        "/healthz",
        "/readyz",
        "/login",
        "/embed/status",
        "/badge/overall.svg",
        "/badge/voucher/status.json",
        "/api/openapi.json",
        "/favicon.svg",
    ] {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} is public");
    }
    let login = c
        .get(app.url("/login?next=/timeline"))
        .send()
        .await
        .unwrap();
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"action="/login""#), "{html}");
    assert!(html.contains(r#"name="password""#));
    assert!(html.contains(r#"value="/timeline""#));
    app.stop().await;
}

#[tokio::test]
async fn private_embeds_need_a_viewer() {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.private_embeds = true;
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    let token = admin_token(&access).await;
    let c = raw_client();
    for path in [
        "/badge/overall.svg",
        "/badge/voucher/status.json",
        "/api/v1/stream",
    ] {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path} needs a viewer");
    }
    let res = c.get(app.url("/embed/status")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the embed page sends to sign-in");
    for path in ["/badge/overall.svg", "/embed/status"] {
        let res = c
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path} with a token");
    }
    app.stop().await;
}

#[tokio::test]
async fn until_the_first_user_exists_the_setup_link_acts_as_admin() {
    let (app, access) = local_app().await;
    let token = app
        .setup_token
        .clone()
        .expect("a setup token without users");
    let c = raw_client();
    // Being on this machine is not enough (a proxy, `ssh -L` or
    // `kubectl port-forward` on it makes everyone local).
    let res = c.get(app.url("/replays")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login?next=/replays");
    assert_eq!(
        c.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    let res = c.get(app.url("/?setup=guess")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "setup");

    // The printed link sets a short-lived cookie and drops the token from
    // the address.
    let res = c
        .get(app.url(&format!("/replays?page=2&setup={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/replays?page=2");
    let set = set_cookies(res.headers());
    let setup = set
        .iter()
        .find(|c| c.starts_with("mediator_setup="))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert!(
        setup.contains("HttpOnly") && setup.contains("SameSite=Strict"),
        "{setup}"
    );
    assert!(setup.contains("Max-Age=28800"), "{setup}");
    let cookie = format!("mediator_setup={token}");
    let res = c
        .get(app.url("/api/v1/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        (&me["name"], &me["role"]),
        (&json!("anonymous"), &json!("admin"))
    );
    let page = c
        .get(app.url("/replays"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let res = c
        .post(app.url("/api/v1/vouchers"))
        .header(COOKIE, &cookie)
        .json(&voucher("setup-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "a script with the cookie");

    // DNS rebinding: another site's name pointing at this host.
    let res = c
        .get(app.url("/api/v1/parts"))
        .header(COOKIE, &cookie)
        .header("host", "rebind.evil.example:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "host");
    // Other sites' pages: no posts, and nothing to read through CORS.
    let res = c
        .post(app.url("/api/v1/vouchers"))
        .header(COOKIE, &cookie)
        .header("origin", "https://evil.example")
        .json(&voucher("setup-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "csrf");
    let res = c
        .get(app.url("/api/v1/incidents"))
        .header(COOKIE, &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        res.headers()
    );

    // The first user ends setup mode for good: the cookie and the link too.
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let res = c
        .get(app.url("/api/v1/parts"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = c
        .get(app.url(&format!("/?setup={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(set_cookies(res.headers()).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn sign_in_sets_safe_cookies_and_sign_out_ends_the_session() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("ann", Role::Operator, "ann-password")
        .await
        .unwrap();

    // A wrong password: back to the form, audited, no cookie.
    let res = raw_client()
        .post(app.url("/login"))
        .form(&[
            ("username", "ann"),
            ("password", "wrong-one"),
            ("next", "/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login?error=1&next=/x");
    assert!(set_cookies(res.headers()).is_empty());
    let failed = find(&audit(&app, &token).await, "login.failed", "failed").clone();
    assert_eq!(failed["actor"], "ann");
    assert_eq!(failed["detail"]["ip"], "127.0.0.1");

    // A form posted from another site is refused (login CSRF).
    let res = raw_client()
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("username", "ann"), ("password", "ann-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let ann = sign_in(&app, "ann", "ann-password", &[]).await;
    let session = ann
        .set_cookies
        .iter()
        .find(|c| c.starts_with("mediator_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let csrf = ann
        .set_cookies
        .iter()
        .find(|c| c.starts_with("mediator_csrf="))
        .unwrap();
    assert!(!csrf.contains("HttpOnly"), "the console reads it: {csrf}");
    assert_eq!(
        ann.get(&app, "/api/v1/me").await,
        (
            200,
            json!({"name": "ann", "role": "operator", "via": "session"})
        )
    );
    let page = raw_client()
        .get(app.url("/"))
        .header(COOKIE, &ann.cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("ann (operator)"),
        "the navigation names the user"
    );
    assert!(html.contains(&format!(r#"name="csrf_token" value="{}""#, ann.csrf)));

    // Sign-out needs the CSRF token too.
    let logout = |csrf: String| {
        raw_client()
            .post(app.url("/logout"))
            .header(COOKIE, &ann.cookies)
            .form(&[("csrf_token", csrf)])
    };
    assert_eq!(logout("forged".into()).send().await.unwrap().status(), 403);
    let res = logout(ann.csrf.clone()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/login");
    assert!(set_cookies(res.headers())
        .iter()
        .all(|c| c.contains("Max-Age=0")));
    assert_eq!(
        ann.get(&app, "/api/v1/me").await.0,
        401,
        "the session ended"
    );
    let entries = audit(&app, &token).await;
    assert_eq!(find(&entries, "login", "ok")["actor"], "ann");
    assert_eq!(find(&entries, "logout", "ok")["via"], "session");
    app.stop().await;
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_user_name_for_a_while() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let attempt = |password: &'static str| {
        raw_client()
            .post(app.url("/login"))
            .form(&[("username", "ann"), ("password", password), ("next", "/")])
            .send()
    };
    for _ in 0..server::auth::MAX_FAILED_LOGINS {
        let res = attempt("guess-guess").await.unwrap();
        assert_eq!(res.headers()[LOCATION], "/login?error=1&next=/");
    }
    // Even the right password is refused now, without being checked.
    let res = attempt("ann-password").await.unwrap();
    assert_eq!(res.headers()[LOCATION], "/login?error=throttled&next=/");
    assert!(set_cookies(res.headers()).is_empty());
    let entries = audit(&app, &token).await;
    let denied = find(&entries, "login.failed", "denied");
    assert_eq!(denied["detail"]["error"], "too many failed sign-ins");
    // Other users are not affected.
    sign_in(&app, "root", "root-password", &[]).await;
    let page = raw_client()
        .get(app.url("/login?error=throttled"))
        .send()
        .await
        .unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_behind_a_trusted_tls_proxy_only() {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.trusted_proxies = Some("127.0.0.1".into());
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let tls = sign_in(
        &app,
        "ann",
        "ann-password",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(
        tls.set_cookies.iter().all(|c| c.contains("; Secure")),
        "{:?}",
        tls.set_cookies
    );
    let plain = sign_in(&app, "ann", "ann-password", &[]).await;
    assert!(plain.set_cookies.iter().all(|c| !c.contains("Secure")));
    app.stop().await;

    // The same header from a peer that is not a trusted proxy is ignored.
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.trusted_proxies = Some("10.9.8.7".into());
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let spoofed = sign_in(
        &app,
        "ann",
        "ann-password",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(spoofed.set_cookies.iter().all(|c| !c.contains("Secure")));
    app.stop().await;

    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.cookie_secure = Some(server::config::CookieSecure::Always);
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let always = sign_in(&app, "ann", "ann-password", &[]).await;
    assert!(always.set_cookies.iter().all(|c| c.contains("; Secure")));
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_sees_everything_and_changes_nothing() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("val", Role::Viewer, "val-password")
        .await
        .unwrap();
    let val = sign_in(&app, "val", "val-password", &[]).await;
    for path in [
        "/api/v1/parts",
        "/api/v1/replays",
        "/api/v1/dlq",
        "/api/v1/dlq/redrives",
        "/api/v1/incidents",
        "/api/v1/archives",
        "/api/v1/parts/voucher/uptime",
    ] {
        assert_eq!(val.get(&app, path).await.0, 200, "{path}");
    }
    let metrics = raw_client()
        .get(app.url("/metrics"))
        .header(COOKIE, &val.cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let refused: [(&str, Value); 7] = [
        ("/api/v1/replays", json!({"part": "voucher"})),
        (
            "/api/v1/replays/LoyaltyVoucherReplay_20260101000000/cancel",
            json!({}),
        ),
        ("/api/v1/vouchers", voucher("val-1")),
        ("/api/v1/dlq/val-1/redrive", json!({})),
        ("/api/v1/dlq/redrives", json!({"rate": 5})),
        ("/api/v1/dlq/redrives/dlq-redrive-1/cancel", json!({})),
        (
            "/api/v1/parts/voucher/override",
            json!({"mode": "force_open", "reason": "r"}),
        ),
    ];
    for (path, body) in &refused {
        let (status, body) = val.post(&app, path, body, true).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["field"], "role", "{path}");
        assert_eq!(
            body["error"], "requires the operator role (val is viewer)",
            "{path}"
        );
    }
    assert_eq!(val.get(&app, "/api/v1/audit").await.0, 403);
    let entries = audit(&app, &token).await;
    let denied: Vec<&str> = entries
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        denied,
        [
            "replay.start",
            "replay.cancel",
            "voucher.submit",
            "dlq.redrive",
            "dlq.bulk_redrive",
            "dlq.bulk_redrive.cancel",
            "override.set"
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e["outcome"] != "denied" || e["actor"] == "val"));
    app.stop().await;
}

#[tokio::test]
async fn an_operator_acts_and_every_action_is_audited() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    access
        .add_user("olga", Role::Operator, "olga-password")
        .await
        .unwrap();
    let olga = sign_in(&app, "olga", "olga-password", &[]).await;

    let (status, body) = olga
        .post(
            &app,
            "/api/v1/parts/voucher/override",
            &json!({"mode": "force_open", "reason": "vendor maintenance", "by": "someone-else"}),
            true,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["override"]["by"], "olga",
        "signed in, `by` is the user"
    );
    let (status, _) = olga
        .post(
            &app,
            "/api/v1/parts/voucher/override",
            &json!({"mode": "none"}),
            true,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = olga
        .post(&app, "/api/v1/vouchers", &voucher("olga-1"), true)
        .await;
    assert!(status == 202 || status == 200, "{status} {body}");
    let now = chrono::Utc::now();
    let window = json!({
        "part": "voucher",
        "start": (now - chrono::Duration::minutes(10)).to_rfc3339(),
        "end": now.to_rfc3339(),
        "reason": "missed vouchers",
    });
    let (status, replay) = olga.post(&app, "/api/v1/replays", &window, true).await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["by"], "olga");
    let name = replay["name"].as_str().unwrap().to_owned();
    let (status, _) = olga
        .post(
            &app,
            &format!("/api/v1/replays/{name}/cancel"),
            &json!({}),
            true,
        )
        .await;
    assert!(status == 202 || status == 409, "{status}");
    let (status, _) = olga
        .post(&app, "/api/v1/dlq/olga-unknown/redrive", &json!({}), true)
        .await;
    assert_eq!(status, 404);

    let entries = audit(&app, &token).await;
    let set = find(&entries, "override.set", "ok");
    assert_eq!(
        (
            &set["actor"],
            &set["role"],
            &set["via"],
            &set["target"],
            &set["reason"]
        ),
        (
            &json!("olga"),
            &json!("operator"),
            &json!("session"),
            &json!("voucher"),
            &json!("vendor maintenance")
        )
    );
    assert_eq!(set["detail"]["mode"], "force_open");
    find(&entries, "override.clear", "ok");
    let start = find(&entries, "replay.start", "ok");
    assert_eq!(start["reason"], "missed vouchers");
    assert_eq!(start["detail"]["replay"], name.as_str());
    let cancel = entries
        .iter()
        .find(|e| e["action"] == "replay.cancel")
        .expect("replay.cancel audited");
    assert_eq!(cancel["target"], name.as_str());
    let redrive = find(&entries, "dlq.redrive", "failed");
    assert!(
        redrive["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{redrive}"
    );
    // Machine submissions through the API are not audited one by one.
    assert!(entries.iter().all(|e| e["action"] != "voucher.submit"));
    app.stop().await;
}

#[tokio::test]
async fn session_requests_that_change_state_need_the_csrf_token() {
    let (app, access) = local_app().await;
    access
        .add_user("olga", Role::Operator, "olga-password")
        .await
        .unwrap();
    access
        .add_user("val", Role::Viewer, "val-password")
        .await
        .unwrap();
    let olga = sign_in(&app, "olga", "olga-password", &[]).await;
    let body = json!({"mode": "force_open", "reason": "r"});
    let (status, err) = olga
        .post(&app, "/api/v1/parts/voucher/override", &body, false)
        .await;
    assert_eq!(status, 403);
    assert_eq!(err["field"], "csrf");
    let res = raw_client()
        .post(app.url("/api/v1/parts/voucher/override"))
        .header(COOKIE, &olga.cookies)
        .header("x-csrf-token", "not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Reads need no token.
    assert_eq!(olga.get(&app, "/api/v1/parts").await.0, 200);

    // Server functions go through the same check, and their own role check.
    let path = app::api::replays::StartReplay::PATH;
    let form = [
        ("part", "voucher"),
        ("start", "2026-01-01T00:00:00Z"),
        ("end", "2026-01-01T01:00:00Z"),
        ("by", "x"),
        ("reason", "x"),
    ];
    let res = raw_client()
        .post(app.url(path))
        .header(COOKIE, &olga.cookies)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "server function without the CSRF token");
    let val = sign_in(&app, "val", "val-password", &[]).await;
    let res = raw_client()
        .post(app.url(path))
        .header(COOKIE, &val.cookies)
        .header("x-csrf-token", &val.csrf)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer's server function call");
    let text = res.text().await.unwrap();
    assert!(text.contains("requires the operator role"), "{text}");
    let res = raw_client()
        .post(app.url(app::api::access::CurrentUser::PATH))
        .header(COOKIE, &val.cookies)
        .header("x-csrf-token", &val.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        (&me["name"], &me["role"]),
        (&json!("val"), &json!("viewer"))
    );
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_authenticate_scripts_without_csrf() {
    let (app, access) = local_app().await;
    access
        .add_user("ci", Role::Operator, "ci-password-1")
        .await
        .unwrap();
    let (id, operator) = access
        .add_token("ci", Role::Operator, "deploy")
        .await
        .unwrap();
    let (_, viewer) = access
        .add_token("ci", Role::Viewer, "dashboards")
        .await
        .unwrap();
    let body = json!({"mode": "force_open", "reason": "from a script"});
    let (status, out) = bearer_post(&app, &operator, "/api/v1/parts/voucher/override", &body).await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = bearer_post(&app, &viewer, "/api/v1/parts/voucher/override", &body).await;
    assert_eq!(status, 403, "{out}");
    let (status, _) =
        bearer_post(&app, "mdt_made-up", "/api/v1/parts/voucher/override", &body).await;
    assert_eq!(status, 401);
    let res = raw_client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"name": "ci", "role": "viewer", "via": "token"})
    );
    access.remove_token(id).await.unwrap();
    let (status, _) = bearer_post(&app, &operator, "/api/v1/parts/voucher/override", &body).await;
    assert_eq!(status, 401, "a revoked token");
    let res = raw_client()
        .get(app.url("/api/v1/parts"))
        .header("authorization", "Basic Y2k6eA==")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn proxy_mode_maps_groups_to_roles_from_trusted_proxies_only() {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Proxy);
        a.trusted_proxies = Some("127.0.0.1".into());
        a.proxy_roles = Some("sre=admin,support=operator,staff=viewer".into());
    })
    .await;
    let me = |user: Option<&'static str>, groups: Option<&'static str>| {
        let mut req = raw_client().get(app.url("/api/v1/me"));
        if let Some(u) = user {
            req = req.header("x-forwarded-user", u);
        }
        if let Some(g) = groups {
            req = req.header("x-forwarded-groups", g);
        }
        req.send()
    };
    let res = me(Some("bob"), Some("staff")).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"name": "bob", "role": "viewer", "via": "proxy"})
    );
    let res = me(Some("bob"), Some("staff, support")).await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "operator");
    let res = me(Some("bob"), Some("marketing")).await.unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["field"], "x-forwarded-groups");
    assert_eq!(me(None, Some("sre")).await.unwrap().status(), 401);
    // Proxy requests carry no ambient browser credential: no CSRF token.
    let res = raw_client()
        .post(app.url("/api/v1/parts/voucher/override"))
        .header("x-forwarded-user", "sam")
        .header("x-forwarded-groups", "sre")
        .json(&json!({"mode": "disabled", "reason": "testing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = raw_client()
        .get(app.url("/api/v1/audit"))
        .header("x-forwarded-user", "sam")
        .header("x-forwarded-groups", "sre")
        .send()
        .await
        .unwrap();
    let entries: Value = res.json().await.unwrap();
    let set = find(entries["entries"].as_array().unwrap(), "override.set", "ok");
    assert_eq!(
        (&set["actor"], &set["via"]),
        (&json!("sam"), &json!("proxy"))
    );
    // Password sign-in is not offered in proxy mode.
    let res = raw_client()
        .post(app.url("/login"))
        .form(&[("username", "sam"), ("password", "whatever1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;

    // Headers from anyone but the trusted proxy are not believed.
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Proxy);
        a.trusted_proxies = Some("10.9.8.7".into());
        a.proxy_roles = Some("sre=admin".into());
    })
    .await;
    let res = raw_client()
        .get(app.url("/api/v1/parts"))
        .header("x-forwarded-user", "mallory")
        .header("x-forwarded-groups", "sre")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[test]
fn proxy_mode_settings_are_checked() {
    let resolve = |trusted: Option<&str>, roles: Option<&str>| {
        server::Settings::resolve(server::config::ServeArgs {
            auth: Some(AuthMode::Proxy),
            trusted_proxies: trusted.map(String::from),
            proxy_roles: roles.map(String::from),
            ..Default::default()
        })
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    assert!(resolve(None, Some("a=admin")).starts_with("trusted_proxies: "));
    assert!(resolve(Some("127.0.0.1"), None).starts_with("proxy_roles: "));
    assert!(resolve(Some("localhost"), Some("a=admin")).starts_with("trusted_proxies: "));
    assert!(resolve(Some("127.0.0.1"), Some("a=root")).starts_with("proxy_roles: unknown role"));
}

#[tokio::test]
async fn the_audit_export_filters_by_time_in_json_and_ndjson() {
    let (app, access) = local_app().await;
    let token = admin_token(&access).await;
    let body = json!({"mode": "force_closed", "reason": "export test"});
    let (status, _) = bearer_post(&app, &token, "/api/v1/parts/member/override", &body).await;
    assert_eq!(status, 200);
    let get = |query: String| {
        raw_client()
            .get(app.url(&format!("/api/v1/audit{query}")))
            .bearer_auth(&token)
            .send()
    };
    let res = get("?format=ndjson".into()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = res
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entry = lines.last().unwrap();
    assert_eq!(entry["action"], "override.set");
    assert_eq!(entry["target"], "member");
    let at: chrono::DateTime<chrono::Utc> = entry["at"].as_str().unwrap().parse().unwrap();
    let after =
        (at + chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let res = get(format!("?since={after}")).await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["entries"], json!([]));
    let res = get(format!("?until={after}&format=json")).await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["entries"].as_array().unwrap().len(), lines.len());
    assert_eq!(body["truncated"], false);
    for (query, field) in [("?since=yesterday", "since"), ("?format=csv", "format")] {
        let res = get(query.into()).await.unwrap();
        assert_eq!(res.status(), 422, "{query}");
        assert_eq!(res.json::<Value>().await.unwrap()["field"], field);
    }
    app.stop().await;
}

fn mediator(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mediator"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_manages_users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (code, out, err) = mediator(
        &["user", "add", "ann", "--role", "admin", "--data-dir", d],
        "s3cret-pass\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "added user ann (admin)\n");
    let (code, _, err) = mediator(
        &["user", "add", "ann", "--role", "viewer", "--data-dir", d],
        "s3cret-pass\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("user \"ann\" already exists"), "{err}");
    let (code, _, err) = mediator(
        &["user", "add", "bob", "--role", "viewer", "--data-dir", d],
        "short\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("password: must be between 8 and 1024 characters, got 5"),
        "{err}"
    );
    let (code, _, err) = mediator(
        &["user", "add", "bob", "--role", "viewer", "--data-dir", d],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("password: is empty"), "{err}");
    let (code, _, err) = mediator(
        &["user", "add", "bob", "--role", "root", "--data-dir", d],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("--role"), "{err}");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "bob-password\nignored\n").unwrap();
    let (code, _, err) = mediator(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "viewer",
            "--password-file",
            pw.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = mediator(&["user", "list", "--data-dir", d], "");
    assert_eq!(code, 0);
    let roles: HashMap<&str, &str> = out
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(roles, HashMap::from([("ann", "admin"), ("bob", "viewer")]));
    let (code, secret, err) = mediator(
        &[
            "token",
            "add",
            "--user",
            "bob",
            "--label",
            "grafana",
            "--data-dir",
            d,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(secret.starts_with("mdt_"), "{secret}");
    let (code, _, err) = mediator(
        &[
            "token",
            "add",
            "--user",
            "bob",
            "--role",
            "admin",
            "--data-dir",
            d,
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("role: admin is above the role of user \"bob\" (viewer)"),
        "{err}"
    );
    let (_, list, _) = mediator(&["token", "list", "--data-dir", d], "");
    assert!(
        list.contains("\tbob\tviewer\tgrafana\tnever used"),
        "{list}"
    );
    let db = store::Database::open(&data).unwrap();
    let access = Access::new(mediator_sqlite::ports(&db).access);
    assert!(access.verify_password("bob", "bob-password").await.is_ok());
    let token = access.token(secret.trim()).await.unwrap().unwrap();
    assert_eq!((token.name.as_str(), token.role), ("bob", Role::Viewer));
    let (code, _, _) = mediator(&["user", "remove", "bob", "--data-dir", d], "");
    assert_eq!(code, 0);
    assert!(access.token(secret.trim()).await.unwrap().is_none());
    let (code, _, err) = mediator(&["user", "remove", "bob", "--data-dir", d], "");
    assert_eq!(code, 2);
    assert!(err.contains("user \"bob\" does not exist"), "{err}");
    let entries = mediator_core::Audit::new(mediator_sqlite::ports(&db).audit)
        .range(None, None, None, 100)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.add", "ok"),
            ("user.add", "failed"),
            ("user.add", "ok"),
            ("token.add", "ok"),
            ("token.add", "failed"),
            ("user.remove", "ok"),
            ("user.remove", "failed"),
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.via == "cli" && e.actor.starts_with("cli")));
}

/// A request as a browser sends it from a page of `origin`
/// (`same_origin`: the console's own page).
fn browser_post(
    app: &TestApp,
    path: &str,
    origin: &str,
    same_origin: bool,
) -> reqwest::RequestBuilder {
    raw_client()
        .post(app.url(path))
        .header("origin", origin)
        .header(
            "sec-fetch-site",
            if same_origin {
                "same-origin"
            } else {
                "cross-site"
            },
        )
        .header("sec-fetch-mode", "navigate")
}

/// What a plain cross-site form post, the console's own request without
/// and with its header, and a script get in each sign-in mode.
async fn csrf_statuses(app: &TestApp, extra: &[(&str, &str)]) -> [(u16, Value); 4] {
    let own = format!("http://{}", app.addr);
    let form = [
        ("part", "voucher"),
        ("start", "2026-01-01T00:00:00Z"),
        ("end", "2026-01-01T01:00:00Z"),
        ("by", "x"),
        ("reason", "x"),
    ];
    let path = app::api::replays::StartReplay::PATH;
    let with = |mut req: reqwest::RequestBuilder| {
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req
    };
    let send = |req: reqwest::RequestBuilder| async move {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    };
    let attack = send(with(browser_post(app, path, "https://evil.example", false)).form(&form));
    let bare = send(with(browser_post(app, path, &own, true)).form(&form));
    let console = send(
        with(browser_post(app, path, &own, true))
            .header("x-csrf-token", "1")
            .form(&form),
    );
    let script = send(with(raw_client().post(app.url("/api/v1/dlq/nope/redrive"))));
    [attack.await, bare.await, console.await, script.await]
}

#[tokio::test]
async fn cross_site_posts_are_refused_in_every_sign_in_mode() {
    // --auth none: everyone is an admin, so any page could act as one.
    let app = spawn_app_with(|_| {}).await;
    let [attack, bare, console, script] = csrf_statuses(&app, &[]).await;
    assert_eq!(attack.0, 403, "{attack:?}");
    assert_eq!(attack.1["field"], "csrf");
    assert_eq!(bare.0, 403, "a browser request needs the custom header");
    assert_eq!(bare.1["field"], "csrf");
    assert!(console.0 < 300, "the console's own request: {console:?}");
    assert_eq!(script.0, 404, "scripts need no header: {script:?}");
    let res = browser_post(
        &app,
        "/api/v1/dlq/nope/redrive",
        "https://evil.example",
        false,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 403, "the JSON API too");
    // Without Sec-Fetch-Site (older browsers): Origin against Host.
    let res = raw_client()
        .post(app.url("/api/v1/dlq/nope/redrive"))
        .header("origin", "https://evil.example")
        .header("x-csrf-token", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // What an open caller reads is not shared with other sites' scripts.
    let res = raw_client()
        .get(app.url("/api/v1/incidents"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.stop().await;

    // Behind an SSO proxy, whose cookie a page of another site rides on.
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Proxy);
        a.trusted_proxies = Some("127.0.0.1".into());
        a.proxy_roles = Some("sre=admin".into());
    })
    .await;
    let sso = [("x-forwarded-user", "bob"), ("x-forwarded-groups", "sre")];
    let [attack, bare, console, script] = csrf_statuses(&app, &sso).await;
    assert_eq!((attack.0, &attack.1["field"]), (403, &json!("csrf")));
    assert_eq!((bare.0, &bare.1["field"]), (403, &json!("csrf")));
    assert!(console.0 < 300, "{console:?}");
    assert_eq!(script.0, 404, "{script:?}");
    app.stop().await;

    // A session with its right token, posted from another site's page.
    let (app, access) = local_app().await;
    access
        .add_user("olga", Role::Operator, "olga-password")
        .await
        .unwrap();
    let olga = sign_in(&app, "olga", "olga-password", &[]).await;
    let res = browser_post(
        &app,
        "/api/v1/dlq/nope/redrive",
        "https://evil.example",
        false,
    )
    .header(COOKIE, &olga.cookies)
    .header("x-csrf-token", &olga.csrf)
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "csrf");
    let own = format!("http://{}", app.addr);
    let res = browser_post(&app, "/api/v1/dlq/nope/redrive", &own, true)
        .header(COOKIE, &olga.cookies)
        .header("x-csrf-token", &olga.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the console's own request");
    app.stop().await;
}

/// A sign-in attempt forwarded by the trusted proxy 127.0.0.1 for `client`.
async fn attempt_from(
    app: &TestApp,
    client: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    raw_client()
        .post(app.url("/login"))
        .header("x-forwarded-for", client)
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap()
}

async fn proxied_local_app() -> (TestApp, Access) {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.trusted_proxies = Some("127.0.0.1".into());
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    (app, access)
}

#[tokio::test]
async fn failed_sign_ins_throttle_the_name_from_that_address_only() {
    let (app, access) = proxied_local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    for _ in 0..server::auth::MAX_FAILED_LOGINS {
        let res = attempt_from(&app, "198.51.100.1", "ann", "guess-guess").await;
        assert_eq!(res.headers()[LOCATION], "/login?error=1&next=/");
    }
    let res = attempt_from(&app, "198.51.100.1", "ann", "ann-password").await;
    assert_eq!(res.headers()[LOCATION], "/login?error=throttled&next=/");
    // Someone guessing from elsewhere does not lock ann out.
    let res = attempt_from(&app, "192.0.2.7", "ann", "ann-password").await;
    assert_eq!(res.headers()[LOCATION], "/", "ann from her own address");
    assert!(!set_cookies(res.headers()).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_name_guessed_from_many_addresses_still_signs_in_from_a_known_one() {
    let (app, access) = proxied_local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let res = attempt_from(&app, "192.0.2.7", "ann", "ann-password").await;
    assert_eq!(res.headers()[LOCATION], "/", "ann's usual address");
    let per_address = server::auth::MAX_FAILED_LOGINS;
    let addresses = server::auth::MAX_FAILED_LOGINS_PER_NAME.div_ceil(per_address);
    for a in 0..addresses {
        let ip = format!("198.51.100.{}", a + 1);
        for _ in 0..per_address {
            let res = attempt_from(&app, &ip, "ann", "guess-guess").await;
            assert_eq!(res.status(), 303, "{ip}");
        }
    }
    // The ceiling: a new address is refused even with the right password…
    let res = attempt_from(&app, "203.0.113.50", "ann", "ann-password").await;
    assert_eq!(res.headers()[LOCATION], "/login?error=throttled&next=/");
    // …but not the address ann signed in from before.
    let res = attempt_from(&app, "192.0.2.7", "ann", "ann-password").await;
    assert_eq!(res.headers()[LOCATION], "/");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_address() {
    let (app, access) = proxied_local_app().await;
    let token = admin_token(&access).await;
    // Random user names: no per-name throttle applies.
    for i in 0..server::login_limits::ADDRESS_BURST {
        let res = attempt_from(&app, "198.51.100.9", &format!("nobody{i}"), "guess-guess").await;
        assert_eq!(res.status(), 303, "attempt {i}");
    }
    let res = attempt_from(&app, "198.51.100.9", "nobody-else", "guess-guess").await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    let res = attempt_from(&app, "198.51.100.10", "root", "root-password").await;
    assert_eq!(res.headers()[LOCATION], "/", "another address");
    let entries = audit(&app, &token).await;
    assert!(
        entries.iter().all(|e| e["actor"] != "nobody-else"),
        "refused before any work"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_sign_ins_are_bounded_and_counted_at_once() {
    let (app, access) = proxied_local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let attempts = 16;
    let results = futures_util::future::join_all(
        (0..attempts).map(|_| attempt_from(&app, "198.51.100.3", "ann", "guess-guess")),
    )
    .await;
    let mut checked = 0;
    let mut busy = 0;
    for res in &results {
        match res.status().as_u16() {
            303 if res.headers()[LOCATION] == "/login?error=1&next=/" => checked += 1,
            303 => assert_eq!(res.headers()[LOCATION], "/login?error=throttled&next=/"),
            429 => {
                assert_eq!(res.headers()["retry-after"], "1");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        checked <= server::auth::MAX_FAILED_LOGINS,
        "{checked} passwords checked of {attempts} concurrent attempts"
    );
    let slots = mediator_core::access::default_hash_slots();
    if slots < 8 {
        assert!(busy > 0, "at most {slots} hashes at once");
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_in_sends_only_to_this_site() {
    let (app, access) = local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    for next in [
        "/\t/evil.example",
        "/%09/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/\n/evil.example",
        "https://evil.example/",
    ] {
        let res = raw_client()
            .post(app.url("/login"))
            .form(&[
                ("username", "ann"),
                ("password", "ann-password"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{next:?}");
        assert_eq!(res.headers()[LOCATION], "/", "{next:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_audited_address_is_the_rightmost_untrusted_hop() {
    let (app, access) = proxied_local_app().await;
    let token = admin_token(&access).await;
    for (xff, client) in [
        ("6.6.6.6, 203.0.113.5", "203.0.113.5"),
        ("6.6.6.6, 203.0.113.6, 127.0.0.1", "203.0.113.6"),
    ] {
        let res = attempt_from(&app, xff, "mallory", "guess-guess").await;
        assert_eq!(res.status(), 303);
        let entries = audit(&app, &token).await;
        let failed = find(&entries, "login.failed", "failed");
        assert_eq!(failed["detail"]["ip"], client, "{xff}");
        assert_eq!(failed["target"], client, "{xff}");
    }
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_carry_the_host_prefix_and_old_names_still_work() {
    let app = spawn_app_with(|a| {
        a.auth = Some(AuthMode::Local);
        a.cookie_secure = Some(server::config::CookieSecure::Always);
    })
    .await;
    let access =
        Access::new(mediator_sqlite::ports(&store::Database::open(&app.data_dir).unwrap()).access);
    access
        .add_user("ann", Role::Operator, "ann-password")
        .await
        .unwrap();
    let ann = sign_in(&app, "ann", "ann-password", &[]).await;
    for c in &ann.set_cookies {
        assert!(c.starts_with("__Host-mediator_"), "{c}");
        assert!(
            c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain"),
            "{c}"
        );
    }
    assert_eq!(ann.get(&app, "/api/v1/me").await.0, 200);
    // A session cookie set before the prefix was used.
    let old = Browser {
        cookies: ann.cookies.replace("__Host-", ""),
        csrf: ann.csrf.clone(),
        set_cookies: Vec::new(),
    };
    assert_eq!(old.get(&app, "/api/v1/me").await.0, 200);
    let body = json!({"mode": "force_open", "reason": "r"});
    assert_eq!(
        old.post(&app, "/api/v1/parts/voucher/override", &body, true)
            .await
            .0,
        200
    );
    // Sign-out clears both names.
    let res = raw_client()
        .post(app.url("/logout"))
        .header(COOKIE, &ann.cookies)
        .form(&[("csrf_token", ann.csrf.as_str())])
        .send()
        .await
        .unwrap();
    let cleared = set_cookies(res.headers());
    for name in [
        "__Host-mediator_session=",
        "mediator_session=",
        "__Host-mediator_csrf=",
        "mediator_csrf=",
    ] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} in {cleared:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_in_works_behind_a_proxy_that_rewrites_host() {
    let (app, access) = proxied_local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let form = [
        ("username", "ann"),
        ("password", "ann-password"),
        ("next", "/"),
    ];
    // The browser is on https://mediator.example; the proxy sends
    // Host: 127.0.0.1:port.
    let res = raw_client()
        .post(app.url("/login"))
        .header("origin", "https://mediator.example")
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/", "Sec-Fetch-Site decides");
    let res = raw_client()
        .post(app.url("/login"))
        .header("origin", "https://mediator.example")
        .header("x-forwarded-host", "mediator.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()[LOCATION],
        "/",
        "a trusted proxy's X-Forwarded-Host"
    );
    app.stop().await;

    // X-Forwarded-Host from anyone else is not believed.
    let (app, access) = local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    let res = raw_client()
        .post(app.url("/login"))
        .header("origin", "https://mediator.example")
        .header("x-forwarded-host", "mediator.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn sign_in_fails_closed_when_the_failure_count_cannot_be_read() {
    let (app, access) = local_app().await;
    access
        .add_user("ann", Role::Viewer, "ann-password")
        .await
        .unwrap();
    // The audit log, where failures are counted, becomes unreadable.
    store::Database::open(&app.data_dir)
        .unwrap()
        .write(|tx| tx.execute_batch("ALTER TABLE audit_log RENAME TO audit_log_away"))
        .await
        .unwrap();
    let res = raw_client()
        .post(app.url("/login"))
        .form(&[
            ("username", "ann"),
            ("password", "ann-password"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "no unthrottled password check");
    assert!(set_cookies(res.headers()).is_empty());
    app.stop().await;
}
