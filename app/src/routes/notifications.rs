//! Notifications: the configured channels, each with a "Send test" button
//! (admins), and the delivery log — the newest deliveries with their
//! channel, kind, event id, attempts, status and last error, read again
//! whenever the live stream says it changed (topic `notification`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::notify::{
    get_notifications, send_test_notification, NotificationChannel, NotificationDelivery,
};
use crate::components::StatusPill;
use crate::live::{use_live, Topic};

/// The notifications page.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let live = use_live();
    let send = Action::new(|channel: &String| {
        let channel = channel.clone();
        async move { send_test_notification(channel).await }
    });
    let data = crate::resource::resource(
        move || {
            (
                refresh.get(),
                send.version().get(),
                live.version(&[Topic::Notification]),
            )
        },
        |_| get_notifications(),
    );
    view! {
        <Title text="Notifications"/>
        <section class="page">
            <h1>"Notifications"</h1>
            <p class="muted small">
                "Support staff are told when a part goes down or up, a replay completes or fails, the dead-letter queue reaches its threshold, or a voucher is dead-lettered. Channels are set in the configuration file ([notify.channels.<name>])."
            </p>
            {move || send.value().get().map(|r| match r {
                Ok(t) => view! {
                    <p class="ok-text" role="status" id="test-sent">
                        {format!("Test queued for {} (event {}).", t.channel, t.event_id)}
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="error-text" role="alert" id="test-error">{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <p class="error-text" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(d) => {
                            let no_channels = d.channels.is_empty();
                            let no_deliveries = d.deliveries.is_empty();
                            let available = d.available;
                            view! {
                                <h2>"Channels"</h2>
                                {(!available).then(|| view! { <p class="muted">"This backend sends no notifications."</p> })}
                                {(available && no_channels).then(|| view! { <p class="muted">"No channel is configured."</p> })}
                                <div class="table-wrap">
                                <table class="table" id="channels">
                                    <thead><tr>
                                        <th scope="col">"Channel"</th><th scope="col">"Type"</th>
                                        <th scope="col">"Parts"</th><th scope="col">"Kinds"</th><th scope="col">""</th>
                                    </tr></thead>
                                    <tbody>
                                        {d.channels.into_iter().map(|c| view! { <ChannelRow channel=c send/> }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                                <h2>"Delivery log"</h2>
                                <button class="button secondary" id="refresh-deliveries"
                                    on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
                                {no_deliveries.then(|| view! { <p class="muted">"Nothing sent yet."</p> })}
                                <div class="table-wrap">
                                <table class="table" id="deliveries">
                                    <thead><tr>
                                        <th scope="col">"Queued"</th><th scope="col">"Channel"</th><th scope="col">"Kind"</th>
                                        <th scope="col">"Event"</th><th scope="col">"Summary"</th><th scope="col">"Attempts"</th>
                                        <th scope="col">"Status"</th><th scope="col">"Last error"</th>
                                    </tr></thead>
                                    <tbody>
                                        {d.deliveries.into_iter().map(|x| view! { <DeliveryRow delivery=x/> }).collect_view()}
                                    </tbody>
                                </table>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ChannelRow(
    channel: NotificationChannel,
    send: Action<String, Result<crate::api::notify::NotificationTest, crate::api::ApiError>>,
) -> impl IntoView {
    let name = channel.name.clone();
    fn all(v: &[String]) -> String {
        if v.is_empty() {
            "all".to_owned()
        } else {
            v.join(", ")
        }
    }
    view! {
        <tr data-channel=channel.name.clone()>
            <td>{channel.name.clone()}</td>
            <td>{channel.type_.clone()}</td>
            <td>{all(&channel.parts)}</td>
            <td class="small">{all(&channel.kinds)}</td>
            <td>
                <button class="button secondary send-test" disabled=move || send.pending().get()
                    on:click=move |_| { send.dispatch(name.clone()); }>
                    "Send test"
                </button>
            </td>
        </tr>
    }
}

#[component]
fn DeliveryRow(delivery: NotificationDelivery) -> impl IntoView {
    let d = delivery;
    view! {
        <tr data-event=d.event_id.clone() data-status=d.status.clone() data-channel=d.channel.clone()>
            <td class="small">{crate::clock::time_text(d.created_at.clone())}</td>
            <td>{d.channel.clone()}</td>
            <td><code>{d.kind.clone()}</code></td>
            <td class="small"><code>{d.event_id.clone()}</code></td>
            <td>{d.summary.clone()}</td>
            <td class="num">{d.attempts.to_string()}</td>
            <td><StatusPill status=d.status.clone() secondary=true/></td>
            <td class="small">{d.last_error.clone().unwrap_or_default()}</td>
        </tr>
    }
}

/// The `/notifications` route, loaded on demand (its own wasm chunk in a
/// `--split` build, like the other pages).
pub struct NotificationsRoute;

#[lazy_route]
impl LazyRoute for NotificationsRoute {
    fn data() -> Self {
        NotificationsRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <NotificationsPage/> }.into_any()
    }
}
