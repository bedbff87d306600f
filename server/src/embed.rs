//! Public, read-only widgets for internal portals.
//!
//! - `GET /embed/status` (every part) and `GET /embed/parts/{part}`: small
//!   server-rendered HTML pages (no wasm) that refresh themselves from
//!   `/api/v1/stream`; `?theme=light|dark|auto` and `?bg=<colour>|transparent`.
//!   They may be framed by the origins of `--frame-ancestors` (and the
//!   console itself); every other page says `frame-ancestors 'self'`.
//! - SVG badges in the flat style (label + message, the message always in
//!   words): `/badge/{part}/status.svg`, `/badge/{part}/uptime/{24h|7d|30d|90d}.svg`,
//!   `/badge/{part}/circuit.svg`, `/badge/{part}/backlog.svg`, `/badge/overall.svg`;
//!   the same paths ending in `.json` give shields.io endpoint JSON
//!   (`{"schemaVersion": 1, "label", "message", "color"}`). An unknown part
//!   or badge is a 404 badge (or JSON).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use mediator_core::{History, OverrideMode, Overrides, PartState, PartSummary, StatusBoard};
use serde_json::json;

/// Cache policy of badges and badge JSON: short, so a change shows soon.
pub const BADGE_CACHE: &str = "public, max-age=30";

/// What the widgets read.
#[derive(Clone)]
pub struct EmbedState {
    /// Current status of the parts.
    pub status: StatusBoard,
    /// Uptime and counters.
    pub history: History,
    /// Circuit overrides.
    pub overrides: Overrides,
    /// Maintenance windows (a part in one shows "Maintenance").
    pub maintenance: Arc<mediator_core::maintenance::Maintenance>,
    /// The embeds' `Content-Security-Policy` value (`frame-ancestors …`).
    pub embed_csp: Arc<HeaderValue>,
}

/// The `Content-Security-Policy` of embeds: same-origin resources (their
/// own inline script and styles, no user markup: every value is escaped),
/// and `frame-ancestors 'self'` plus the configured sources.
pub fn embed_csp(frame_ancestors: &[String]) -> HeaderValue {
    let mut sources = vec!["'self'".to_string()];
    for s in frame_ancestors {
        if !sources.contains(s) {
            sources.push(s.clone());
        }
    }
    if frame_ancestors.iter().any(|s| s == "'none'") {
        sources = vec!["'none'".into()];
    }
    HeaderValue::from_str(&format!(
        "{EMBED_CSP_BASE}; frame-ancestors {}",
        sources.join(" ")
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'self'"))
}

/// The embeds' policy before `frame-ancestors`.
pub const EMBED_CSP_BASE: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'none'";

/// Checks one `frame-ancestors` source: `'self'`, `'none'`, `*`, a scheme
/// (`https:`) or a host source (`https://portal.example.com:8443`,
/// `https://*.example.com`), without paths, quotes or separators.
pub fn valid_frame_ancestor(s: &str) -> Result<(), String> {
    if matches!(s, "'self'" | "'none'" | "*") {
        return Ok(());
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-.:*/[]".contains(c);
    if s.is_empty() || !s.chars().all(ok_char) {
        return Err(format!(
            "{s:?} is not a CSP source ('self', 'none', *, https:, or scheme://host[:port])"
        ));
    }
    if let Some(scheme) = s.strip_suffix(':') {
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            return Ok(());
        }
    }
    let host = s.split_once("://").map_or(s, |(_, h)| h);
    if host.is_empty() || host.contains('/') {
        return Err(format!(
            "{s:?}: give an origin (scheme://host[:port]) without a path"
        ));
    }
    Ok(())
}

/// The routes.
pub fn routes<S>(state: EmbedState) -> Router<S> {
    Router::new()
        .route("/embed/status", get(embed_status))
        .route("/embed/parts/{part}", get(embed_part))
        .with_state(state)
}

/// The badge routes (to be wrapped in CORS).
pub fn badge_routes<S>(state: EmbedState) -> Router<S> {
    Router::new()
        .route("/badge/{file}", get(badge_overall))
        .route("/badge/{part}/{file}", get(badge_part))
        .route("/badge/{part}/uptime/{file}", get(badge_uptime))
        .with_state(state)
}

// ---- badges ----------------------------------------------------------------------

/// Badge colours (shields.io names and their hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Healthy.
    BrightGreen,
    /// Mostly healthy.
    Green,
    /// Attention.
    Yellow,
    /// Degraded.
    Orange,
    /// Down.
    Red,
    /// Manual override.
    Blue,
    /// Unknown / no data.
    LightGrey,
}

impl Colour {
    /// The shields.io colour name.
    pub fn name(self) -> &'static str {
        match self {
            Colour::BrightGreen => "brightgreen",
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Red => "red",
            Colour::Blue => "blue",
            Colour::LightGrey => "lightgrey",
        }
    }

    /// Hex, as shields.io draws it.
    pub fn hex(self) -> &'static str {
        match self {
            Colour::BrightGreen => "#4c1",
            Colour::Green => "#97ca00",
            Colour::Yellow => "#dfb317",
            Colour::Orange => "#fe7d37",
            Colour::Red => "#e05d44",
            Colour::Blue => "#007ec6",
            Colour::LightGrey => "#9f9f9f",
        }
    }
}

