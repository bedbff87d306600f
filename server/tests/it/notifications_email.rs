//! Email notifications over real SMTP: a sink written here listens on
//! loopback and speaks EHLO, STARTTLS (its self-signed certificate, which
//! the channel's `ca_file` trusts), MAIL, RCPT, DATA and QUIT, recording
//! each mail and whether it came over TLS. The mail names the event and
//! the part; a sink that refuses gets the same mail again after the
//! back-off, then it is delivered.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use crate::common::{eventually, spawn_app_with, TestApp};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/smtp")
        .join(name)
}

/// One mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub tls: bool,
    pub at: Instant,
}

impl Mail {
    /// The value of header `name` (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The body (after the headers; quoted-printable soft breaks undone).
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        body.replace("=\r\n", "").replace("=3D", "=")
    }
}

/// An SMTP sink on loopback: records mails; refuses the next `refuse`
/// DATA commands with a 451.
#[derive(Clone, Default)]
pub struct Sink {
    pub mails: Arc<Mutex<Vec<Mail>>>,
    pub refused: Arc<Mutex<Vec<Instant>>>,
    pub refuse: Arc<Mutex<usize>>,
}

impl Sink {
    /// Starts a sink on `127.0.0.1:0`.
    pub async fn start() -> (Sink, SocketAddr) {
        let sink = Sink::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls_acceptor();
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (s, acceptor) = (s.clone(), acceptor.clone());
                tokio::spawn(async move { s.session(tcp, acceptor).await });
            }
        });
        (sink, addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    async fn session(&self, tcp: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        let mut plain = BufReader::new(tcp);
        if plain
            .get_mut()
            .write_all(b"220 sink ESMTP ready\r\n")
            .await
            .is_err()
        {
            return;
        }
        if let Some(true) = self.converse(&mut plain, false).await {
            let Ok(tls) = acceptor.accept(plain.into_inner()).await else {
                return;
            };
            self.converse(&mut BufReader::new(tls), true).await;
        }
    }

    /// Serves commands until QUIT or EOF; `Some(true)` when STARTTLS was
    /// accepted (the caller upgrades the stream).
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut BufReader<S>,
        tls: bool,
    ) -> Option<bool> {
        let (mut from, mut to) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                if tls {
                    "250-sink\r\n250 8BITMIME\r\n".into()
                } else {
                    "250-sink\r\n250-8BITMIME\r\n250 STARTTLS\r\n".into()
                }
            } else if upper == "STARTTLS" && !tls {
                io.get_mut()
                    .write_all(b"220 2.0.0 ready for TLS\r\n")
                    .await
                    .ok()?;
                return Some(true);
            } else if upper.starts_with("MAIL FROM:") {
                from = cmd[10..].trim().to_owned();
                to.clear();
                "250 2.1.0 ok\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                to.push(cmd[8..].trim().to_owned());
                "250 2.1.5 ok\r\n".into()
            } else if upper == "DATA" {
                io.get_mut().write_all(b"354 end with .\r\n").await.ok()?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if io.read_line(&mut l).await.ok()? == 0 {
                        return None;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let refuse = {
                    let mut r = self.refuse.lock().unwrap();
                    let now = *r > 0;
                    *r = r.saturating_sub(1);
                    now
                };
                if refuse {
                    self.refused.lock().unwrap().push(Instant::now());
                    "451 4.3.0 mailbox busy, try later\r\n".into()
                } else {
                    self.mails.lock().unwrap().push(Mail {
                        from: from.clone(),
                        to: to.clone(),
                        data,
                        tls,
                        at: Instant::now(),
                    });
                    "250 2.0.0 queued\r\n".into()
                }
            } else if upper == "QUIT" {
                let _ = io.get_mut().write_all(b"221 2.0.0 bye\r\n").await;
                return Some(false);
            } else if upper == "RSET" || upper == "NOOP" {
                "250 2.0.0 ok\r\n".into()
            } else {
                "502 5.5.2 not implemented\r\n".into()
            };
            io.get_mut().write_all(reply.as_bytes()).await.ok()?;
            io.get_mut().flush().await.ok()?;
        }
    }
}

