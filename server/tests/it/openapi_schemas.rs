//! Each documented operation of `/api/openapi.json` answers, on the real
//! router over loopback HTTP, with a body its documented schema accepts:
//! every required property present, the types the schema names (string,
//! integer, number, boolean, array, object, `null` where nullable, RFC 3339
//! `date-time` strings, enum values), and no property the schema does not
//! document (`$ref`, `allOf` and `oneOf` resolved). The server's answers
//! and the document come from the same `mediator_wire` types, so this
//! fails when they drift apart; `drift_is_caught` proves the checker sees
//! a renamed field and a changed type.

use crate::common::{self, eventually, voucher, TestApp};

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// A JSON Schema subset checker over one OpenAPI document's schemas.
struct Checker<'a> {
    schemas: &'a Map<String, Value>,
}

/// The properties an object schema documents (through `allOf` and `$ref`).
#[derive(Default)]
struct ObjectShape {
    properties: BTreeMap<String, Value>,
    required: BTreeSet<String>,
    /// A free-form object (`type: object` without `properties`).
    open: bool,
}

impl<'a> Checker<'a> {
    fn new(doc: &'a Value) -> Self {
        Checker {
            schemas: doc["components"]["schemas"]
                .as_object()
                .expect("components.schemas"),
        }
    }

    fn resolve<'b>(&'b self, mut schema: &'b Value) -> &'b Value {
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("non-local $ref {r}"));
            schema = self
                .schemas
                .get(name)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        schema
    }

    fn shape(&self, schema: &Value, out: &mut ObjectShape) {
        let s = self.resolve(schema);
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            for p in parts {
                self.shape(p, out);
            }
            return;
        }
        match s.get("properties").and_then(Value::as_object) {
            Some(props) => {
                for (k, v) in props {
                    out.properties.insert(k.clone(), v.clone());
                }
                for r in s["required"].as_array().into_iter().flatten() {
                    out.required
                        .insert(r.as_str().unwrap_or_default().to_owned());
                }
            }
            None => out.open = true,
        }
    }

    /// The problems of `value` against `schema`, each with its JSON path.
    fn problems(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.check(schema, value, at, &mut out);
        out
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let s = self.resolve(schema);
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = s.get(key).and_then(Value::as_array) {
                let fits = alternatives
                    .iter()
                    .any(|a| self.problems(a, value, at).is_empty());
                if !fits {
                    let why: Vec<String> = alternatives
                        .iter()
                        .flat_map(|a| self.problems(a, value, at))
                        .collect();
                    out.push(format!("{at}: matches no alternative of {key}: {why:?}"));
                }
                return;
            }
        }
        if s.get("allOf").is_some() {
            if let Some(object) = value.as_object() {
                let mut shape = ObjectShape::default();
                self.shape(s, &mut shape);
                self.check_object(&shape, object, at, out);
            } else {
                for part in s["allOf"].as_array().into_iter().flatten() {
                    self.check(part, value, at, out);
                }
            }
            return;
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nullable = types.contains(&"null") || s["nullable"] == true;
        if value.is_null() {
            if !nullable && !types.is_empty() {
                out.push(format!("{at}: null, but the schema says {types:?}"));
            }
            return;
        }
        let kind = match value {
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        let fits = |t: &str| t == kind || (t == "number" && kind == "integer");
        if !types.is_empty() && !types.iter().any(|t| fits(t)) {
            out.push(format!(
                "{at}: {kind} {value}, but the schema says {types:?}"
            ));
            return;
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            if !values.contains(value) {
                out.push(format!("{at}: {value} is not one of {values:?}"));
            }
        }
        if let (Some("date-time"), Some(text)) = (s["format"].as_str(), value.as_str()) {
            if chrono::DateTime::parse_from_rfc3339(text).is_err() {
                out.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
            }
        }
        match value {
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(item, v, &format!("{at}/{i}"), out);
                    }
                }
            }
            Value::Object(object) => {
                let mut shape = ObjectShape::default();
                self.shape(s, &mut shape);
                self.check_object(&shape, object, at, out);
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        shape: &ObjectShape,
        object: &Map<String, Value>,
        at: &str,
        out: &mut Vec<String>,
    ) {
        if shape.open && shape.properties.is_empty() {
            return;
        }
        for r in &shape.required {
            if !object.contains_key(r) {
                out.push(format!("{at}: required property {r:?} is missing"));
            }
        }
        for (k, v) in object {
            match shape.properties.get(k) {
                Some(p) => self.check(p, v, &format!("{at}/{k}"), out),
                None => out.push(format!("{at}: property {k:?} is not documented")),
            }
        }
    }
}

