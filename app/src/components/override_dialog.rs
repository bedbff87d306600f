//! The circuit override dialog of a part's card: the confirmation step of
//! forcing the circuit open or closed, disabling the breaker or clearing
//! the override, with the reason it asks for. Its code, with the
//! maintenance dialog's (the same seed with mode `maintenance` opens that
//! one), is a lazy wasm chunk in a `--split` build, fetched when either
//! first opens.

use leptos::prelude::*;

use crate::api::access::Me;
use crate::api::overrides::set_override;
use crate::api::ApiError;

/// What the dialog opens with: the part and the mode asked for (`none`
/// clears the override; [`MAINTENANCE`] opens the maintenance dialog).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OverrideSeed {
    /// The part.
    pub part: String,
    /// `force_open`, `force_closed`, `disabled`, `none` or [`MAINTENANCE`].
    pub mode: String,
}

/// The seed's mode that opens the maintenance dialog instead.
pub const MAINTENANCE: &str = "maintenance";

/// The override dialog and the maintenance dialog, opened by setting
/// `seed` (mode [`MAINTENANCE`]: the maintenance dialog); loads
/// [`OverrideDialogView`] and [`super::MaintenanceDialogView`] on first
/// use, then keeps them mounted.
#[component]
pub fn OverrideDialog(seed: RwSignal<Option<OverrideSeed>>) -> impl IntoView {
    super::lazy_dialog(seed, override_dialog)
}

/// Loads [`OverrideDialogView`] and [`super::MaintenanceDialogView`] (one
/// wasm chunk in a `--split` build: the card's two circuit dialogs).
#[lazy]
fn override_dialog(seed: RwSignal<Option<OverrideSeed>>, me: Option<Me>) -> AnyView {
    view! {
        <OverrideDialogView seed me=me.clone()/>
        <super::MaintenanceDialogView seed me/>
    }
    .into_any()
}

/// What a mode does, for the dialog's title, confirm button and warning.
fn describe(mode: &str, part: &str) -> (String, &'static str, String) {
    match mode {
        "force_open" => (
            format!("Force the circuit of {part} open?"),
            "Force open",
            format!("Vouchers for {part} are held as retry, not sent, until the override is cleared; the checks keep running."),
        ),
        "force_closed" => (
            format!("Force the circuit of {part} closed?"),
            "Force closed",
            format!("Vouchers for {part} are sent whatever the checks say, even while it is down."),
        ),
        "disabled" => (
            format!("Disable the breaker of {part}?"),
            "Disable breaker",
            format!("The circuit of {part} never opens: vouchers are sent even while its checks fail."),
        ),
        _ => (
            format!("Clear the override of {part}?"),
            "Clear override",
            format!("The checks decide the circuit of {part} again."),
        ),
    }
}

/// The dialog: what the change does, the reason (required; audited and
/// shown on the card), who acts (the signed-in user read-only, or a "Set
/// by" field when sign-in is off), then Confirm. Errors name their field
/// next to it; a refusal (role, unknown part) is shown as an alert.
/// Escape or Cancel closes it and focus returns to the card's button.
/// Shown while `seed` asks for an override mode (not [`MAINTENANCE`]).
#[component]
pub fn OverrideDialogView(seed: RwSignal<Option<OverrideSeed>>, me: Option<Me>) -> impl IntoView {
    // Shown while the seed asks for an override mode.
    let of = |s: &Option<OverrideSeed>| s.as_ref().is_some_and(|s| s.mode != MAINTENANCE);
    let reason = RwSignal::new(String::new());
    let by = RwSignal::new(String::new());
    let signed_in_as = me
        .as_ref()
        .filter(|m| m.signed_in())
        .map(|m| m.name.clone());
    let reason_field = NodeRef::<leptos::html::Input>::new();
    #[cfg(feature = "hydrate")]
    let opener = StoredValue::new_local(None::<leptos::web_sys::Element>);
    let apply = Action::new(|ask: &(OverrideSeed, String, String)| {
        let (seed, why, who) = ask.clone();
        async move { set_override(seed.part, seed.mode, why, who).await }
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
    // Opening: a fresh form, focus on the reason.
    Effect::new(move |_| {
        if seed.with(of) {
            reason.set(String::new());
            apply.value().set(None);
            #[cfg(feature = "hydrate")]
            opener.set_value(document().active_element());
            request_animation_frame(move || {
                if let Some(input) = reason_field.get_untracked() {
                    let _ = input.focus();
                }
            });
        }
    });
    // Applied: the card shows the new state (pushed live); the dialog closes.
    Effect::new(move |_| {
        if matches!(apply.value().get(), Some(Ok(_))) {
            close();
        }
    });
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && seed.with_untracked(of) {
            ev.prevent_default();
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let field_error = move |field: &'static str| {
        move || {
            apply
                .value()
                .get()
                .and_then(Result::err)
                .and_then(|e| e.for_field(field))
                .map(|m| view! { <span class="field-error" id=format!("override-{field}-error")>{format!("{field} {m}")}</span> })
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(s) = seed.get_untracked() {
            apply.dispatch((s, reason.get_untracked(), by.get_untracked()));
        }
    };
    // Rebuilt when the dialog is shown again (its children are a function).
    let who = move || match signed_in_as.clone() {
        Some(name) => view! {
            <p class="field readonly">
                <span class="label">"Set by "</span>
                <strong id="override-actor">{name}</strong>
                <span class="muted small">" (signed in)"</span>
            </p>
        }
        .into_any(),
        None => view! {
            <div class="field">
                <label for="override-by">"Set by"</label>
                <input id="override-by" name="by" placeholder="your name" autocomplete="name"
                    prop:value=by on:input=move |ev| by.set(event_target_value(&ev))
                    aria-describedby="override-by-error"/>
                {field_error("by")}
            </div>
        }
        .into_any(),
    };
    let text = move || {
        seed.with(|s| {
            s.as_ref()
                .map(|s| describe(&s.mode, &s.part))
                .unwrap_or_default()
        })
    };

    view! {
        <Show when=move || seed.with(of)>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="override-dialog-title"
                id="override-dialog" data-mode=move || seed.with(|s| s.as_ref().map(|s| s.mode.clone()))>
                <h2 id="override-dialog-title">{move || text().0}</h2>
                <p class="warning" role="note"><span aria-hidden="true">"⚠ "</span>{move || text().2}</p>
                <form on:submit=on_submit>
                    <div class="field">
                        <label for="override-reason">"Reason"</label>
                        <input id="override-reason" name="reason" node_ref=reason_field aria-required="true"
                            placeholder="why (audited, shown on the card)"
                            prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))
                            aria-describedby="override-reason-error"/>
                        {field_error("reason")}
                    </div>
                    {who.clone()}
                    {move || apply.value().get().and_then(Result::err).filter(|e| !matches!(e, ApiError::Invalid { .. })).map(|e| view! {
                        <p class="error-text" role="alert">{e.to_string()}</p>
                    })}
                    <div class="actions">
                        <button type="submit" class="button danger" id="override-confirm"
                            disabled=move || apply.pending().get()>
                            {move || if apply.pending().get() { "Applying…".to_string() } else { text().1.to_string() }}
                        </button>
                        <button type="button" class="button secondary" on:click=move |_| close()>"Cancel"</button>
                    </div>
                </form>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn each_mode_says_what_it_does() {
        assert_eq!(describe("force_open", "voucher").1, "Force open");
        assert!(describe("force_open", "voucher")
            .2
            .contains("held as retry"));
        assert_eq!(
            describe("none", "points").0,
            "Clear the override of points?"
        );
    }
}
