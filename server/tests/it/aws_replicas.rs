//! Three `mediator serve --backend aws` processes (the real binary) on one
//! set of emulated resources (moto, as `provision` makes them) and one
//! simulated SaaS, served from this test process so it outlives every
//! replica. The part goes down, vouchers are posted round-robin and held;
//! the part comes back slowly (each SaaS call takes 0.5 s), and once the
//! recovery replay's first voucher is accepted one replica is killed with
//! SIGKILL. Then: one recovery replay for the outage, every voucher
//! `submitted` and accepted exactly once by the SaaS's own ledger, and both
//! survivors' JSON API and console pages agree on the part's status, every
//! voucher's status and the replays.
//!
//! The killed replica's claims (`submitting`) come back to the survivors'
//! sweeper when their lease ends (2 × submit timeout + 30 s), and the
//! messages it had received but not handled stay invisible on SQS for the
//! queue's visibility timeout, so its unhandled retry events are replayed
//! by the sweeper (a `sweeper` replay, never a second `recovery` one).
//! Every wait polls for its condition with a generous deadline: on a loaded
//! machine moto and the replicas are slow, never wrong.

use crate::aws_calls;
use crate::aws_mode::provisioned_moto;
use crate::common;

use std::path::Path;
use std::time::Instant;

use common::process::{free_port, ServerProcess};
use common::{eventually, voucher};
use serde_json::Value;