/// The documented schema of `method path`'s answer with `status` as JSON.
fn response_schema<'d>(doc: &'d Value, method: &str, path: &str, status: u16) -> &'d Value {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let answer = &op["responses"][status.to_string()];
    assert!(
        answer.is_object(),
        "{method} {path} answered {status}, documented {:?}",
        op["responses"]
            .as_object()
            .map(|r| r.keys().collect::<Vec<_>>())
    );
    let schema = &answer["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema documented: {answer}"
    );
    schema
}

/// One request the test makes: the documented operation, the concrete
/// URL, the JSON body (POST), and the statuses it may answer.
struct Call {
    method: &'static str,
    documented: &'static str,
    url: String,
    body: Option<Value>,
    expect: &'static [u16],
}

fn get(documented: &'static str, url: impl Into<String>) -> Call {
    Call {
        method: "GET",
        documented,
        url: url.into(),
        body: None,
        expect: &[200],
    }
}

fn post(
    documented: &'static str,
    url: impl Into<String>,
    body: Value,
    expect: &'static [u16],
) -> Call {
    Call {
        method: "POST",
        documented,
        url: url.into(),
        body: Some(body),
        expect,
    }
}

fn delete(documented: &'static str, url: impl Into<String>, body: Value) -> Call {
    Call {
        method: "DELETE",
        documented,
        url: url.into(),
        body: Some(body),
        expect: &[200],
    }
}

async fn send(app: &TestApp, call: &Call) -> (u16, String, Value) {
    let req = match (&call.body, call.method) {
        (Some(b), "POST") => app.client.post(app.url(&call.url)).json(b),
        (Some(b), "DELETE") => app.client.delete(app.url(&call.url)).json(b),
        (None, "GET") => app.client.get(app.url(&call.url)),
        other => panic!("unexpected call {other:?}"),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, ctype, body)
}

