//! [`AwsEvents`]: the mediator's events onto an EventBridge bus.
//!
//! * **Batching**: one PutEvents call carries at most [`MAX_BATCH_ENTRIES`]
//!   entries and [`MAX_BATCH_BYTES`] bytes, entries measured as AWS does
//!   ([`entry_size`]); batches keep the events' order.
//! * **Partial failure**: PutEvents can accept some entries and refuse
//!   others (`FailedEntryCount`). Only the refused entries are sent again,
//!   after an exponential back-off with full jitter, up to
//!   [`PublishSettings::entry_attempts`] attempts; then the error names each
//!   entry still refused and its error code. Refusals no retry can fix
//!   (`MalformedDetail`, `InvalidArgument`, …) fail at once.
//! * **Throttling** of whole calls is the SDK's job: its standard retry mode
//!   (see [`crate::load_config`]) backs off and retries throttled calls.

use std::time::Duration;
use tracing::Instrument;

use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use mediator_core::events::{EventPublisher, OutgoingEvent, PublishError};

use crate::sdk_message;

/// Entries per PutEvents call (AWS's limit).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Bytes per PutEvents call (AWS's limit, 256 KB).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Entry error codes that retrying cannot fix.
const PERMANENT: [&str; 4] = [
    "MalformedDetail",
    "InvalidArgument",
    "ValidationException",
    "AccessDeniedException",
];

/// How failed entries are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishSettings {
    /// Attempts per entry, the first included (≥ 1).
    pub entry_attempts: u32,
    /// Back-off before the first retry; doubles per retry.
    pub base_delay: Duration,
    /// Longest back-off.
    pub max_delay: Duration,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            entry_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Publishes onto an EventBridge bus with PutEvents.
pub struct AwsEvents {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    settings: PublishSettings,
}

impl AwsEvents {
    /// A publisher onto `bus_name` (a name or ARN).
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus_name: impl Into<String>,
        settings: PublishSettings,
    ) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
            settings,
        }
    }

    fn entry(&self, e: &OutgoingEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .time(DateTime::from_millis(e.time.timestamp_millis()))
            .source(e.source.clone())
            .detail_type(e.detail_type.clone())
            .detail(e.detail.to_string())
            .event_bus_name(self.bus_name.clone())
            .build()
    }

    /// Sends one batch, then again only its refused entries until all are
    /// accepted or attempts run out.
    async fn send_batch(
        &self,
        events: &[OutgoingEvent],
        first_index: usize,
    ) -> Result<(), PublishError> {
        // (index in `events`, entry)
        let mut pending: Vec<(usize, PutEventsRequestEntry)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (i, self.entry(e)))
            .collect();
        let mut attempt = 1;
        loop {
            let out = self
                .client
                .put_events()
                .set_entries(Some(pending.iter().map(|(_, e)| e.clone()).collect()))
                .send()
                .instrument(crate::trace::eventbridge("PutEvents", &self.bus_name))
                .await
                .map_err(|e| PublishError(format!("PutEvents: {}", sdk_message(&e))))?;
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            let results = out.entries();
            if results.len() != pending.len() {
                return Err(PublishError(format!(
                    "PutEvents answered {} results for {} entries",
                    results.len(),
                    pending.len()
                )));
            }
            let mut failed = Vec::new();
            let mut permanent = false;
            for ((i, entry), r) in pending.into_iter().zip(results) {
                if let Some(code) = r.error_code() {
                    permanent |= PERMANENT.contains(&code);
                    failed.push((
                        i,
                        entry,
                        code.to_string(),
                        r.error_message().map(str::to_string),
                    ));
                }
            }
            if permanent || attempt >= self.settings.entry_attempts {
                let names: Vec<String> = failed
                    .iter()
                    .map(|(i, _, code, msg)| {
                        let e = &events[*i];
                        format!(
                            "entry {} ({} {} at {}): {code}{}",
                            first_index + i,
                            e.detail_type,
                            e.detail
                                .pointer("/metadata/type")
                                .and_then(|v| v.as_str())
                                .unwrap_or("-"),
                            e.time.to_rfc3339(),
                            msg.as_deref().map(|m| format!(" {m}")).unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(PublishError(format!(
                    "{} of {} entries refused after {attempt} attempt(s): {}",
                    names.len(),
                    events.len(),
                    names.join("; ")
                )));
            }
            tracing::debug!(
                refused = failed.len(),
                attempt,
                "PutEvents refused some entries; retrying only those"
            );
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
            pending = failed.into_iter().map(|(i, e, _, _)| (i, e)).collect();
        }
    }

    /// Full jitter: a random delay in `[0, min(max, base · 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .settings
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.settings.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// The size AWS counts for a PutEvents entry: 14 bytes for `Time` when
/// present, plus the UTF-8 bytes of `Source`, `DetailType`, `Detail` and
/// each of `Resources` (the mediator always sends `Time` and no
/// `Resources`).
pub fn entry_size(e: &OutgoingEvent) -> usize {
    14 + e.source.len() + e.detail_type.len() + e.detail.to_string().len()
}

/// Splits `events` into batches of at most [`MAX_BATCH_ENTRIES`] entries
/// and [`MAX_BATCH_BYTES`] bytes, in order; an event too large for any
/// batch is an error naming it.
pub fn batches(events: &[OutgoingEvent]) -> Result<Vec<std::ops::Range<usize>>, PublishError> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        let size = entry_size(e);
        if size > MAX_BATCH_BYTES {
            return Err(PublishError(format!(
                "entry {i} ({} at {}) is {size} bytes, more than PutEvents' {MAX_BATCH_BYTES}",
                e.detail_type,
                e.time.to_rfc3339()
            )));
        }
        if i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    Ok(out)
}

#[async_trait]
impl EventPublisher for AwsEvents {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<(), PublishError> {
        for range in batches(events)? {
            self.send_batch(&events[range.clone()], range.start).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(detail_bytes: usize) -> OutgoingEvent {
        OutgoingEvent {
            source: "s".into(),
            detail_type: "t".into(),
            detail: json!({ "p": "x".repeat(detail_bytes) }),
            time: chrono::Utc::now(),
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<_> = (0..25).map(|_| ev(10)).collect();
        assert_eq!(batches(&small).unwrap(), vec![0..10, 10..20, 20..25]);
        // 100 KB each: two fit in 256 KB, a third does not.
        let big: Vec<_> = (0..5).map(|_| ev(100 * 1024)).collect();
        assert_eq!(batches(&big).unwrap(), vec![0..2, 2..4, 4..5]);
        // Exactly at the limit fits; one byte more does not.
        let overhead = entry_size(&ev(0));
        let exact = ev(MAX_BATCH_BYTES - overhead);
        assert_eq!(entry_size(&exact), MAX_BATCH_BYTES);
        assert_eq!(batches(std::slice::from_ref(&exact)).unwrap(), vec![0..1]);
        let err = batches(&[ev(10), ev(MAX_BATCH_BYTES - overhead + 1)]).unwrap_err();
        assert!(err.0.starts_with("entry 1 (t at "), "{err}");
        assert!(batches(&[]).unwrap().is_empty());
    }
}
