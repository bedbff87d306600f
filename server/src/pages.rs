//! Rendered pages reused between changes: every console page and the embeds,
//! kept per path, query and caller until a change the page shows is
//! notified on the change hub, and served with a fresh CSP nonce.
//!
//! **What each page shows** ([`policy`]): the change-hub topics its
//! resources follow in the browser (`live.version(&[…])` in its route
//! module), plus writes without a topic ([`mediator_core::Changes::invalidate`]:
//! events reaching an archive). The audit log has no topic: its page follows
//! the hub's audit count ([`mediator_core::Changes::audited`], moved by every
//! entry [`mediator_core::Audit`] appends). The overview follows every
//! change, as its read model does.
//!
//! **Freshness**: a page is reused only while nothing it shows was notified
//! since its render began, so a page load that starts after a change was
//! notified (a mutation the caller just made, or a status change) waits for
//! a new render and shows it. What moves without a notification (time: the
//! day bars' "today", uptime; writes by another process) is bounded by a
//! maximum age: [`app::api::OVERVIEW_MAX_AGE`] for the overview (as its read
//! model), [`PAGE_MAX_AGE`] for the others. Past that age, one request renders
//! the page again; for every page but the overview the requests arriving
//! meanwhile get the previous render (nothing was notified since it began),
//! so a slow render (the 90-day timeline) never holds a queue of readers.
//!
//! **Keys**: the path and query as sent, and the caller (name, role, how
//! they signed in, the session's CSRF token: the navigation shows the user
//! and the sign-out form carries the token). A console page without a
//! caller is never kept; embeds have none unless `--private-embeds`. The
//! theme is applied in the browser (`localStorage`), and an embed's
//! `?theme=`/`?bg=` are in its query.
//!
//! **Memory**: at most [`PAGES_MAX`] keys and [`PAGES_MAX_BYTES`] of kept
//! HTML (and its compressed copy); past either, the least recently used go first (query strings are
//! the caller's choice). A page larger than a quarter of the budget is
//! rendered every time.
//!
//! **Nonce**: only the CSP nonce differs between two responses of one page:
//! body and headers are kept split at the nonce they were rendered with and
//! every response gets a fresh one ([`leptos::nonce::Nonce::new`], 128
//! random bits) in its scripts and its `Content-Security-Policy`. Only
//! complete `200` HTML pages without `Set-Cookie` are kept; a console page
//! must carry a nonce to be kept (embeds have none).
//!
//! **Per response**, nothing proportional to the page is done: the kept
//! pieces go out as they are, one body frame each, with the nonce between
//! them (`Content-Length` set). A caller whose `Accept-Encoding` takes gzip
//! (every browser) gets the page gzip-compressed the same way
//! ([`GzipPieces`]: compressed once per render, the nonce put in as an
//! uncompressed deflate block); the compression layer leaves a response
//! that has a `Content-Encoding` alone. A caller that takes only brotli
//! gets the plain page, compressed on the way out as any response.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::api::ConsoleContext;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mediator_core::{Changes, Topic};

/// How long a page other than the overview is reused without a change
/// being notified (time-based figures, writes of other processes).
pub const PAGE_MAX_AGE: Duration = Duration::from_secs(1);

/// Most pages kept at once (one per path, query and caller).
pub const PAGES_MAX: usize = 512;

/// Most bytes of rendered HTML kept at once.
pub const PAGES_MAX_BYTES: usize = 64 << 20;

/// What a page shows, for its freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    /// Every change (the overview).
    Everything,
    /// These topics (and writes without a topic).
    Topics(&'static [Topic]),
    /// The audit log (and writes without a topic).
    AuditLog,
}

/// Who a page is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A console page: per caller, kept only with a caller and a nonce.
    Console,
    /// An embed: public unless `--private-embeds`, no nonce.
    Embed,
}

