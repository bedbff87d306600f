//! The embedded backend: the mediator's events on the in-process EventBridge
//! (`server/bus`), and the resources it needs there.

use async_trait::async_trait;
use bus::types::{
    CreateArchiveRequest, CreateEventBusRequest, PutEventsRequest, PutEventsRequestEntry,
    UpdateArchiveRequest,
};
use bus::{Bus, BusError, Timestamp};
use mediator_core::events::{archive_pattern, EventPublisher, OutgoingEvent, PublishError};
use mediator_core::PartSettings;

/// The bus the mediator's events travel on (the seed's `loyalty-bus`).
pub const BUS_NAME: &str = "loyalty-bus";
/// Days an archive keeps retry events (the seed's value).
pub const RETENTION_DAYS: i64 = 10;

/// Publishes to a bus of the embedded EventBridge.
pub struct EmbeddedEvents {
    bus: Bus,
    bus_name: String,
}

impl EmbeddedEvents {
    /// A publisher onto `bus_name`.
    pub fn new(bus: Bus, bus_name: impl Into<String>) -> Self {
        Self {
            bus,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EmbeddedEvents {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<(), PublishError> {
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .map(|e| PutEventsRequestEntry {
                    time: Some(Timestamp(e.time.timestamp_millis())),
                    source: Some(e.source.clone()),
                    detail_type: Some(e.detail_type.clone()),
                    detail: Some(e.detail.to_string()),
                    event_bus_name: Some(self.bus_name.clone()),
                    ..Default::default()
                })
                .collect();
            let res = self
                .bus
                .put_events(PutEventsRequest {
                    entries,
                    ..Default::default()
                })
                .await
                .map_err(|e| PublishError(format!("{}: {e}", e.code())))?;
            if res.failed_entry_count > 0 {
                let reason = res
                    .entries
                    .iter()
                    .find_map(|e| e.error_message.clone())
                    .unwrap_or_default();
                return Err(PublishError(format!(
                    "{} of {} entries refused: {reason}",
                    res.failed_entry_count,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}

/// Creates, idempotently, the mediator's bus and one archive per part with
/// the seed's pattern; an existing archive gets the current pattern.
pub async fn provision(bus: &Bus, parts: &[PartSettings]) -> Result<(), BusError> {
    match bus
        .create_event_bus(CreateEventBusRequest {
            name: BUS_NAME.into(),
            description: Some("Vendor Mediator status events".into()),
            ..Default::default()
        })
        .await
    {
        Ok(_) | Err(BusError::ResourceAlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    for part in parts {
        let name = part.name.default_archive_name();
        let pattern = archive_pattern(&part.name);
        let created = bus
            .create_archive(CreateArchiveRequest {
                archive_name: name.clone(),
                event_source_arn: bus.bus_arn(BUS_NAME),
                description: Some(format!("Retry events of the {} part", part.name)),
                event_pattern: Some(pattern.clone()),
                retention_days: Some(RETENTION_DAYS),
            })
            .await;
        match created {
            Ok(_) => tracing::info!(archive = %name, "archive created"),
            Err(BusError::ResourceAlreadyExists(_)) => {
                bus.update_archive(UpdateArchiveRequest {
                    archive_name: name,
                    event_pattern: Some(pattern),
                    ..Default::default()
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
