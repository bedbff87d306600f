//! Delivery worker for targets that are not queues: API destinations (HTTP)
//! and in-process consumers. Rows of `eb_deliveries` are written with the
//! event; a row is deleted only after a successful call (at-least-once),
//! retried with exponential back-off per the target's `RetryPolicy`, then
//! moved to its `DeadLetterConfig` queue (or dropped, logged, without one).

use std::time::Duration;

use base64::Engine;
use store::rusqlite::params;
use tokio_util::sync::CancellationToken;

use crate::endpoint::check_public_endpoint;
use crate::types::Target;
use crate::{arn_tail, Bus, BusResult, Timestamp};

/// AWS defaults of a target's retry policy.
pub const DEFAULT_MAX_RETRIES: i64 = 185;
/// AWS default maximum event age (24 h).
pub const DEFAULT_MAX_AGE_SECS: i64 = 86_400;
const BATCH: i64 = 64;

/// Outcome of one invocation.
enum Attempt {
    Done,
    /// Failed; `retry` false means retrying cannot help (e.g. HTTP 400).
    Failed {
        retry: bool,
        reason: String,
    },
    /// Rate limited: try again at this time without counting an attempt.
    Later(i64),
}

struct Due {
    id: i64,
    target_arn: String,
    spec: String,
    body: Vec<u8>,
    attempts: i64,
    first_ms: i64,
}

impl Bus {
    /// Delivers every due row once (up to a batch); returns how many rows were handled.
    pub async fn delivery_step(&self) -> BusResult<usize> {
        let now = Timestamp::now().0;
        let due: Vec<Due> = self
            .inner
            .db
            .read(move |c| {
                c.prepare_cached("SELECT id, target_arn, spec, body, attempts, first_ms FROM eb_deliveries WHERE next_ms <= ?1 ORDER BY next_ms LIMIT ?2")?
                    .query_map(params![now, BATCH], |r| {
                        Ok(Due { id: r.get(0)?, target_arn: r.get(1)?, spec: r.get(2)?, body: r.get(3)?, attempts: r.get(4)?, first_ms: r.get(5)? })
                    })?
                    .collect()
            })
            .await?;
        let n = due.len();
        let mut set = tokio::task::JoinSet::new();
        for d in due {
            let bus = self.clone();
            set.spawn(async move {
                let outcome = bus.attempt(&d).await;
                (d, outcome)
            });
        }
        let mut updates = Vec::new();
        while let Some(res) = set.join_next().await {
            if let Ok(x) = res {
                updates.push(x);
            }
        }
        let cfg = self.inner.cfg.clone();
        let now = Timestamp::now().0;
        let (done, failed) = updates.iter().fold((0, 0), |(ok, ko), (_, a)| match a {
            Attempt::Done => (ok + 1, ko),
            Attempt::Failed { .. } => (ok, ko + 1),
            Attempt::Later(_) => (ok, ko),
        });
        let moved_to_queue = self
            .inner
            .db
            .write(move |tx| {
                let mut moved = 0;
                for (d, outcome) in updates {
                    match outcome {
                        Attempt::Done => {
                            tx.execute("DELETE FROM eb_deliveries WHERE id = ?1", [d.id])?;
                        }
                        Attempt::Later(at) => {
                            tx.execute("UPDATE eb_deliveries SET next_ms = ?2 WHERE id = ?1", params![d.id, at])?;
                        }
                        Attempt::Failed { retry, reason } => {
                            let t: Target = serde_json::from_str(&d.spec).unwrap_or_default();
                            let policy = t.retry_policy.unwrap_or_default();
                            let max_retries = policy.maximum_retry_attempts.unwrap_or(DEFAULT_MAX_RETRIES);
                            let max_age = policy.maximum_event_age_in_seconds.unwrap_or(DEFAULT_MAX_AGE_SECS) * 1000;
                            let attempts = d.attempts + 1;
                            let backoff = backoff(cfg.retry_base, cfg.retry_max, attempts);
                            let next = now + backoff.as_millis() as i64;
                            let give_up = !retry || attempts > max_retries || next - d.first_ms > max_age;
                            if !give_up {
                                tx.execute(
                                    "UPDATE eb_deliveries SET attempts = ?2, next_ms = ?3, last_error = ?4 WHERE id = ?1",
                                    params![d.id, attempts, next, reason],
                                )?;
                                continue;
                            }
                            tx.execute("DELETE FROM eb_deliveries WHERE id = ?1", [d.id])?;
                            match t.dead_letter_config.and_then(|c| c.arn) {
                                Some(dlq) => {
                                    let q = crate::queue::queue_name(&dlq).to_string();
                                    tx.execute(
                                        "INSERT OR IGNORE INTO eb_queues (name, visibility_ms, created_ms) VALUES (?1, 30000, ?2)",
                                        params![q, now],
                                    )?;
                                    tx.execute(
                                        "INSERT INTO eb_queue_messages (queue, body, sent_ms, visible_ms) VALUES (?1, ?2, ?3, ?3)",
                                        params![q, d.body, now],
                                    )?;
                                    tracing::warn!(target = %d.target_arn, attempts, "delivery dead-lettered: {reason}");
                                    moved += 1;
                                }
                                None => tracing::error!(target = %d.target_arn, attempts, "delivery dropped (no dead-letter queue): {reason}"),
                            }
                        }
                    }
                }
                Ok(moved)
            })
            .await?;
        let stats = &self.inner.stats;
        crate::stats::Counters::add(&stats.deliveries, done);
        crate::stats::Counters::add(&stats.delivery_failures, failed);
        crate::stats::Counters::add(&stats.dead_lettered, moved_to_queue);
        if moved_to_queue > 0 {
            self.inner.queue_notify.notify_waiters();
        }
        Ok(n)
    }

