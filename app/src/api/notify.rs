//! Outbound notifications: the channels and the delivery log, and a test
//! sent to a channel.

use leptos::prelude::*;

use super::ApiError;

pub use mediator_wire::{
    NotificationChannel, NotificationDelivery, NotificationTest, Notifications,
};

/// The configured channels and the newest deliveries, newest first.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_notifications() -> Result<Notifications, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    let deliveries = match &ctx.notifier {
        Some(n) => n.recent(50).await.map_err(super::ssr_unavailable)?,
        None => Vec::new(),
    };
    Ok(mediator_wire::convert::notifications(
        ctx.notifier.as_deref(),
        &deliveries,
    ))
}

/// Queues a test notification for `channel` (admin; audited).
#[server(client = crate::api::access::CsrfClient)]
pub async fn send_test_notification(channel: String) -> Result<NotificationTest, ApiError> {
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let n = mediator_core::commands::notify::send_test(
        ctx.notifier.as_deref(),
        &ctx.audit,
        &who,
        &channel,
    )
    .await?;
    Ok(NotificationTest {
        channel,
        event_id: n.event_id,
    })
}