/// Data behind every answer: an outage with held vouchers and its replay
/// (an incident), a duplicate, a dead-lettered voucher, an override, a
/// manual replay.
async fn seed(app: &TestApp) {
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    for id in ["held-1", "held-2"] {
        let (code, v) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(code, 202, "{v}");
    }
    app.sim_post("/sim/parts/voucher/up").await;
    app.wait_for_part("up").await;
    eventually(20, "the outage's replay never finished", || async {
        let (_, page) = app.get_json("/api/v1/incidents").await;
        match page["incidents"][0]["state"].as_str() {
            Some("resolved") => Ok(()),
            _ => Err(page.to_string()),
        }
    })
    .await;
    let rate = |rate: f64| {
        app.client
            .post(format!("{}/sim/parts/voucher/error-rate", app.sim))
            .json(&json!({ "rate": rate }))
            .send()
    };
    assert!(rate(1.0).await.unwrap().status().is_success());
    let (code, v) = app.post("/api/v1/vouchers", &voucher("dead-1")).await;
    assert_eq!(
        (code, v["status"].clone()),
        (202, json!("dead_lettered")),
        "{v}"
    );
    let (code, v) = app.post("/api/v1/vouchers", &voucher("dead-2")).await;
    assert_eq!(code, 202, "{v}");
    assert!(rate(0.0).await.unwrap().status().is_success());
    let (code, v) = app
        .post(
            "/api/v1/parts/member/override",
            &json!({"mode": "force_closed", "reason": "vendor maintenance", "by": "ops"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
}

#[tokio::test]
async fn every_documented_answer_matches_its_schema() {
    // A notification channel nobody listens on: its deliveries fail, so the
    // log has an error to show.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mediator.toml");
    std::fs::write(
        &config,
        "[notify.channels.schema]\ntype = \"slack\"\nurl = \"http://127.0.0.1:9/hook\"\n",
    )
    .unwrap();
    let app = common::spawn_app_with(|a| {
        a.max_attempts = Some(1);
        a.config = Some(config);
    })
    .await;
    seed(&app).await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let checker = Checker::new(&doc);

    let now = chrono::Utc::now();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (start, end) = (
        rfc(now - chrono::Duration::minutes(30)),
        rfc(now - chrono::Duration::minutes(3)),
    );
    let (_, replays) = app.get_json("/api/v1/replays").await;
    let replay = replays["replays"][0]["name"]
        .as_str()
        .expect("a replay")
        .to_owned();
    let (_, archives) = app.get_json("/api/v1/archives").await;
    let archive = archives["archives"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["part"] == "voucher"))
        .and_then(|a| a["name"].as_str())
        .expect("the voucher part's archive")
        .to_owned();
    let (_, incidents) = app.get_json("/api/v1/incidents").await;
    let incident = incidents["incidents"][0]["id"].clone();
    // A bulk redrive of a part with nothing dead-lettered: it ends at once.
    let (code, bulk) = app
        .post("/api/v1/dlq/redrives", &json!({"part": "points"}))
        .await;
    assert_eq!(code, 202, "{bulk}");
    let bulk = bulk["id"].as_str().expect("a bulk redrive").to_owned();
    let today = now.format("%Y-%m-%d").to_string();
    let hour = now.format("%Y-%m-%dT%H").to_string();
    let (in_1h, in_2h) = (
        rfc(now + chrono::Duration::hours(1)),
        rfc(now + chrono::Duration::hours(2)),
    );
    let (code, window) = app
        .post(
            "/api/v1/parts/points/maintenance",
            &json!({"start": in_1h, "end": in_2h, "reason": "schema check"}),
        )
        .await;
    assert_eq!(code, 201, "{window}");
    let window = window["id"].as_str().expect("a window").to_owned();

    let calls = vec![
        get("/api/v1/parts", "/api/v1/parts"),
        post(
            "/api/v1/parts/{part}/check",
            "/api/v1/parts/voucher/check",
            json!({}),
            &[200],
        ),
        post(
            "/api/v1/parts/{part}/check",
            "/api/v1/parts/voucher/check",
            json!({}),
            &[429],
        ),
        post(
            "/api/v1/parts/{part}/override",
            "/api/v1/parts/points/override",
            json!({"mode": "force_open", "reason": "schema check", "by": "test"}),
            &[200],
        ),
        post(
            "/api/v1/vouchers",
            "/api/v1/vouchers",
            voucher("fresh-1"),
            &[202],
        ),
        post(
            "/api/v1/vouchers",
            "/api/v1/vouchers",
            voucher("held-1"),
            &[200],
        ),
        get("/api/v1/vouchers", "/api/v1/vouchers?ref=ref-held-1"),
        get(
            "/api/v1/vouchers",
            "/api/v1/vouchers?merchant_reference=m-1&limit=2",
        ),
        get(
            "/api/v1/vouchers/{loyalty_request_id}",
            "/api/v1/vouchers/held-1",
        ),
        get("/api/v1/replays", "/api/v1/replays"),
        get(
            "/api/v1/replays/{name}",
            format!("/api/v1/replays/{replay}"),
        ),
        get(
            "/api/v1/replays/preview",
            format!("/api/v1/replays/preview?part=voucher&start={start}&end={end}"),
        ),
        post(
            "/api/v1/replays",
            "/api/v1/replays",
            json!({"part": "member", "start": start, "end": end, "reason": "schema check"}),
            &[202],
        ),
        post(
            "/api/v1/replays/{name}/cancel",
            format!("/api/v1/replays/{replay}/cancel"),
            json!({}),
            &[409],
        ),
        get("/api/v1/dlq", "/api/v1/dlq"),
        get("/api/v1/dlq", "/api/v1/dlq?limit=1"),
        post(
            "/api/v1/dlq/{loyalty_request_id}/redrive",
            "/api/v1/dlq/dead-1/redrive",
            json!({}),
            &[200],
        ),
        post(
            "/api/v1/dlq/redrives",
            "/api/v1/dlq/redrives",
            json!({"part": "points", "rate": 5}),
            &[202],
        ),
        get("/api/v1/dlq/redrives", "/api/v1/dlq/redrives"),
        get(
            "/api/v1/dlq/redrives/{id}",
            format!("/api/v1/dlq/redrives/{bulk}"),
        ),
        post(
            "/api/v1/dlq/redrives/{id}/cancel",
            format!("/api/v1/dlq/redrives/{bulk}/cancel"),
            json!({}),
            &[409],
        ),
        get(
            "/api/v1/parts/{part}/uptime",
            "/api/v1/parts/voucher/uptime",
        ),
        get(
            "/api/v1/parts/{part}/timeline",
            "/api/v1/parts/voucher/timeline",
        ),
        get(
            "/api/v1/parts/{part}/timeline",
            format!("/api/v1/parts/voucher/timeline?date={today}"),
        ),
        get(
            "/api/v1/parts/{part}/timeline",
            format!("/api/v1/parts/voucher/timeline?hour={hour}"),
        ),
        get(
            "/api/v1/parts/{part}/latency",
            "/api/v1/parts/voucher/latency",
        ),
        get(
            "/api/v1/parts/{part}/latency",
            format!("/api/v1/parts/voucher/latency?hour={hour}"),
        ),
        get(
            "/api/v1/parts/{part}/counters",
            "/api/v1/parts/voucher/counters",
        ),
        get("/api/v1/incidents", "/api/v1/incidents"),
        get(
            "/api/v1/incidents/{id}",
            format!("/api/v1/incidents/{incident}"),
        ),
        get("/api/v1/archives", "/api/v1/archives"),
        get(
            "/api/v1/archives/{name}/events",
            format!("/api/v1/archives/{archive}/events"),
        ),
        get("/api/v1/me", "/api/v1/me"),
        get("/api/v1/audit", "/api/v1/audit"),
        post(
            "/api/v1/notifications/{channel}/test",
            "/api/v1/notifications/schema/test",
            json!({}),
            &[202],
        ),
        get("/api/v1/notifications", "/api/v1/notifications"),
        post(
            "/api/v1/parts/{part}/maintenance",
            "/api/v1/parts/member/maintenance",
            json!({"start": in_1h, "end": in_2h, "reason": "schema check"}),
            &[201],
        ),
        get(
            "/api/v1/parts/{part}/maintenance",
            "/api/v1/parts/points/maintenance",
        ),
        delete(
            "/api/v1/parts/{part}/maintenance/{id}",
            format!("/api/v1/parts/points/maintenance/{window}"),
            json!({"reason": "schema check"}),
        ),
    ];

    // Every documented JSON operation is called for its success answer
    // (the event stream is the other test's: it never ends; the
    // dead-letter export answers CSV or NDJSON, checked in `dlq_bulk`).
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let ok = op.pointer("/responses/200/content");
            let json_or_none = ok.is_none_or(|c| c.get("application/json").is_some());
            if json_or_none
                && op
                    .pointer("/responses/200/content/text~1event-stream")
                    .is_none()
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let called: BTreeSet<(String, String)> = calls
        .iter()
        .map(|c| (c.method.to_owned(), c.documented.to_owned()))
        .collect();
    let uncalled: Vec<_> = documented.difference(&called).collect();
    assert!(
        uncalled.is_empty(),
        "documented but not checked: {uncalled:?}"
    );

    let mut problems = Vec::new();
    for call in &calls {
        let (status, ctype, body) = send(&app, call).await;
        assert!(
            call.expect.contains(&status),
            "{} {} answered {status}: {body}",
            call.method,
            call.url
        );
        assert!(
            ctype.starts_with("application/json"),
            "{} {}: {ctype}",
            call.method,
            call.url
        );
        let schema = response_schema(&doc, call.method, call.documented, status);
        let at = format!("{} {} ({status})", call.method, call.url);
        problems.extend(checker.problems(schema, &body, &at));
    }

    // The error answers too: each operation called with what does not
    // exist or does not parse answers with its documented error schema.
    for call in &calls {
        let concrete = call
            .documented
            .split('/')
            .map(|s| if s.starts_with('{') { "nope" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let bad = Call {
            method: call.method,
            documented: call.documented,
            url: format!("{concrete}?limit=0"),
            body: call.body.as_ref().map(|_| json!({"part": 7})),
            expect: &[],
        };
        let (status, _, body) = send(&app, &bad).await;
        if (200..300).contains(&status) {
            continue;
        }
        let schema = response_schema(&doc, bad.method, bad.documented, status);
        let at = format!("{} {} ({status})", bad.method, bad.url);
        problems.extend(checker.problems(schema, &body, &at));
    }
    assert!(
        problems.is_empty(),
        "answers off their schema:\n{}",
        problems.join("\n")
    );

    drift_is_caught(&app, &doc).await;
    app.stop().await;
}

/// The checker fails a real answer once the document drifts from it: a
/// renamed property, a changed type.
async fn drift_is_caught(app: &TestApp, doc: &Value) {
    let (code, voucher) = app.get_json("/api/v1/vouchers/held-1").await;
    assert_eq!(code, 200);
    let schema = response_schema(doc, "GET", "/api/v1/vouchers/{loyalty_request_id}", 200).clone();
    assert!(Checker::new(doc)
        .problems(&schema, &voucher, "held-1")
        .is_empty());

    let mut renamed = doc.clone();
    let body = &mut renamed["components"]["schemas"]["VoucherBody"];
    let props = body["properties"].as_object_mut().unwrap();
    let id = props.remove("loyalty_request_id").unwrap();
    props.insert("request_id".into(), id);
    for r in body["required"].as_array_mut().unwrap() {
        if r == "loyalty_request_id" {
            *r = json!("request_id");
        }
    }
    let found = Checker::new(&renamed).problems(&schema, &voucher, "held-1");
    assert!(
        found
            .iter()
            .any(|p| p.contains("\"request_id\" is missing"))
            && found
                .iter()
                .any(|p| p.contains("\"loyalty_request_id\" is not documented")),
        "{found:?}"
    );

    let mut retyped = doc.clone();
    retyped["components"]["schemas"]["VoucherBody"]["properties"]["attempts"] =
        json!({"type": "string"});
    let found = Checker::new(&retyped).problems(&schema, &voucher, "held-1");
    assert!(found.iter().any(|p| p.contains("/attempts")), "{found:?}");
}
