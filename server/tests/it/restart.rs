//! Crash safety of vouchers: the real `mediator` binary is killed with
//! SIGKILL while submissions are in flight and while a replay resubmits held
//! vouchers, then restarted on the same data directory. The simulated SaaS
//! runs in this test process (so it outlives every mediator, which reaches
//! it through `--saas-url`); its ledger must show every voucher accepted
//! exactly once, and every voucher must end `submitted`. Clients hanging up
//! mid-submission and SIGTERM mid-drain (against a SaaS that accepts at once
//! and answers late) must not even cause a resend.
//!
//! `MEDIATOR_CRASH_ROUNDS` sets how many times each test kills, terminates
//! or hangs up on the binary (default 3, a bounded run for `make test`; `make
//! crash-test` runs 20).

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, voucher};
use serde_json::{json, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The simulated SaaS, served from this test process.
async fn start_sim() -> (saas_sim::Simulator, String) {
    let sim = saas_sim::Simulator::new(["voucher"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = saas_sim::router(sim.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (sim, format!("http://{addr}"))
}

/// A mediator process on `data`, talking to the SaaS at `saas`.
struct Mediator {
    child: Child,
    base: String,
}

impl Mediator {
    /// Starts the binary and waits until it answers.
    async fn start(data: &Path, saas: &str, extra_env: &[(&str, &str)]) -> Self {
        let port = free_port();
        std::fs::create_dir_all(data.join("site/pkg")).unwrap();
        // The simulator delays status checks as much as submissions: the
        // part's own check timeout stays above that latency.
        let config = data.join("mediator.toml");
        std::fs::write(
            &config,
            "[parts.voucher]\ncheck_timeout = 3\nfailure_threshold = 2\nrecovery_threshold = 2\n",
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("mediator.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mediator"));
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--events-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--saas-url", saas])
            .arg("--data-dir")
            .arg(data)
            .arg("--site-root")
            .arg(data.join("site"))
            .arg("--config")
            .arg(&config)
            .args(["--auth", "none"])
            .args(["--parts", "voucher"])
            .args(["--poll-interval", "0.1"])
            .args(["--submit-timeout", "1"])
            .args(["--sweep-interval", "0.5"])
            .args(["--resubmit-rate", "1000"])
            .args(["--resubmit-concurrency", "4"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start mediator");
        let me = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = common::client();
        eventually(30, "mediator did not come up", || async {
            match client.get(format!("{}/readyz", me.base)).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        me
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (what every deploy does) and waits for a clean exit.
    async fn terminate(mut self) -> Duration {
        let asked = Instant::now();
        // SAFETY: kill(2) on our own child's pid, which has not been reaped.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit after SIGTERM: {status}");
                return asked.elapsed();
            }
            assert!(
                asked.elapsed() < Duration::from_secs(30),
                "no exit 30 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        match common::client()
            .get(format!("{}{path}", self.base))
            .send()
            .await
        {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!(e.to_string())),
        }
    }

    async fn status_of(&self, id: &str) -> String {
        let (_, v) = self.get(&format!("/api/v1/vouchers/{id}")).await;
        v["status"].as_str().unwrap_or("?").to_owned()
    }

    /// Waits until every voucher in `ids` is `submitted`.
    async fn all_submitted(&self, ids: &[String], secs: u64, data: &Path) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut left = Vec::new();
            for id in ids {
                let s = self.status_of(id).await;
                if s != "submitted" {
                    left.push(format!("{id}={s}"));
                }
            }
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(data.join("mediator.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "not submitted after {secs} s: {left:?}\nlog tail:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_for_part(&self, want: &str) {
        eventually(15, &format!("voucher part never {want}"), || async {
            let (_, body) = self.get("/api/v1/parts").await;
            let p = body["parts"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "voucher").cloned())
                .unwrap_or_default();
            if p["status"] == want {
                Ok(())
            } else {
                Err(p.to_string())
            }
        })
        .await
    }
}

/// How many of `ids` the simulator has accepted.
fn accepted_among(sim: &saas_sim::Simulator, ids: &[String]) -> usize {
    sim.submissions()
        .iter()
        .filter(|s| ids.contains(&s.loyalty_request_id))
        .count()
}

/// A failed assertion must not leave the process running.
impl Drop for Mediator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`assert_exactly_once`], and not even a resend the idempotency key
/// absorbed: every answer the SaaS gave was recorded the first time.
fn assert_exactly_once_never_resent(sim: &saas_sim::Simulator, ids: &[String]) {
    assert_exactly_once(sim, ids);
    let resent: Vec<_> = sim
        .submissions()
        .into_iter()
        .filter(|s| s.deduplicated > 0)
        .collect();
    assert!(resent.is_empty(), "sent again after an answer: {resent:?}");
}

/// Every id in `ids` accepted exactly once by the simulator, and nothing else.
fn assert_exactly_once(sim: &saas_sim::Simulator, ids: &[String]) {
    let ledger = sim.submissions();
    let twice: Vec<_> = ledger.iter().filter(|s| s.accepted != 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    // A kill between the SaaS's answer and our recording it makes the
    // mediator resend; the Idempotency-Key (the voucher id) absorbs it.
    let resent: u64 = ledger.iter().map(|s| s.deduplicated).sum();
    eprintln!("resends absorbed by the idempotency key: {resent}");
    let mut seen: Vec<&str> = ledger
        .iter()
        .map(|s| s.loyalty_request_id.as_str())
        .collect();
    seen.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(seen, want, "the SaaS saw exactly these vouchers");
}

/// Kills per test: `MEDIATOR_CRASH_ROUNDS`, default 3.
fn rounds() -> usize {
    std::env::var("MEDIATOR_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_in_flight_at_a_sigkill_are_rescued_after_restart() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let (sim, saas) = start_sim().await;
    let m = Mediator::start(&data, &saas, &[]).await;
    m.wait_for_part("up").await;

    // Slow SaaS: the submissions are in flight (`submitting`) at the kill.
    sim.update("voucher", |b| b.latency_ms = 2_000);
    let ids: Vec<String> = (0..12).map(|i| format!("inflight-{i:02}")).collect();
    let client = common::client();
    for id in &ids {
        let (client, url, body) = (
            client.clone(),
            format!("{}/api/v1/vouchers", m.base),
            voucher(id),
        );
        tokio::spawn(async move { client.post(url).json(&body).send().await });
    }
    eventually(10, "submissions in flight", || async {
        let mut states = Vec::new();
        for id in &ids {
            states.push(m.status_of(id).await);
        }
        if states.iter().all(|s| s == "submitting") {
            Ok(())
        } else {
            Err(format!("{states:?}"))
        }
    })
    .await;
    m.kill();
    assert!(
        sim.submissions().is_empty(),
        "no answer was sent before the kill"
    );

    // Restart on the same data directory with the SaaS fast again.
    sim.update("voucher", |b| b.latency_ms = 0);
    let m = Mediator::start(&data, &saas, &[]).await;
    m.all_submitted(&ids, 50, &data).await;
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once(&sim, &ids);
    m.kill();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_replay_keeps_every_voucher_exactly_once() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let (sim, saas) = start_sim().await;
    // Replays deliver slowly, so the kills land mid-replay too.
    let slow = [
        ("MEDIATOR_EVENTS_REPLAY_CHUNK", "10"),
        ("MEDIATOR_EVENTS_REPLAY_DELAY_MS", "100"),
    ];
    let m = Mediator::start(&data, &saas, &slow).await;
    m.wait_for_part("up").await;

    // Outage: every voucher is held as retry and archived.
    sim.update("voucher", |b| b.up = false);
    m.wait_for_part("down").await;
    let rounds = rounds();
    let n = (rounds * 10 + 30) as i64;
    let ids: Vec<String> = (0..n).map(|i| format!("held-{i:04}")).collect();
    let client = common::client();
    for id in &ids {
        let res = client
            .post(format!("{}/api/v1/vouchers", m.base))
            .json(&voucher(id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "retry", "{v}");
    }
    let from = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let preview = format!(
        "/api/v1/replays/preview?part=voucher&start={}&end={}",
        urlencode(&from),
        urlencode(&to)
    );
    eventually(15, "held vouchers archived", || async {
        let (_, p) = m.get(&preview).await;
        if p["archived"] == n {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await;

    // The part comes back slow: the replay and its resubmissions take a
    // while, and the mediator is killed `rounds` times in the middle.
    const LATENCY_MS: u64 = 300;
    sim.update("voucher", |b| {
        b.latency_ms = LATENCY_MS;
        b.up = true;
    });
    let mut m = m;
    for round in 1..=rounds {
        let before = sim.submissions().len();
        let target = (before + 6).min(n as usize - 1);
        eventually(
            25,
            &format!("round {round}: resubmissions under way"),
            || async {
                let now = sim.submissions().len();
                if now >= target {
                    Ok(())
                } else {
                    Err(format!("{now} accepted, waiting for {target}"))
                }
            },
        )
        .await;
        // Kill half a latency after a wave of acceptances: that wave's
        // answers are recorded and the next wave is in flight at the SaaS
        // (not yet accepted), which must be resubmitted exactly once. A kill
        // in the instant between the SaaS accepting and the mediator
        // committing the answer is the documented at-least-once window that
        // only an idempotent SaaS closes (ARCHITECTURE.md, "exactly once").
        tokio::time::sleep(Duration::from_millis(LATENCY_MS / 2)).await;
        m.kill();
        let accepted = sim.submissions().len();
        assert!(
            accepted < n as usize,
            "round {round}: the kill must land mid-way ({accepted} of {n} done)"
        );
        m = Mediator::start(&data, &saas, &slow).await;
    }

    // After the last restart every voucher ends submitted, each accepted
    // exactly once, none lost.
    m.all_submitted(&ids, 45, &data).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once(&sim, &ids);
    m.kill();
    eprintln!(
        "replay: {rounds} SIGKILLs, {n} vouchers, all submitted, each accepted once, in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60 + 10 * rounds as u64),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_sigkills_during_ingest_lose_no_acknowledged_voucher() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let (sim, saas) = start_sim().await;
    // A little SaaS latency keeps submissions in flight at each kill.
    sim.update("voucher", |b| b.latency_ms = 40);
    let rounds = rounds();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut unanswered: Vec<String> = Vec::new();
    for round in 0..rounds {
        let m = Mediator::start(&data, &saas, &[]).await;
        // Eight clients post new vouchers as fast as answers come back…
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..8 {
            let (base, stop) = (m.base.clone(), stop.clone());
            writers.spawn(async move {
                let client = common::client();
                let (mut acked, mut lost) = (Vec::new(), Vec::new());
                for i in 0.. {
                    let id = format!("ingest-{round:02}-{w}-{i:04}");
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let res = client
                        .post(format!("{base}/api/v1/vouchers"))
                        .json(&voucher(&id))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => acked.push(id),
                        Ok(r) => panic!("{id}: refused with {}", r.status()),
                        // Cut off by the kill: the client does not know.
                        Err(_) => {
                            lost.push(id);
                            break;
                        }
                    }
                }
                (acked, lost)
            });
        }
        // …and the mediator is killed in the middle of it.
        tokio::time::sleep(Duration::from_millis(300 + 37 * (round as u64 % 7))).await;
        m.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        while let Some(r) = writers.join_next().await {
            let (a, l) = r.unwrap();
            acknowledged.extend(a);
            unanswered.extend(l);
        }
    }
    // A client retries what got no answer: known ids are duplicates (200),
    // the others are new (202). Then everything must end submitted once.
    let m = Mediator::start(&data, &saas, &[]).await;
    sim.update("voucher", |b| b.latency_ms = 0);
    let client = common::client();
    for id in &unanswered {
        let res = client
            .post(format!("{}/api/v1/vouchers", m.base))
            .json(&voucher(id))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(res.status().as_u16(), 200 | 202),
            "{id}: {}",
            res.status()
        );
    }
    let mut all = acknowledged.clone();
    all.extend(unanswered.iter().cloned());
    assert!(acknowledged.len() >= rounds, "each round acknowledged some");
    m.all_submitted(&all, 90, &data).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once(&sim, &all);
    m.kill();
    eprintln!(
        "ingest: {rounds} SIGKILLs, {} vouchers acknowledged + {} cut off and retried, \
         all submitted, each accepted once, in {:?}",
        acknowledged.len(),
        unanswered.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_disconnect_mid_submission_leave_every_voucher_recorded_once() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let (sim, saas) = start_sim().await;
    let m = Mediator::start(&data, &saas, &[]).await;
    m.wait_for_part("up").await;
    // The SaaS accepts at once but answers 700 ms later (within the 1 s
    // submit timeout); each client hangs up as soon as the SaaS has
    // accepted its voucher, while the answer is on its way.
    const ANSWER_MS: u64 = 700;
    sim.update("voucher", |b| b.answer_latency_ms = ANSWER_MS);
    let client = common::client();
    let mut ids = Vec::new();
    for round in 0..rounds() {
        let batch: Vec<String> = (0..4).map(|i| format!("gone-{round:02}-{i}")).collect();
        let mut posts = Vec::new();
        for id in &batch {
            let (client, url, body) = (
                client.clone(),
                format!("{}/api/v1/vouchers", m.base),
                voucher(id),
            );
            posts.push(tokio::spawn(async move {
                client.post(url).json(&body).send().await
            }));
        }
        let waited = Instant::now();
        while accepted_among(&sim, &batch) < batch.len() {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "round {round}: not accepted"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for post in &posts {
            post.abort();
        }
        for post in posts {
            if let Ok(answer) = post.await {
                panic!("round {round}: answered before the hang-up: {answer:?}");
            }
        }
        // The outcome is recorded when the SaaS answers, not when the
        // claim's lease (32 s here) runs out and the voucher is resent.
        let waited = Instant::now();
        m.all_submitted(&batch, 5, &data).await;
        eprintln!(
            "round {round}: recorded {:?} after the hang-ups",
            waited.elapsed()
        );
        ids.extend(batch);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_never_resent(&sim, &ids);
    m.kill();
    eprintln!(
        "disconnects: {} rounds, {} vouchers, each accepted once and recorded, in {:?}",
        rounds(),
        ids.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_drain_records_every_submission_once() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let (sim, saas) = start_sim().await;
    const PER_ROUND: usize = 12;
    const ANSWER_MS: u64 = 300;
    let client = common::client();
    let mut ids: Vec<String> = Vec::new();
    for round in 0..rounds() {
        sim.update("voucher", |b| b.answer_latency_ms = 0);
        let m = Mediator::start(&data, &saas, &[]).await;
        m.wait_for_part("up").await;
        // An outage holds this round's vouchers.
        sim.update("voucher", |b| b.up = false);
        m.wait_for_part("down").await;
        let batch: Vec<String> = (0..PER_ROUND)
            .map(|i| format!("term-{round:02}-{i:02}"))
            .collect();
        for id in &batch {
            let res = client
                .post(format!("{}/api/v1/vouchers", m.base))
                .json(&voucher(id))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
        // The part comes back slow to answer: the drain's resubmissions are
        // in flight at the SaaS when SIGTERM arrives.
        sim.update("voucher", |b| {
            b.answer_latency_ms = ANSWER_MS;
            b.up = true;
        });
        eventually(
            30,
            &format!("round {round}: resubmissions under way"),
            || async {
                match accepted_among(&sim, &batch) {
                    0 => Err("none accepted yet".to_owned()),
                    _ => Ok(()),
                }
            },
        )
        .await;
        let took = m.terminate().await;
        eprintln!(
            "round {round}: {} of {PER_ROUND} accepted at SIGTERM, exited in {took:?}",
            accepted_among(&sim, &batch)
        );
        ids.extend(batch);
    }
    // Restarted, the rest is recovered; nothing the SaaS had answered before
    // a SIGTERM is sent again (it was recorded before the process ended).
    sim.update("voucher", |b| b.answer_latency_ms = 0);
    let m = Mediator::start(&data, &saas, &[]).await;
    m.all_submitted(&ids, 60, &data).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once_never_resent(&sim, &ids);
    m.kill();
    eprintln!(
        "sigterm: {} rounds, {} vouchers, each accepted once and recorded, in {:?}",
        rounds(),
        ids.len(),
        started.elapsed()
    );
}

/// Percent-encodes what an RFC 3339 time needs in a query string.
fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