    async fn attempt(&self, d: &Due) -> Attempt {
        if let Some(name) = arn_tail(&d.target_arn, ":function:") {
            let consumer = self
                .inner
                .consumers
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(name)
                .cloned();
            let Some(consumer) = consumer else {
                return Attempt::Failed {
                    retry: true,
                    reason: format!("no in-process consumer named {name}"),
                };
            };
            let body = String::from_utf8_lossy(&d.body).into_owned();
            return match consumer(body).await {
                Ok(()) => Attempt::Done,
                Err(reason) => Attempt::Failed {
                    retry: true,
                    reason,
                },
            };
        }
        if d.target_arn.contains(":api-destination/") {
            return self.invoke_api_destination(d).await;
        }
        Attempt::Failed {
            retry: false,
            reason: format!("unsupported target {}", d.target_arn),
        }
    }

    async fn invoke_api_destination(&self, d: &Due) -> Attempt {
        let dest = match self.api_destination_by_arn(&d.target_arn).await {
            Ok(x) => x,
            Err(e) => {
                return Attempt::Failed {
                    retry: true,
                    reason: e.to_string(),
                }
            }
        };
        // Rate limit: space calls 1/rate seconds apart per destination.
        if let Some(rate) = dest.invocation_rate_limit_per_second.filter(|r| *r > 0) {
            let gap = (1000 / rate).max(1);
            let now = Timestamp::now().0;
            let mut slots = self.inner.rate.lock().unwrap_or_else(|p| p.into_inner());
            let next = slots.entry(d.target_arn.clone()).or_insert(now);
            if *next > now + 1000 {
                return Attempt::Later(*next);
            }
            *next = (*next).max(now) + gap;
        }
        let (auth_type, auth) = match self
            .connection_auth(dest.connection_arn.as_deref().unwrap_or_default())
            .await
        {
            Ok(x) => x,
            Err(e) => {
                return Attempt::Failed {
                    retry: true,
                    reason: e.to_string(),
                }
            }
        };
        let t: Target = serde_json::from_str(&d.spec).unwrap_or_default();
        let mut url = dest.invocation_endpoint.clone().unwrap_or_default();
        let hp = t.http_parameters.unwrap_or_default();
        for v in hp.path_parameter_values.iter().flatten() {
            url = url.replacen('*', v, 1);
        }
        // Checked again here: a path parameter can fill a `*` in the host.
        if !self.inner.cfg.allow_private_destinations {
            if let Err(reason) = check_public_endpoint(&url) {
                return Attempt::Failed {
                    retry: false,
                    reason: format!("{url}: {reason}"),
                };
            }
        }
        let method =
            reqwest::Method::from_bytes(dest.http_method.as_deref().unwrap_or("POST").as_bytes())
                .unwrap_or(reqwest::Method::POST);
        let mut req = self
            .inner
            .http
            .request(method, &url)
            .header("content-type", "application/json; charset=utf-8")
            .header("user-agent", "Amazon/EventBridge/ApiDestinations");
        if let Some(q) = hp.query_string_parameters {
            req = req.query(&q.into_iter().collect::<Vec<_>>());
        }
        for (k, v) in hp.header_parameters.iter().flatten() {
            req = req.header(k, v);
        }
        match auth_type.as_str() {
            "API_KEY" => {
                if let Some(k) = auth.api_key_auth_parameters {
                    req = req.header(
                        k.api_key_name.unwrap_or_default(),
                        k.api_key_value.unwrap_or_default(),
                    );
                }
            }
            "BASIC" => {
                if let Some(b) = auth.basic_auth_parameters {
                    let raw = format!(
                        "{}:{}",
                        b.username.unwrap_or_default(),
                        b.password.unwrap_or_default()
                    );
                    req = req.header(
                        "authorization",
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(raw)
                        ),
                    );
                }
            }
            _ => {}
        }
        match req.body(d.body.clone()).send().await {
            Ok(res) if res.status().is_success() => Attempt::Done,
            Ok(res) => {
                let s = res.status().as_u16();
                // AWS retries 401, 407, 409, 429 and 5xx; other client errors are final.
                let retry = s >= 500 || matches!(s, 401 | 407 | 409 | 429);
                Attempt::Failed {
                    retry,
                    reason: format!("HTTP {s} from {url}"),
                }
            }
            Err(e) => Attempt::Failed {
                retry: true,
                reason: format!("{url}: {e}"),
            },
        }
    }
}

/// Exponential back-off: `base * 2^(attempts-1)`, at most `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempts: i64) -> Duration {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    base.saturating_mul(2u32.saturating_pow(exp)).min(max)
}

/// Runs [`Bus::delivery_step`] whenever woken by new deliveries or every `delivery_poll`.
pub(crate) async fn run(bus: Bus, shutdown: CancellationToken) {
    let poll = bus.inner.cfg.delivery_poll;
    loop {
        let n = match bus.delivery_step().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("delivery step failed: {e}");
                0
            }
        };
        if n as i64 >= BATCH {
            if shutdown.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = bus.inner.delivery_notify.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(b, m, 1), b);
        assert_eq!(backoff(b, m, 2), Duration::from_millis(200));
        assert_eq!(backoff(b, m, 10), m);
    }
}