/// How one page is cached.
#[derive(Debug, Clone, Copy)]
struct Policy {
    shows: Shows,
    kind: Kind,
    max_age: Duration,
    /// The overview: its age is that of the read model's snapshot, read
    /// before the render; past the age every reader waits for the render.
    overview: bool,
}

/// The policy of `path`, `None` for what is not kept.
fn policy(path: &str) -> Option<Policy> {
    use Topic::{Dlq, Notification, Override, Replay, Status, Voucher};
    let console = |topics: &'static [Topic]| Policy {
        shows: Shows::Topics(topics),
        kind: Kind::Console,
        max_age: PAGE_MAX_AGE,
        overview: false,
    };
    let embed = Policy {
        kind: Kind::Embed,
        ..console(&[Status, Override])
    };
    Some(match path {
        "/" => Policy {
            shows: Shows::Everything,
            kind: Kind::Console,
            max_age: app::api::OVERVIEW_MAX_AGE,
            overview: true,
        },
        // Bars and outages (status), maintenance windows (override); the
        // replay dialog.
        "/timeline" => console(&[Status, Override, Replay]),
        "/incidents" => console(&[Status, Replay, Voucher]),
        "/replays" => console(&[Replay]),
        // The list (voucher), a voucher's detail and the dead-letter queue.
        "/vouchers" => console(&[Voucher, Dlq]),
        // Archive lists (voucher); events reaching an archive are writes
        // without a topic, which every page follows.
        "/archives" => console(&[Voucher]),
        "/audit" => Policy {
            shows: Shows::AuditLog,
            ..console(&[])
        },
        "/embeds" => console(&[Status, Override, Voucher, Replay]),
        "/notifications" => console(&[Notification]),
        // Status, since, uptime, maintenance (override), the 90 day bars.
        "/embed/status" => embed,
        p if p
            .strip_prefix("/embed/parts/")
            .is_some_and(|part| !part.is_empty() && !part.contains('/')) =>
        {
            embed
        }
        _ => return None,
    })
}

/// The rendered pages; cheap to clone.
#[derive(Clone)]
pub struct PageCache {
    inner: Arc<Inner>,
}

struct Inner {
    console: ConsoleContext,
    changes: Changes,
    entries: Mutex<Entries>,
    max_entries: usize,
    max_bytes: usize,
}

/// The kept pages, least recently used first out.
#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// Bytes of the kept pages.
    bytes: usize,
    /// Bumped by every use; an entry's `used` is the value at its last.
    clock: u64,
}

struct Entry {
    page: Option<Arc<RenderedPage>>,
    /// One render of this key at a time.
    render: Arc<tokio::sync::Mutex<()>>,
    used: u64,
}

impl Entries {
    /// The key's page (if kept) and render lock, creating its entry.
    fn lookup(
        &mut self,
        key: &str,
        max_entries: usize,
    ) -> (Option<Arc<RenderedPage>>, Arc<tokio::sync::Mutex<()>>) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(e) = self.map.get_mut(key) {
            e.used = clock;
            return (e.page.clone(), e.render.clone());
        }
        while self.map.len() >= max_entries.max(1) && self.evict_one(key) {}
        let render = Arc::new(tokio::sync::Mutex::new(()));
        self.map.insert(
            key.to_owned(),
            Entry {
                page: None,
                render: render.clone(),
                used: clock,
            },
        );
        (None, render)
    }

    /// The key's page, if kept.
    fn page(&self, key: &str) -> Option<Arc<RenderedPage>> {
        self.map.get(key).and_then(|e| e.page.clone())
    }

    /// Keeps `page` under `key`, evicting the least recently used others
    /// past the limits.
    fn keep(&mut self, key: &str, page: RenderedPage, max_entries: usize, max_bytes: usize) {
        let size = page.size();
        if size > max_bytes / 4 {
            return;
        }
        self.clock += 1;
        let clock = self.clock;
        // The page it replaces (if any) leaves the budget.
        let replaced = self.page(key).map_or(0, |p| p.size());
        while (self.bytes - replaced + size > max_bytes
            || (self.map.len() >= max_entries.max(1) && !self.map.contains_key(key)))
            && self.evict_one(key)
        {}
        let entry = self.map.entry(key.to_owned()).or_insert_with(|| Entry {
            page: None,
            render: Default::default(),
            used: clock,
        });
        entry.used = clock;
        let old = entry.page.replace(Arc::new(page));
        self.bytes = self.bytes + size - old.map_or(0, |p| p.size());
    }

    /// Removes the least recently used entry other than `keep`; `false` if
    /// there is none.
    fn evict_one(&mut self, keep: &str) -> bool {
        let Some(oldest) = self
            .map
            .iter()
            .filter(|(k, _)| k.as_str() != keep)
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        if let Some(e) = self.map.remove(&oldest) {
            self.bytes -= e.page.map_or(0, |p| p.size());
        }
        true
    }
}

