//! The replay dialog (lazy), the shell that mounts a lazy dialog on first
//! open, and one replay followed live.

use super::session::Session;
use super::status::ReplayProgress;
use leptos::prelude::*;

use crate::api::access::Me;
use crate::api::replays::{cancel_replay, get_replay, preview_replay, start_replay, ReplayPreview};
use crate::api::{fmt_time, ApiError};
use crate::live::{use_live, Topic};
use crate::numbers::thousands;

/// What the replay dialog opens with: the part and a proposed window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaySeed {
    /// The part.
    pub part: String,
    /// Proposed window start (RFC 3339), editable.
    pub start: String,
    /// Proposed window end (RFC 3339), editable.
    pub end: String,
    /// What the dialog was opened from, shown as its subtitle.
    pub context: String,
}

/// The replay dialog, opened by setting `seed`. Its code (form, preview
/// and launch calls, live progress) is a lazy wasm chunk in a `--split`
/// build, fetched the first time a dialog opens; it then stays mounted
/// ([`ReplayDialogView`]).
#[component]
pub fn ReplayDialog(seed: RwSignal<Option<ReplaySeed>>) -> impl IntoView {
    lazy_dialog(seed, replay_dialog)
}

/// A dialog whose body `load` fetches (a `#[lazy]` function): nothing until
/// `seed` is first set, then the body, loaded once with the signed-in user
/// and kept mounted (setting it up again would build a new dialog while the
/// shown one's handlers are disposed with the old).
pub fn lazy_dialog<T, F, Fut>(seed: RwSignal<Option<T>>, load: F) -> impl IntoView
where
    T: Send + Sync + 'static,
    F: Fn(RwSignal<Option<T>>, Option<Me>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = AnyView> + Send + 'static,
{
    let opened = RwSignal::new(false);
    let session = Session::get();
    Effect::new(move |_| {
        if seed.with(Option::is_some) && !opened.get_untracked() {
            opened.set(true);
        }
    });
    move || {
        opened.get().then(|| {
            Suspend::new(async move {
                let me = session.me().await;
                load(seed, me).await
            })
        })
    }
}

/// Loads [`ReplayDialogView`] (its own wasm chunk in a `--split` build).
#[lazy]
fn replay_dialog(seed: RwSignal<Option<ReplaySeed>>, me: Option<Me>) -> AnyView {
    view! { <ReplayDialogView seed me/> }.into_any()
}

/// The replay dialog itself: an editable window, the preview counts before
/// confirming, the archive-lag warning, refusal while the part has an
/// active replay, the reason (required, audited with the replay), then the
/// launched replay's live progress and cursor, with a Cancel button while
/// it runs. Who starts it is the signed-in user `me`, shown read-only; a
/// "Started by" field is asked only when sign-in is off.
///
/// Keyboard: focus moves into the dialog when it opens and back to the
/// element that opened it when it closes; Escape closes it.
#[component]
pub fn ReplayDialogView(seed: RwSignal<Option<ReplaySeed>>, me: Option<Me>) -> impl IntoView {
    let start = RwSignal::new(String::new());
    let end = RwSignal::new(String::new());
    let by = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let signed_in_as = me
        .as_ref()
        .filter(|m| m.signed_in())
        .map(|m| m.name.clone());
    let can_cancel = me.as_ref().is_none_or(Me::can_operate);
    let launched = RwSignal::new(None::<String>);
    let first_field = NodeRef::<leptos::html::Input>::new();
    let close_button = NodeRef::<leptos::html::Button>::new();
    // The element focused before opening (browser only: a local value must
    // not be created during server rendering, where it would be dropped on
    // another thread).
    #[cfg(feature = "hydrate")]
    let opener = StoredValue::new_local(None::<leptos::web_sys::Element>);

    let preview = Action::new(|(part, s, e): &(String, String, String)| {
        let (part, s, e) = (part.clone(), s.clone(), e.clone());
        async move { preview_replay(part, s, e).await }
    });
    let launch = Action::new(|ask: &(String, String, String, String, String)| {
        let (part, s, e, who, why) = ask.clone();
        async move { start_replay(part, s, e, who, why).await }
    });
    let part = move || seed.with(|s| s.as_ref().map(|s| s.part.clone()).unwrap_or_default());
    let run_preview = move || {
        preview.dispatch((part(), start.get_untracked(), end.get_untracked()));
    };

    // Opening: fill the window, preview it, move focus in.
    Effect::new(move |_| {
        if let Some(s) = seed.get() {
            start.set(s.start.clone());
            end.set(s.end.clone());
            reason.set(String::new());
            launched.set(None);
            launch.value().set(None);
            preview.value().set(None);
            if !s.start.is_empty() && !s.end.is_empty() {
                preview.dispatch((s.part.clone(), s.start.clone(), s.end.clone()));
            }
            #[cfg(feature = "hydrate")]
            opener.set_value(document().active_element());
            request_animation_frame(move || {
                if let Some(input) = first_field.get_untracked() {
                    let _ = input.focus();
                }
            });
        }
    });
    // A launched replay is remembered to follow its progress.
    Effect::new(move |_| {
        if let Some(Ok(r)) = launch.value().get() {
            launched.set(Some(r.name));
        }
    });
    let close = move || {
        seed.set(None);
        #[cfg(feature = "hydrate")]
        if let Some(el) = opener.get_value() {
            use leptos::wasm_bindgen::JsCast;
            if let Ok(el) = el.dyn_into::<leptos::web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    };
    // Escape closes the dialog wherever focus is (a button that became
    // disabled leaves focus on the body, outside the dialog).
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && seed.with_untracked(Option::is_some) {
            ev.prevent_default();
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let field_error = move |field: &'static str| {
        move || {
            let from_launch = launch
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field));
            let from_preview = preview
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field));
            from_launch.or(from_preview).map(|m| {
                view! { <span class="field-error" id=format!("replay-{field}-error")>{format!("{field} {m}")}</span> }
            })
        }
    };
    let can_launch = move || {
        matches!(
            preview.value().get(),
            Some(Ok(ReplayPreview {
                active_replay: None,
                ..
            }))
        ) && !launch.pending().get()
            && launched.get().is_none()
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        launch.dispatch((
            part(),
            start.get_untracked(),
            end.get_untracked(),
            by.get_untracked(),
            reason.get_untracked(),
        ));
    };
    // Rebuilt when the dialog is shown again (its children are a function).
    let who = move || match signed_in_as.clone() {
        Some(name) => view! {
            <p class="field readonly">
                <span class="label">"Started by "</span>
                <strong id="replay-actor">{name}</strong>
                <span class="muted small">" (signed in)"</span>
            </p>
        }
        .into_any(),
        None => view! {
            <div class="field">
                <label for="replay-by">"Started by"</label>
                <input id="replay-by" name="by" placeholder="your name" autocomplete="name"
                    prop:value=by on:input=move |ev| by.set(event_target_value(&ev))
                    aria-describedby="replay-by-error"/>
                {field_error("by")}
            </div>
        }
        .into_any(),
    };

    view! {
        <Show when=move || seed.with(Option::is_some)>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="replay-dialog-title"
                id="replay-dialog">
                // Focus stays inside the modal dialog: these two sentinels
                // send Tab past either end back round to the other end.
                <span class="focus-sentinel" tabindex="0" aria-hidden="true" on:focus=move |_| {
                    if let Some(b) = close_button.get_untracked() { let _ = b.focus(); }
                }></span>
                <h2 id="replay-dialog-title">{move || format!("Replay {}", part())}</h2>
                <p class="muted small">{move || seed.with(|s| s.as_ref().map(|s| s.context.clone()).unwrap_or_default())}</p>
                <form on:submit=on_submit>
                    <div class="field">
                        <label for="replay-start">"Window start (UTC)"</label>
                        <input id="replay-start" name="start" node_ref=first_field
                            prop:value=start on:input=move |ev| start.set(event_target_value(&ev))
                            on:change=move |_| run_preview()
                            aria-describedby="replay-start-error"/>
                        {field_error("start")}
                    </div>
                    <div class="field">
                        <label for="replay-end">"Window end (UTC)"</label>
                        <input id="replay-end" name="end"
                            prop:value=end on:input=move |ev| end.set(event_target_value(&ev))
                            on:change=move |_| run_preview()
                            aria-describedby="replay-end-error"/>
                        {field_error("end")}
                    </div>
                    {who.clone()}
                    <div class="field">
                        <label for="replay-reason">"Reason"</label>
                        <input id="replay-reason" name="reason" aria-required="true"
                            placeholder="why this window is replayed (audited)"
                            prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))
                            aria-describedby="replay-reason-error"/>
                        {field_error("reason")}
                    </div>
                    <div class="preview" aria-live="polite" id="replay-preview">
                        {move || match preview.value().get() {
                            None if preview.pending().get() => view! { <p class="muted">"Counting…"</p> }.into_any(),
                            None => view! { <p class="muted">"Edit the window, then preview."</p> }.into_any(),
                            Some(Err(e)) => view! { <p class="error-text">{e.to_string()}</p> }.into_any(),
                            Some(Ok(p)) => view! {
                                <dl class="facts">
                                    <dt>"Archived events in the window"</dt>
                                    <dd class="num" id="preview-archived">{thousands(p.archived)}</dd>
                                    <dt>"Vouchers still pending"</dt>
                                    <dd class="num" id="preview-pending">{thousands(p.pending)}</dd>
                                    {p.archive_event_count.map(|n| view! {
                                        <dt title="EventBridge reports only the whole archive's count, updated with a delay">"The bus's archive count (whole archive on AWS, approximate)"</dt>
                                        <dd class="num" id="preview-archive-count">{thousands(n)}</dd>
                                    })}
                                </dl>
                                {p.lag_warning.map(|w| view! { <p class="warning" role="note"><span aria-hidden="true">"⚠ "</span>{w}</p> })}
                                {p.active_replay.map(|a| view! {
                                    <p class="error-text" role="alert">
                                        {format!("Launching is refused: {} has an active replay ({a}). Wait for it to end or cancel it on the Replays page.", p.part)}
                                    </p>
                                })}
                            }.into_any(),
                        }}
                    </div>
                    {move || launch.value().get().and_then(|r| r.err()).filter(|e| !matches!(e, ApiError::Invalid { .. })).map(|e| view! {
                        <p class="error-text" role="alert">{e.to_string()}</p>
                    })}
                    <div class="actions">
                        <button type="button" class="button secondary" on:click=move |_| run_preview()>"Preview"</button>
                        <button type="submit" class="button" id="replay-confirm" disabled=move || !can_launch()>
                            {move || if launch.pending().get() { "Starting…" } else { "Replay" }}
                        </button>
                        <button type="button" class="button secondary" node_ref=close_button on:click=move |_| close()>"Close"</button>
                    </div>
                </form>
                {move || launched.get().map(|name| view! { <LiveReplay name can_cancel/> })}
                <span class="focus-sentinel" tabindex="0" aria-hidden="true" on:focus=move |_| {
                    if let Some(i) = first_field.get_untracked() { let _ = i.focus(); }
                }></span>
            </div>
        </Show>
    }
}

