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
//! HTML; past either, the least recently used go first (query strings are
//! the caller's choice). A page larger than a quarter of the budget is
//! rendered every time.
//!
//! **Nonce**: only the CSP nonce differs between two responses of one page:
//! body and headers are kept split at the nonce they were rendered with and
//! every response gets a fresh one ([`leptos::nonce::Nonce::new`], 128
//! random bits) in its scripts and its `Content-Security-Policy`. Only
//! complete `200` HTML pages without `Set-Cookie` are kept; a console page
//! must carry a nonce to be kept (embeds have none).

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
/// occurrences of its nonce.
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
        let body = match &nonce {
            Some(n) => {
                let text = std::str::from_utf8(body).ok()?;
                text.split(n.as_str())
                    .map(|s| body.slice_ref(s.as_bytes()))
                    .collect()
            }
            None => vec![body.clone()],
        };
        Some(RenderedPage {
            version,
            data_at,
            status: parts.status,
            headers,
            nonce_headers,
            body_len: body.iter().map(Bytes::len).sum(),
            body,
        })
    }

    /// Bytes kept (the body; headers are small).
    fn size(&self) -> usize {
        self.body_len + 256
    }

    fn fresh(&self, max_age: Duration) -> bool {
        self.data_at.elapsed() < max_age
    }

    /// The page, with a fresh nonce if it has one.
    fn respond(&self) -> Response {
        let body = if self.body.len() == 1 && self.nonce_headers.is_empty() {
            Body::from(self.body[0].clone())
        } else {
            let nonce = leptos::nonce::Nonce::new();
            let nonce: &str = &nonce;
            let mut body = Vec::with_capacity(self.body_len + self.body.len() * nonce.len());
            for (i, piece) in self.body.iter().enumerate() {
                if i > 0 {
                    body.extend_from_slice(nonce.as_bytes());
                }
                body.extend_from_slice(piece);
            }
            let mut res = Response::new(Body::from(body));
            for (name, pieces) in &self.nonce_headers {
                if let Ok(v) = HeaderValue::from_str(&pieces.join(nonce)) {
                    res.headers_mut().insert(name.clone(), v);
                }
            }
            return self.finish(res);
        };
        self.finish(Response::new(body))
    }

    fn finish(&self, mut res: Response) -> Response {
        *res.status_mut() = self.status;
        for (name, value) in &self.headers {
            res.headers_mut().append(name.clone(), value.clone());
        }
        res
    }
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
    let version = pages.version(policy.shows);
    let (page, render) = pages.entries().lookup(&key, pages.inner.max_entries);
    if let Some(page) = page.filter(|p| p.version == version) {
        if page.fresh(policy.max_age) {
            return page.respond();
        }
        // Only older than the age bound (nothing notified since): one
        // request renders it again, the others get this render meanwhile.
        if !policy.overview {
            return match render.clone().try_lock_owned() {
                Ok(_one) => pages.render(&key, policy, req, next).await,
                Err(_) => page.respond(),
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
        return page.respond();
    }
    pages.render(&key, policy, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: usize) -> RenderedPage {
        RenderedPage {
            version: 0,
            data_at: Instant::now(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            nonce_headers: Vec::new(),
            body: vec![Bytes::from(vec![b'x'; bytes])],
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
