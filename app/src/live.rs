//! Live updates pushed by the server.
//!
//! The server publishes a `change` event on `GET /api/v1/stream` (SSE) each
//! time a part's status, an override, a replay, a voucher, the dead-letter
//! queue or the notification delivery log changes (`{"topic", "part", "at"}`), `resync` when the stream fell
//! behind, and `hello` on (re)connection. The browser keeps one
//! `EventSource` open and turns each event into a bump of a version signal
//! per topic; pages key their `Resource`s on the versions of the topics
//! they show, so the affected data is fetched again through its server
//! function — never a page reload. Bursts are coalesced (one refetch per
//! topic per [`COALESCE_MS`]).
//!
//! A routine health check that changed nothing visible arrives as topic
//! `check` (a change of status, of the counters against the thresholds or
//! of the check error is `status`): it refetches nothing and only moves the
//! part's "last check" time ([`Live::last_checked`]).
//!
//! When the stream cannot be opened at all, or is closed for good, the
//! console falls back to refreshing every [`FALLBACK_POLL_MS`]. The
//! navigation says which it is ([`LiveIndicator`], set by [`show_link`]):
//! connecting (before the first `hello`), live (connected), reconnecting
//! (the stream dropped; the browser retries) or polling; `<html>` carries
//! it too (`data-live="sse"`, `"reconnecting"` or `"polling"`).

use leptos::prelude::*;

/// Bursts of changes within this many milliseconds cause one refetch.
pub const COALESCE_MS: u64 = 150;
/// Refresh period when the event stream is unavailable.
pub const FALLBACK_POLL_MS: u64 = 2_000;

/// What changed, as the stream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A part's status (checks, up/down).
    Status,
    /// A manual circuit override.
    Override,
    /// A replay started, progressed or ended.
    Replay,
    /// A voucher changed status.
    Voucher,
    /// The dead-letter queue changed.
    Dlq,
    /// The notification delivery log changed.
    Notification,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 6] = [
        Topic::Status,
        Topic::Override,
        Topic::Replay,
        Topic::Voucher,
        Topic::Dlq,
        Topic::Notification,
    ];

    /// The topic named `name` on the stream.
    pub fn parse(name: &str) -> Option<Topic> {
        Some(match name {
            "status" => Topic::Status,
            "override" => Topic::Override,
            "replay" => Topic::Replay,
            "voucher" => Topic::Voucher,
            "dlq" => Topic::Dlq,
            "notification" => Topic::Notification,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Version signals, one per topic, and the latest routine check per part,
/// shared through context.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    versions: [RwSignal<u64>; 6],
    // (part, time) per part: a handful, so a list (smaller code than a map).
    checked: RwSignal<Vec<(String, String)>>,
}

/// The state of the console's connection to the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not connected yet (the server's render, and until the first `hello`).
    Connecting,
    /// The stream is open: changes show as they happen.
    Connected,
    /// The stream dropped; the browser is reconnecting (nothing is pushed
    /// meanwhile).
    Reconnecting,
    /// No stream: the console refreshes every [`FALLBACK_POLL_MS`].
    Polling,
}

impl Link {
    /// The state in words, as the navigation shows it.
    pub fn words(self) -> &'static str {
        match self {
            Link::Connecting => "Connecting…",
            Link::Connected => "Live",
            Link::Reconnecting => "Reconnecting…",
            Link::Polling => "Polling every 2 s",
        }
    }

    /// Its name in `data-link` and `<html data-live>`.
    pub fn name(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "sse",
            Link::Reconnecting => "reconnecting",
            Link::Polling => "polling",
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// Fresh versions (all 0, as on the server, so hydration matches).
    pub fn new() -> Self {
        Self {
            versions: std::array::from_fn(|_| RwSignal::new(0)),
            checked: RwSignal::new(Default::default()),
        }
    }

    /// Records a routine check of `part` at `at` (RFC 3339) without
    /// refetching anything.
    pub fn checked(&self, part: &str, at: &str) {
        self.checked
            .update(|m| match m.iter_mut().find(|(p, _)| p == part) {
                Some((_, t)) => *t = at.to_string(),
                None => m.push((part.to_string(), at.to_string())),
            });
    }

    /// The latest of `rendered` (the last check time the data was fetched
    /// with) and the last routine check the stream reported for `part`
    /// (tracked: follows new checks).
    pub fn last_checked(&self, part: &str, rendered: Option<&str>) -> Option<String> {
        let live = self
            .checked
            .with(|m| m.iter().find(|(p, _)| p == part).map(|(_, t)| t.clone()));
        // Both are UTC RFC 3339 (`…Z`): to the second, text order is time order.
        let second = |s: &str| s.get(..19).unwrap_or(s).to_string();
        match (rendered, live) {
            (Some(r), Some(l)) if second(&l) > second(r) => Some(l),
            (Some(r), _) => Some(r.to_string()),
            (None, l) => l,
        }
    }

    /// Marks `topic` as changed: resources keyed on it refetch.
    pub fn bump(&self, topic: Topic) {
        self.versions[topic.index()].update(|v| *v += 1);
    }

    /// Marks every topic as changed (after `resync` or a reconnection).
    pub fn bump_all(&self) {
        for t in Topic::ALL {
            self.bump(t);
        }
    }

    /// A tracked version over `topics`: changes whenever one of them does.
    pub fn version(&self, topics: &[Topic]) -> u64 {
        topics
            .iter()
            .map(|t| self.versions[t.index()].get())
            .fold(0u64, |acc, v| acc.wrapping_mul(1_000_003).wrapping_add(v))
    }
}

/// The connection's state in the navigation, in words (and an icon), read
/// to screen readers when it changes (`aria-live="polite"`).
///
/// Rendered as "Connecting…"; [`show_link`] changes it in place (no
/// reactive view: it is the same few nodes on every page).
#[component]
pub fn LiveIndicator() -> impl IntoView {
    view! {
        <p class="live-indicator" id="live-indicator" role="status" aria-live="polite" data-link="connecting">
            <span class="live-dot" aria-hidden="true"></span>
            <span class="sr-only">"Updates: "</span>
            <span class="live-words" id="live-words">{Link::Connecting.words()}</span>
        </p>
    }
}

/// Shows the connection's state: the indicator's words and `data-link`,
/// and `<html data-live>`.
pub fn show_link(link: Link) {
    let doc = document();
    if let Some(root) = doc.document_element() {
        let _ = root.set_attribute("data-live", link.name());
    }
    if let Some(el) = doc.get_element_by_id("live-indicator") {
        let _ = el.set_attribute("data-link", link.name());
    }
    if let Some(el) = doc.get_element_by_id("live-words") {
        el.set_text_content(Some(link.words()));
    }
}

/// The console's [`Live`] (a detached one outside the app, e.g. in tests).
pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_default()
}

