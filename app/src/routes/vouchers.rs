//! Vouchers: submit a request (errors shown next to the field at fault),
//! search by any of the four references, list them by part, status,
//! receive time and attempts, trace a voucher's lifecycle, and the
//! dead-letter queue with redrive (one voucher, or a filter's at a rate
//! with live progress) and its export. `?ref=…` searches, `?id=…` traces,
//! and `?part=…&status=…&from=…&to=…&min_attempts=…` filters the list (the
//! URL is the filter, so a filtered list can be shared; counts elsewhere
//! link here).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::{lazy_route, LazyRoute};

use crate::api::dlq::{
    cancel_bulk_redrive, list_bulk_redrives, start_bulk_redrive, BulkRedrive, BulkRedriveForm,
};
use crate::api::fmt_time;
use crate::api::vouchers::{
    find_vouchers, get_dlq, get_voucher, redrive_voucher, submit_voucher, VoucherForm,
    VoucherListQuery,
};
use crate::api::ApiError;
use crate::components::{ProgressBar, StatusPill, TokenPager, VoucherList};
use crate::live::{use_live, Topic};

/// The form's fields: (name, label, hint).
const FIELDS: [(&str, &str, &str); 5] = [
    ("part", "Part", "voucher, member or points"),
    (
        "loyalty_request_id",
        "Loyalty request id",
        "unique id of the request",
    ),
    ("loyalty_reference", "Loyalty reference", ""),
    ("merchant_reference", "Merchant reference", ""),
    (
        "loyalty_order_reference",
        "Loyalty order reference",
        "e.g. M101-S76-OP10-T65",
    ),
];

/// The statuses the list's filter offers.
const STATUSES: [&str; 6] = [
    "received",
    "submitting",
    "retry",
    "submitted",
    "error",
    "dead_lettered",
];

/// The vouchers page.
#[component]
pub fn VouchersPage() -> impl IntoView {
    let query = use_query_map();
    let reference = move || query.with(|q| q.get("ref").unwrap_or_default());
    let traced = move || query.with(|q| q.get("id"));
    let filter = Memo::new(move |_| VoucherListQuery::from_params(|f| query.with(|q| q.get(f))));
    view! {
        <Title text="Vouchers"/>
        <section class="page">
            <h1>"Vouchers"</h1>
            <div class="columns">
                <SubmitForm/>
                <SearchBox initial=reference()/>
            </div>
            {move || {
                let r = reference();
                (!r.is_empty()).then(|| view! { <SearchResults reference=r/> })
            }}
            {move || traced().map(|id| view! { <Lifecycle id/> })}
            {move || {
                let f = filter.get();
                view! { <FilteredList filter=f/> }
            }}
            <DeadLetters/>
        </section>
    }
}

