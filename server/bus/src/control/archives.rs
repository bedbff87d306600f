//! Archives: their managed rules (`Events-Archive-NAME`), the archived
//! events they hold, and retention.

use std::time::Duration;

use patterns::EventPattern;
use store::rusqlite::{params, OptionalExtension, Row as SqlRow};
use tokio_util::sync::CancellationToken;

use super::{check_name, ts};
use crate::types::*;
use crate::{
    arn_tail, paginate, Bus, BusError, BusResult, Timestamp, ARCHIVE_RULE_MANAGER,
    ARCHIVE_RULE_PREFIX, DEFAULT_BUS,
};

/// The managed rule's pattern: the archive's pattern (or everything) and no replay-name.
pub(crate) fn archive_rule_pattern(pattern: Option<&str>) -> BusResult<String> {
    let mut obj = match pattern {
        Some(p) => match serde_json::from_str::<serde_json::Value>(p) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(BusError::InvalidEventPattern(
                    "Event pattern is not valid. Reason: Filter is not an object".into(),
                ))
            }
        },
        None => serde_json::Map::new(),
    };
    obj.insert(
        "replay-name".into(),
        serde_json::json!([{ "exists": false }]),
    );
    Ok(serde_json::Value::Object(obj).to_string())
}

impl Bus {
    /// `CreateArchive`: the archive and its managed rule `Events-Archive-NAME`,
    /// which archives matching events that carry no `replay-name`.
    pub async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive> {
        check_name("archiveName", &req.archive_name, 48, false)?;
        let bus = self.existing_bus_of_arn(&req.event_source_arn, "EventSourceArn")?;
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p).map_err(|e| BusError::invalid_pattern(p, &e))?;
        }
        let retention = req.retention_days.unwrap_or(0);
        if retention < 0 {
            return Err(BusError::Validation(
                "Parameter RetentionDays must be at least 0.".into(),
            ));
        }
        let rule_pattern = archive_rule_pattern(req.event_pattern.as_deref())?;
        let _g = self.inner.control.lock().await;
        let now = Timestamp::now().0;
        let r = req.clone();
        let b2 = bus.clone();
        let created = self
            .inner
            .db
            .write(move |tx| {
                let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM eb_archives WHERE name = ?1)", [&r.archive_name], |x| x.get(0))?;
                if exists {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO eb_archives (name, bus, pattern, description, retention_days, state, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'ENABLED', ?6)",
                    params![r.archive_name, b2, r.event_pattern, r.description, retention, now],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT OR REPLACE INTO eb_rules (bus, name, pattern, state, description, managed_by, archive_id, created_ms)
                     VALUES (?1, ?2, ?3, 'ENABLED', ?4, ?5, ?6, ?7)",
                    params![
                        b2,
                        format!("{ARCHIVE_RULE_PREFIX}{}", r.archive_name),
                        rule_pattern,
                        format!("Managed rule of archive {}", r.archive_name),
                        ARCHIVE_RULE_MANAGER,
                        id,
                        now
                    ],
                )?;
                Ok(true)
            })
            .await?;
        if !created {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Archive {} already exists.",
                req.archive_name
            )));
        }
        self.reload_routes(&bus).await?;
        Ok(Archive {
            archive_arn: Some(self.archive_arn(&req.archive_name)),
            state: "ENABLED".into(),
            creation_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    fn archive_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<(i64, Archive)> {
        let name: String = r.get(1)?;
        let bus: String = r.get(2)?;
        Ok((
            r.get(0)?,
            Archive {
                archive_arn: Some(self.archive_arn(&name)),
                archive_name: Some(name),
                event_source_arn: Some(self.bus_arn(&bus)),
                event_pattern: r.get(3)?,
                description: r.get(4)?,
                retention_days: Some(r.get(5)?),
                state: r.get(6)?,
                state_reason: None,
                event_count: Some(r.get(7)?),
                size_bytes: Some(r.get(8)?),
                creation_time: ts(r.get(9)?),
            },
        ))
    }

    const ARCHIVE_COLS: &'static str =
        "SELECT id, name, bus, pattern, description, retention_days, state, event_count, size_bytes, created_ms FROM eb_archives";

    pub(crate) async fn archive_row(&self, name: &str) -> BusResult<(i64, Archive)> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE name = ?1", Self::ARCHIVE_COLS),
                    [&n2],
                    |r| me.archive_from_row(r),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Archive {name} does not exist.")))
    }

    /// `DescribeArchive`, with exact `EventCount` and `SizeBytes`.
    pub async fn describe_archive(&self, name: &str) -> BusResult<Archive> {
        Ok(self.archive_row(name).await?.1)
    }

    /// `ListArchives` (filters NamePrefix, EventSourceArn, State); an
    /// `EventSourceArn` of a bus that does not exist is an error, as on AWS.
    pub async fn list_archives(&self, req: ListRequest) -> BusResult<ListArchivesResponse> {
        if let Some(source) = &req.event_source_arn {
            self.existing_bus_of_arn(source, "EventSourceArn")?;
        }
        let me = self.clone();
        let all: Vec<(i64, Archive)> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::ARCHIVE_COLS))?
                    .query_map([], |r| me.archive_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| {
                a.archive_name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .filter(|a| {
                req.event_source_arn
                    .as_ref()
                    .is_none_or(|s| Some(s) == a.event_source_arn.as_ref())
            })
            .filter(|a| req.state.as_ref().is_none_or(|s| *s == a.state))
            .map(|mut a| {
                a.archive_arn = None;
                a.event_pattern = None;
                a.description = None;
                a
            })
            .collect();
        let (archives, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListArchivesResponse {
            archives,
            next_token,
        })
    }

    /// `UpdateArchive`: a new pattern replaces the managed rule's at once;
    /// a request changing nothing is refused (before the archive is looked
    /// up, as on AWS).
    pub async fn update_archive(&self, req: UpdateArchiveRequest) -> BusResult<Archive> {
        if req.event_pattern.is_none() && req.retention_days.is_none() && req.description.is_none()
        {
            return Err(BusError::Validation(
                "At least one of EventPattern, RetentionDays or Description must be provided."
                    .into(),
            ));
        }
        let (id, old) = self.archive_row(&req.archive_name).await?;
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p).map_err(|e| BusError::invalid_pattern(p, &e))?;
        }
        if req.retention_days.is_some_and(|d| d < 0) {
            return Err(BusError::Validation(
                "Parameter RetentionDays must be at least 0.".into(),
            ));
        }
        let pattern = req.event_pattern.clone().or(old.event_pattern.clone());
        let rule_pattern = archive_rule_pattern(pattern.as_deref())?;
        let description = req.description.clone().or(old.description.clone());
        let retention = req.retention_days.or(old.retention_days).unwrap_or(0);
        let bus = arn_tail(
            old.event_source_arn.as_deref().unwrap_or_default(),
            ":event-bus/",
        )
        .unwrap_or(DEFAULT_BUS)
        .to_string();
        let _g = self.inner.control.lock().await;
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE eb_archives SET pattern = ?2, description = ?3, retention_days = ?4 WHERE id = ?1",
                    params![id, pattern, description, retention],
                )?;
                tx.execute("UPDATE eb_rules SET pattern = ?2 WHERE archive_id = ?1", params![id, rule_pattern])
            })
            .await?;
        self.reload_routes(&bus).await?;
        Ok(Archive {
            archive_arn: old.archive_arn,
            state: old.state,
            creation_time: old.creation_time,
            ..Default::default()
        })
    }

    /// `DeleteArchive`: the archive, its events and its managed rule.
    pub async fn delete_archive(&self, name: &str) -> BusResult<()> {
        let (id, old) = self.archive_row(name).await?;
        let bus = arn_tail(
            old.event_source_arn.as_deref().unwrap_or_default(),
            ":event-bus/",
        )
        .unwrap_or(DEFAULT_BUS)
        .to_string();
        let _g = self.inner.control.lock().await;
        let (b2, rule) = (bus.clone(), format!("{ARCHIVE_RULE_PREFIX}{name}"));
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "DELETE FROM eb_tags WHERE bus = ?1 AND rule = ?2",
                    params![b2, rule],
                )?;
                tx.execute("DELETE FROM eb_rules WHERE archive_id = ?1", [id])?;
                tx.execute("DELETE FROM eb_archive_events WHERE archive_id = ?1", [id])?;
                tx.execute("DELETE FROM eb_archives WHERE id = ?1", [id])
            })
            .await?;
        self.reload_routes(&bus).await
    }

    /// Exact number of archived events whose event time is in `[start, end)`:
    /// the count to show before starting a replay.
    pub async fn count_archive_events(
        &self,
        archive: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> BusResult<i64> {
        let (id, _) = self.archive_row(archive).await?;
        Ok(self
            .inner
            .db
            .read(move |c| {
                c.prepare_cached("SELECT count(*) FROM eb_archive_events WHERE archive_id = ?1 AND event_time >= ?2 AND event_time < ?3")?
                    .query_row(params![id, start.0, end.0], |r| r.get(0))
            })
            .await?)
    }

    /// Event times of the oldest and newest events `archive` holds (both
    /// `None` when it is empty); two index seeks.
    pub async fn archive_time_range(
        &self,
        archive: &str,
    ) -> BusResult<(Option<Timestamp>, Option<Timestamp>)> {
        let (id, _) = self.archive_row(archive).await?;
        Ok(self
            .inner
            .db
            .read(move |c| {
                let first: Option<i64> = c
                    .prepare_cached(
                        "SELECT min(event_time) FROM eb_archive_events WHERE archive_id = ?1",
                    )?
                    .query_row([id], |r| r.get(0))?;
                let last: Option<i64> = c
                    .prepare_cached(
                        "SELECT max(event_time) FROM eb_archive_events WHERE archive_id = ?1",
                    )?
                    .query_row([id], |r| r.get(0))?;
                Ok((first.map(Timestamp), last.map(Timestamp)))
            })
            .await?)
    }

    /// Browses `archive`: up to `limit` events with an event time in
    /// `[start, end)` (either bound open) after `after` = (event time, seq),
    /// ordered by (event time, seq); each as (seq, event time, event JSON).
    pub async fn archived_events(
        &self,
        archive: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> BusResult<Vec<(i64, Timestamp, String)>> {
        let (id, _) = self.archive_row(archive).await?;
        let (after_t, after_s) = after.unwrap_or((i64::MIN, i64::MIN));
        let (start, end) = (
            start.map_or(i64::MIN, |t| t.0),
            end.map_or(i64::MAX, |t| t.0),
        );
        Ok(self
            .inner
            .db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT seq, event_time, body FROM eb_archive_events
                     WHERE archive_id = ?1 AND event_time >= ?2 AND event_time < ?3
                       AND (event_time, seq) > (?4, ?5)
                     ORDER BY event_time, seq LIMIT ?6",
                )?
                .query_map(
                    params![id, start, end, after_t, after_s, limit as i64],
                    |r| {
                        let body = r.get_ref(2)?.as_blob()?;
                        Ok((
                            r.get(0)?,
                            Timestamp(r.get(1)?),
                            String::from_utf8_lossy(body).into_owned(),
                        ))
                    },
                )?
                .collect()
            })
            .await?)
    }

    /// Deletes archived events older than their archive's retention (by event
    /// time); returns how many were purged.
    pub async fn retention_step(&self) -> BusResult<i64> {
        let now = Timestamp::now().0;
        Ok(self
            .inner
            .db
            .write(move |tx| {
                let archives: Vec<(i64, i64)> = tx
                    .prepare("SELECT id, retention_days FROM eb_archives WHERE retention_days > 0")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                let mut purged = 0;
                for (id, days) in archives {
                    let cutoff = now - days * 86_400_000;
                    let (n, size): (i64, i64) = tx.query_row(
                        "SELECT count(*), coalesce(sum(length(body)), 0) FROM eb_archive_events WHERE archive_id = ?1 AND event_time < ?2",
                        params![id, cutoff],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    if n > 0 {
                        tx.execute("DELETE FROM eb_archive_events WHERE archive_id = ?1 AND event_time < ?2", params![id, cutoff])?;
                        tx.execute(
                            "UPDATE eb_archives SET event_count = event_count - ?2, size_bytes = size_bytes - ?3 WHERE id = ?1",
                            params![id, n, size],
                        )?;
                        purged += n;
                    }
                }
                Ok(purged)
            })
            .await?)
    }
}

/// Runs [`Bus::retention_step`] every `retention_interval` until cancelled.
pub(crate) async fn retention_run(bus: Bus, shutdown: CancellationToken) {
    let every = bus.inner.cfg.retention_interval.max(Duration::from_secs(1));
    // The first purge waits a little (at most a minute) rather than running
    // at start-up, so start-up stays fast and tests are not raced by it.
    let first = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
    let mut tick = tokio::time::interval_at(first, every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                match bus.retention_step().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "archive retention"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("archive retention failed: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_pattern_excludes_replays() {
        let p = archive_rule_pattern(Some(r#"{"source": ["a"]}"#)).unwrap();
        let pat = EventPattern::parse(&p).unwrap();
        assert!(pat.matches(r#"{"source": "a"}"#).unwrap());
        assert!(!pat
            .matches(r#"{"source": "a", "replay-name": "r"}"#)
            .unwrap());
        assert!(EventPattern::parse(&archive_rule_pattern(None).unwrap()).is_ok());
        assert!(check_name("name", "ok.name-1_x", 64, false).is_ok());
        assert!(check_name("name", "bad name", 64, false).is_err());
    }
}