/// The string value of `key` in a `change` event's data: the server writes
/// it as a flat JSON object of plain strings (`{"topic":"status","part":
/// "voucher","at":"2026-…Z"}`), read here without a JSON parser (one less in
/// the bundle every page downloads). `None` when absent or not a string.
fn field<'a>(data: &'a str, key: &str) -> Option<&'a str> {
    let at = data.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = data[at..].trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    let value = &rest[..end];
    // Escapes never occur in these values; refuse rather than misread.
    (!value.contains('\\')).then_some(value)
}

/// The topic a `change` event's data names (`{"topic": …}`).
pub fn topic_of(data: &str) -> Option<Topic> {
    Topic::parse(field(data, "topic")?)
}

/// The part and time (RFC 3339) of a `check` change event's data.
pub fn check_of(data: &str) -> Option<(String, String)> {
    if field(data, "topic")? != "check" {
        return None;
    }
    Some((
        field(data, "part")?.to_string(),
        field(data, "at")?.to_string(),
    ))
}

/// Opens the event stream and feeds `live` (browser only).
#[cfg(feature = "hydrate")]
pub fn connect(live: Live) {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let Ok(source) = web_sys::EventSource::new("/api/v1/stream") else {
        show_link(Link::Polling);
        poll(live);
        return;
    };
    // Topics waiting for the coalescing timer, as a bit set.
    let pending = Rc::new(Cell::new(0u8));
    let schedule = {
        let pending = pending.clone();
        move |topic: Topic| {
            let before = pending.get();
            pending.set(before | (1 << topic.index()));
            if before == 0 {
                let pending = pending.clone();
                set_timeout(
                    move || {
                        let mask = pending.replace(0);
                        for t in Topic::ALL {
                            if mask & (1 << t.index()) != 0 {
                                live.bump(t);
                            }
                        }
                    },
                    Duration::from_millis(COALESCE_MS),
                );
            }
        }
    };
    let on_change =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data().as_string().unwrap_or_default();
            if let Some((part, at)) = check_of(&data) {
                // A routine check: nothing visible changed but the time.
                live.checked(&part, &at);
                return;
            }
            match topic_of(&data) {
                Some(t) => schedule(t),
                None => live.bump_all(),
            }
        });
    let connected = Rc::new(Cell::new(false));
    let on_hello = {
        let connected = connected.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
            // A (re)connection may have missed changes: refresh everything
            // but the first time (the page was just rendered).
            if connected.replace(true) {
                live.bump_all();
            }
            show_link(Link::Connected);
        })
    };
    let on_resync = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| live.bump_all());
    let polling = Rc::new(Cell::new(false));
    let on_error = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if source.ready_state() == web_sys::EventSource::CLOSED {
                // Closed for good (404, wrong type, a failed reconnection):
                // the browser will not retry, so poll.
                if !polling.replace(true) {
                    poll(live);
                }
                show_link(Link::Polling);
            } else if !polling.get() {
                // The browser retries by itself; until its next `hello`
                // nothing is pushed.
                show_link(Link::Reconnecting);
            }
        })
    };
    let listen = |name: &str, f: &js_sys::Function| {
        let _ = source.add_event_listener_with_callback(name, f);
    };
    listen("change", on_change.as_ref().unchecked_ref());
    listen("hello", on_hello.as_ref().unchecked_ref());
    listen("resync", on_resync.as_ref().unchecked_ref());
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The stream lives as long as the page.
    on_change.forget();
    on_hello.forget();
    on_resync.forget();
    on_error.forget();
}