/// The list by part, status, time and attempts, with its filter form
/// (a plain GET form: it works before the page is interactive).
#[component]
fn FilteredList(filter: VoucherListQuery) -> impl IntoView {
    let navigate = use_navigate();
    let value = |f: &str| RwSignal::new(filter.get(f).unwrap_or_default().to_owned());
    let (part, status, from, to, attempts) = (
        value("part"),
        value("status"),
        value("from"),
        value("to"),
        value("min_attempts"),
    );
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = VoucherListQuery::from_params(|f| {
            let v = match f {
                "part" => part,
                "status" => status,
                "from" => from,
                "to" => to,
                _ => attempts,
            };
            Some(v.get_untracked().trim().to_owned())
        });
        navigate(&format!("/vouchers?{}", q.to_query()), Default::default());
    };
    let current_status = filter.status.clone().unwrap_or_default();
    // A status list from a link (`retry,dead_lettered`) is one more choice.
    let given_status = filter
        .status
        .clone()
        .filter(|s| !STATUSES.contains(&s.as_str()));
    let link = filter.to_query();
    let title = if filter.is_empty() {
        "All vouchers".to_string()
    } else {
        let parts: Vec<String> = VoucherListQuery::FIELDS
            .iter()
            .filter_map(|f| {
                filter
                    .get(f)
                    .map(|v| format!("{} {v}", f.replace('_', " ")))
            })
            .collect();
        format!("Vouchers · {}", parts.join(" · "))
    };
    let input = |id: &'static str, label: &'static str, hint: &'static str, v: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=format!("filter-{id}")>{label}</label>
                <input id=format!("filter-{id}") name=id value=v.get_untracked() prop:value=v placeholder=hint
                    on:input=move |ev| v.set(event_target_value(&ev))/>
            </div>
        }
    };
    view! {
        <section class="card" id="voucher-list" data-filter=link>
            <h2>{title}</h2>
            <form class="form filters" id="voucher-filter" role="search" action="/vouchers" method="get" on:submit=on_submit>
                {input("part", "Part", "any part", part)}
                <div class="field">
                    <label for="filter-status">"Status"</label>
                    <select id="filter-status" name="status"
                        on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="" selected=current_status.is_empty()>"any status"</option>
                        {given_status.map(|s| view! { <option value=s.clone() selected=true>{s.replace(',', ", ")}</option> })}
                        {STATUSES.iter().map(|s| view! {
                            <option value=*s selected=current_status == *s>{s.replace('_', " ")}</option>
                        }).collect_view()}
                    </select>
                </div>
                {input("from", "Received from", "RFC 3339, e.g. 2026-12-01T00:00:00Z", from)}
                {input("to", "Received before", "RFC 3339", to)}
                {input("min_attempts", "Attempts at least", "0", attempts)}
                <div class="actions">
                    <button type="submit" class="button">"Filter"</button>
                    <a class="button secondary" href="/vouchers">"Clear"</a>
                </div>
            </form>
            <VoucherList filter empty="No voucher matches this filter."/>
        </section>
    }
}