/// The sink's TLS: its self-signed certificate (for `127.0.0.1` and
/// `localhost`) and key.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_file(fixture("sink-cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("sink-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn config(dir: &Path, sink: SocketAddr) -> PathBuf {
    let path = dir.join("mediator.toml");
    let text = format!(
        r#"
[parts.voucher]
failure_threshold = 1
recovery_threshold = 1

[notify]
retry_base = 0.5
retry_max = 2
max_attempts = 5
send_timeout = 5
poll_interval = 0.1

[notify.channels.mail]
type = "email"
host = "127.0.0.1"
port = {port}
from = "Vendor Mediator <mediator@example.com>"
to = ["ops@example.com", "On call <oncall@example.com>"]
ca_file = "{ca}"
kinds = ["part_down", "part_up"]
"#,
        port = sink.port(),
        ca = fixture("sink-cert.pem").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(config: PathBuf) -> TestApp {
    spawn_app_with(move |a| {
        a.config = Some(config);
        a.parts = Some(vec!["voucher".into(), "member".into()]);
    })
    .await
}

async fn wait_for_mails(sink: &Sink, n: usize) -> Vec<Mail> {
    eventually(30, &format!("{n} mails"), || async {
        let got = sink.mails();
        if got.len() >= n {
            Ok(got)
        } else {
            Err(format!("{} so far", got.len()))
        }
    })
    .await
}

#[tokio::test]
async fn a_part_going_down_is_mailed_over_starttls_naming_the_event_and_the_part() {
    let (sink, addr) = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = start(config(dir.path(), addr)).await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let mail = wait_for_mails(&sink, 1).await.remove(0);
    assert!(mail.tls, "sent only after STARTTLS");
    assert_eq!(mail.from, "<mediator@example.com>");
    assert_eq!(mail.to, ["<ops@example.com>", "<oncall@example.com>"]);
    let subject = mail.header("Subject").unwrap();
    assert_eq!(subject, "[Vendor Mediator] part_down: Part voucher is down");
    let body = mail.body();
    assert!(body.contains("Kind:     part_down"), "{body}");
    assert!(body.contains("Part:     voucher"), "{body}");
    let d: Value = eventually(10, "delivered", || async {
        let (_, log) = app.get_json("/api/v1/notifications").await;
        let d = log["deliveries"][0].clone();
        if d["status"] == "delivered" {
            Ok(d)
        } else {
            Err(format!("{d}"))
        }
    })
    .await;
    let event = d["event_id"].as_str().unwrap();
    assert!(event.starts_with("status-"), "{d}");
    assert!(body.contains(&format!("Event id: {event}")), "{body}");
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        format!("<{event}@vendor-mediator>")
    );
    assert_eq!(
        mail.header("To").unwrap(),
        "ops@example.com, \"On call\" <oncall@example.com>"
    );
    assert_eq!(
        (d["channel"].as_str(), d["status"].as_str()),
        (Some("mail"), Some("delivered"))
    );
    let (_, list) = app.get_json("/api/v1/notifications").await;
    assert_eq!(list["channels"][0]["type"], "email", "{list}");
}

#[tokio::test]
async fn a_refusing_sink_gets_the_mail_again_after_the_back_off() {
    let (sink, addr) = Sink::start().await;
    *sink.refuse.lock().unwrap() = 2;
    let dir = tempfile::tempdir().unwrap();
    let app = start(config(dir.path(), addr)).await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    let mail = wait_for_mails(&sink, 1).await.remove(0);
    let refused = sink.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 2);
    // retry_base 0.5 s, doubled: ≥ 0.5 s, then ≥ 1 s.
    let gaps = [refused[1] - refused[0], mail.at - refused[1]];
    assert!(gaps[0] >= Duration::from_millis(450), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(950), "{gaps:?}");
    let log: Vec<Value> = eventually(10, "delivered", || async {
        let (_, body) = app.get_json("/api/v1/notifications").await;
        let d = body["deliveries"].as_array().cloned().unwrap_or_default();
        if d.first().is_some_and(|d| d["status"] == "delivered") {
            Ok(d)
        } else {
            Err(format!("{d:?}"))
        }
    })
    .await;
    assert_eq!(log[0]["attempts"], 3);
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("451") && error.contains("try later"),
        "{error}"
    );
    assert_eq!(sink.mails().len(), 1, "delivered once");
}