#[cfg(feature = "hydrate")]
fn poll(live: Live) {
    let _ = set_interval_with_handle(
        move || live.bump_all(),
        std::time::Duration::from_millis(FALLBACK_POLL_MS),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_events_name_their_topic() {
        assert_eq!(
            topic_of(r#"{"topic":"status","part":"voucher","at":"2026-01-01T00:00:00Z"}"#),
            Some(Topic::Status)
        );
        assert_eq!(topic_of(r#"{"topic":"dlq"}"#), Some(Topic::Dlq));
        assert_eq!(topic_of(r#"{"topic":"weather"}"#), None);
        assert_eq!(topic_of("not json"), None);
        assert_eq!(topic_of(r#"{"topic": "replay"}"#), Some(Topic::Replay));
        assert_eq!(topic_of(r#"{"topic":3}"#), None);
        assert_eq!(topic_of(r#"{"topic":"sta\"tus"}"#), None);
        assert_eq!(
            check_of(r#"{"at":"2026-01-01T00:00:01Z","topic":"check","part":"member"}"#),
            Some(("member".into(), "2026-01-01T00:00:01Z".into()))
        );
        assert_eq!(
            check_of(r#"{"topic":"check","part":"voucher","at":"2026-01-01T00:00:01Z"}"#),
            Some(("voucher".into(), "2026-01-01T00:00:01Z".into()))
        );
        assert_eq!(
            check_of(r#"{"topic":"status","part":"voucher","at":"x"}"#),
            None
        );
    }

    #[test]
    fn routine_checks_move_only_the_last_check_time() {
        let owner = Owner::new();
        owner.with(|| {
            let live = Live::new();
            let before = live.version(&Topic::ALL);
            let rendered = Some("2026-01-01T00:00:05Z");
            assert_eq!(live.last_checked("voucher", rendered).as_deref(), rendered);
            live.checked("voucher", "2026-01-01T00:00:07.250Z");
            assert_eq!(
                live.last_checked("voucher", rendered).as_deref(),
                Some("2026-01-01T00:00:07.250Z")
            );
            // Data fetched after the check is newer: it wins.
            assert_eq!(
                live.last_checked("voucher", Some("2026-01-01T00:00:09Z"))
                    .as_deref(),
                Some("2026-01-01T00:00:09Z")
            );
            assert_eq!(live.last_checked("member", None), None);
            assert_eq!(live.version(&Topic::ALL), before, "nothing refetches");
        });
    }

    #[test]
    fn versions_move_with_their_topics() {
        let owner = Owner::new();
        owner.with(|| {
            let live = Live::new();
            let a = live.version(&[Topic::Status]);
            live.bump(Topic::Replay);
            assert_eq!(live.version(&[Topic::Status]), a);
            let b = live.version(&[Topic::Status, Topic::Replay]);
            live.bump(Topic::Status);
            assert_ne!(live.version(&[Topic::Status, Topic::Replay]), b);
        });
    }
}
