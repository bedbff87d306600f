//! The maintenance dialog of a part's card: the part's upcoming and active
//! windows (who, why, until when) with "End now" / "Cancel", and the form
//! that schedules one. It is the override dialog's seed with mode
//! `maintenance` that opens it, and its code is in the override dialog's
//! lazy wasm chunk (`--split` build), fetched when either first opens.

use leptos::prelude::*;

use super::{OverrideSeed, MAINTENANCE};
use crate::api::access::Me;
use crate::api::maintenance::{end_maintenance, list_maintenance, schedule_maintenance};
use crate::api::{fmt_time, ApiError};
use crate::live::{use_live, Topic};

/// The dialog: the part's windows and the schedule form (start, empty for
/// now; a duration in minutes or an end; the reason, required; who acts,
/// asked only when sign-in is off). Errors name their field next to it;
/// Escape or Close closes it. Shown while `seed` asks for mode
/// [`MAINTENANCE`] (of its part).
#[component]
pub fn MaintenanceDialogView(
    seed: RwSignal<Option<OverrideSeed>>,
    me: Option<Me>,
) -> impl IntoView {
    // The part, while the seed asks for this dialog.
    let of = |s: &Option<OverrideSeed>| {
        s.as_ref()
            .filter(|s| s.mode == MAINTENANCE)
            .map(|s| s.part.clone())
    };
    let start = RwSignal::new(String::new());
    let end = RwSignal::new(String::new());
    let minutes = RwSignal::new("60".to_string());
    let reason = RwSignal::new(String::new());
    let by = RwSignal::new(String::new());
    let signed_in_as = me
        .as_ref()
        .filter(|m| m.signed_in())
        .map(|m| m.name.clone());
    let can_operate = me.as_ref().is_none_or(Me::can_operate);
    let live = use_live();
    let refreshes = RwSignal::new(0u32);
    let windows = Resource::new(
        move || {
            (
                seed.with(of),
                refreshes.get(),
                live.version(&[Topic::Override]),
            )
        },
        |(part, _, _)| async move {
            match part {
                Some(p) => list_maintenance(Some(p)).await.map(|l| l.windows),
                None => Ok(vec![]),
            }
        },
    );
    type Ask = (String, String, String, String, String, String);
    let schedule = Action::new(|a: &Ask| {
        let (part, start, end, minutes, reason, by) = a.clone();
        async move { schedule_maintenance(part, start, end, minutes, reason, by).await }
    });
    let end_now = Action::new(|a: &(String, String, String, String)| {
        let (part, id, reason, by) = a.clone();
        async move { end_maintenance(part, id, reason, by).await }
    });
    let close = move || seed.set(None);
    Effect::new(move |_| {
        if seed.with(of).is_some() {
            reason.set(String::new());
            schedule.value().set(None);
            end_now.value().set(None);
        }
    });
    Effect::new(move |_| {
        if matches!(schedule.value().get(), Some(Ok(_)))
            || matches!(end_now.value().get(), Some(Ok(_)))
        {
            refreshes.update(|n| *n += 1);
        }
    });
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && seed.with_untracked(of).is_some() {
            ev.prevent_default();
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let error_of = move || {
        schedule
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| end_now.value().get().and_then(Result::err))
    };
    let field_error = move |field: &'static str| {
        move || {
            error_of()
                .and_then(|e| e.for_field(field))
                .map(|m| view! { <span class="field-error" id=format!("maintenance-{field}-error")>{format!("{field} {m}")}</span> })
        }
    };
    let who = move || by.get_untracked();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(part) = seed.with_untracked(of) {
            schedule.dispatch((
                part,
                start.get_untracked(),
                end.get_untracked(),
                minutes.get_untracked(),
                reason.get_untracked(),
                who(),
            ));
        }
    };
    let list = move || {
        Suspend::new(async move {
            let part = seed.with_untracked(of).unwrap_or_default();
            windows.await.map(|ws| {
                let open: Vec<_> = ws
                    .into_iter()
                    .filter(|w| w.state != "cancelled")
                    .collect();
                if open.is_empty() {
                    return view! { <p class="muted small" id="maintenance-none">"No maintenance window scheduled."</p> }.into_any();
                }
                view! {
                    <ul class="maintenance-list">
                        {open.into_iter().map(|w| {
                            let ask = (part.clone(), w.id.clone());
                            let endable = can_operate && matches!(w.state.as_str(), "scheduled" | "active");
                            let label = if w.state == "scheduled" { "Cancel" } else { "End now" };
                            let until = w.ended_at.clone().unwrap_or_else(|| w.end.clone());
                            view! {
                                <li class="maintenance-window" data-window=w.id.clone() data-state=w.state.clone()>
                                    <super::StatusPill status=w.state.clone() secondary=true/>
                                    " " <time datetime=w.start.clone()>{fmt_time(&w.start)}</time>
                                    " – " <time datetime=until.clone()>{fmt_time(&until)}</time>
                                    <span class="small">{format!(" · {} (by {})", w.reason, w.by)}</span>
                                    {w.replay.clone().map(|r| view! {
                                        <span class="small">" · replay " <a href=format!("/replays?name={r}")>{r.clone()}</a></span>
                                    })}
                                    {endable.then(|| view! {
                                        <button type="button" class="button danger small end-maintenance"
                                            disabled=move || end_now.pending().get()
                                            on:click=move |_| {
                                                end_now.dispatch((ask.0.clone(), ask.1.clone(), reason.get_untracked(), who()));
                                            }>{label}</button>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            })
        })
    };
    let who_field = move || {
        match signed_in_as.clone() {
        Some(name) => view! {
            <p class="field readonly"><span class="label">"Scheduled by "</span><strong>{name}</strong>
                <span class="muted small">" (signed in)"</span></p>
        }
        .into_any(),
        None => view! {
            <div class="field">
                <label for="maintenance-by">"Scheduled by"</label>
                <input id="maintenance-by" name="by" placeholder="your name"
                    prop:value=by on:input=move |ev| by.set(event_target_value(&ev))/>
            </div>
        }
        .into_any(),
    }
    };
    view! {
        <Show when=move || seed.with(of).is_some()>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="maintenance-dialog-title"
                id="maintenance-dialog">
                <h2 id="maintenance-dialog-title">{move || format!("Maintenance of {}", seed.with(of).unwrap_or_default())}</h2>
                <p class="warning" role="note"><span aria-hidden="true">"⚠ "</span>
                    "During a window the circuit is held open (vouchers held as retry), checks keep running, \
                     down/up notifications are muted; when it ends the window is replayed like an outage."</p>
                <Transition fallback=|| view! { <p class="muted small">"Loading…"</p> }>{list}</Transition>
                {can_operate.then(|| view! {
                    <form on:submit=on_submit>
                        <div class="field">
                            <label for="maintenance-start">"Start (RFC 3339, empty: now)"</label>
                            <input id="maintenance-start" name="start" placeholder="now"
                                prop:value=start on:input=move |ev| start.set(event_target_value(&ev))/>
                            {field_error("start")}
                        </div>
                        <div class="field">
                            <label for="maintenance-minutes">"Duration (minutes)"</label>
                            <input id="maintenance-minutes" name="minutes" inputmode="numeric"
                                prop:value=minutes on:input=move |ev| minutes.set(event_target_value(&ev))/>
                            {field_error("minutes")}
                        </div>
                        <div class="field">
                            <label for="maintenance-end">"or End (RFC 3339)"</label>
                            <input id="maintenance-end" name="end" placeholder="start + duration"
                                prop:value=end on:input=move |ev| end.set(event_target_value(&ev))/>
                            {field_error("end")}
                        </div>
                        <div class="field">
                            <label for="maintenance-reason">"Reason"</label>
                            <input id="maintenance-reason" name="reason" aria-required="true"
                                placeholder="why (audited, shown on the card and the embeds)"
                                prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
                            {field_error("reason")}
                        </div>
                        {who_field.clone()}
                        {move || error_of().filter(|e| !matches!(e, ApiError::Invalid { .. })).map(|e| view! {
                            <p class="error-text" role="alert">{e.to_string()}</p>
                        })}
                        <div class="actions">
                            <button type="submit" class="button danger" id="maintenance-confirm"
                                disabled=move || schedule.pending().get()>"Schedule"</button>
                            <button type="button" class="button secondary" on:click=move |_| close()>"Close"</button>
                        </div>
                    </form>
                })}
            </div>
        </Show>
    }
}