/// One rendered page: its headers and body, each kept as the pieces between
/// occurrences of its nonce, and the body gzip-compressed the same way.
struct RenderedPage {
    /// What the page shows' version, read before it was rendered.
    version: u64,
    /// When the data it shows (or older data) was read.
    data_at: Instant,
    status: StatusCode,
    /// Headers without the nonce, as is.
    headers: HeaderMap,
    /// Headers that carried the nonce, split at it.
    nonce_headers: Vec<(header::HeaderName, Vec<String>)>,
    /// The body split at the nonce (one piece without a nonce).
    body: Vec<Bytes>,
    body_len: usize,
    /// The same pieces compressed, for callers that accept gzip.
    gzip: GzipPieces,
    /// Length of the nonce it was rendered with (0 without one): every
    /// nonce has that length, which the compressed pieces count on.
    nonce_len: usize,
}

impl RenderedPage {
    /// Splits a rendered response at its nonce; `None` if it must not be
    /// kept (not a complete 200 HTML page, it sets a cookie, or a console
    /// page without a nonce).
    fn capture(
        version: u64,
        data_at: Instant,
        kind: Kind,
        parts: &axum::http::response::Parts,
        body: &Bytes,
    ) -> Option<RenderedPage> {
        let is_html = parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        if parts.status != StatusCode::OK
            || !is_html
            || parts.headers.contains_key(header::SET_COOKIE)
            || parts.headers.contains_key(header::CONTENT_ENCODING)
        {
            return None;
        }
        let nonce = page_nonce(&parts.headers);
        if nonce.is_none() && kind == Kind::Console {
            return None;
        }
        let mut headers = HeaderMap::new();
        let mut nonce_headers = Vec::new();
        for (name, value) in &parts.headers {
            match (value.to_str(), &nonce) {
                (Ok(v), Some(n)) if v.contains(n.as_str()) => nonce_headers.push((
                    name.clone(),
                    v.split(n.as_str()).map(str::to_owned).collect(),
                )),
                _ => {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        headers.remove(header::CONTENT_LENGTH);
        // Either variant is chosen by the request's Accept-Encoding.
        if !headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding"))
        {
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        let body: Vec<Bytes> = match &nonce {
            Some(n) => {
                let text = std::str::from_utf8(body).ok()?;
                text.split(n.as_str())
                    .map(|s| body.slice_ref(s.as_bytes()))
                    .collect()
            }
            None => vec![body.clone()],
        };
        let nonce_len = nonce.as_ref().map_or(0, String::len);
        Some(RenderedPage {
            version,
            data_at,
            status: parts.status,
            headers,
            nonce_headers,
            body_len: body.iter().map(Bytes::len).sum(),
            gzip: GzipPieces::compress(&body),
            nonce_len,
            body,
        })
    }

    /// Bytes kept (the body and its compressed copy; headers are small).
    fn size(&self) -> usize {
        self.body_len + self.gzip.len() + 256
    }

    fn fresh(&self, max_age: Duration) -> bool {
        self.data_at.elapsed() < max_age
    }

    /// The page, with a fresh nonce if it has one, gzip-compressed if
    /// `gzip`. The kept pieces are sent as they are, one frame each, with
    /// the nonce between them: nothing proportional to the page is copied
    /// or compressed per response.
    fn respond(&self, gzip: bool) -> Response {
        let nonce = (self.nonce_len > 0 || !self.nonce_headers.is_empty())
            .then(leptos::nonce::Nonce::new)
            .map(|n| n.to_string());
        // The compressed pieces hold a nonce of the render's length.
        let gzip = gzip && nonce.as_ref().is_none_or(|n| n.len() == self.nonce_len);
        let frames = match (&nonce, gzip) {
            (_, true) => self.gzip.frames(&self.body, nonce.as_deref().unwrap_or("")),
            (Some(n), false) => {
                let n = Bytes::copy_from_slice(n.as_bytes());
                let mut frames = Vec::with_capacity(self.body.len() * 2);
                for (i, piece) in self.body.iter().enumerate() {
                    if i > 0 {
                        frames.push(n.clone());
                    }
                    frames.push(piece.clone());
                }
                frames
            }
            (None, false) => self.body.clone(),
        };
        let body = Pieces::new(frames);
        let len = body.len;
        let mut res = Response::new(Body::new(body));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(n) = &nonce {
            for (name, pieces) in &self.nonce_headers {
                if let Ok(v) = HeaderValue::from_str(&pieces.join(n.as_str())) {
                    headers.insert(name.clone(), v);
                }
            }
        }
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        res
    }
}

/// A page's body pieces gzip-compressed so that a response can put any
/// nonce between them without compressing anything again: each piece is
/// raw deflate of its own (no back reference reaches outside it), ending
/// byte-aligned (a sync flush; the last piece ends the stream), so the
/// nonce goes between two pieces as an uncompressed ("stored") deflate
/// block; the gzip trailer's CRC-32 is combined from the pieces' CRCs and
/// the nonce's.
struct GzipPieces {
    /// Raw deflate of each body piece.
    pieces: Vec<Bytes>,
    /// CRC-32 and length of each (uncompressed) body piece.
    crcs: Vec<(u32, u64)>,
}

/// A gzip member's header: deflate, no name or time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl GzipPieces {
    fn compress(body: &[Bytes]) -> GzipPieces {
        let last = body.len().saturating_sub(1);
        let pieces = body
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut c = flate2::Compress::new(flate2::Compression::default(), false);
                let flush = if i == last {
                    flate2::FlushCompress::Finish
                } else {
                    flate2::FlushCompress::Sync
                };
                let mut out = Vec::with_capacity(piece.len() / 4 + 64);
                loop {
                    let input = &piece[c.total_in() as usize..];
                    // Deflate to memory cannot fail.
                    let status = c.compress_vec(input, &mut out, flush).expect("deflate");
                    let done = c.total_in() as usize == piece.len()
                        && out.len() < out.capacity()
                        && (flush != flate2::FlushCompress::Finish
                            || status == flate2::Status::StreamEnd);
                    if done {
                        break;
                    }
                    out.reserve(out.capacity().max(64));
                }
                Bytes::from(out)
            })
            .collect();
        let crcs = body
            .iter()
            .map(|p| (crc32fast::hash(p), p.len() as u64))
            .collect();
        GzipPieces { pieces, crcs }
    }

    /// Compressed bytes kept.
    fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// The frames of a gzip stream of the body with `nonce` between its
    /// pieces (`body`: the uncompressed pieces, for their count).
    fn frames(&self, body: &[Bytes], nonce: &str) -> Vec<Bytes> {
        debug_assert_eq!(body.len(), self.pieces.len());
        let n = nonce.len() as u16;
        // A stored block: BFINAL 0, BTYPE 00 (padded to the byte), LEN, NLEN.
        let mut stored = Vec::with_capacity(5 + nonce.len());
        stored.push(0);
        stored.extend_from_slice(&n.to_le_bytes());
        stored.extend_from_slice(&(!n).to_le_bytes());
        stored.extend_from_slice(nonce.as_bytes());
        let stored = Bytes::from(stored);
        let mut frames = Vec::with_capacity(self.pieces.len() * 2 + 2);
        frames.push(Bytes::from_static(&GZIP_HEADER));
        let mut crc = crc32fast::Hasher::new();
        let mut nonce_crc = crc32fast::Hasher::new();
        nonce_crc.update(nonce.as_bytes());
        for (i, (piece, &(piece_crc, piece_len))) in self.pieces.iter().zip(&self.crcs).enumerate()
        {
            if i > 0 {
                frames.push(stored.clone());
                crc.combine(&nonce_crc);
            }
            frames.push(piece.clone());
            crc.combine(&crc32fast::Hasher::new_with_initial_len(
                piece_crc, piece_len,
            ));
        }
        let len = self.crcs.iter().map(|c| c.1).sum::<u64>()
            + (self.pieces.len().saturating_sub(1) * nonce.len()) as u64;
        let mut trailer = Vec::with_capacity(8);
        trailer.extend_from_slice(&crc.finalize().to_le_bytes());
        trailer.extend_from_slice(&(len as u32).to_le_bytes());
        frames.push(Bytes::from(trailer));
        frames
    }
}

/// A response body of kept pieces, one frame each (written together by
/// the connection, not copied into one buffer), its length known.
struct Pieces {
    frames: std::collections::VecDeque<Bytes>,
    len: u64,
}

/// Frames shorter than this are copied together into one (a nonce, a
/// gzip header or trailer, a small piece between two nonces): the
/// connection writes at most 16 frames at once, and a response split over
/// two writes can wait for the client's delayed acknowledgement.
const SMALL_FRAME: usize = 1024;

impl Pieces {
    fn new(frames: Vec<Bytes>) -> Pieces {
        let mut out = std::collections::VecDeque::with_capacity(frames.len());
        let mut small = Vec::new();
        for f in frames {
            if f.len() < SMALL_FRAME {
                small.extend_from_slice(&f);
                continue;
            }
            if !small.is_empty() {
                out.push_back(Bytes::from(std::mem::take(&mut small)));
            }
            out.push_back(f);
        }
        if !small.is_empty() {
            out.push_back(Bytes::from(small));
        }
        let len = out.iter().map(|f| f.len() as u64).sum();
        Pieces { frames: out, len }
    }
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let frame = self.frames.pop_front();
        if let Some(f) = &frame {
            self.len -= f.len() as u64;
        }
        std::task::Poll::Ready(frame.map(|f| Ok(http_body::Frame::data(f))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

/// Whether a request's `Accept-Encoding` takes gzip (named with a
/// non-zero quality, or `*` when gzip is not named).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or("").trim();
        let q = params
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f32>().unwrap_or(0.0))
            })
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            star = q > 0.0;
        }
    }
    star
}

