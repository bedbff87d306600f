//! Control plane: buses (with their resource policy), rules, targets,
//! tags, connections, API destinations and archives (with their managed
//! rules and retention).
//!
//! One file per concept under `control/`; the routing snapshots every change
//! reloads live here.

mod api_destinations;
mod archives;
mod buses;
mod connections;
mod permissions;
mod rules;
mod tags;
mod targets;

pub(crate) use archives::retention_run;

use std::sync::Arc;

use crate::routing::Routing;
use crate::validation::Violations;
use crate::{Bus, BusError, BusResult, Timestamp};

/// Checks a resource name (AWS's pattern, 1 to `max` characters), naming
/// every problem as AWS does.
pub(crate) fn check_name(field: &str, value: &str, max: usize, allow_slash: bool) -> BusResult<()> {
    let mut v = Violations::new();
    v.name(field, value, max, allow_slash);
    v.into_result()
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

    /// The bus an `arn:aws:events:REGION:ACCOUNT:event-bus/NAME` names, if it
    /// exists here. `Err` is AWS's answer: `ValidationException` naming
    /// `field` when the text is not an event-bus ARN, `ResourceNotFoundException`
    /// when no such bus exists (another account's or region's bus included).
    pub(crate) fn existing_bus_of_arn(&self, arn: &str, field: &str) -> BusResult<String> {
        let name = crate::arn_tail(arn, ":event-bus/")
            .filter(|n| arn.starts_with("arn:aws:events:") && !n.is_empty())
            .ok_or_else(|| BusError::Validation(format!("Parameter {field} is not valid.")))?;
        if arn != self.bus_arn(name) {
            return Err(BusError::ResourceNotFound(format!(
                "Event bus {name} does not exist."
            )));
        }
        self.require_bus(name)?;
        Ok(name.to_string())
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
