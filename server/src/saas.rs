//! The SaaS over HTTP: the health probe the status monitor uses, and the
//! embedded simulator started when no real SaaS is configured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use mediator_core::{HealthProbe, SaasSubmitter, SubmitOutcome};

/// The SaaS URLs of a part whose configuration names none: `{base}/saas/{part}/status`
/// and `{base}/saas/{part}/submit` (`base` without a trailing slash).
pub fn default_urls(base: &str, part: &str) -> (String, String) {
    (
        format!("{base}/saas/{part}/status"),
        format!("{base}/saas/{part}/submit"),
    )
}

/// Checks each part with `GET` on its status URL: any 2xx is healthy.
pub struct HttpProbe {
    client: reqwest::Client,
    urls: HashMap<String, String>,
}

impl HttpProbe {
    /// A probe of `urls` (part → status URL); each check is bounded by
    /// `timeout` (the monitor bounds it by the part's check timeout too).
    pub fn new(urls: HashMap<String, String>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(4)
                .build()?,
            urls,
        })
    }
}

#[async_trait]
impl HealthProbe for HttpProbe {
    async fn check(&self, part: &str) -> Result<(), String> {
        let Some(url) = self.urls.get(part) else {
            return Err(format!("no status URL for part {part:?}"));
        };
        match self.client.get(url).send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("HTTP {}", res.status().as_u16())),
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("connection refused".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Submits vouchers with `POST` of the voucher JSON to their part's submit
/// URL: 2xx accepted; 4xx refused (except 408 and 429, which are
/// transient); 5xx, timeout or no connection unavailable.
pub struct HttpSubmitter {
    client: reqwest::Client,
    urls: HashMap<String, (String, Duration)>,
}

impl HttpSubmitter {
    /// A submitter to `urls` (part → submit URL and the time one call may take).
    pub fn new(urls: HashMap<String, (String, Duration)>) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                // Resubmission runs up to 256 calls at once per part: keep
                // their connections rather than reopening them.
                .pool_max_idle_per_host(256)
                .build()?,
            urls,
        })
    }
}

/// Header carrying the voucher's `loyalty_request_id` on every submission.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[async_trait]
impl SaasSubmitter for HttpSubmitter {
    async fn submit(&self, part: &str, body: &serde_json::Value) -> SubmitOutcome {
        let Some((url, timeout)) = self.urls.get(part) else {
            return SubmitOutcome::Unavailable {
                reason: format!("no submit URL for part {part:?}"),
            };
        };
        let mut req = self.client.post(url).timeout(*timeout).json(body);
        // The voucher's id is its idempotency key: a SaaS that honours the
        // header absorbs the one resend a crash can cause (between its
        // answer and our recording it).
        if let Some(id) = body.get("loyalty_request_id").and_then(|v| v.as_str()) {
            req = req.header(IDEMPOTENCY_KEY, id);
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                if res.status().is_success() {
                    return SubmitOutcome::Accepted { status };
                }
                let reason = answer_excerpt(res).await;
                if res_is_client_error(status) {
                    SubmitOutcome::Rejected { status, reason }
                } else {
                    SubmitOutcome::Unavailable {
                        reason: format!("HTTP {status} {reason}"),
                    }
                }
            }
            Err(e) if e.is_timeout() => SubmitOutcome::Unavailable {
                reason: "timed out".into(),
            },
            Err(e) if e.is_connect() => SubmitOutcome::Unavailable {
                reason: "connection refused".into(),
            },
            Err(e) => SubmitOutcome::Unavailable {
                reason: e.to_string(),
            },
        }
    }
}

/// Bytes of a refusal's body read at most: enough for any error message, and
/// a vendor answering with megabytes (or never finishing) costs no more.
const MAX_ANSWER_BYTES: usize = 4096;

/// Characters of a refusal's body kept in the voucher's error.
const MAX_REASON_CHARS: usize = 200;

/// The start of a refusal's body as text, for the voucher's error: at most
/// [`MAX_ANSWER_BYTES`] are read (the call's timeout bounds a slow body),
/// invalid UTF-8 is replaced, and the text is cut on a character boundary.
async fn answer_excerpt(mut res: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            // The end, or a body cut off or too slow: keep what arrived.
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_ANSWER_BYTES);
    excerpt(&bytes)
}

/// `bytes` as text, at most [`MAX_REASON_CHARS`] characters, never cut
/// inside a character (a cut multi-byte character becomes U+FFFD).
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_REASON_CHARS)
        .collect()
}

/// A 4xx that will not change on retry (408 and 429 will).
fn res_is_client_error(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// The simulator's bound listener, before it serves.
pub struct SimListener {
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) sim: saas_sim::Simulator,
    pub(crate) addr: SocketAddr,
}

