//! A paged table of the vouchers a filter selects, newest received first,
//! each linking to its trace (`/vouchers?id=…`): the vouchers page's list
//! and an incident's held vouchers.

use leptos::prelude::*;

use super::{StatusPill, TokenPager};
use crate::api::vouchers::{list_vouchers, VoucherListQuery};
use crate::live::{use_live, Topic};

/// The vouchers `filter` selects, a page at a time (Next / Previous keep
/// the filter), refetched when vouchers change.
#[component]
pub fn VoucherList(
    /// Which vouchers.
    filter: VoucherListQuery,
    /// Shown when none matches.
    #[prop(into)]
    empty: String,
) -> impl IntoView {
    let live = use_live();
    let tokens = RwSignal::new(Vec::<Option<String>>::new());
    let token = RwSignal::new(None::<String>);
    let page = crate::resource::resource(
        move || (filter.clone(), token.get(), live.version(&[Topic::Voucher])),
        |(f, t, _)| list_vouchers(Some(f), t),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let empty = empty.clone();
                Suspend::new(async move {
                    let p = match page.await {
                        Ok(p) => p,
                        Err(e) => {
                            let field = match &e {
                                crate::api::ApiError::Invalid { field, .. } => Some(field.clone()),
                                _ => None,
                            };
                            return view! {
                                <p class="error-text" role="alert" data-field=field>
                                    {e.to_string()}
                                </p>
                            }.into_any()
                        }
                    };
                    let first = tokens.with_untracked(Vec::is_empty);
                    if p.vouchers.is_empty() && first {
                        return view! { <p class="muted">{empty}</p> }.into_any();
                    }
                    let next = p.next_token.clone();
                    view! {
                        <div class="table-wrap">
                        <table class="table voucher-list">
                            <thead><tr>
                                <th scope="col">"Request id"</th><th scope="col">"Part"</th>
                                <th scope="col">"Status"</th><th scope="col">"Attempts"</th>
                                <th scope="col">"Received"</th>
                            </tr></thead>
                            <tbody>
                                {p.vouchers.into_iter().map(|v| {
                                    let href = format!(
                                        "/vouchers?id={}",
                                        mediator_wire::query::encode(&v.loyalty_request_id)
                                    );
                                    view! {
                                        <tr data-voucher=v.loyalty_request_id.clone() data-status=v.status.to_string()>
                                            <td><a href=href>{v.loyalty_request_id.clone()}</a></td>
                                            <td>{v.part}</td>
                                            <td><StatusPill status=v.status.to_string()/></td>
                                            <td class="num">{v.attempts}</td>
                                            <td><time datetime=v.received_at.clone()>{crate::clock::time_text(v.received_at.clone())}</time></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        <TokenPager tokens token next/>
                    }.into_any()
                })
            }}
        </Transition>
    }
}
