//! Archives: per archive its pattern, retention, event count, size, oldest
//! and newest event; browse the events of a window, a page at a time
//! (`?name=…&start=…&end=…`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::{lazy_route, LazyRoute};

use crate::api::fmt_time;
use crate::api::history::{archive_events, list_archives};
use crate::components::TokenPager;
use crate::live::{use_live, Topic};

/// A byte count in words.
pub fn fmt_bytes(n: i64) -> String {
    match n {
        ..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// The archives page.
#[component]
pub fn ArchivesPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let archives =
        crate::resource::resource(move || live.version(&[Topic::Voucher]), |_| list_archives());
    let selected = move || query.with(|q| q.get("name"));
    view! {
        <Title text="Archives"/>
        <section class="page">
            <h1>"Archives"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    archives.await.map(|list| view! {
                        <div class="table-wrap">
                        <table class="table" id="archives">
                            <thead><tr>
                                <th scope="col">"Archive"</th><th scope="col">"Part"</th><th scope="col">"Pattern"</th>
                                <th scope="col">"Retention"</th><th scope="col">"Events"</th><th scope="col">"Size"</th>
                                <th scope="col">"Oldest"</th><th scope="col">"Newest"</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|a| view! {
                                    <tr data-archive=a.name.clone()>
                                        <td><a href=format!("/archives?name={}", a.name)>{a.name.clone()}</a></td>
                                        <td>{a.part.unwrap_or_else(|| "—".into())}</td>
                                        <td><code class="pattern">{a.pattern.unwrap_or_default()}</code></td>
                                        <td>{if a.retention_days == 0 { "forever".to_string() } else { format!("{} days", a.retention_days) }}</td>
                                        <td class="num" data-count=a.event_count>{crate::numbers::thousands(a.event_count)}</td>
                                        <td class="num">{fmt_bytes(a.size_bytes)}</td>
                                        <td>{a.oldest.as_deref().map(fmt_time).unwrap_or_else(|| "—".into())}</td>
                                        <td>{a.newest.as_deref().map(fmt_time).unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    })
                })}
            </Transition>
            {move || selected().map(|name| view! { <ArchiveBrowser name/> })}
        </section>
    }
}

/// The events of one archive in a window, paginated.
#[component]
fn ArchiveBrowser(name: String) -> impl IntoView {
    let query = use_query_map();
    let start = move || query.with(|q| q.get("start").unwrap_or_default());
    let end = move || query.with(|q| q.get("end").unwrap_or_default());
    let start_text = RwSignal::new(start());
    let end_text = RwSignal::new(end());
    let tokens = RwSignal::new(Vec::<Option<String>>::new());
    let token = RwSignal::new(None::<String>);
    let n = name.clone();
    let events = crate::resource::resource(
        move || (n.clone(), start(), end(), token.get()),
        |(n, s, e, t)| archive_events(n, s, e, t),
    );
    let navigate = use_navigate();
    let n2 = name.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        token.set(None);
        tokens.set(Vec::new());
        navigate(
            &format!(
                "/archives?name={n2}&start={}&end={}",
                start_text.get_untracked().trim(),
                end_text.get_untracked().trim()
            ),
            Default::default(),
        );
    };
    view! {
        <section class="card" id="archive-events">
            <h2>{format!("Events of {name}")}</h2>
            <form class="form inline" on:submit=on_submit>
                <div class="field">
                    <label for="archive-start">"From (UTC)"</label>
                    <input id="archive-start" prop:value=start_text on:input=move |ev| start_text.set(event_target_value(&ev)) placeholder="2026-01-01T12:00:00Z"/>
                </div>
                <div class="field">
                    <label for="archive-end">"To (UTC)"</label>
                    <input id="archive-end" prop:value=end_text on:input=move |ev| end_text.set(event_target_value(&ev)) placeholder="now"/>
                </div>
                <button type="submit" class="button">"Browse"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    events.await.map(|p| {
                        let next = p.next_token.clone();
                        view! {
                            {p.events.is_empty().then(|| view! { <p class="muted">"No event in this window."</p> })}
                            <ol class="events">
                                {p.events.into_iter().map(|e| view! {
                                    <li>
                                        <details>
                                            <summary>
                                                <time datetime=e.time.clone()>{crate::clock::time_text(e.time.clone())}</time>
                                                {format!(" #{} {}", e.seq, e.summary)}
                                            </summary>
                                            <pre>{e.json}</pre>
                                        </details>
                                    </li>
                                }).collect_view()}
                            </ol>
                            <TokenPager tokens token next/>
                        }
                    })
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_bytes;

    #[test]
    fn sizes_read_well() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(2048), "2.0 KiB");
        assert_eq!(fmt_bytes(3 * 1_048_576), "3.0 MiB");
    }
}

/// The `/archives` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct ArchivesRoute;

#[lazy_route]
impl LazyRoute for ArchivesRoute {
    fn data() -> Self {
        ArchivesRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <ArchivesPage/> }.into_any()
    }
}
