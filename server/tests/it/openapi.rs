//! `GET /api/openapi.json` over HTTP: an OpenAPI 3 document that documents
//! every route the router serves under `/api/v1` (the JSON API, the
//! console's read models and the event stream), each documented operation
//! answering with one of its documented statuses and content types.

use crate::common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// `(METHOD, /path/{}/…)` with parameter names erased, so `{id}` in the
/// router and `{loyalty_request_id}` in the document compare equal.
fn normalise(method: &str, path: &str) -> (String, String) {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    (method.to_uppercase(), out)
}

/// The `/api/v1` routes the router registers, read from the sources that
/// build it (`.route("/api/v1/…", get(…).post(…))`), so a route added
/// without documentation fails this test.
fn served_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for file in [
        "src/api.rs",
        "src/http.rs",
        "src/console_api.rs",
        "src/auth.rs",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        // `.route("/api/v1/…", get(…))`, also as rustfmt lays out a long
        // one: the path on the line after `.route(`.
        for call in text.split(".route(").skip(1) {
            let Some(call) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let (path, rest) = call.split_once('"').unwrap();
            if !path.starts_with("/api/v1") {
                continue;
            }
            // The method router: up to the call's closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let methods = &rest[..end];
            let mut found = false;
            for m in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{m}(");
                for (i, _) in methods.match_indices(&needle) {
                    let before = methods[..i].chars().last();
                    if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                        routes.insert(normalise(m, path));
                        found = true;
                    }
                }
            }
            assert!(found, "no method found for {path} in {file}");
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_covers_every_api_route() {
    let app = common::spawn_app().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();

    // An OpenAPI 3.x document, readable by a typed OpenAPI model.
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let typed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("parses as OpenAPI 3");
    assert_eq!(typed.info.title, "Vendor Mediator API");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in doc.to_string().split("\"$ref\":\"").skip(1) {
        let target = r.split('"').next().unwrap();
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "dangling {target}");
    }
    for schema in [
        "ApiErrorBody",
        "VoucherRequestBody",
        "VoucherBody",
        "ReplayBody",
    ] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }

    // Every served /api/v1 route is documented, and nothing else is.
    let mut documented = BTreeSet::new();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert(normalise(method, path));
            operations.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    let served = served_routes();
    assert!(served.len() >= 20, "{served:?}");
    for route in [
        "/api/v1/stream",
        "/api/v1/archives/{}/events",
        "/api/v1/vouchers",
    ] {
        assert!(
            served.contains(&("GET".to_string(), route.to_string())),
            "{route} not found in the router's sources: {served:?}"
        );
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "not documented: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");

    // Each documented operation answers (JSON, not the console's 404 page)
    // with one of its documented statuses, and documents its errors.
    for (method, path, op) in operations {
        let responses = op["responses"].as_object().unwrap();
        if let Some(event_stream) = responses
            .get("200")
            .and_then(|r| r.pointer("/content/text~1event-stream"))
        {
            // The stream never ends: check its status and content type with
            // a bounded read of the first event, and do not wait for the end.
            assert!(event_stream.is_object(), "{path}: {op}");
            let mut res = app.get(&path).await;
            assert_eq!(res.status(), 200, "{method} {path}");
            let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(ctype.starts_with("text/event-stream"), "{path}: {ctype}");
            let first = tokio::time::timeout(std::time::Duration::from_secs(5), res.chunk())
                .await
                .expect("the stream sends `hello` at once")
                .unwrap()
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&first);
            assert!(text.contains("event: hello"), "{path}: {text}");
            drop(res);
            continue;
        }
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('4') || s.starts_with('5')),
            "{method} {path} documents no error"
        );
        let concrete = normalise(&method, &path).1.replace("{}", "nope");
        let req = match method.as_str() {
            "GET" => app.client.get(app.url(&concrete)),
            "POST" => app.client.post(app.url(&concrete)).json(&json!({})),
            "DELETE" => app.client.delete(app.url(&concrete)).json(&json!({})),
            other => panic!("unexpected method {other}"),
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16().to_string();
        let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            ctype.starts_with("application/json"),
            "{method} {concrete}: {status} {ctype}"
        );
        assert!(
            responses.contains_key(&status),
            "{method} {concrete} answered {status}, documented {:?}",
            responses.keys().collect::<Vec<_>>()
        );
        if !status.starts_with('2') {
            let body: Value = res.json().await.unwrap();
            assert!(body["error"].is_string(), "{method} {concrete}: {body}");
        }
        // Every operation documents the sign-in answers; one with a JSON
        // body also a body that is too large or not JSON, and gives them.
        assert!(responses.contains_key("401"), "{method} {path}: no 401");
        if method != "GET" {
            assert!(responses.contains_key("403"), "{method} {path}: no 403");
        }
        if op.get("requestBody").is_some() {
            let url = app.url(&concrete);
            let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let not_json = app
                .client
                .request(verb.clone(), &url)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .unwrap();
            let too_large = app
                .client
                .request(verb, &url)
                .header("content-type", "application/json")
                .body(vec![b' '; server::security::API_MAX_BODY_BYTES + 1])
                .send()
                .await
                .unwrap();
            for (res, want) in [(not_json, "415"), (too_large, "413")] {
                let status = res.status().as_u16().to_string();
                assert_eq!(status, want, "{method} {concrete}");
                assert!(responses.contains_key(want), "{method} {path}: no {want}");
                let body: Value = res.json().await.unwrap();
                assert!(body["error"].is_string(), "{method} {concrete}: {body}");
            }
        }
    }
    app.stop().await;
}
