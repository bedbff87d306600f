//! API destinations: the HTTP endpoints targets call through a connection.

use store::rusqlite::{params, OptionalExtension, Row as SqlRow};

use super::ts;
use crate::types::*;
use crate::validation::{is_connection_arn, Violations};
use crate::{arn_tail, paginate, Bus, BusError, BusResult, Timestamp};

/// An API destination's HTTP methods, in the order AWS lists them.
const HTTP_METHODS: [&str; 7] = ["HEAD", "POST", "PATCH", "DELETE", "PUT", "GET", "OPTIONS"];

fn check_connection_arn(problems: &mut Violations, arn: &str) {
    if !is_connection_arn(arn) {
        problems.push(
            Some(arn),
            "connectionArn",
            r"Member must satisfy regular expression pattern: ^arn:aws([a-z]|\-)*:events:([a-z]|\d|\-)*:([0-9]{12})?:connection\/[\.\-_A-Za-z0-9]+\/[\-A-Za-z0-9]+$",
        );
    }
}

fn check_rate_limit(problems: &mut Violations, rate: Option<i64>) {
    if let Some(r) = rate.filter(|r| *r < 1) {
        problems.push(
            Some(&r.to_string()),
            "invocationRateLimitPerSecond",
            "Member must have value greater than or equal to 1",
        );
    }
}

impl Bus {
    fn api_destination_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<ApiDestination> {
        let name: String = r.get(0)?;
        let uuid: String = r.get(1)?;
        Ok(ApiDestination {
            api_destination_arn: self.api_destination_arn(&name, &uuid),
            name: Some(name),
            description: r.get(2)?,
            api_destination_state: Some("ACTIVE".into()),
            connection_arn: Some(r.get(3)?),
            invocation_endpoint: Some(r.get(4)?),
            http_method: Some(r.get(5)?),
            invocation_rate_limit_per_second: r.get(6)?,
            creation_time: ts(r.get(7)?),
            last_modified_time: ts(r.get(8)?),
        })
    }

    const API_DEST_COLS: &'static str =
        "SELECT name, uuid, description, connection_arn, endpoint, method, rate_limit, created_ms, modified_ms FROM eb_api_destinations";

