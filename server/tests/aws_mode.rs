//! `mediator serve --backend aws` against moto (EventBridge, SQS, DynamoDB
//! as `provision` makes them): a part goes down, vouchers are held as
//! `retry` and their retry events archived by EventBridge; the part comes
//! back, the mediator starts the replay (moto replays the archive at once)
//! and the resubmit queue (SQS) feeds the handler: every voucher is accepted
//! exactly once by the simulated SaaS. The circuit lives in DynamoDB.

mod common;

use common::{eventually, spawn_app_with, voucher};
use mediator_core::storage::StatusStore;
use mediator_core::{PartName, PartSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_replay_and_exactly_once_on_aws() {
    let moto = aws_backend::moto::Moto::start();
    aws_backend::moto::Moto::env();
    let conf = aws_backend::load_config(&aws_backend::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        max_attempts: None,
    })
    .await;
    let parts: Vec<PartSettings> = PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect();
    aws_backend::provision::provision(&conf, &parts, false)
        .await
        .expect("provision");
    let endpoint = moto.endpoint.clone();
    let app = spawn_app_with(|a| {
        a.backend = Some(server::Backend::Aws);
        a.endpoint_url = Some(endpoint);
        a.region = Some("us-east-1".into());
        a.replay_margin = Some(1.0);
    })
    .await;

    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let ids: Vec<String> = (0..20).map(|i| format!("aws-{i}")).collect();
    for id in &ids {
        let (code, body) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(code, 202, "{body}");
        assert_eq!(body["status"], "retry", "held while down: {body}");
    }

    app.sim_post("/sim/parts/voucher/up").await;
    eventually(60, "every voucher resubmitted", || async {
        let mut pending = Vec::new();
        for id in &ids {
            let (_, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
            if v["status"] != "submitted" {
                pending.push(format!("{id}: {}", v["status"]));
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(pending.join(", "))
        }
    })
    .await;
    let accepted: Vec<(String, u64)> = app
        .submissions()
        .await
        .iter()
        .map(|s| {
            (
                s["loyalty_request_id"].as_str().unwrap().to_string(),
                s["accepted"].as_u64().unwrap(),
            )
        })
        .collect();
    for id in &ids {
        let n: Vec<u64> = accepted
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(n, [1], "{id} accepted exactly once");
    }
    let (_, replays) = app.get_json("/api/v1/replays").await;
    let replays = replays
        .as_array()
        .or_else(|| replays["replays"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        replays.iter().any(|r| r["part"] == "voucher"
            && r["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("LoyaltyVoucherReplay_")),
        "the replay is recorded: {replays:?}"
    );
    // The circuit was decided in DynamoDB: its status item and the two
    // changes (published as SAAS_STATUS events) are there.
    let dynamo = aws_backend::DynamoStore::from_conf(&conf, aws_backend::tables::Tables::default());
    let snap = dynamo.load("voucher").await.expect("load");
    assert_eq!(snap.circuit.status, mediator_core::PartState::Up);
    let changes: Vec<String> = dynamo
        .changes_after(0, 100)
        .await
        .expect("changes")
        .into_iter()
        .filter(|c| c.part == "voucher")
        .map(|c| c.change.status.to_string())
        .collect();
    assert!(
        changes.ends_with(&["down".to_string(), "up".to_string()]),
        "{changes:?}"
    );
    eventually(10, "status changes published", || async {
        match dynamo.unpublished_changes(10).await {
            Ok(u) if u.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    app.stop().await;
}
