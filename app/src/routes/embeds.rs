//! Embeds: every widget made for internal portals, shown live with the
//! snippet to copy — the iframe pages, each SVG badge and the shields.io
//! endpoint JSON (a badge's path with `.json` instead of `.svg`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::get_overview;
use crate::live::{use_live, Topic};

/// Shortest time between two reloads of the badge images.
const BADGE_REFRESH_MS: u64 = 3_000;

/// Uptime windows the badges offer.
const WINDOWS: [&str; 4] = ["24h", "7d", "30d", "90d"];

/// Every embeddable URL for the given parts: (title, path, kind).
pub fn embeds(parts: &[String]) -> Vec<(String, String, &'static str)> {
    let mut out = vec![
        (
            "All parts (iframe)".to_string(),
            "/embed/status".to_string(),
            "iframe",
        ),
        (
            "Overall badge".to_string(),
            "/badge/overall.svg".to_string(),
            "img",
        ),
        (
            "Overall shields.io endpoint".to_string(),
            "/badge/overall.json".to_string(),
            "json",
        ),
    ];
    for p in parts {
        out.push((
            format!("{p} (iframe)"),
            format!("/embed/parts/{p}"),
            "iframe",
        ));
        out.push((
            format!("{p} status badge"),
            format!("/badge/{p}/status.svg"),
            "img",
        ));
        for w in WINDOWS {
            out.push((
                format!("{p} uptime {w} badge"),
                format!("/badge/{p}/uptime/{w}.svg"),
                "img",
            ));
        }
        out.push((
            format!("{p} circuit badge"),
            format!("/badge/{p}/circuit.svg"),
            "img",
        ));
        out.push((
            format!("{p} backlog badge"),
            format!("/badge/{p}/backlog.svg"),
            "img",
        ));
        out.push((
            format!("{p} shields.io endpoint (status)"),
            format!("/badge/{p}/status.json"),
            "json",
        ));
    }
    out
}

/// The HTML a portal pastes for an embed served at `origin` + `path`.
pub fn snippet(origin: &str, path: &str, kind: &str, title: &str) -> String {
    match kind {
        "iframe" => format!(
            r#"<iframe src="{origin}{path}?theme=auto&bg=transparent" title="{title}" width="480" height="240" style="border:0"></iframe>"#
        ),
        "img" => format!(r#"<img src="{origin}{path}" alt="{title}">"#),
        _ => format!(
            "https://img.shields.io/endpoint?url={}",
            urlencode(&format!("{origin}{path}"))
        ),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The embeds page.
#[component]
pub fn EmbedsPage() -> impl IntoView {
    let live = use_live();
    let overview = crate::resource::resource(|| (), |_| get_overview());
    // The console's own origin, known in the browser; relative on the server.
    let origin = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Ok(o) = window().location().origin() {
            origin.set(o);
        }
    });
    // Badges are images: reload them after changes, at most every
    // BADGE_REFRESH_MS (status changes come with every check). The iframe
    // pages follow the event stream themselves and are never reloaded.
    let version = RwSignal::new(0u64);
    let scheduled = StoredValue::new(false);
    Effect::new(move |first: Option<()>| {
        live.version(&[
            Topic::Status,
            Topic::Override,
            Topic::Voucher,
            Topic::Replay,
        ]);
        if first.is_some() && !scheduled.get_value() {
            scheduled.set_value(true);
            set_timeout(
                move || {
                    scheduled.set_value(false);
                    version.update(|v| *v += 1);
                },
                std::time::Duration::from_millis(BADGE_REFRESH_MS),
            );
        }
    });
    view! {
        <Title text="Embeds"/>
        <section class="page">
            <h1>"Embeds"</h1>
            <p class="muted">"Read-only widgets for internal portals. Iframes load only on origins in the server's frame-ancestors allow-list; badges and JSON work anywhere (CORS enabled)."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    overview.await.map(|o| {
                        let parts: Vec<String> = o.parts.into_iter().map(|p| p.name).collect();
                        view! {
                            <div class="embeds">
                                {embeds(&parts).into_iter().map(|(title, path, kind)| view! {
                                    <EmbedCard title path kind origin version=version.into()/>
                                }).collect_view()}
                            </div>
                        }
                    })
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EmbedCard(
    title: String,
    path: String,
    kind: &'static str,
    origin: RwSignal<String>,
    version: Signal<u64>,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let (t, p) = (title.clone(), path.clone());
    let code = move || snippet(&origin.get(), &p, kind, &t);
    let code2 = code.clone();
    let copy = move |_| {
        let text = code2();
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&text);
        copied.set(true);
    };
    let src = {
        let path = path.clone();
        move || format!("{path}?v={}", version.get())
    };
    let preview = match kind {
        "iframe" => {
            view! { <iframe src=path.clone() title=title.clone() class="embed-frame"></iframe> }
                .into_any()
        }
        "img" => view! { <img src=src.clone() alt=title.clone() class="embed-badge" height="20"/> }
            .into_any(),
        _ => view! { <a href=path.clone()>{path.clone()}</a> }.into_any(),
    };
    view! {
        <article class="card embed" data-embed=path.clone()>
            <h2>{title.clone()}</h2>
            <div class="embed-preview">{preview}</div>
            <pre class="snippet"><code>{code}</code></pre>
            // The name starts with the visible words ("Copy snippet for …").
            <button class="button secondary copy" on:click=copy>
                {move || if copied.get() { "Copied ✓" } else { "Copy snippet" }}
                <span class="sr-only">{format!(" for {title}")}</span>
            </button>
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_badge_and_page_is_listed() {
        let list = embeds(&["voucher".to_string()]);
        let paths: Vec<&str> = list.iter().map(|(_, p, _)| p.as_str()).collect();
        for p in [
            "/embed/status",
            "/embed/parts/voucher",
            "/badge/overall.svg",
            "/badge/voucher/status.svg",
            "/badge/voucher/uptime/24h.svg",
            "/badge/voucher/uptime/90d.svg",
            "/badge/voucher/circuit.svg",
            "/badge/voucher/backlog.svg",
            "/badge/voucher/status.json",
            "/badge/overall.json",
        ] {
            assert!(paths.contains(&p), "{p} missing");
        }
        assert_eq!(
            snippet("https://m.example", "/badge/overall.svg", "img", "Overall"),
            r#"<img src="https://m.example/badge/overall.svg" alt="Overall">"#
        );
    }
}

/// The `/embeds` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct EmbedsRoute;

#[lazy_route]
impl LazyRoute for EmbedsRoute {
    fn data() -> Self {
        EmbedsRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <EmbedsPage/> }.into_any()
    }
}
