//! PutEvents: entry validation, the EventBridge envelope, routing, and the
//! group-commit writer that makes accepted entries durable before the reply.

use std::sync::Arc;

use crate::routing::{apply_rows, Row};
use crate::stats::Counters;
use crate::types::{
    PutEventsRequest, PutEventsRequestEntry, PutEventsResponse, PutEventsResultEntry,
};
use crate::validation::Violations;
use crate::{Bus, BusError, BusResult, Timestamp};

/// AWS's limit on entries per PutEvents call.
pub const MAX_ENTRIES: usize = 10;
/// AWS's limit on the size of a PutEvents request (and of one entry).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// AWS's size of an entry: Time (14 bytes if present), Source, DetailType,
/// Detail and Resources in UTF-8.
fn entry_size(e: &PutEventsRequestEntry) -> usize {
    e.time.map(|_| 14).unwrap_or(0)
        + e.source.as_deref().map_or(0, str::len)
        + e.detail_type.as_deref().map_or(0, str::len)
        + e.detail.as_deref().map_or(0, str::len)
        + e.resources
            .as_ref()
            .map_or(0, |r| r.iter().map(String::len).sum())
}

/// The entries as AWS's validation message shows them (the Java form of
/// its request objects): `[PutEventsRequestEntry(time=null, source=…), …]`.
fn java_entries(entries: &[PutEventsRequestEntry]) -> String {
    fn text(v: Option<&str>) -> &str {
        v.unwrap_or("null")
    }
    let shown: Vec<String> = entries
        .iter()
        .map(|e| {
            let time = e.time.map_or_else(
                || "null".to_string(),
                |t| {
                    chrono::DateTime::from_timestamp_millis(t.0)
                        .map(|d| d.format("%a %b %d %H:%M:%S UTC %Y").to_string())
                        .unwrap_or_else(|| "null".into())
                },
            );
            let resources = e
                .resources
                .as_ref()
                .map_or_else(|| "null".to_string(), |r| format!("[{}]", r.join(", ")));
            format!(
                "PutEventsRequestEntry(time={time}, source={}, resources={resources}, detailType={}, detail={}, eventBusName={}, traceHeader={}, kmsKeyIdentifier=null, internalMetadata=null)",
                text(e.source.as_deref()),
                text(e.detail_type.as_deref()),
                text(e.detail.as_deref()),
                text(e.event_bus_name.as_deref()),
                text(e.trace_header.as_deref()),
            )
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

fn fail(code: &str, message: impl Into<String>) -> PutEventsResultEntry {
    PutEventsResultEntry {
        event_id: None,
        error_code: Some(code.to_string()),
        error_message: Some(message.into()),
    }
}

fn json_str(out: &mut String, s: &str) {
    // serde_json's string escaping, written straight into `out`.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Builds the EventBridge envelope (and, for replays, `replay-name`).
pub(crate) fn envelope(
    bus: &Bus,
    id: &str,
    e: &PutEventsRequestEntry,
    time: Timestamp,
    detail: &str,
) -> String {
    let mut s = String::with_capacity(detail.len() + 256);
    s.push_str("{\"version\":\"0\",\"id\":");
    json_str(&mut s, id);
    s.push_str(",\"detail-type\":");
    json_str(&mut s, e.detail_type.as_deref().unwrap_or_default());
    s.push_str(",\"source\":");
    json_str(&mut s, e.source.as_deref().unwrap_or_default());
    s.push_str(",\"account\":");
    json_str(&mut s, &bus.inner.cfg.account);
    s.push_str(",\"time\":\"");
    s.push_str(&time.to_rfc3339());
    s.push_str("\",\"region\":");
    json_str(&mut s, &bus.inner.cfg.region);
    s.push_str(",\"resources\":[");
    for (i, r) in e.resources.iter().flatten().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, r);
    }
    s.push_str("],\"detail\":");
    s.push_str(detail);
    s.push('}');
    s
}

/// Inserts `"replay-name": NAME` as the first member of an envelope.
pub(crate) fn with_replay_name(body: &[u8], replay: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + replay.len() + 20);
    out.extend_from_slice(b"{\"replay-name\":");
    out.extend_from_slice(serde_json::to_string(replay).unwrap_or_default().as_bytes());
    out.push(b',');
    out.extend_from_slice(&body[1..]);
    out
}

impl Bus {
    /// EventBridge `PutEvents`: validates each entry, wraps it in the
    /// envelope, routes it, and returns once every accepted entry's writes are
    /// committed (group commit with concurrent callers).
    pub async fn put_events(&self, req: PutEventsRequest) -> BusResult<PutEventsResponse> {
        let n = req.entries.len();
        if n == 0 || n > MAX_ENTRIES {
            let mut problems = Violations::new();
            problems.push(
                Some(&java_entries(&req.entries)),
                "entries",
                if n == 0 {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 10"
                },
            );
            return problems.into_result().map(|_| PutEventsResponse::default());
        }
        if req.entries.iter().map(entry_size).sum::<usize>() > MAX_REQUEST_BYTES {
            return Err(BusError::Validation(
                "Total size of the entries in the request is over the limit.".into(),
            ));
        }
        let now = Timestamp::now();
        let mut results = Vec::with_capacity(n);
        let mut rows = Vec::new();
        let mut failed = 0;
        let mut matches = 0;
        for e in &req.entries {
            match self.accept_entry(e, now, &mut rows, &mut matches) {
                Ok(id) => results.push(PutEventsResultEntry {
                    event_id: Some(id),
                    ..Default::default()
                }),
                Err(r) => {
                    failed += 1;
                    results.push(r)
                }
            }
        }
        if !rows.is_empty() {
            self.commit(rows).await?;
        }
        let stats = &self.inner.stats;
        Counters::add(&stats.puts, n as u64 - failed.max(0) as u64);
        Counters::add(&stats.matches, matches);
        Ok(PutEventsResponse {
            failed_entry_count: failed,
            entries: results,
        })
    }

    fn accept_entry(
        &self,
        e: &PutEventsRequestEntry,
        now: Timestamp,
        rows: &mut Vec<Row>,
        matches: &mut u64,
    ) -> Result<String, PutEventsResultEntry> {
        let source = e.source.as_deref().unwrap_or_default();
        if source.is_empty() {
            return Err(fail(
                "InvalidArgument",
                "Parameter Source is not valid. Reason: Source is a required argument.",
            ));
        }
        if e.detail_type.as_deref().unwrap_or_default().is_empty() {
            return Err(fail(
                "InvalidArgument",
                "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
            ));
        }
        let Some(detail) = e.detail.as_deref().map(str::trim).filter(|d| !d.is_empty()) else {
            return Err(fail(
                "InvalidArgument",
                "Parameter Detail is not valid. Reason: Detail is a required argument.",
            ));
        };
        if !detail.starts_with('{')
            || serde_json::from_str::<serde::de::IgnoredAny>(detail).is_err()
        {
            return Err(fail("MalformedDetail", "Detail is malformed."));
        }
        if source.starts_with("aws.") {
            return Err(fail(
                "NotAuthorizedForSourceException",
                "Not authorized for the source.",
            ));
        }
        if entry_size(e) > MAX_REQUEST_BYTES {
            return Err(fail(
                "InvalidArgument",
                "Entry size exceeds the maximum of 256 KB.",
            ));
        }
        let bus_name = self.bus_name(e.event_bus_name.as_deref());
        let Some(routing) = self.routing(&bus_name) else {
            return Err(fail(
                "ResourceNotFoundException",
                format!("Event bus {bus_name} does not exist."),
            ));
        };
        let time = e.time.unwrap_or(now);
        // Time-ordered (UUID version 7, still an opaque UUID to clients):
        // replayed events come back in archive order, so whoever keys rows
        // by event id (the replay drain's per-event ledger) appends to one
        // end of its index instead of touching a random page per event.
        let id = uuid::Uuid::now_v7().to_string();
        let body: Arc<[u8]> = Arc::from(envelope(self, &id, e, time, detail).into_bytes());
        *matches += routing.route(&body, time.0, None, rows);
        Ok(id)
    }

    /// Writes `rows` and waits until they are committed. Concurrent callers
    /// share a transaction and its fsync through the database's group commit
    /// ([`Database::write`]), each in a savepoint of its own: a caller whose
    /// rows fail fails alone, and a caller is never held back by a commit
    /// it is not part of (callers answered from one commit route their next
    /// events while the following one is being synced).
    pub(crate) async fn commit(&self, rows: Vec<Row>) -> BusResult<()> {
        let now = Timestamp::now().0;
        let (queued, deliveries) = self
            .inner
            .db
            .write(move |tx| apply_rows(tx, &rows, now))
            .await
            .map_err(|e| {
                tracing::error!("event batch not committed: {e}");
                BusError::Internal(e.to_string())
            })?;
        if queued > 0 {
            self.inner.queue_notify.notify_waiters();
        }
        if deliveries > 0 {
            self.inner.delivery_notify.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_name_goes_first() {
        let b = with_replay_name(br#"{"a":1}"#, "r1");
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            r#"{"replay-name":"r1","a":1}"#
        );
    }
}