/// A badge: label, message and colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// Left side.
    pub label: String,
    /// Right side (always words, never colour alone).
    pub message: String,
    /// Right side's colour.
    pub colour: Colour,
}

/// Escapes text for XML/HTML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Approximate width in px of `s` in 11 px Verdana (shields' font).
fn text_width(s: &str) -> u32 {
    let w: f64 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' => 3.2,
            ' ' | 'f' | 'r' | 't' | '(' | ')' | '[' | ']' | '/' => 4.6,
            'm' | 'w' | 'M' | 'W' | '%' => 10.0,
            'A'..='Z' => 7.6,
            '0'..='9' => 7.0,
            c if c.is_ascii() => 6.6,
            _ => 8.0,
        })
        .sum();
    w.ceil() as u32
}

impl Badge {
    fn new(label: impl Into<String>, message: impl Into<String>, colour: Colour) -> Self {
        Self {
            label: label.into(),
            message: message.into(),
            colour,
        }
    }

    /// The flat-style SVG.
    pub fn svg(&self) -> String {
        let (lw, mw) = (text_width(&self.label) + 10, text_width(&self.message) + 10);
        let w = lw + mw;
        let (label, message) = (escape(&self.label), escape(&self.message));
        let title = escape(&format!("{}: {}", self.label, self.message));
        let (lx, mx) = (lw * 5, lw * 10 + mw * 5);
        let (ltl, mtl) = ((lw - 10) * 10, (mw - 10) * 10);
        let mut s = String::with_capacity(1200);
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{title}"><title>{title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{hex}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110"><text aria-hidden="true" x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{ltl}">{label}</text><text x="{lx}" y="140" transform="scale(.1)" fill="#fff" textLength="{ltl}">{label}</text><text aria-hidden="true" x="{mx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{mtl}">{message}</text><text x="{mx}" y="140" transform="scale(.1)" fill="#fff" textLength="{mtl}">{message}</text></g></svg>"##,
            hex = self.colour.hex(),
        );
        s
    }

    /// shields.io endpoint JSON.
    pub fn shields_json(&self) -> serde_json::Value {
        json!({
            "schemaVersion": 1,
            "label": self.label,
            "message": self.message,
            "color": self.colour.name(),
        })
    }
}

/// Which rendering a badge path asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Json,
}

fn split_file(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".svg") {
        Some((stem, Format::Svg))
    } else {
        file.strip_suffix(".json").map(|s| (s, Format::Json))
    }
}