#[component]
fn SubmitForm() -> impl IntoView {
    let values: [RwSignal<String>; 5] = std::array::from_fn(|i| {
        RwSignal::new(if i == 0 {
            "voucher".to_string()
        } else {
            String::new()
        })
    });
    let payload = RwSignal::new("{\"points\": 10}".to_string());
    let submit = Action::new(|form: &VoucherForm| {
        let form = form.clone();
        async move { submit_voucher(form).await }
    });
    let error_for = move |field: &'static str| {
        move || {
            submit
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field))
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let v = |i: usize| values[i].get_untracked();
        submit.dispatch(VoucherForm {
            part: v(0),
            loyalty_request_id: v(1),
            loyalty_reference: v(2),
            merchant_reference: v(3),
            loyalty_order_reference: v(4),
            payload: payload.get_untracked(),
        });
    };
    view! {
        <form class="card form" id="submit-voucher" on:submit=on_submit novalidate>
            <h2>"Submit a voucher"</h2>
            {FIELDS.iter().enumerate().map(|(i, (name, label, hint))| {
                let value = values[i];
                let id = format!("voucher-{name}");
                let err_id = format!("{id}-error");
                let err = error_for(name);
                view! {
                    <div class="field" class:invalid=move || err().is_some()>
                        <label for=id.clone()>{*label}</label>
                        <input id=id name=*name prop:value=value
                            on:input=move |ev| value.set(event_target_value(&ev))
                            aria-invalid=move || err().is_some().to_string()
                            aria-describedby=err_id.clone() placeholder=*hint/>
                        <span class="field-error" id=err_id data-field=*name>{move || err()}</span>
                    </div>
                }
            }).collect_view()}
            <div class="field" class:invalid=move || error_for("payload")().is_some()>
                <label for="voucher-payload">"Payload (JSON object)"</label>
                <textarea id="voucher-payload" name="payload" rows="2" prop:value=payload
                    on:input=move |ev| payload.set(event_target_value(&ev))
                    aria-describedby="voucher-payload-error"></textarea>
                <span class="field-error" id="voucher-payload-error" data-field="payload">{move || error_for("payload")()}</span>
            </div>
            <div class="actions">
                <button type="submit" class="button" disabled=move || submit.pending().get()>
                    {move || if submit.pending().get() { "Submitting…" } else { "Submit" }}
                </button>
            </div>
            <div id="submit-result" aria-live="polite">
                {move || submit.value().get().map(|r| match r {
                    Ok(s) => view! {
                        <p class="ok-text">
                            {if s.duplicate { "Already known: " } else { "Accepted: " }}
                            <a href=format!("/vouchers?id={}", s.voucher.loyalty_request_id)>{s.voucher.loyalty_request_id.clone()}</a>
                            " is " <StatusPill status=s.voucher.status.to_string()/>
                        </p>
                    }.into_any(),
                    Err(ApiError::Invalid { field, .. }) => view! {
                        <p class="error-text" role="alert">{format!("Please correct {field}.")}</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </form>
    }
}

#[component]
fn SearchBox(initial: String) -> impl IntoView {
    let text = RwSignal::new(initial);
    let navigate = use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let r = text.get_untracked();
        navigate(
            &format!("/vouchers?ref={}", urlencode(r.trim())),
            Default::default(),
        );
    };
    view! {
        <form class="card form" id="search-voucher" role="search" on:submit=on_submit action="/vouchers" method="get">
            <h2>"Find a voucher"</h2>
            <div class="field">
                <label for="voucher-search">"Any reference"</label>
                <input id="voucher-search" name="ref" prop:value=text
                    on:input=move |ev| text.set(event_target_value(&ev))
                    placeholder="request id, loyalty, merchant or order reference"/>
            </div>
            <div class="actions"><button type="submit" class="button">"Search"</button></div>
        </form>
    }
}

/// Percent-encodes a query value (enough for references).
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

#[component]
fn SearchResults(reference: String) -> impl IntoView {
    let live = use_live();
    let r = reference.clone();
    let tokens = RwSignal::new(Vec::<Option<String>>::new());
    let token = RwSignal::new(None::<String>);
    let found = crate::resource::resource(
        move || (r.clone(), token.get(), live.version(&[Topic::Voucher])),
        |(r, t, _)| find_vouchers(r, t),
    );
    view! {
        <section class="card" id="search-results">
            <h2>{format!("Vouchers matching “{reference}”")}</h2>
            <Transition fallback=|| view! { <p class="muted">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    found.await.map(|page| if page.vouchers.is_empty() && tokens.with_untracked(Vec::is_empty) {
                        view! { <p class="muted">"No voucher has that reference."</p> }.into_any()
                    } else {
                        let next = page.next_token.clone();
                        view! {
                            <ul class="plain">
                                {page.vouchers.into_iter().map(|v| view! {
                                    <li>
                                        <a href=format!("/vouchers?id={}", urlencode(&v.loyalty_request_id))>
                                            {v.loyalty_request_id.clone()}
                                        </a>
                                        " " <StatusPill status=v.status.to_string()/>
                                        {format!(" · {} · loyalty {} · merchant {} · order {} · received {}",
                                            v.part, v.loyalty_reference, v.merchant_reference,
                                            v.loyalty_order_reference, fmt_time(&v.received_at))}
                                    </li>
                                }).collect_view()}
                            </ul>
                            {(next.is_some() || !tokens.with_untracked(Vec::is_empty)).then(|| view! {
                                <TokenPager tokens token next/>
                            })}
                        }.into_any()
                    })
                })}
            </Transition>
        </section>
    }
}

/// A voucher's lifecycle: received → retry → … → submitted, with times.
#[component]
fn Lifecycle(id: String) -> impl IntoView {
    let live = use_live();
    let i = id.clone();
    let detail = crate::resource::resource(
        move || (i.clone(), live.version(&[Topic::Voucher, Topic::Dlq])),
        |(id, _)| get_voucher(id),
    );
    view! {
        <section class="card" id="voucher-lifecycle">
            <h2>{format!("Lifecycle of {id}")}</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    detail.await.map(|d| {
                        let v = d.voucher;
                        view! {
                            <p>
                                <StatusPill status=v.status.to_string()/>
                                {format!(" {} · attempts {} · loyalty {} · merchant {} · order {}",
                                    v.part, v.attempts, v.loyalty_reference, v.merchant_reference, v.loyalty_order_reference)}
                            </p>
                            {v.last_error.map(|e| view! { <p class="error-text">{format!("Last error: {e}")}</p> })}
                            <ol class="lifecycle">
                                {d.lifecycle.into_iter().map(|s| view! {
                                    <li data-status=s.status.clone()>
                                        <time datetime=s.at.clone()>{crate::clock::time_text(s.at.clone())}</time>
                                        <StatusPill status=s.status.clone()/>
                                        <span class="small">{s.detail}</span>
                                    </li>
                                }).collect_view()}
                            </ol>
                        }
                    })
                })}
            </Transition>
        </section>
    }
}

