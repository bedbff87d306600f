//! Replays: every replay with its window, state, progress and outcome; a
//! live detail view (`?name=…`) with a cancel button.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::replays::{cancel_replay, get_replay, list_replays, ReplayView};
use crate::api::{fmt_duration, fmt_time};
use crate::components::{Pager, ProgressBar, ReplayProgress, StatusPill};
use crate::live::{use_live, Topic};
use crate::numbers::thousands;

/// Every replay, newest first, refreshed on replay changes.
#[component]
pub fn ReplaysPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let selected = move || query.with(|q| q.get("name"));
    let page = RwSignal::new(0usize);
    let replays = crate::resource::resource(
        move || (page.get(), live.version(&[Topic::Replay])),
        |(p, _)| list_replays(p),
    );
    view! {
        <Title text="Replays"/>
        <section class="page">
            <h1>"Replays"</h1>
            {move || selected().map(|name| view! { <ReplayDetail name/> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    replays.await.map(|p| {
                        let empty = p.replays.is_empty();
                        let (has_prev, has_next) = (p.page > 0, p.has_more);
                        view! {
                            {empty.then(|| view! {
                                <p class="muted">"No replays have run. A replay starts when a part comes back up, or from an outage on the Timeline."</p>
                            })}
                            <div class="table-wrap">
                            <table class="table" id="replays">
                                <thead><tr>
                                    <th scope="col">"Name"</th><th scope="col">"Part"</th><th scope="col">"Window"</th>
                                    <th scope="col">"State"</th><th scope="col">"Progress"</th>
                                    <th scope="col">"Resubmitted / skipped / failed"</th>
                                    <th scope="col">"Started by"</th><th scope="col">"Duration"</th>
                                </tr></thead>
                                <tbody>
                                    {p.replays.into_iter().map(|r| view! { <ReplayRow replay=r/> }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <Pager has_prev has_next
                                on_prev=Callback::new(move |_| page.update(|p| *p = p.saturating_sub(1)))
                                on_next=Callback::new(move |_| page.update(|p| *p += 1))/>
                        }
                    })
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ReplayRow(replay: ReplayView) -> impl IntoView {
    let pct = replay.percent();
    view! {
        <tr data-replay=replay.name.clone() data-state=replay.state.clone()>
            <td><a href=format!("/replays?name={}", replay.name)>{replay.name.clone()}</a></td>
            <td>{replay.part.clone()}</td>
            <td class="small">{let (a, b) = (replay.window_start.clone(), replay.window_end.clone()); move || format!("{} → {}", fmt_time(&a), fmt_time(&b))}</td>
            <td><StatusPill status=replay.state.clone()/></td>
            <td class="progress-cell">
                <ProgressBar percent=pct label=format!("Progress of {}", replay.name)/>
                <span class="small">{format!("{}/{} · {pct}%", thousands(replay.processed), thousands(replay.expected))}</span>
            </td>
            <td class="num">{format!("{} / {} / {}", thousands(replay.resubmitted), thousands(replay.skipped), thousands(replay.failed))}</td>
            <td>{replay.started_by()}</td>
            <td>{replay.duration_secs.map(fmt_duration).unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

/// One replay, live, with its cursor and a cancel button while active.
#[component]
fn ReplayDetail(name: String) -> impl IntoView {
    let live = use_live();
    let cancel = Action::new(|name: &String| {
        let name = name.clone();
        async move { cancel_replay(name).await }
    });
    let n = name.clone();
    let replay = crate::resource::resource(
        move || {
            (
                n.clone(),
                live.version(&[Topic::Replay]),
                cancel.version().get(),
            )
        },
        |(name, _, _)| get_replay(name),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                replay.await.map(|r| {
                    let active = r.is_active();
                    let name = r.name.clone();
                    view! {
                        <article class="card replay-detail" id="replay-detail" data-state=r.state.clone()>
                            <header class="card-head">
                                <h2>{r.name.clone()}</h2>
                                <StatusPill status=r.state.clone()/>
                            </header>
                            <ReplayProgress replay=r.clone()/>
                            <dl class="facts">
                                <dt>"Part"</dt><dd>{r.part.clone()}</dd>
                                <dt>"Archive"</dt><dd><code>{r.archive.clone()}</code></dd>
                                <dt>"Window"</dt><dd>{format!("{} → {}", fmt_time(&r.window_start), fmt_time(&r.window_end))}</dd>
                                <dt>"Cursor"</dt><dd>{r.cursor.as_deref().map(fmt_time).unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Trigger"</dt><dd>{r.trigger.clone()}</dd>
                                <dt>"Started by"</dt><dd>{r.started_by()}</dd>
                                <dt>"Started"</dt><dd>{r.started_at.as_deref().map(fmt_time).unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Ended"</dt><dd>{r.ended_at.as_deref().map(fmt_time).unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Duration"</dt><dd>{r.duration_secs.map(fmt_duration).unwrap_or_else(|| "—".into())}</dd>
                                {r.state_reason.clone().map(|s| view! { <dt>"Reason"</dt><dd>{s}</dd> })}
                            </dl>
                            {active.then(|| view! {
                                <button class="button danger" id="cancel-replay"
                                    disabled=move || cancel.pending().get()
                                    on:click=move |_| { cancel.dispatch(name.clone()); }>
                                    "Cancel replay"
                                </button>
                            })}
                            {move || cancel.value().get().and_then(|r| r.err()).map(|e| view! {
                                <p class="error-text" role="alert">{e.to_string()}</p>
                            })}
                        </article>
                    }
                })
            })}
        </Transition>
    }
}

/// The `/replays` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct ReplaysRoute;

#[lazy_route]
impl LazyRoute for ReplaysRoute {
    fn data() -> Self {
        ReplaysRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <ReplaysPage/> }.into_any()
    }
}
