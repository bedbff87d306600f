//! Vouchers: submit, search and trace requests.

use leptos::prelude::*;
use leptos_meta::Title;

/// Voucher requests and their lifecycle.
#[component]
pub fn VouchersPage() -> impl IntoView {
    view! {
        <Title text="Vouchers"/>
        <section class="page">
            <h1>"Vouchers"</h1>
            <p class="muted">"No voucher requests received yet."</p>
        </section>
    }
}