fn respond(badge: Badge, format: Format, status: StatusCode) -> Response {
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static(BADGE_CACHE));
    match format {
        Format::Svg => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml; charset=utf-8"),
                ),
                cache,
            ],
            badge.svg(),
        )
            .into_response(),
        Format::Json => {
            let mut body = badge.shields_json();
            if status != StatusCode::OK {
                body["isError"] = json!(true);
            }
            (status, [cache], axum::Json(body)).into_response()
        }
    }
}

fn not_found(what: &str, format: Format) -> Response {
    respond(
        Badge::new(what, "not found", Colour::LightGrey),
        format,
        StatusCode::NOT_FOUND,
    )
}

fn unavailable(format: Format, e: impl std::fmt::Display) -> Response {
    tracing::warn!("badge: {e}");
    respond(
        Badge::new("mediator", "unavailable", Colour::LightGrey),
        format,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// A part's status in words and colour.
fn state_badge(p: &PartSummary) -> Badge {
    let (message, colour) = match p.state {
        PartState::Up => ("up".to_string(), Colour::BrightGreen),
        PartState::Down => ("down".to_string(), Colour::Red),
        PartState::Pending => (
            format!("pending ({}/{} failed)", p.failures, p.thresholds.failure),
            Colour::Yellow,
        ),
        PartState::Unknown => ("unknown".to_string(), Colour::LightGrey),
    };
    Badge::new(p.name.as_str(), message, colour)
}

fn uptime_colour(percent: f64) -> Colour {
    match percent {
        p if p >= 99.9 => Colour::BrightGreen,
        p if p >= 99.0 => Colour::Green,
        p if p >= 95.0 => Colour::Yellow,
        p if p >= 90.0 => Colour::Orange,
        _ => Colour::Red,
    }
}

/// `99.95%`-style rounding that never shows 100% for less.
fn percent_text(p: f64) -> String {
    if p >= 100.0 {
        "100%".into()
    } else {
        let t = (p * 100.0).floor() / 100.0;
        format!("{t:.2}%")
    }
}

async fn part_badge(s: &EmbedState, part: &str, kind: &str) -> Result<Option<Badge>, String> {
    let Some(summary) = s.status.part(part).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let holding = s
        .maintenance
        .holding(Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    let in_maintenance = holding.contains_key(part);
    Ok(Some(match kind {
        "status" if in_maintenance => Badge::new(part, "maintenance", Colour::Blue),
        "status" => state_badge(&summary),
        "circuit" if in_maintenance => Badge::new(
            format!("{part} circuit"),
            "open (maintenance)",
            Colour::Blue,
        ),
        "circuit" => {
            let circuits = s.overrides.circuits().await.map_err(|e| e.to_string())?;
            let (o, closed) = circuits
                .into_iter()
                .find(|(p, _, _)| p.as_str() == part)
                .map(|(_, o, c)| (o, c))
                .unwrap_or((None, true));
            let (message, colour) = match o.map(|o| o.mode) {
                Some(OverrideMode::ForceOpen) => ("open (forced)".to_string(), Colour::Blue),
                Some(OverrideMode::ForceClosed) => ("closed (forced)".to_string(), Colour::Blue),
                Some(OverrideMode::Disabled) => ("disabled".to_string(), Colour::Blue),
                _ if !closed => ("open".to_string(), Colour::Red),
                _ if summary.state == PartState::Pending => (
                    format!(
                        "closed, {}/{} failed",
                        summary.failures, summary.thresholds.failure
                    ),
                    Colour::Yellow,
                ),
                _ => ("closed".to_string(), Colour::BrightGreen),
            };
            Badge::new(format!("{part} circuit"), message, colour)
        }
        "backlog" => {
            let c = s.history.counters(part).await.map_err(|e| e.to_string())?;
            let mut message = format!("{} retry", c.pending_retries);
            if c.dead_lettered > 0 {
                let _ = write!(message, ", {} dead-lettered", c.dead_lettered);
            }
            let colour = match (c.pending_retries, c.dead_lettered) {
                (0, 0) => Colour::BrightGreen,
                (_, 0) => Colour::Yellow,
                _ => Colour::Red,
            };
            Badge::new(format!("{part} backlog"), message, colour)
        }
        _ => return Ok(None),
    }))
}

async fn badge_part(
    State(s): State<EmbedState>,
    Path((part, file)): Path<(String, String)>,
) -> Response {
    let Some((kind, format)) = split_file(&file) else {
        return not_found("badge", Format::Svg);
    };
    if !matches!(kind, "status" | "circuit" | "backlog") {
        return not_found("badge", format);
    }
    match part_badge(&s, &part, kind).await {
        Ok(Some(b)) => respond(b, format, StatusCode::OK),
        Ok(None) => not_found("part", format),
        Err(e) => unavailable(format, e),
    }
}

async fn badge_uptime(
    State(s): State<EmbedState>,
    Path((part, file)): Path<(String, String)>,
) -> Response {
    let Some((window, format)) = split_file(&file) else {
        return not_found("badge", Format::Svg);
    };
    if !mediator_core::history::WINDOWS
        .iter()
        .any(|(w, _)| *w == window)
    {
        return not_found("uptime window", format);
    }
    match s.history.uptime(&part, Utc::now()).await {
        Ok(u) => {
            let w = u.windows.iter().find(|w| w.window == window);
            let badge = match w.and_then(|w| w.percent) {
                Some(p) => Badge::new(
                    format!("{part} uptime {window}"),
                    percent_text(p),
                    uptime_colour(p),
                ),
                None => Badge::new(
                    format!("{part} uptime {window}"),
                    "no data",
                    Colour::LightGrey,
                ),
            };
            respond(badge, format, StatusCode::OK)
        }
        Err(mediator_core::HistoryError::UnknownPart(_)) => not_found("part", format),
        Err(e) => unavailable(format, e),
    }
}

async fn badge_overall(State(s): State<EmbedState>, Path(file): Path<String>) -> Response {
    let Some(("overall", format)) = split_file(&file) else {
        let format = split_file(&file).map_or(Format::Svg, |f| f.1);
        return not_found("badge", format);
    };
    let parts = match s.status.overview().await {
        Ok(p) => p,
        Err(e) => return unavailable(format, e),
    };
    let down = parts.iter().filter(|p| p.state == PartState::Down).count();
    let pending = parts
        .iter()
        .filter(|p| p.state == PartState::Pending)
        .count();
    let unknown = parts
        .iter()
        .filter(|p| p.state == PartState::Unknown)
        .count();
    let (message, colour) = if down > 0 {
        (format!("{down} of {} down", parts.len()), Colour::Red)
    } else if pending > 0 {
        (
            format!("{pending} of {} degraded", parts.len()),
            Colour::Yellow,
        )
    } else if unknown == parts.len() {
        ("unknown".to_string(), Colour::LightGrey)
    } else if unknown > 0 {
        (
            format!("{unknown} of {} unknown", parts.len()),
            Colour::LightGrey,
        )
    } else {
        ("all up".to_string(), Colour::BrightGreen)
    };
    respond(
        Badge::new("vendor", message, colour),
        format,
        StatusCode::OK,
    )
}

// ---- embeds ----------------------------------------------------------------------

/// Validated `theme` and `bg` of an embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// `light`, `dark` or `auto` (follows the viewer's preference).
    pub theme: &'static str,
    /// A CSS colour or `transparent`; `None`: the theme's.
    pub bg: Option<String>,
}

/// Parses `?theme=` and `?bg=`, naming the field on error.
pub fn parse_look(theme: Option<&str>, bg: Option<&str>) -> Result<Look, (&'static str, String)> {
    let theme = match theme.unwrap_or("auto") {
        "light" => "light",
        "dark" => "dark",
        "auto" | "" => "auto",
        other => {
            return Err((
                "theme",
                format!("must be light, dark or auto, got {:?}", other),
            ))
        }
    };
    let bg = match bg.filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => {
            let hex = b.strip_prefix('#').is_some_and(|h| {
                matches!(h.len(), 3 | 4 | 6 | 8) && h.chars().all(|c| c.is_ascii_hexdigit())
            });
            let named = (3..=24).contains(&b.len()) && b.chars().all(|c| c.is_ascii_alphabetic());
            if !(hex || named) {
                return Err((
                    "bg",
                    "must be transparent, a colour name or #rgb/#rgba/#rrggbb/#rrggbbaa".into(),
                ));
            }
            Some(b.to_ascii_lowercase())
        }
    };
    Ok(Look { theme, bg })
}

const EMBED_CSS: &str = r#"
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--line:#d0d7de;--up:#1a7f37;--down:#cf222e;--pending:#9a6700;--unknown:#6e7781}
:root[data-theme=dark]{color-scheme:dark;--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#30363d;--up:#3fb950;--down:#f85149;--pending:#d29922;--unknown:#9198a1}
@media (prefers-color-scheme:dark){:root[data-theme=auto]{color-scheme:dark;--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#30363d;--up:#3fb950;--down:#f85149;--pending:#d29922;--unknown:#9198a1}}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{padding:12px;max-width:720px}h1{font-size:15px;margin:0 0 8px}
ul{list-style:none;margin:0;padding:0}li.part{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline;padding:8px 0;border-top:1px solid var(--line)}
.state{font-weight:600;min-width:7em}.state .icon{display:inline-block;width:1.2em}
.up .state{color:var(--up)}.down .state{color:var(--down)}.pending .state{color:var(--pending)}.unknown .state{color:var(--unknown)}.maintenance .state{color:#0969da}
.name{font-weight:600;min-width:6em}.muted{color:var(--muted);font-size:12px}
.bars{display:flex;gap:1px;height:24px;margin:8px 0 2px}.bars span{flex:1;border-radius:1px;background:var(--up)}
.bars span.none{background:var(--line)}.bars span.some{background:var(--pending)}.bars span.bad{background:var(--down)}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:8px 0}dt{color:var(--muted)}dd{margin:0}
a{color:inherit}
"#;

/// A few lines that re-read the page's `<main>` when the part's status or
/// override changes (from the SSE stream), without a reload: at most every
/// 2 s, since every check is a `status` notification.
const EMBED_JS: &str = r#"(function(){if(!window.EventSource)return;var t=null,last=0,es=new EventSource('/api/v1/stream');
function refresh(){if(t)return;t=setTimeout(function(){t=null;last=Date.now();fetch(location.href,{cache:'no-store'}).then(function(r){return r.text()}).then(function(h){var d=new DOMParser().parseFromString(h,'text/html').querySelector('main');if(d)document.querySelector('main').replaceWith(d)}).catch(function(){})},Math.max(250,2000-(Date.now()-last)))}
es.addEventListener('change',function(e){try{var c=JSON.parse(e.data);if(c.topic==='status'||c.topic==='override'||c.topic==='voucher'){var p=document.body.dataset.part;if(!p||!c.part||c.part===p)refresh()}}catch(_){}});
es.addEventListener('resync',refresh);})();"#;

fn state_words(state: PartState) -> (&'static str, &'static str) {
    // (icon, words): the icon is decoration; the words carry the meaning.
    match state {
        PartState::Up => ("▲", "Up"),
        PartState::Down => ("▼", "Down"),
        PartState::Pending => ("◆", "Pending"),
        PartState::Unknown => ("?", "Unknown"),
    }
}

fn page(title: &str, look: &Look, part: Option<&str>, main: &str) -> String {
    let bg = look
        .bg
        .as_deref()
        .map(|b| format!("<style>body{{background:{b}}}</style>"))
        .unwrap_or_default();
    let data_part = part
        .map(|p| format!(" data-part=\"{}\"", escape(p)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\" data-theme=\"{theme}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>\
         <style>{EMBED_CSS}</style>{bg}</head><body{data_part}>{main}<script>{EMBED_JS}</script></body></html>",
        theme = look.theme,
        title = escape(title),
    )
}

fn since(p: &PartSummary) -> String {
    p.changed_at
        .map(|t| {
            format!(
                "<span class=\"muted\">since <time datetime=\"{}\">{}</time></span>",
                t.to_rfc3339(),
                t.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .unwrap_or_default()
}

/// "until 06:30 UTC" of a part's maintenance window, with its reason.
fn maintenance_note(w: &mediator_core::maintenance::MaintenanceWindow) -> String {
    let end = w.effective_end();
    format!(
        "<span class=\"muted\">until <time datetime=\"{}\">{}</time>: {}</span>",
        end.to_rfc3339(),
        end.format("%Y-%m-%d %H:%M UTC"),
        escape(&w.reason)
    )
}

fn part_item(
    p: &PartSummary,
    uptime: Option<&mediator_core::history::Uptime>,
    link: bool,
    maintenance: Option<&mediator_core::maintenance::MaintenanceWindow>,
) -> String {
    let (icon, words) = match maintenance {
        Some(_) => ("■", "Maintenance"),
        None => state_words(p.state),
    };
    let name = escape(p.name.as_str());
    let name = if link {
        format!("<a class=\"name\" href=\"/embed/parts/{name}\">{name}</a>")
    } else {
        format!("<span class=\"name\">{name}</span>")
    };
    let up24 = uptime
        .and_then(|u| u.windows.first())
        .map(|w| match w.percent {
            Some(p) => format!(
                "<span class=\"muted\">{} uptime (24 h)</span>",
                percent_text(p)
            ),
            None => "<span class=\"muted\">no data (24 h)</span>".into(),
        })
        .unwrap_or_default();
    format!(
        "<li class=\"part {cls}\">{name}<span class=\"state\"><span class=\"icon\" aria-hidden=\"true\">{icon}</span>{words}</span>{since}{up24}</li>",
        cls = if maintenance.is_some() { "maintenance" } else { p.state.as_str() },
        since = maintenance.map_or_else(|| since(p), maintenance_note),
    )
}

fn bad_look(field: &str, reason: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{field}: {reason}\n"),
    )
        .into_response()
}

fn html(s: &EmbedState, body: String) -> Response {
    let mut res = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response();
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, (*s.embed_csp).clone());
    res
}

type LookQuery = Query<std::collections::HashMap<String, String>>;

fn look_of(q: &std::collections::HashMap<String, String>) -> Result<Look, Box<Response>> {
    parse_look(
        q.get("theme").map(String::as_str),
        q.get("bg").map(String::as_str),
    )
    .map_err(|(f, r)| Box::new(bad_look(f, &r)))
}

async fn embed_status(State(s): State<EmbedState>, Query(q): LookQuery) -> Response {
    let look = match look_of(&q) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let parts = match s.status.overview().await {
        Ok(p) => p,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let holding = s.maintenance.holding(Utc::now()).await.unwrap_or_default();
    let mut items = String::new();
    for p in &parts {
        let uptime = s.history.uptime(p.name.as_str(), Utc::now()).await.ok();
        items.push_str(&part_item(
            p,
            uptime.as_ref(),
            true,
            holding.get(p.name.as_str()),
        ));
    }
    let down = parts.iter().filter(|p| p.state == PartState::Down).count();
    let headline = if down == 0 {
        "Vendor status: no part down".to_string()
    } else {
        format!("Vendor status: {down} of {} parts down", parts.len())
    };
    let main = format!(
        "<main><h1>{}</h1><ul>{items}</ul><p class=\"muted\">Updated <time datetime=\"{now}\">{now_h}</time></p></main>",
        escape(&headline),
        now = Utc::now().to_rfc3339(),
        now_h = Utc::now().format("%H:%M:%S UTC"),
    );
    html(&s, page("Vendor status", &look, None, &main))
}

async fn embed_part(
    State(s): State<EmbedState>,
    Path(part): Path<String>,
    Query(q): LookQuery,
) -> Response {
    let look = match look_of(&q) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let p = match s.status.part(&part).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("part: {part:?} is not configured\n"),
            )
                .into_response()
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let now = Utc::now();
    let uptime = s.history.uptime(&part, now).await.ok();
    let mut dl = String::new();
    for w in uptime.iter().flat_map(|u| u.windows.iter()) {
        let v = w.percent.map_or("no data".into(), percent_text);
        let _ = write!(dl, "<dt>Uptime {}</dt><dd>{v}</dd>", escape(&w.window));
    }
    let mut bars = String::new();
    if let Ok(t) = s.history.days(&part, 90, now).await {
        bars.push_str(
            "<div class=\"bars\" role=\"img\" aria-label=\"Minutes down per day, last 90 days\">",
        );
        for b in &t.bars {
            let cls = if b.down_secs >= 1800 {
                "bad"
            } else if b.down_secs > 0 {
                "some"
            } else if b.up_secs == 0 {
                "none"
            } else {
                "ok"
            };
            let what = if b.up_secs == 0 && b.down_secs == 0 {
                "no data".to_string()
            } else {
                format!("{:.0} min down", b.down_minutes.ceil())
            };
            let _ = write!(
                bars,
                "<span class=\"{cls}\" title=\"{}: {what}\"></span>",
                b.label
            );
        }
        bars.push_str("</div><p class=\"muted\">90 days ago — today (UTC)</p>");
    }
    let main = format!(
        "<main><h1>{name}</h1><ul>{item}</ul>{bars}<dl>{dl}</dl></main>",
        name = escape(&format!("{} status", p.name)),
        item = part_item(
            &p,
            uptime.as_ref(),
            false,
            s.maintenance
                .holding(now)
                .await
                .unwrap_or_default()
                .get(part.as_str())
        ),
    );
    html(
        &s,
        page(&format!("{} status", p.name), &look, Some(&part), &main),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_text_and_name_colours() {
        let b = Badge::new("a<b>&\"c'", "up", Colour::BrightGreen);
        let svg = b.svg();
        assert!(svg.contains("a&lt;b&gt;&amp;&quot;c&#39;"));
        assert!(!svg.contains("a<b>"));
        assert_eq!(b.shields_json()["color"], "brightgreen");
        assert_eq!(percent_text(99.999), "99.99%");
        assert_eq!(percent_text(100.0), "100%");
    }

    #[test]
    fn looks_and_frame_ancestors_are_validated() {
        assert_eq!(parse_look(None, None).unwrap().theme, "auto");
        assert_eq!(
            parse_look(Some("dark"), Some("#0d1117"))
                .unwrap()
                .bg
                .as_deref(),
            Some("#0d1117")
        );
        assert_eq!(
            parse_look(None, Some("transparent")).unwrap().bg.as_deref(),
            Some("transparent")
        );
        assert_eq!(parse_look(Some("pink"), None).unwrap_err().0, "theme");
        assert_eq!(parse_look(None, Some("red;}body{")).unwrap_err().0, "bg");
        assert_eq!(parse_look(None, Some("#12")).unwrap_err().0, "bg");
        for ok in [
            "'self'",
            "https:",
            "https://portal.example.com:8443",
            "https://*.example.com",
            "http://127.0.0.1:4001",
        ] {
            assert!(valid_frame_ancestor(ok).is_ok(), "{ok}");
        }
        for bad in ["https://x.com/path", "a;b", "'unsafe-inline'", "", "x y"] {
            assert!(valid_frame_ancestor(bad).is_err(), "{bad}");
        }
        assert_eq!(
            embed_csp(&["http://127.0.0.1:4001".into()])
                .to_str()
                .unwrap(),
            format!("{EMBED_CSP_BASE}; frame-ancestors 'self' http://127.0.0.1:4001")
        );
    }
}
