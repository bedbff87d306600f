//! How every listener (console, EventBridge API, simulated SaaS) is served:
//! an accept loop over hyper's HTTP/1 connection with the limits that
//! `axum::serve` does not offer, so one client cannot hold the server with
//! connections it never uses.
//!
//! * **Header-read timeout**: from the moment a connection is accepted (or,
//!   on a kept-alive connection, from the first byte of the next request)
//!   the client has this long to send a whole request head; a slow sender
//!   (slowloris) is disconnected.
//! * **Idle timeout**: a kept-alive connection with no request in progress
//!   and no byte received is closed after this long; so is one whose
//!   client stopped reading a response (its writes blocked this long).
//! * **Connection cap**: beyond this many open connections a new one is
//!   answered `503` with `Retry-After` and closed at once.
//!
//! A request in progress (handler running, or its response body still
//! streaming, e.g. the change stream) is bounded by the request timeout and
//! the subscriber cap instead, not by these. Each request carries the peer
//! address as [`ConnectInfo`] (as `into_make_service_with_connect_info`
//! does), which sign-in uses to recognise trusted proxies. On shutdown the
//! loop stops accepting, asks every connection to finish its current
//! request and waits for all of them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send a request's head (request line and
    /// headers), from the connection's start or the next request's first
    /// byte.
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may stay without a request.
    pub idle_timeout: Duration,
    /// Open connections at most; more are refused with 503.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 512,
        }
    }
}

/// What a refused connection receives before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 21\r\n\r\n\
too many connections\n";

/// Serves `router` on `listener` within `limits` until `shutdown` is
/// cancelled, then drains: stops accepting, lets every connection finish
/// its current request, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little
                // rather than spin (as axum::serve does).
                tracing::warn!("accept failed: {e}");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        // A response goes out as soon as it is written: with Nagle's
        // algorithm, the last write of a response that took two waited for
        // the client's delayed acknowledgement (40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: {} open", limits.max_connections);
            // A fresh socket's send buffer is empty: this never blocks.
            let _ = stream.try_write(TOO_MANY);
            continue;
        };
        connections.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves one connection until it ends, a timeout closes it, or (after
/// `shutdown`) its current request is done.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let state = Arc::new(ConnState::new());
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let service_state = state.clone();
    let service = tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        let guard = service_state.request_started();
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let res = router.oneshot(req).await?;
            Ok::<_, Infallible>(res.map(|body| {
                Body::new(Guarded {
                    inner: body,
                    _guard: guard,
                })
            }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watchdog below enforces our own header timeout (hyper's would
    // also cut idle connections at the same moment).
    http.header_read_timeout(None);
    let conn = http
        .serve_connection(io, hyper_util::service::TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let watchdog = watchdog(&state, limits);
    tokio::pin!(watchdog);
    let mut draining = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            why = &mut watchdog => {
                tracing::debug!(%peer, "connection closed: {why}");
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves when the connection has outlived a limit, naming it.
async fn watchdog(state: &ConnState, limits: Limits) -> &'static str {
    loop {
        let deadline = {
            let phase = state.phase();
            if phase.in_flight > 0 {
                phase
                    .write_blocked_since
                    .map(|since| (since + limits.idle_timeout, "the client stopped reading"))
            } else if let Some(start) = phase.head_started {
                Some((
                    start + limits.header_read_timeout,
                    "request head not received in time",
                ))
            } else {
                Some((phase.idle_since + limits.idle_timeout, "idle"))
            }
        };
        match deadline {
            None => state.changed.notified().await,
            Some((at, why)) => {
                if Instant::now() >= at {
                    return why;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = state.changed.notified() => {}
                }
            }
        }
    }
}

/// Where a connection is between requests; shared by its reader, its
/// requests and its watchdog.
struct ConnState {
    phase: Mutex<Phase>,
    /// Whether `write_blocked_since` is set, read without the lock on
    /// every write.
    write_blocked: AtomicBool,
    /// Woken when a deadline may have moved earlier or gone.
    changed: Notify,
}

struct Phase {
    /// Requests whose response is not yet fully sent.
    in_flight: usize,
    /// When the connection last became idle.
    idle_since: Instant,
    /// When the pending request head began (accept, or its first byte).
    head_started: Option<Instant>,
    /// Since when writing the response has been blocked by a client that
    /// does not read.
    write_blocked_since: Option<Instant>,
}

impl ConnState {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                idle_since: now,
                head_started: Some(now),
                write_blocked_since: None,
            }),
            write_blocked: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request head was parsed: the request now runs; the guard ends it.
    fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.head_started = None;
        RequestGuard(self.clone())
    }

    /// Bytes arrived: on an idle connection they begin the next head.
    fn received(&self) {
        let mut phase = self.phase();
        if phase.in_flight == 0 && phase.head_started.is_none() {
            phase.head_started = Some(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }
}

impl ConnState {
    /// A write could not proceed (`blocked`) or did.
    fn wrote(&self, blocked: bool) {
        if self.write_blocked.load(Ordering::Relaxed) == blocked {
            return;
        }
        self.write_blocked.store(blocked, Ordering::Relaxed);
        self.phase().write_blocked_since = blocked.then(Instant::now);
        if blocked {
            self.changed.notify_one();
        }
    }
}

/// Held by a request until its response body is sent or dropped.
struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        phase.in_flight = phase.in_flight.saturating_sub(1);
        if phase.in_flight == 0 {
            phase.idle_since = Instant::now();
            drop(phase);
            self.0.changed.notify_one();
        }
    }
}

/// A response body that ends its request when it is done.
struct Guarded {
    inner: Body,
    _guard: RequestGuard,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the connection's state when bytes arrive.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.received();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.state.wrote(written.is_pending());
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.state.wrote(written.is_pending());
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