impl SimListener {
    /// Binds the simulator for `parts`.
    pub async fn bind(addr: SocketAddr, parts: &[String]) -> anyhow::Result<Self> {
        use anyhow::Context;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("sim_listen: cannot bind {addr}"))?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener,
            sim: saas_sim::Simulator::new(parts.iter().cloned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// How the fake vendor writes its body.
    #[derive(Debug, Clone)]
    enum Pace {
        /// All at once, then closes.
        AtOnce,
        /// A byte at a time with pauses, never finishing in time.
        Trickle,
        /// Claims more than it sends, then hangs up.
        CutShort,
    }

    /// Serves one raw HTTP/1.1 answer on loopback and returns its URL.
    fn vendor(head: Vec<u8>, body: Vec<u8>, pace: Pace) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/submit", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            // Read the request's head and body (the client sends them at once).
            let mut buf = [0u8; 4096];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(&head);
            match pace {
                Pace::AtOnce => {
                    let _ = conn.write_all(&body);
                }
                Pace::Trickle => {
                    for b in body.iter().cycle().take(400) {
                        if conn.write_all(&[*b]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Pace::CutShort => {
                    let _ = conn.write_all(&body[..body.len() / 2]);
                }
            }
        });
        url
    }

    fn submitter(url: String, timeout: Duration) -> HttpSubmitter {
        HttpSubmitter::new(HashMap::from([("voucher".to_owned(), (url, timeout))])).unwrap()
    }

    fn head(status: u16, headers: &[(String, Vec<u8>)], length: Option<usize>) -> Vec<u8> {
        let mut h = format!("HTTP/1.1 {status} X\r\n").into_bytes();
        for (name, value) in headers {
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(value);
            h.extend_from_slice(b"\r\n");
        }
        if let Some(n) = length {
            h.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
        }
        h.extend_from_slice(b"connection: close\r\n\r\n");
        h
    }

    fn voucher() -> serde_json::Value {
        serde_json::json!({"loyalty_request_id": "fuzz-1"})
    }

    /// The outcome a status must give, whatever the body.
    fn check_outcome(status: u16, outcome: &SubmitOutcome) {
        match outcome {
            SubmitOutcome::Accepted { status: s } => {
                assert!((200..300).contains(&status), "{status} accepted");
                assert_eq!(*s, status);
            }
            SubmitOutcome::Rejected { status: s, reason } => {
                assert!(res_is_client_error(status), "{status} rejected");
                assert_eq!(*s, status);
                assert!(reason.chars().count() <= MAX_REASON_CHARS, "{reason:?}");
            }
            SubmitOutcome::Unavailable { reason } => {
                assert!(reason.len() <= 1024, "{reason:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_refusal_cut_inside_a_character_is_kept_whole() {
        // 199 ASCII bytes, then a 3-byte character across the 200th byte:
        // the old `truncate(200)` panicked here.
        let mut body = vec![b'x'; 199];
        body.extend_from_slice("€€€".as_bytes());
        let url = vendor(head(422, &[], Some(body.len())), body, Pace::AtOnce);
        let outcome = submitter(url, Duration::from_secs(5))
            .submit("voucher", &voucher())
            .await;
        let SubmitOutcome::Rejected { status, reason } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(status, 422);
        assert_eq!(reason.chars().count(), 200);
        assert!(reason.ends_with('€'), "{reason:?}");
    }

    #[tokio::test]
    async fn a_huge_or_endless_refusal_is_read_only_in_part() {
        // 64 MiB announced and sent: only the first few KiB are read.
        let body = vec![b'a'; 64 << 20];
        let url = vendor(head(500, &[], Some(body.len())), body, Pace::AtOnce);
        let started = Instant::now();
        let outcome = submitter(url, Duration::from_secs(5))
            .submit("voucher", &voucher())
            .await;
        assert!(
            matches!(&outcome, SubmitOutcome::Unavailable { reason } if reason.starts_with("HTTP 500 aaa")),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // A body that trickles for longer than the call may take.
        let url = vendor(head(503, &[], None), b"slow".to_vec(), Pace::Trickle);
        let started = Instant::now();
        let outcome = submitter(url, Duration::from_millis(500))
            .submit("voucher", &voucher())
            .await;
        assert!(
            matches!(outcome, SubmitOutcome::Unavailable { .. }),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any status, headers and body (invalid UTF-8, cut short, slow)
        /// gives an outcome that matches the status: never a panic, never a
        /// hang beyond the call's timeout.
        #[test]
        fn any_vendor_answer_gives_an_outcome(
            status in 100u16..1000,
            headers in proptest::collection::vec(
                ("[a-zA-Z][a-zA-Z0-9-]{0,20}", proptest::collection::vec(0x20u8..0x7f, 0..40)),
                0..4,
            ),
            body in proptest::collection::vec(any::<u8>(), 0..1200),
            declared in prop_oneof![Just(None), Just(Some(0usize)), (0usize..5000).prop_map(Some)],
            pace in prop_oneof![Just(Pace::AtOnce), Just(Pace::CutShort), Just(Pace::Trickle)],
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let headers: Vec<_> = headers
                .into_iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length")
                    && !n.eq_ignore_ascii_case("transfer-encoding"))
                .collect();
            let url = vendor(head(status, &headers, declared), body, pace);
            let started = Instant::now();
            let outcome = rt.block_on(
                submitter(url, Duration::from_millis(300)).submit("voucher", &voucher()),
            );
            prop_assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
            // 1xx are interim answers: hyper waits for the final one and
            // the call ends as unavailable.
            if status >= 200 {
                check_outcome(status, &outcome);
            } else {
                prop_assert!(matches!(outcome, SubmitOutcome::Unavailable { .. }), "{:?}", outcome);
            }
        }
    }
}