/// One replay, refreshed live on replay changes: its progress, its time
/// cursor (EventBridge's `EventLastReplayedTime`: event time replayed up
/// to) beside the counters, and, while it runs and `can_cancel`, a Cancel
/// button (the cancel command, as on the Replays page).
#[component]
pub fn LiveReplay(name: String, #[prop(optional)] can_cancel: bool) -> impl IntoView {
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
        <section class="live-replay" aria-live="polite">
            <h3>{format!("Replay {name}")}</h3>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    replay.await.map(|r| {
                        let cursor = r.cursor.as_deref().map(fmt_time).unwrap_or_else(|| "—".into());
                        let running = (can_cancel && r.is_active()).then(|| r.name.clone());
                        view! {
                            <ReplayProgress replay=r.clone()/>
                            <dl class="facts">
                                <dt>"Cursor (event time replayed up to)"</dt>
                                <dd id="replay-cursor">{cursor}</dd>
                            </dl>
                            {running.map(|name| view! {
                                <button type="button" class="button danger" id="replay-dialog-cancel"
                                    disabled=move || cancel.pending().get()
                                    on:click=move |_| { cancel.dispatch(name.clone()); }>
                                    "Cancel replay"
                                </button>
                            })}
                            <p class="small">
                                <a href=format!("/replays?name={}", r.name)>"Open on the Replays page"</a>
                            </p>
                        }
                    })
                })}
            </Transition>
            {move || cancel.value().get().and_then(Result::err).map(|e| view! {
                <p class="error-text" role="alert">{e.to_string()}</p>
            })}
        </section>
    }
}
