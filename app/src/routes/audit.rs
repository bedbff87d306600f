//! The audit log: who did what, when, to what, why and how it ended; newest
//! first, a page at a time (`?before=<id>`). Operators and admins only; the
//! JSON export is `GET /api/v1/audit`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::access::{list_audit, AuditRow};

/// The audit page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.with(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    let page = crate::resource::resource(before, list_audit);
    view! {
        <Title text="Audit"/>
        <section class="page">
            <h1>"Audit log"</h1>
            <p class="muted small">
                "Replays started and cancelled, overrides, manual submissions, redrives, sign-ins and user or token changes. Export: "
                <a href="/api/v1/audit?format=ndjson">"/api/v1/audit?since=…&until=…&format=json|ndjson"</a>
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(e) => view! { <p class="error-text" role="alert" id="audit-error">{e.to_string()}</p> }.into_any(),
                        Ok(p) => {
                            let empty = p.entries.is_empty();
                            view! {
                                {empty.then(|| view! { <p class="muted">"Nothing recorded yet."</p> })}
                                <div class="table-wrap">
                                <table class="table" id="audit">
                                    <thead><tr>
                                        <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                                        <th scope="col">"Target"</th><th scope="col">"Reason"</th>
                                        <th scope="col">"Outcome"</th><th scope="col">"Detail"</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.entries.into_iter().map(|e| view! { <AuditLine entry=e/> }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <nav class="pager" aria-label="Audit pages">
                                    {(before().is_some()).then(|| view! { <a href="/audit">"Newest"</a> })}
                                    {p.older.map(|id| view! { <a href=format!("/audit?before={id}") rel="next">"Older entries"</a> })}
                                </nav>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditLine(entry: AuditRow) -> impl IntoView {
    let who = match &entry.role {
        Some(r) => format!("{} ({r}, {})", entry.actor, entry.via),
        None => format!("{} ({})", entry.actor, entry.via),
    };
    view! {
        <tr data-action=entry.action.clone() data-outcome=entry.outcome.clone()>
            <td class="small">{crate::clock::time_text(entry.at.clone())}</td>
            <td>{who}</td>
            <td><code>{entry.action.clone()}</code></td>
            <td>{entry.target.clone().unwrap_or_default()}</td>
            <td>{entry.reason.clone().unwrap_or_default()}</td>
            <td>{entry.outcome.clone()}</td>
            <td class="small"><code>{entry.detail.clone()}</code></td>
        </tr>
    }
}

/// The `/audit` route, loaded on demand: in a `--split` build its view and
/// everything only it uses is a separate wasm chunk (see the other pages).
pub struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        AuditRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <AuditPage/> }.into_any()
    }
}