/// The simulated SaaS, served from this test process.
async fn start_sim() -> (saas_sim::Simulator, String) {
    let sim = saas_sim::Simulator::new(["voucher"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = saas_sim::router(sim.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (sim, format!("http://{addr}"))
}

/// One replica: `mediator serve --backend aws` on `endpoint`, calling the
/// SaaS at `saas`, its own data directory under `root`.
async fn replica(root: &Path, name: &str, endpoint: &str, saas: &str) -> ServerProcess {
    let data = root.join(name);
    std::fs::create_dir_all(data.join("site/pkg")).unwrap();
    std::fs::write(data.join("site/pkg/mediator.css"), "body{}").unwrap();
    // moto archives an event when it accepts it: no archive lag. The
    // SaaS's latency applies to its status checks too: the check timeout
    // stays well above it.
    let config = data.join("mediator.toml");
    std::fs::write(
        &config,
        "[parts.voucher]\narchive_lag = 0\ncheck_timeout = 4\n",
    )
    .unwrap();
    let port = free_port();
    let mut cmd = ServerProcess::command(Path::new(env!("CARGO_BIN_EXE_mediator")), root, &data);
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--backend", "aws", "--endpoint-url", endpoint])
        .args(["--region", "us-east-1", "--saas-url", saas])
        .args(["--parts", "voucher"])
        .arg("--config")
        .arg(&config)
        .arg("--site-root")
        .arg(data.join("site"))
        // 0.25 s polls: every DynamoDB call goes through one serializing
        // proxy (moto's transactions are not isolated), and faster polls
        // of three replicas can outrun a loaded moto.
        .args(["--poll-interval", "0.25", "--submit-timeout", "2"])
        .args(["--sweep-interval", "5", "--replay-margin", "1"])
        // One SaaS call at a time per replica: the drain lasts seconds.
        .args(["--resubmit-rate", "1000", "--resubmit-concurrency", "1"]);
    ServerProcess::spawn(cmd, port).await
}

/// `GET path` as JSON; a transport error or non-200 is an `Err` to poll on.
async fn json(http: &reqwest::Client, r: &ServerProcess, path: &str) -> Result<Value, String> {
    let res = http
        .get(r.url(path))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if res.status() != 200 {
        return Err(format!("{path}: HTTP {}", res.status()));
    }
    res.json().await.map_err(|e| format!("{path}: {e}"))
}

/// `GET path` as text (a console page).
async fn page(http: &reqwest::Client, r: &ServerProcess, path: &str) -> Result<String, String> {
    let res = http
        .get(r.url(path))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if res.status() != 200 {
        return Err(format!("{path}: HTTP {}", res.status()));
    }
    res.text().await.map_err(|e| format!("{path}: {e}"))
}

/// The value of attribute `name` in the HTML start tag holding `anchor`.
fn attr(html: &str, anchor: &str, name: &str) -> Option<String> {
    let at = html.find(anchor)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!(" {name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_owned())
}

/// The `voucher` part's status in `GET /api/v1/parts`.
async fn part_status(http: &reqwest::Client, r: &ServerProcess) -> Result<String, String> {
    let body = json(http, r, "/api/v1/parts").await?;
    body["parts"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "voucher"))
        .and_then(|p| p["status"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no voucher part in {body}"))
}

/// Waits until every replica shows the part `want`.
async fn part_is(http: &reqwest::Client, replicas: &[ServerProcess], want: &str) {
    for r in replicas {
        eventually(60, &format!("{}: voucher never {want}", r.base), || async {
            match part_status(http, r).await? {
                s if s == want => Ok(()),
                s => Err(s),
            }
        })
        .await;
    }
}

/// How many of `ids` the SaaS accepted (at least once).
fn accepted(sim: &saas_sim::Simulator, ids: &[String]) -> usize {
    sim.submissions()
        .iter()
        .filter(|s| s.accepted > 0 && ids.contains(&s.loyalty_request_id))
        .count()
}

/// A replica's `voucher` replays as (name, trigger, state), by name.
async fn replays(
    http: &reqwest::Client,
    r: &ServerProcess,
) -> Result<Vec<(String, String, String)>, String> {
    let body = json(http, r, "/api/v1/replays").await?;
    let mut out: Vec<(String, String, String)> = body["replays"]
        .as_array()
        .ok_or_else(|| format!("no replays list: {body}"))?
        .iter()
        .filter(|v| v["part"] == "voucher")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("trigger"), s("state"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// What one replica shows, through its JSON API and its console pages:
/// the part's status, every voucher's status, and the replays. `Err` while
/// the two disagree or something is still moving.
async fn view(
    http: &reqwest::Client,
    r: &ServerProcess,
    ids: &[String],
) -> Result<(String, Vec<String>, Vec<(String, String, String)>), String> {
    let status = part_status(http, r).await?;
    let overview = page(http, r, "/").await?;
    let card = attr(&overview, "data-part=\"voucher\"", "data-status");
    if card.as_deref() != Some(status.as_str()) {
        return Err(format!("API says {status}, the overview's card {card:?}"));
    }
    let list = page(http, r, "/vouchers?part=voucher").await?;
    let mut statuses = Vec::new();
    for id in ids {
        let api = json(http, r, &format!("/api/v1/vouchers/{id}")).await?;
        let api = api["status"].as_str().unwrap_or_default().to_owned();
        let shown = attr(&list, &format!("data-voucher=\"{id}\""), "data-status");
        if shown.as_deref() != Some(api.as_str()) {
            return Err(format!("{id}: API says {api}, the list page {shown:?}"));
        }
        statuses.push(api);
    }
    let replays = replays(http, r).await?;
    let listed = page(http, r, "/replays").await?;
    for (name, _, state) in &replays {
        let shown = attr(&listed, &format!("data-replay=\"{name}\""), "data-state");
        if shown.as_deref() != Some(state.as_str()) {
            return Err(format!(
                "replay {name}: API says {state}, the replays page {shown:?}"
            ));
        }
    }
    Ok((status, statuses, replays))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_one_killed_mid_recovery_replay_once_and_agree() {
    let began = Instant::now();
    let (moto, _) = provisioned_moto().await;
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let (sim, saas) = start_sim().await;
    let root = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(replica(root.path(), name, &proxy.endpoint, &saas).await);
    }
    let http = common::client();
    part_is(&http, &replicas, "up").await;

    sim.update("voucher", |b| b.up = false);
    part_is(&http, &replicas, "down").await;
    let ids: Vec<String> = (0..18).map(|i| format!("three-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let r = &replicas[i % replicas.len()];
        let res = http
            .post(r.url("/api/v1/vouchers"))
            .json(&voucher(id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{id} on {}", r.base);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "retry", "held while down: {body}");
    }

    // Back up, slowly: the drain takes seconds, so a kill lands mid-way.
    sim.update("voucher", |b| {
        b.latency_ms = 500;
        b.up = true;
    });
    let before_kill = eventually(120, "the recovery resubmits a first voucher", || {
        let n = accepted(&sim, &ids);
        async move {
            if n > 0 {
                Ok(n)
            } else {
                Err("none accepted yet".to_owned())
            }
        }
    })
    .await;
    let mut killed = replicas.remove(0);
    killed.kill();
    assert!(
        before_kill < ids.len(),
        "the kill came after the recovery ended ({before_kill} accepted)"
    );
    eprintln!(
        "killed {} with {before_kill} of {} accepted ({:.1} s in)",
        killed.base,
        ids.len(),
        began.elapsed().as_secs_f64()
    );
    sim.update("voucher", |b| b.latency_ms = 0);

    // Every voucher ends `submitted` (the killed replica's claims come back
    // once their lease ends), accepted once by the SaaS's own ledger.
    eventually(180, "every voucher submitted", || async {
        for r in &replicas {
            for id in &ids {
                let v = json(&http, r, &format!("/api/v1/vouchers/{id}")).await?;
                if v["status"] != "submitted" {
                    return Err(format!("{} {id}: {}", r.base, v["status"]));
                }
            }
        }
        Ok(())
    })
    .await;
    let ledger = sim.submissions();
    for id in &ids {
        let n: Vec<u64> = ledger
            .iter()
            .filter(|s| &s.loyalty_request_id == id)
            .map(|s| s.accepted)
            .collect();
        assert_eq!(n, [1], "{id} accepted exactly once: {ledger:?}");
    }

    // The survivors agree, API and console alike, once nothing moves.
    let views = eventually(60, "the survivors show the same state", || async {
        let mut views = Vec::new();
        for r in &replicas {
            let v = view(&http, r, &ids)
                .await
                .map_err(|e| format!("{}: {e}", r.base))?;
            if let Some((_, _, active)) =
                v.2.iter()
                    .find(|(_, _, s)| matches!(s.as_str(), "STARTING" | "RUNNING" | "CANCELLING"))
            {
                return Err(format!("{}: a replay is still {active}", r.base));
            }
            views.push(v);
        }
        if views.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("the survivors differ: {views:?}"));
        }
        Ok(views)
    })
    .await;
    let (status, statuses, replays) = &views[0];
    assert_eq!(status, "up");
    assert!(statuses.iter().all(|s| s == "submitted"), "{statuses:?}");
    let recoveries: Vec<_> = replays.iter().filter(|r| r.1 == "recovery").collect();
    assert_eq!(
        recoveries.len(),
        1,
        "one recovery replay for the outage: {replays:?}"
    );
    assert!(
        recoveries[0].0.starts_with("LoyaltyVoucherReplay_"),
        "{replays:?}"
    );
    assert!(
        replays
            .iter()
            .all(|r| r.1 == "recovery" || r.1 == "sweeper"),
        "only the recovery and the sweeper replay: {replays:?}"
    );
    let dynamo_calls = proxy
        .calls()
        .iter()
        .filter(|c| !c.op.is_empty() && c.resource.starts_with("mediator-"))
        .count();
    eprintln!(
        "replays: {replays:?}; {} s in all; {dynamo_calls} DynamoDB calls",
        began.elapsed().as_secs()
    );
    drop(killed);
}