/// The dead-letter queue, paginated, with a redrive button per voucher.
#[component]
fn DeadLetters() -> impl IntoView {
    let live = use_live();
    let tokens = RwSignal::new(Vec::<Option<String>>::new());
    let token = RwSignal::new(None::<String>);
    let redrive = Action::new(|id: &String| {
        let id = id.clone();
        async move { redrive_voucher(id).await }
    });
    let page = crate::resource::resource(
        move || {
            (
                token.get(),
                live.version(&[Topic::Dlq]),
                redrive.version().get(),
            )
        },
        |(t, _, _)| get_dlq(t),
    );
    let dialog_open = RwSignal::new(false);
    let filter = RwSignal::new(BulkRedriveForm {
        rate: "10".into(),
        ..Default::default()
    });
    let export = move |format: &'static str| {
        move || {
            format!(
                "/api/v1/dlq/export?{}",
                filter.with(|f| f.export_query(format))
            )
        }
    };
    view! {
        <section class="card" id="dlq">
            <header class="card-head">
                <h2>"Dead-letter queue"</h2>
                <div class="actions">
                    <button class="button" id="bulk-redrive-open" aria-haspopup="dialog"
                        on:click=move |_| dialog_open.set(true)>"Redrive…"</button>
                    <a class="button secondary" id="dlq-export-csv" href=export("csv") download>"Export CSV"</a>
                    <a class="button secondary" id="dlq-export-ndjson" href=export("ndjson") download>"Export NDJSON"</a>
                </div>
            </header>
            <p class="muted small">"Exports and bulk redrives take the filter set in the Redrive… dialog (none: the whole queue)."</p>
            <BulkRedrives/>
            <BulkRedriveDialog open=dialog_open filter/>
            {move || redrive.value().get().map(|r| match r {
                Ok(d) => view! { <p class="ok-text">{format!("{} redriven: now {}", d.voucher.loyalty_request_id, d.voucher.status)}</p> }.into_any(),
                Err(e) => view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    page.await.map(|p| {
                        let next = p.next_token.clone();
                        if p.vouchers.is_empty() && tokens.with_untracked(Vec::is_empty) {
                            return view! { <p class="muted">"No dead-lettered voucher."</p> }.into_any();
                        }
                        view! {
                            <div class="table-wrap">
                            <table class="table">
                                <thead><tr><th scope="col">"Request id"</th><th scope="col">"Part"</th><th scope="col">"Since"</th><th scope="col">"Reason"</th><th scope="col"><span class="sr-only">"Action"</span></th></tr></thead>
                                <tbody>
                                    {p.vouchers.into_iter().map(|v| {
                                        let id = v.voucher.loyalty_request_id.clone();
                                        let redrive_id = id.clone();
                                        view! {
                                            <tr data-voucher=id.clone()>
                                                <td><a href=format!("/vouchers?id={id}")>{id.clone()}</a></td>
                                                <td>{v.voucher.part}</td>
                                                <td>{crate::clock::time_text(v.dead_lettered_at.clone())}</td>
                                                <td class="small">{v.reason.unwrap_or_default()}</td>
                                                <td><button class="button secondary" on:click=move |_| { redrive.dispatch(redrive_id.clone()); }>"Redrive"</button></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <TokenPager tokens token next/>
                        }.into_any()
                    })
                })}
            </Transition>
        </section>
    }
}

/// The filter and rate fields of the Redrive… dialog: (name, label, input
/// type, placeholder).
const BULK_FIELDS: [(&str, &str, &str, &str); 7] = [
    ("part", "Part", "text", "every part"),
    ("reason_contains", "Reason contains", "text", "e.g. 503"),
    (
        "received_since",
        "Received since (UTC)",
        "datetime-local",
        "",
    ),
    (
        "received_until",
        "Received before (UTC)",
        "datetime-local",
        "",
    ),
    (
        "dead_lettered_since",
        "Dead-lettered since (UTC)",
        "datetime-local",
        "",
    ),
    (
        "dead_lettered_until",
        "Dead-lettered before (UTC)",
        "datetime-local",
        "",
    ),
    ("rate", "Rate (vouchers per second, 1–500)", "number", "10"),
];

/// The form's field `name`.
fn bulk_field<'a>(f: &'a mut BulkRedriveForm, name: &str) -> Option<&'a mut String> {
    Some(match name {
        "part" => &mut f.part,
        "reason_contains" => &mut f.reason_contains,
        "received_since" => &mut f.received_since,
        "received_until" => &mut f.received_until,
        "dead_lettered_since" => &mut f.dead_lettered_since,
        "dead_lettered_until" => &mut f.dead_lettered_until,
        "rate" => &mut f.rate,
        _ => return None,
    })
}

/// The "Redrive…" dialog: a filter and a rate, confirmed by its button;
/// the bulk redrive it starts is followed live below it (and in the list).
/// Focus moves in when it opens and back to its opener when it closes;
/// Escape closes it.
#[component]
fn BulkRedriveDialog(open: RwSignal<bool>, filter: RwSignal<BulkRedriveForm>) -> impl IntoView {
    let start = Action::new(|f: &BulkRedriveForm| {
        let f = f.clone();
        async move { start_bulk_redrive(f).await }
    });
    let close = move || {
        open.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(b) = document().get_element_by_id("bulk-redrive-open") {
            use leptos::wasm_bindgen::JsCast;
            if let Ok(b) = b.dyn_into::<leptos::web_sys::HtmlElement>() {
                let _ = b.focus();
            }
        }
    };
    Effect::new(move |_| {
        if open.get() {
            start.value().set(None);
            request_animation_frame(move || {
                #[cfg(feature = "hydrate")]
                if let Some(first) = document().get_element_by_id("bulk-part") {
                    use leptos::wasm_bindgen::JsCast;
                    if let Ok(first) = first.dyn_into::<leptos::web_sys::HtmlElement>() {
                        let _ = first.focus();
                    }
                }
            });
        }
    });
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && open.get_untracked() {
            ev.prevent_default();
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let error_for = move |field: &'static str| {
        move || {
            start
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field))
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start.dispatch(filter.get_untracked());
    };
    view! {
        <Show when=move || open.get()>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="bulk-redrive-title"
                id="bulk-redrive-dialog">
                <h2 id="bulk-redrive-title">"Redrive dead-lettered vouchers"</h2>
                <p class="muted small">"Every dead-lettered voucher matching the filter goes back through the flow, at most the given number a second. Leave a field empty to not filter on it."</p>
                <form on:submit=on_submit novalidate>
                    {BULK_FIELDS.iter().map(|(name, label, kind, hint)| {
                        let name = *name;
                        let id = format!("bulk-{name}");
                        let err_id = format!("{id}-error");
                        let err = error_for(name);
                        let value = move || filter.with(|f| {
                            let mut f = f.clone();
                            bulk_field(&mut f, name).cloned().unwrap_or_default()
                        });
                        view! {
                            <div class="field" class:invalid=move || err().is_some()>
                                <label for=id.clone()>{*label}</label>
                            <input id=id.clone() name=name type=*kind placeholder=*hint
                                min=(name == "rate").then_some("1") max=(name == "rate").then_some("500")
                                prop:value=value
                                on:input=move |ev| {
                                    let v = event_target_value(&ev);
                                    filter.update(|f| if let Some(s) = bulk_field(f, name) { *s = v; });
                                }
                                aria-invalid=move || err().is_some().to_string()
                                aria-describedby=err_id.clone()/>
                                <span class="field-error" id=err_id data-field=name>{move || err().map(|m| format!("{name} {m}"))}</span>
                            </div>
                        }
                    }).collect_view()}
                    {move || start.value().get().and_then(|r| r.err()).filter(|e| !matches!(e, ApiError::Invalid { .. })).map(|e| view! {
                        <p class="error-text" role="alert">{e.to_string()}</p>
                    })}
                    <div class="actions">
                        <button type="submit" class="button" id="bulk-redrive-confirm"
                            disabled=move || start.pending().get() || matches!(start.value().get(), Some(Ok(_)))>
                            {move || if start.pending().get() { "Starting…" } else { "Confirm redrive" }}
                        </button>
                        <button type="button" class="button secondary" on:click=move |_| close()>"Close"</button>
                    </div>
                </form>
                {move || start.value().get().and_then(|r| r.ok()).map(|b| view! {
                    <p class="ok-text" id="bulk-redrive-started" aria-live="polite">
                        {format!("Started {}: {} voucher(s) at {}/s. Progress shows under the dead-letter queue.", b.id, crate::numbers::thousands(b.total), b.rate)}
                    </p>
                })}
            </div>
        </Show>
    }
}

