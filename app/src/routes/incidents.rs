//! Incidents: each outage as a record linking its status changes, the
//! retries it held back, the replays that recovered them and the outcome,
//! with the vouchers received while the part was down (each linking to its
//! trace; the counts link to the vouchers page's filtered list).
//! `?id=N` shows one incident.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::history::{get_incident, list_incidents, Incident, IncidentView};
use crate::api::{fmt_duration, fmt_time};
use crate::components::{ReplayDialog, ReplaySeed, StatusPill, TokenPager, VoucherList};
use crate::live::{use_live, Topic};
use crate::numbers::thousands;

const TOPICS: [Topic; 3] = [Topic::Status, Topic::Replay, Topic::Voucher];

/// The incidents page.
#[component]
pub fn IncidentsPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let selected = move || query.with(|q| q.get("id").and_then(|v| v.parse::<i64>().ok()));
    // Tokens of the pages visited, to go back.
    let tokens = RwSignal::new(Vec::<Option<String>>::new());
    let token = RwSignal::new(None::<String>);
    let page = crate::resource::resource(
        move || (token.get(), live.version(&TOPICS)),
        |(t, _)| list_incidents(None, t),
    );
    let dialog = RwSignal::new(None::<ReplaySeed>);
    view! {
        <Title text="Incidents"/>
        <section class="page">
            <h1>"Incidents"</h1>
            {move || selected().map(|id| view! { <IncidentDetail id dialog/> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    page.await.map(|p| {
                        let next = p.next_token.clone();
                        let empty = p.incidents.is_empty();
                        view! {
                            {empty.then(|| view! { <p class="muted">"No outage recorded yet."</p> })}
                            <div class="table-wrap">
                            <table class="table" id="incidents">
                                <thead><tr>
                                    <th scope="col">"Part"</th><th scope="col">"Start"</th><th scope="col">"Duration"</th>
                                    <th scope="col">"Retries held"</th><th scope="col">"Replays"</th><th scope="col">"State"</th>
                                </tr></thead>
                                <tbody>
                                    {p.incidents.into_iter().map(|i| i.incident).map(|i| view! {
                                        <tr data-incident=i.id>
                                            <td>{i.part.clone()}</td>
                                            <td><a href=format!("/incidents?id={}", i.id)>{fmt_time(&i.start)}</a></td>
                                            <td>{fmt_duration(i.duration_secs)}</td>
                                            <td class="num"><a href=held_list(&i, None)>{thousands(i.retries_held)}</a></td>
                                            <td class="num">{thousands(i.replays.len())}</td>
                                            <td><StatusPill status=i.state.clone()/></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <TokenPager tokens token next/>
                        }
                    })
                })}
            </Transition>
            <ReplayDialog seed=dialog/>
        </section>
    }
}

/// The statuses of a voucher still waiting.
const PENDING: &str = "received,submitting,retry";

/// The vouchers page listing the part's vouchers received during the
/// incident (`status`: only these).
fn held_list(i: &Incident, status: Option<&str>) -> String {
    format!("/vouchers?{}", i.held_vouchers(status).to_query())
}

/// One incident with everything it links.
#[component]
fn IncidentDetail(id: i64, dialog: RwSignal<Option<ReplaySeed>>) -> impl IntoView {
    let live = use_live();
    let incident = crate::resource::resource(
        move || (id, live.version(&TOPICS)),
        |(id, _)| get_incident(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                incident.await.map(|i| view! { <IncidentCard incident=i dialog/> })
            })}
        </Transition>
    }
}

#[component]
fn IncidentCard(incident: IncidentView, dialog: RwSignal<Option<ReplaySeed>>) -> impl IntoView {
    let IncidentView {
        incident,
        replay_start,
        replay_end,
    } = incident;
    let o = &incident;
    let seed = ReplaySeed {
        part: o.part.clone(),
        start: replay_start,
        end: replay_end,
        context: format!("Incident #{} of {}", o.id, o.part),
    };
    view! {
        <article class="card incident" id="incident-detail" data-incident=o.id>
            <header class="card-head">
                <h2>{format!("Incident #{} · {}", o.id, o.part)}</h2>
                <StatusPill status=incident.state.clone()/>
            </header>
            <dl class="facts">
                <dt>"Down at"</dt><dd>{crate::clock::time_text(o.start.clone())}</dd>
                <dt>"Back up at"</dt><dd>{let end = o.end.clone(); move || end.as_deref().map(fmt_time).unwrap_or_else(|| "still down".into())}</dd>
                <dt>"Duration"</dt><dd>{fmt_duration(o.duration_secs)}</dd>
                <dt>"Retries held"</dt><dd class="num"><a href=held_list(o, None)>{thousands(o.retries_held)}</a></dd>
            </dl>
            <h3>"Status changes"</h3>
            <ol class="steps">
                {incident.status_changes.iter().map(|c| view! {
                    <li><time datetime=c.at.clone()>{crate::clock::time_text(c.at.clone())}</time>" "{format!("{} → {}", c.prev_status, c.status)}</li>
                }).collect_view()}
            </ol>
            <h3>"Replays"</h3>
            {if incident.replays.is_empty() {
                view! { <p class="muted">"No replay covers this outage yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="steps">
                        {incident.replays.iter().map(|r| view! {
                            <li>
                                <a href=format!("/replays?name={}", r.name)>{r.name.clone()}</a>" "
                                <StatusPill status=r.state.clone()/>
                                {format!(" {} · {}/{} events · {} resubmitted, {} skipped, {} failed",
                                    r.trigger, thousands(r.processed), thousands(r.expected), thousands(r.resubmitted), thousands(r.skipped), thousands(r.failed))}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <h3>"Outcome"</h3>
            <p class="outcome">
                {format!("{} resubmitted · {} skipped · {} failed · ",
                    thousands(incident.outcome.resubmitted), thousands(incident.outcome.skipped), thousands(incident.outcome.failed))}
                <a href=held_list(o, Some("dead_lettered"))>{format!("{} dead-lettered", thousands(incident.outcome.dead_lettered))}</a>
                " · "
                <a href=held_list(o, Some(PENDING))>{format!("{} still pending", thousands(incident.outcome.pending))}</a>
            </p>
            <h3>"Vouchers received while down"</h3>
            <p class="small muted">"What became of each; open one to trace it."</p>
            <div id="incident-vouchers">
                <VoucherList filter=o.held_vouchers(None) empty="No voucher was received during this outage."/>
            </div>
            <button class="button" on:click=move |_| dialog.set(Some(seed.clone()))>"Replay this outage…"</button>
        </article>
    }
}

/// The `/incidents` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct IncidentsRoute;

#[lazy_route]
impl LazyRoute for IncidentsRoute {
    fn data() -> Self {
        IncidentsRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <IncidentsPage/> }.into_any()
    }
}