/// The nonce of a rendered console page, from its CSP (`'nonce-…'`).
fn page_nonce(headers: &HeaderMap) -> Option<String> {
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)?
        .to_str()
        .ok()?;
    let (_, rest) = csp.split_once("'nonce-")?;
    let (nonce, _) = rest.split_once('\'')?;
    // Leptos's nonces are 22 URL-safe base64 characters; anything short
    // could occur in the page by chance.
    (nonce.len() >= 16
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| nonce.to_owned())
}

impl PageCache {
    /// An empty cache of pages rendered from `console`, following `changes`.
    pub fn new(console: ConsoleContext, changes: Changes) -> Self {
        Self::with_limits(console, changes, PAGES_MAX, PAGES_MAX_BYTES)
    }

    /// [`PageCache::new`] keeping at most `max_entries` pages and
    /// `max_bytes` of HTML.
    pub fn with_limits(
        console: ConsoleContext,
        changes: Changes,
        max_entries: usize,
        max_bytes: usize,
    ) -> Self {
        PageCache {
            inner: Arc::new(Inner {
                console,
                changes,
                entries: Default::default(),
                max_entries,
                max_bytes,
            }),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The version of what a page shows.
    fn version(&self, shows: Shows) -> u64 {
        let c = &self.inner.changes;
        match shows {
            Shows::Everything => c.version(),
            Shows::Topics(t) => c.version_of(t),
            Shows::AuditLog => c.version_of(&[]).wrapping_add(c.audit_version()),
        }
    }

    /// Renders the page through `next` and keeps it.
    async fn render(
        &self,
        key: &str,
        policy: Policy,
        req: Request,
        next: axum::middleware::Next,
    ) -> Response {
        // Read in this order: the page shows data read after `version`.
        let version = self.version(policy.shows);
        let data_at = if policy.overview {
            match app::api::overview_snapshot(&self.inner.console).await {
                Ok(o) => snapshot_instant(&o.generated_at),
                // The read model is unavailable: the page shows the error.
                Err(_) => return next.run(req).await,
            }
        } else {
            Instant::now()
        };
        let (parts, body) = next.run(req).await.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("page {key:?}: {e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        if let Some(page) = RenderedPage::capture(version, data_at, policy.kind, &parts, &body) {
            self.entries()
                .keep(key, page, self.inner.max_entries, self.inner.max_bytes);
        }
        Response::from_parts(parts, Body::from(body))
    }
}

/// The moment a snapshot generated at `generated_at` (RFC 3339) was read;
/// an unreadable time counts as already too old to reuse.
fn snapshot_instant(generated_at: &str) -> Instant {
    let now = Instant::now();
    let age = chrono::DateTime::parse_from_rfc3339(generated_at)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or(app::api::OVERVIEW_MAX_AGE);
    now.checked_sub(age).unwrap_or(now)
}

/// What a page's HTML depends on besides the data and the nonce: the path
/// and query, and the caller the navigation shows. `None`: not kept.
fn page_key(req: &Request, kind: Kind) -> Option<String> {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let who = req.extensions().get::<mediator_core::Principal>();
    match (who, kind) {
        (Some(who), _) => Some(format!(
            "{pq}\n{}\n{}\n{}\n{}",
            who.name,
            who.role.as_str(),
            who.via.as_str(),
            who.csrf.as_deref().unwrap_or("")
        )),
        (None, Kind::Embed) => Some(format!("{pq}\n")),
        (None, Kind::Console) => None,
    }
}

/// Middleware: GET of a console page or an embed from [`PageCache`];
/// every other request passes.
pub async fn page_cache(
    State(pages): State<PageCache>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let Some(policy) = policy(req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(key) = page_key(&req, policy.kind) else {
        return next.run(req).await;
    };
    let gzip = accepts_gzip(req.headers());
    let version = pages.version(policy.shows);
    let (page, render) = pages.entries().lookup(&key, pages.inner.max_entries);
    if let Some(page) = page.filter(|p| p.version == version) {
        if page.fresh(policy.max_age) {
            return page.respond(gzip);
        }
        // Only older than the age bound (nothing notified since): one
        // request renders it again, the others get this render meanwhile.
        if !policy.overview {
            return match render.clone().try_lock_owned() {
                Ok(_one) => pages.render(&key, policy, req, next).await,
                Err(_) => page.respond(gzip),
            };
        }
    }
    // Changed or missing: one render at a time; the others wait for it
    // (never the previous page: a change notified before this request
    // started must be on it).
    let _one = render.lock().await;
    // Whoever held the lock may have just rendered it.
    let version = pages.version(policy.shows);
    if let Some(page) = pages
        .entries()
        .page(&key)
        .filter(|p| p.version == version && p.fresh(policy.max_age))
    {
        return page.respond(gzip);
    }
    pages.render(&key, policy, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: usize) -> RenderedPage {
        let body = vec![Bytes::from(vec![b'x'; bytes])];
        RenderedPage {
            version: 0,
            data_at: Instant::now(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            nonce_headers: Vec::new(),
            gzip: GzipPieces::compress(&body),
            nonce_len: 0,
            body,
            body_len: bytes,
        }
    }

    #[test]
    fn the_least_recently_used_pages_go_first_within_both_limits() {
        let mut e = Entries::default();
        for k in ["a", "b", "c"] {
            e.lookup(k, 3);
            e.keep(k, page(1000), 3, 1 << 20);
        }
        // "a" used again: "b" is now the oldest.
        assert!(e.lookup("a", 3).0.is_some());
        e.lookup("d", 3);
        assert!(e.page("b").is_none(), "least recently used evicted");
        assert!(e.page("a").is_some() && e.page("c").is_some());
        assert_eq!(e.map.len(), 3);
        assert_eq!(e.bytes, 2 * page(1000).size());
        // The byte budget: 4 pages of ~1,256 bytes fit in 5,100.
        let mut e = Entries::default();
        for k in ["1", "2", "3", "4", "5", "6"] {
            e.keep(k, page(1000), 100, 5100);
        }
        assert_eq!(e.map.len(), 4);
        assert!(e.bytes <= 5100);
        assert!(e.page("1").is_none() && e.page("6").is_some());
        // Too large a page is never kept.
        e.keep("big", page(2000), 100, 5100);
        assert!(e.page("big").is_none());
        // Replacing a page counts its bytes once.
        let before = e.bytes;
        e.keep("6", page(1000), 100, 5100);
        assert_eq!(e.bytes, before);
    }

    /// A body of `n` nonce occurrences, repetitive (long back references
    /// within pieces) and larger than deflate's window.
    fn nonce_page(nonce: &str) -> (Bytes, Vec<Bytes>) {
        let row = "<li class=\"bar-cell\"><a href=\"/timeline?at=2026-09-09\" class=\"bar down\"></a></li>";
        let mut html = format!("{nonce}<html><script nonce=\"{nonce}\"></script>");
        for i in 0..2000 {
            html.push_str(row);
            if i % 700 == 0 {
                html.push_str(&format!("<script nonce=\"{nonce}\">x</script>"));
            }
        }
        html.push_str(&format!("{nonce}{nonce}</html>{nonce}"));
        let body = Bytes::from(html);
        let text = std::str::from_utf8(&body).unwrap();
        let pieces = text
            .split(nonce)
            .map(|s| body.slice_ref(s.as_bytes()))
            .collect();
        (body, pieces)
    }

    fn gunzip(frames: &[Bytes]) -> Vec<u8> {
        use std::io::Read;
        let gz: Vec<u8> = frames.concat();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("a valid gzip stream (its CRC and length checked)");
        out
    }

    #[test]
    fn compressed_pieces_decode_to_the_page_with_any_nonce_of_its_length() {
        let rendered = "AAAAAAAAAAAAAAAAAAAAAA";
        let (original, pieces) = nonce_page(rendered);
        assert!(pieces.len() > 6 && pieces.iter().any(|p| p.is_empty()));
        let gzip = GzipPieces::compress(&pieces);
        assert!(
            gzip.len() * 10 < original.len(),
            "compressed: {}",
            gzip.len()
        );
        // The render's own nonce gives back the very page.
        assert_eq!(gunzip(&gzip.frames(&pieces, rendered)), original);
        for nonce in ["bBbBbBbBbBbBbBbBbBbBbB", "0123456789-_abcdefghij"] {
            let page = gunzip(&gzip.frames(&pieces, nonce));
            assert_eq!(page, pieces.join(nonce.as_bytes()));
            assert!(!page
                .windows(rendered.len())
                .any(|w| w == rendered.as_bytes()));
        }
        // A page without a nonce: one piece.
        let one = vec![Bytes::from_static(b"<p>embed</p>")];
        assert_eq!(
            gunzip(&GzipPieces::compress(&one).frames(&one, "")),
            b"<p>embed</p>"
        );
        let empty = vec![Bytes::new()];
        assert_eq!(
            gunzip(&GzipPieces::compress(&empty).frames(&empty, "")),
            b""
        );
    }

    #[test]
    fn responses_send_the_kept_pieces_without_copying_them() {
        let rendered = "AAAAAAAAAAAAAAAAAAAAAA";
        let (original, body) = nonce_page(rendered);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&format!("script-src 'nonce-{rendered}'")).unwrap(),
        );
        let (parts, ()) = Response::builder()
            .status(StatusCode::OK)
            .body(())
            .unwrap()
            .into_parts();
        let mut parts = parts;
        parts.headers = headers;
        let page =
            RenderedPage::capture(1, Instant::now(), Kind::Console, &parts, &original).unwrap();
        assert_eq!(page.body, body);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for gzip in [false, true] {
            let res = page.respond(gzip);
            let len: usize = res.headers()[header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(res.headers().get(header::CONTENT_ENCODING).is_some(), gzip);
            let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            let nonce = page_nonce(res.headers()).unwrap();
            assert_ne!(nonce, rendered, "{csp}");
            let mut frames = Vec::new();
            let mut b = res.into_body();
            rt.block_on(async {
                use http_body::Body as _;
                while let Some(f) =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut b).poll_frame(cx)).await
                {
                    frames.push(f.unwrap().into_data().unwrap());
                }
            });
            assert_eq!(frames.iter().map(Bytes::len).sum::<usize>(), len);
            let kept: Vec<&Bytes> = if gzip {
                page.gzip.pieces.iter().collect()
            } else {
                page.body.iter().collect()
            };
            assert!(frames.len() <= 16, "{} frames", frames.len());
            for piece in kept.into_iter().filter(|p| p.len() >= SMALL_FRAME) {
                assert!(
                    frames
                        .iter()
                        .any(|f| f.as_ptr() == piece.as_ptr() && f.len() == piece.len()),
                    "each kept piece is sent as it is"
                );
            }
            let html = if gzip {
                gunzip(&frames)
            } else {
                frames.concat()
            };
            assert_eq!(html, body.join(nonce.as_bytes()));
        }
    }

    #[test]
    fn gzip_is_sent_to_whoever_accepts_it() {
        let accepts = |v: &[&str]| {
            let mut h = HeaderMap::new();
            for v in v {
                h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            }
            accepts_gzip(&h)
        };
        assert!(accepts(&["gzip, deflate, br, zstd"]));
        assert!(accepts(&["br;q=1.0, GZIP;q=0.5"]));
        assert!(accepts(&["br", "gzip"]));
        assert!(accepts(&["*"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&["br"]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["gzip;q=0, *"]));
        assert!(!accepts(&["gzip; q=0.0"]));
    }

    #[test]
    fn policies_name_what_each_page_shows() {
        let p = policy("/timeline").unwrap();
        assert_eq!(
            p.shows,
            Shows::Topics(&[Topic::Status, Topic::Override, Topic::Replay])
        );
        assert_eq!(policy("/audit").unwrap().shows, Shows::AuditLog);
        assert_eq!(policy("/").unwrap().shows, Shows::Everything);
        assert_eq!(policy("/embed/parts/voucher").unwrap().kind, Kind::Embed);
        for none in [
            "/login",
            "/api/v1/parts",
            "/embed/parts/",
            "/embed/parts/a/b",
            "/x",
        ] {
            assert!(policy(none).is_none(), "{none}");
        }
    }
}