/// The bulk redrives of this server, newest first, live: done of total, a
/// progress bar, and Cancel while one runs.
#[component]
fn BulkRedrives() -> impl IntoView {
    let live = use_live();
    let cancel = Action::new(|id: &String| {
        let id = id.clone();
        async move { cancel_bulk_redrive(id).await }
    });
    let list = crate::resource::resource(
        move || (live.version(&[Topic::Dlq]), cancel.version().get()),
        |_| list_bulk_redrives(),
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                list.await.map(|l| (!l.redrives.is_empty()).then(|| view! {
                    <ul class="plain bulk-redrives" id="bulk-redrives" aria-live="polite">
                        {l.redrives.into_iter().take(5).map(|b| view! { <BulkRedriveRow b cancel/> }).collect_view()}
                    </ul>
                }))
            })}
        </Transition>
        {move || cancel.value().get().and_then(|r| r.err()).map(|e| view! {
            <p class="error-text" role="alert">{e.to_string()}</p>
        })}
    }
}

#[component]
fn BulkRedriveRow(
    b: BulkRedrive,
    cancel: Action<String, Result<BulkRedrive, ApiError>>,
) -> impl IntoView {
    let pct = b.percent();
    let id = b.id.clone();
    let active = b.is_active() && b.state == "running";
    let filter = serde_json::to_string(&b.filter).unwrap_or_default();
    view! {
        <li class="bulk-redrive" data-bulk-redrive=b.id.clone() data-state=b.state.clone()>
            <div class="replay-line">
                <StatusPill status=b.state.clone() secondary=true/>
                <span class="bulk-progress">{format!("{} / {}", crate::numbers::thousands(b.done), crate::numbers::thousands(b.total))}</span>
                <span class="small">{format!(" · {pct}% · redriven {} (submitted {}), skipped {}, failed {} · {}/s · by {}",
                    b.redriven, b.submitted, b.skipped, b.failed, b.rate, b.started_by)}</span>
            </div>
            <ProgressBar percent=pct label=format!("Progress of {}", b.id)/>
            <p class="small muted">{let (id, at) = (b.id.clone(), b.started_at.clone()); move || format!("{id} · filter {filter} · started {}", fmt_time(&at))}</p>
            {active.then(|| view! {
                <button class="button danger bulk-cancel" disabled=move || cancel.pending().get()
                    on:click=move |_| { cancel.dispatch(id.clone()); }>"Cancel redrive"</button>
            })}
        </li>
    }
}

/// The `/vouchers` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct VouchersRoute;

#[lazy_route]
impl LazyRoute for VouchersRoute {
    fn data() -> Self {
        VouchersRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <VouchersPage/> }.into_any()
    }
}
