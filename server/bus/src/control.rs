//! Control plane: buses, rules, targets, connections, API destinations and
//! archives (with their managed rules and retention).
//!
//! One file per concept under `control/`; the routing snapshots every change
//! reloads live here.

mod api_destinations;
mod archives;
mod buses;
mod connections;
mod rules;
mod targets;

pub(crate) use archives::retention_run;

use std::sync::Arc;

use crate::routing::Routing;
use crate::{Bus, BusError, BusResult, Timestamp};

const NAME_CHARS: &str = r"[\.\-_A-Za-z0-9]+";

pub(crate) fn check_name(field: &str, value: &str, max: usize, allow_slash: bool) -> BusResult<()> {
    let ok_char = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (allow_slash && c == '/')
    };
    if value.is_empty() || value.chars().count() > max {
        return Err(BusError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    if !value.chars().all(ok_char) {
        let pat = if allow_slash {
            r"[/\.\-_A-Za-z0-9]+"
        } else {
            NAME_CHARS
        };
        return Err(BusError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pat}"
        )));
    }
    Ok(())
}

fn ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp)
}

impl Bus {
    // ---- routing snapshots -------------------------------------------------

    pub(crate) fn routing(&self, bus: &str) -> Option<Arc<Routing>> {
        self.inner
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bus)
            .cloned()
    }

    pub(crate) async fn reload_routes(&self, bus_name: &str) -> BusResult<()> {
        let me = self.clone();
        let name = bus_name.to_string();
        let loaded = self
            .inner
            .db
            .read(move |c| {
                let exists: bool = c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM eb_buses WHERE name = ?1)",
                    [&name],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Ok(None);
                }
                Ok(Some(Routing::load(c, &me, &name)?))
            })
            .await?;
        let mut routes = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Some(r) => routes.insert(bus_name.to_string(), Arc::new(r)),
            None => routes.remove(bus_name),
        };
        Ok(())
    }

    pub(crate) async fn reload_all_routes(&self) -> BusResult<()> {
        let names: Vec<String> = self
            .inner
            .db
            .read(|c| {
                c.prepare("SELECT name FROM eb_buses")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?;
        for n in names {
            self.reload_routes(&n).await?;
        }
        Ok(())
    }

    fn require_bus(&self, bus: &str) -> BusResult<()> {
        match self.routing(bus) {
            Some(_) => Ok(()),
            None => Err(BusError::ResourceNotFound(format!(
                "Event bus {bus} does not exist."
            ))),
        }
    }
}
