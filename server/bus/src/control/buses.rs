//! Event buses: `CreateEventBus`, `DescribeEventBus`, `ListEventBuses`,
//! `DeleteEventBus`.

use store::rusqlite::{params, OptionalExtension, Row as SqlRow};

use super::tags::{check_tags, put_tags, Tagged};
use super::{check_name, ts};
use crate::types::*;
use crate::{paginate, Bus, BusError, BusResult, Timestamp, DEFAULT_BUS};

impl Bus {
    /// `CreateEventBus`.
    pub async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse> {
        check_name("name", &req.name, 256, true)?;
        let tags = req.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        if req.event_source_name.is_some() {
            return Err(BusError::Validation(
                "Partner event sources are not supported by the embedded event bus.".into(),
            ));
        }
        let _g = self.inner.control.lock().await;
        let name = req.name.clone();
        let desc = req.description.clone();
        let now = Timestamp::now().0;
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                let n: i64 = tx.query_row("SELECT count(*) FROM eb_buses", [], |r| r.get(0))?;
                if n >= 100 {
                    return Ok(None);
                }
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO eb_buses (name, description, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?3)",
                    params![name, desc, now],
                )? == 1;
                if inserted {
                    let bus = Tagged { bus: name, rule: String::new() };
                    if let Err(e) = put_tags(tx, &bus, &tags)? {
                        return Ok(Some(Err(e)));
                    }
                }
                Ok(Some(Ok(inserted)))
            })
            .await?;
        match inserted.transpose()? {
            None => {
                return Err(BusError::LimitExceeded(
                    "The requested resource exceeds the maximum number allowed.".into(),
                ))
            }
            Some(false) => {
                return Err(BusError::ResourceAlreadyExists(format!(
                    "Event bus {} already exists.",
                    req.name
                )))
            }
            Some(true) => {}
        }
        self.reload_routes(&req.name).await?;
        Ok(CreateEventBusResponse {
            event_bus_arn: self.bus_arn(&req.name),
            description: req.description,
        })
    }

    fn bus_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<crate::types::EventBus> {
        let name: String = r.get(0)?;
        Ok(crate::types::EventBus {
            arn: self.bus_arn(&name),
            name,
            description: r.get(1)?,
            policy: r.get(4)?,
            creation_time: ts(r.get(2)?),
            last_modified_time: ts(r.get(3)?),
        })
    }

    /// `DescribeEventBus` (no name: the default bus).
    pub async fn describe_event_bus(
        &self,
        name: Option<&str>,
    ) -> BusResult<crate::types::EventBus> {
        let name = self.bus_name(name);
        let me = self.clone();
        let n2 = name.clone();
        self.inner
            .db
            .read(move |c| {
                c.query_row("SELECT name, description, created_ms, modified_ms, policy FROM eb_buses WHERE name = ?1", [&n2], |r| me.bus_from_row(r))
                    .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Event bus {name} does not exist.")))
    }

    /// `ListEventBuses`.
    pub async fn list_event_buses(&self, req: ListRequest) -> BusResult<ListEventBusesResponse> {
        let me = self.clone();
        let all: Vec<crate::types::EventBus> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(
                    "SELECT name, description, created_ms, modified_ms, policy FROM eb_buses ORDER BY name",
                )?
                .query_map([], |r| me.bus_from_row(r))?
                .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .collect();
        let (event_buses, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListEventBusesResponse {
            event_buses,
            next_token,
        })
    }

    /// `DeleteEventBus`: removes the bus with its rules, targets and tags (a
    /// missing bus is not an error).
    pub async fn delete_event_bus(&self, name: &str) -> BusResult<()> {
        let name = self.bus_name(Some(name));
        if name == DEFAULT_BUS {
            return Err(BusError::Validation(
                "Cannot delete event bus default.".into(),
            ));
        }
        let _g = self.inner.control.lock().await;
        let n2 = name.clone();
        self.inner
            .db
            .write(move |tx| {
                tx.execute("DELETE FROM eb_targets WHERE bus = ?1", [&n2])?;
                tx.execute("DELETE FROM eb_tags WHERE bus = ?1", [&n2])?;
                tx.execute("DELETE FROM eb_rules WHERE bus = ?1", [&n2])?;
                tx.execute("DELETE FROM eb_buses WHERE name = ?1", [&n2])
            })
            .await?;
        self.reload_routes(&name).await
    }
}
