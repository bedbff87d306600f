//! `/metrics` scraped over real HTTP: every family is there with its type,
//! in the text format 0.0.4 and in OpenMetrics, and the observed ones move
//! with what the server does.

use crate::common::{eventually, spawn_app, voucher, TestApp};

/// Every family of an embedded-backend server, with its type as the text
/// format 0.0.4 names it (counters with `_total`, the info metric a gauge).
const FAMILIES_0_0_4: [(&str, &str); 23] = [
    ("mediator_part_up", "gauge"),
    ("mediator_circuit_open", "gauge"),
    ("mediator_checks_total", "counter"),
    ("mediator_vouchers", "gauge"),
    ("mediator_replays_active", "gauge"),
    ("mediator_http_request_duration_seconds", "histogram"),
    ("mediator_health_check_duration_seconds", "histogram"),
    ("mediator_build_info", "gauge"),
    ("mediator_bus_events_put_total", "counter"),
    ("mediator_bus_rule_matches_total", "counter"),
    ("mediator_bus_deliveries_total", "counter"),
    ("mediator_bus_delivery_failures_total", "counter"),
    ("mediator_bus_dead_lettered_total", "counter"),
    ("mediator_bus_dead_letter_messages", "gauge"),
    ("mediator_replay_events_total", "counter"),
    ("mediator_notification_deliveries_total", "counter"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_threads", "gauge"),
];

async fn scrape(app: &TestApp, accept: Option<&str>) -> (String, String) {
    let mut req = crate::common::client().get(app.url("/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, res.text().await.unwrap())
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn every_family_is_scraped_with_its_type() {
    let app = spawn_app().await;
    app.wait_for_part("up").await;
    let (code, body) = app.post("/api/v1/vouchers", &voucher("metrics-1")).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(app.get("/no/such/page").await.status(), 404);

    // The bus publishes the voucher's status events and the monitor checks
    // every part: wait until both show.
    let text = eventually(20, "bus puts and health checks in /metrics", || async {
        let (_, text) = scrape(&app, None).await;
        let puts = sample(&text, "mediator_bus_events_put_total ").unwrap_or(0.0);
        let checks = sample(
            &text,
            "mediator_health_check_duration_seconds_count{part=\"voucher\",outcome=\"ok\"}",
        )
        .unwrap_or(0.0);
        if puts > 0.0 && checks > 0.0 {
            Ok(text)
        } else {
            Err(format!("puts {puts}, checks {checks}"))
        }
    })
    .await;
    let (ct, _) = scrape(&app, None).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    for (family, kind) in FAMILIES_0_0_4 {
        let line = format!("# TYPE {family} {kind}");
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    for prefix in [
        "mediator_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/vouchers\",status=\"202\"}",
        "mediator_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "mediator_vouchers{part=\"voucher\",status=\"submitted\"}",
        "mediator_bus_rule_matches_total ",
        "mediator_bus_dead_letter_messages{queue=",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        let v = sample(&text, prefix).unwrap_or_else(|| panic!("{prefix} in\n{text}"));
        assert!(v >= 0.0, "{prefix} {v}");
    }
    assert_eq!(
        sample(
            &text,
            "mediator_vouchers{part=\"voucher\",status=\"submitted\"}"
        ),
        Some(1.0)
    );
    assert!(sample(&text, "process_resident_memory_bytes ").unwrap() > 0.0);
    let build = format!(
        "mediator_build_info{{version=\"{}\",git_sha=",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        text.lines().any(|l| l.starts_with(&build)),
        "{build} in\n{text}"
    );

    // The health-check histogram: per part and outcome, with the buckets
    // docs/operations.md documents.
    let part = "voucher";
    let prefix = format!(
        "mediator_health_check_duration_seconds_bucket{{part=\"{part}\",outcome=\"ok\",le=\""
    );
    let les: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split('"').next())
        .map(|le| {
            if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            }
        })
        .collect();
    assert_eq!(
        les,
        [
            0.01,
            0.025,
            0.05,
            0.1,
            0.25,
            0.5,
            1.0,
            2.5,
            5.0,
            10.0,
            f64::INFINITY
        ],
        "{part}'s buckets in\n{text}"
    );
    let operations = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ));
    assert!(
        operations.contains("0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 s"),
        "docs/operations.md documents the health-check buckets"
    );

    // The packaged Grafana dashboard asks only for families that exist.
    let dashboard: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/grafana-dashboard.json"
    )))
    .unwrap();
    let exprs = dashboard_exprs(&dashboard);
    for q in ["0.5", "0.95"] {
        let want = format!(
            "histogram_quantile({q}, sum by (part, le) (rate(mediator_health_check_duration_seconds_bucket"
        );
        assert!(
            exprs.iter().any(|e| e.starts_with(&want)),
            "a panel of the checks' {q} quantile per part: {exprs:?}"
        );
    }
    let used = dashboard_metrics(&dashboard);
    assert!(used.len() >= 15, "{used:?}");
    for name in &used {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard's {name} in\n{text}"
        );
    }

    // OpenMetrics for whoever asks (Prometheus does): the same families,
    // named as OpenMetrics names them, and the closing `# EOF`.
    let (ct, om) = scrape(
        &app,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    for (family, kind) in FAMILIES_0_0_4 {
        let (family, kind) = match (family, kind) {
            ("mediator_build_info", _) => ("mediator_build", "info"),
            (f, "counter") => (f.strip_suffix("_total").unwrap(), "counter"),
            other => other,
        };
        let line = format!("# TYPE {family} {kind}");
        assert!(om.lines().any(|l| l == line), "{line} in\n{om}");
    }
    app.stop().await;
}

/// Every query of the dashboard.
fn dashboard_exprs(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v.as_str()) {
                ("expr", Some(e)) => vec![e.to_owned()],
                _ => dashboard_exprs(v),
            })
            .collect(),
        serde_json::Value::Array(a) => a.iter().flat_map(dashboard_exprs).collect(),
        _ => Vec::new(),
    }
}

/// Every `mediator_*` and `process_*` name in the dashboard's queries.
fn dashboard_metrics(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                if let (true, Some(expr)) = (k == "expr", v.as_str()) {
                    for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                        if word.starts_with("mediator_") || word.starts_with("process_") {
                            names.insert(word.to_owned());
                        }
                    }
                }
                names.extend(dashboard_metrics(v));
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| names.extend(dashboard_metrics(v))),
        _ => {}
    }
    names
}