    /// `CreateApiDestination`. The endpoint may be `http://` (AWS requires
    /// `https://`); a loopback, link-local or private host is refused unless
    /// [`crate::BusConfig::allow_private_destinations`].
    pub async fn create_api_destination(
        &self,
        req: CreateApiDestinationRequest,
    ) -> BusResult<ApiDestination> {
        let mut problems = Violations::new();
        problems.name("name", &req.name, 64, false);
        check_connection_arn(&mut problems, &req.connection_arn);
        problems.one_of("httpMethod", &req.http_method, &HTTP_METHODS);
        check_rate_limit(&mut problems, req.invocation_rate_limit_per_second);
        problems.into_result()?;
        self.check_endpoint(&req.invocation_endpoint)?;
        let conn_name = arn_tail(&req.connection_arn, ":connection/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default();
        self.connection_row(conn_name, false).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let now = Timestamp::now().0;
        let r = req.clone();
        let u2 = uuid.clone();
        let rate = req.invocation_rate_limit_per_second.unwrap_or(300);
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO eb_api_destinations (name, uuid, description, connection_arn, endpoint, method, rate_limit, created_ms, modified_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    params![r.name, u2, r.description, r.connection_arn, r.invocation_endpoint, r.http_method, rate, now],
                )
            })
            .await?;
        if inserted == 0 {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Api destination {} already exists.",
                req.name
            )));
        }
        Ok(ApiDestination {
            api_destination_arn: self.api_destination_arn(&req.name, &uuid),
            api_destination_state: Some("ACTIVE".into()),
            creation_time: Some(Timestamp(now)),
            last_modified_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    /// `UpdateApiDestination`: changes what the request names, checked as
    /// at creation.
    pub async fn update_api_destination(
        &self,
        req: UpdateApiDestinationRequest,
    ) -> BusResult<ApiDestination> {
        let mut problems = Violations::new();
        if let Some(arn) = &req.connection_arn {
            check_connection_arn(&mut problems, arn);
        }
        if let Some(m) = &req.http_method {
            problems.one_of("httpMethod", m, &HTTP_METHODS);
        }
        check_rate_limit(&mut problems, req.invocation_rate_limit_per_second);
        problems.into_result()?;
        let old = self.describe_api_destination(&req.name).await?;
        if let Some(endpoint) = &req.invocation_endpoint {
            self.check_endpoint(endpoint)?;
        }
        if let Some(arn) = &req.connection_arn {
            let conn_name = arn_tail(arn, ":connection/")
                .and_then(|t| t.split('/').next())
                .unwrap_or_default();
            self.connection_row(conn_name, false).await?;
        }
        let now = Timestamp::now().0;
        let r = req.clone();
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE eb_api_destinations SET description = coalesce(?2, description),
                        connection_arn = coalesce(?3, connection_arn), endpoint = coalesce(?4, endpoint),
                        method = coalesce(?5, method), rate_limit = coalesce(?6, rate_limit), modified_ms = ?7
                     WHERE name = ?1",
                    params![r.name, r.description, r.connection_arn, r.invocation_endpoint, r.http_method, r.invocation_rate_limit_per_second, now],
                )
            })
            .await?;
        Ok(ApiDestination {
            api_destination_arn: old.api_destination_arn,
            api_destination_state: old.api_destination_state,
            creation_time: old.creation_time,
            last_modified_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    /// Refuses an endpoint that is not http(s), or (unless allowed) not public.
    fn check_endpoint(&self, endpoint: &str) -> BusResult<()> {
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(BusError::Validation(
                "Parameter InvocationEndpoint is not valid.".into(),
            ));
        }
        if !self.inner.cfg.allow_private_destinations {
            crate::endpoint::check_public_endpoint(endpoint).map_err(|reason| {
                BusError::Validation(format!(
                    "Parameter InvocationEndpoint is not valid: {reason}."
                ))
            })?;
        }
        Ok(())
    }

    /// `DescribeApiDestination`.
    pub async fn describe_api_destination(&self, name: &str) -> BusResult<ApiDestination> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(&format!("{} WHERE name = ?1", Self::API_DEST_COLS), [&n2], |r| me.api_destination_from_row(r))
                    .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Failed to describe the api-destination(s). An api-destination '{name}' does not exist.")))
    }

    /// `ListApiDestinations`.
    pub async fn list_api_destinations(
        &self,
        req: ListRequest,
    ) -> BusResult<ListApiDestinationsResponse> {
        let me = self.clone();
        let all: Vec<ApiDestination> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::API_DEST_COLS))?
                    .query_map([], |r| me.api_destination_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|d| d.name.as_deref().unwrap_or_default().starts_with(&prefix))
            .filter(|d| {
                req.connection_arn
                    .as_ref()
                    .is_none_or(|c| Some(c) == d.connection_arn.as_ref())
            })
            .map(|mut d| {
                d.description = None;
                d
            })
            .collect();
        let (api_destinations, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListApiDestinationsResponse {
            api_destinations,
            next_token,
        })
    }

    /// `DeleteApiDestination`.
    pub async fn delete_api_destination(&self, name: &str) -> BusResult<()> {
        self.describe_api_destination(name).await?;
        let n2 = name.to_string();
        self.inner
            .db
            .write(move |tx| tx.execute("DELETE FROM eb_api_destinations WHERE name = ?1", [&n2]))
            .await?;
        Ok(())
    }

    /// API destination by ARN (for delivery).
    pub(crate) async fn api_destination_by_arn(&self, arn: &str) -> BusResult<ApiDestination> {
        let name = arn_tail(arn, ":api-destination/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default();
        self.describe_api_destination(name).await
    }
}
