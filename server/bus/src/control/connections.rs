//! Connections: the credentials API destinations call with.

use store::rusqlite::{params, OptionalExtension, Row as SqlRow};

use super::ts;
use crate::types::*;
use crate::validation::Violations;
use crate::{arn_tail, paginate, Bus, BusError, BusResult, Timestamp};

/// Checks that `p` holds what `authorization_type` needs.
fn check_auth(authorization_type: &str, p: &ConnectionAuthParameters) -> BusResult<()> {
    let ok = match authorization_type {
        "BASIC" => p
            .basic_auth_parameters
            .as_ref()
            .is_some_and(|b| b.username.is_some() && b.password.is_some()),
        "API_KEY" => p
            .api_key_auth_parameters
            .as_ref()
            .is_some_and(|k| k.api_key_name.is_some() && k.api_key_value.is_some()),
        _ => p.o_auth_parameters.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(BusError::Validation(format!(
            "Parameter AuthParameters is not valid for AuthorizationType {authorization_type}."
        )))
    }
}

/// A JSON object with `new`'s members merged in (recursively).
fn merge_json(
    old: Option<serde_json::Value>,
    new: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    match (old, new) {
        (Some(serde_json::Value::Object(mut o)), Some(serde_json::Value::Object(n))) => {
            for (k, v) in n {
                if let Some(m) = merge_json(o.remove(&k), Some(v)) {
                    o.insert(k, m);
                }
            }
            Some(serde_json::Value::Object(o))
        }
        (old, None) => old,
        (_, new) => new,
    }
}

/// `old` with what `new` sets: a field given in `new` replaces the same
/// field in `old` (UpdateConnection changes only what it names).
fn merge_auth(
    old: ConnectionAuthParameters,
    new: ConnectionAuthParameters,
) -> ConnectionAuthParameters {
    let basic = match (old.basic_auth_parameters, new.basic_auth_parameters) {
        (Some(o), Some(n)) => Some(BasicAuthParameters {
            username: n.username.or(o.username),
            password: n.password.or(o.password),
        }),
        (o, n) => n.or(o),
    };
    let api_key = match (old.api_key_auth_parameters, new.api_key_auth_parameters) {
        (Some(o), Some(n)) => Some(ApiKeyAuthParameters {
            api_key_name: n.api_key_name.or(o.api_key_name),
            api_key_value: n.api_key_value.or(o.api_key_value),
        }),
        (o, n) => n.or(o),
    };
    ConnectionAuthParameters {
        basic_auth_parameters: basic,
        api_key_auth_parameters: api_key,
        o_auth_parameters: merge_json(old.o_auth_parameters, new.o_auth_parameters),
        invocation_http_parameters: merge_json(
            old.invocation_http_parameters,
            new.invocation_http_parameters,
        ),
    }
}

/// State of a new connection: OAuth ones wait for a token call the
/// embedded bus never makes.
fn initial_state(authorization_type: &str) -> &'static str {
    if authorization_type == "OAUTH_CLIENT_CREDENTIALS" {
        "AUTHORIZING"
    } else {
        "AUTHORIZED"
    }
}

/// The id of a connection's secret as AWS names it: its own UUID, a dash
/// and six random letters or digits (`events!connection/NAME/UUID-AbC123`).
fn secret_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let random = *uuid::Uuid::new_v4().as_bytes();
    let suffix: String = random[..6]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{suffix}", uuid::Uuid::new_v4())
}

impl Bus {
    fn connection_from_row(
        &self,
        r: &SqlRow<'_>,
        with_details: bool,
    ) -> store::rusqlite::Result<Connection> {
        let name: String = r.get(0)?;
        let uuid: String = r.get(1)?;
        let auth: String = r.get(4)?;
        let created = ts(r.get(5)?);
        let mut params_out: Option<ConnectionAuthParameters> = None;
        if with_details {
            let mut p: ConnectionAuthParameters = serde_json::from_str(&auth).unwrap_or_default();
            if let Some(b) = p.basic_auth_parameters.as_mut() {
                b.password = None;
            }
            if let Some(k) = p.api_key_auth_parameters.as_mut() {
                k.api_key_value = None;
            }
            params_out = Some(p);
        }
        let secret_id: Option<String> = r.get(7)?;
        let secret = secret_id.as_deref().unwrap_or(&uuid);
        Ok(Connection {
            connection_arn: self.connection_arn(&name, &uuid),
            description: if with_details { r.get(2)? } else { None },
            authorization_type: Some(r.get(3)?),
            secret_arn: with_details.then(|| {
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:events!connection/{name}/{secret}",
                    self.inner.cfg.region, self.inner.cfg.account
                )
            }),
            auth_parameters: params_out,
            name: Some(name),
            connection_state: r.get(8)?,
            state_reason: None,
            creation_time: created,
            last_modified_time: ts(r.get(6)?),
            last_authorized_time: created,
        })
    }

    const CONNECTION_COLS: &'static str = "SELECT name, uuid, description, auth_type, auth, created_ms, modified_ms, secret_id, state FROM eb_connections";

    /// `CreateConnection` (API_KEY and BASIC are used for calls; OAuth is
    /// stored only: no token call is made, so such a connection stays
    /// `AUTHORIZING`, the state AWS shows until its token call succeeds).
    pub async fn create_connection(&self, req: CreateConnectionRequest) -> BusResult<Connection> {
        let mut problems = Violations::new();
        problems.name("name", &req.name, 64, false);
        problems.one_of(
            "authorizationType",
            &req.authorization_type,
            &["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"],
        );
        problems.into_result()?;
        check_auth(&req.authorization_type, &req.auth_parameters)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let auth = serde_json::to_string(&req.auth_parameters).unwrap_or_default();
        let now = Timestamp::now().0;
        let state = initial_state(&req.authorization_type);
        let (n2, u2, d2, t2) = (
            req.name.clone(),
            uuid.clone(),
            req.description.clone(),
            req.authorization_type.clone(),
        );
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO eb_connections (name, uuid, description, auth_type, auth, created_ms, modified_ms, secret_id, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
                    params![n2, u2, d2, t2, auth, now, secret_id(), state],
                )
            })
            .await?;
        if inserted == 0 {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Connection {} already exists.",
                req.name
            )));
        }
        Ok(Connection {
            connection_arn: self.connection_arn(&req.name, &uuid),
            connection_state: state.into(),
            creation_time: Some(Timestamp(now)),
            last_modified_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    pub(super) async fn connection_row(&self, name: &str, details: bool) -> BusResult<Connection> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE name = ?1", Self::CONNECTION_COLS),
                    [&n2],
                    |r| me.connection_from_row(r, details),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| {
                BusError::ResourceNotFound(format!(
                    "Failed to describe the connection(s). Connection '{name}' does not exist."
                ))
            })
    }

    /// `DescribeConnection` (secrets are never returned).
    pub async fn describe_connection(&self, name: &str) -> BusResult<Connection> {
        self.connection_row(name, true).await
    }

    /// `ListConnections`.
    pub async fn list_connections(&self, req: ListRequest) -> BusResult<ListConnectionsResponse> {
        let me = self.clone();
        let all: Vec<Connection> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::CONNECTION_COLS))?
                    .query_map([], |r| me.connection_from_row(r, false))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|c| c.name.as_deref().unwrap_or_default().starts_with(&prefix))
            .filter(|c| {
                req.connection_state
                    .as_ref()
                    .is_none_or(|s| *s == c.connection_state)
            })
            .collect();
        let (connections, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListConnectionsResponse {
            connections,
            next_token,
        })
    }

    /// The stored row of `name`: (auth type, auth with secrets).
    async fn connection_secrets(&self, name: &str) -> BusResult<(String, String)> {
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT auth_type, auth FROM eb_connections WHERE name = ?1",
                    [&n2],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| {
                BusError::ResourceNotFound(format!(
                    "Failed to describe the connection(s). Connection '{name}' does not exist."
                ))
            })
    }

    /// `UpdateConnection`: changes what the request names (another
    /// authorization type needs its parameters); the connection is
    /// authorized again (an OAuth one waits, as at creation).
    pub async fn update_connection(&self, req: UpdateConnectionRequest) -> BusResult<Connection> {
        if let Some(t) = &req.authorization_type {
            let mut problems = Violations::new();
            problems.one_of(
                "authorizationType",
                t,
                &["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"],
            );
            problems.into_result()?;
        }
        let (old_type, old_auth) = self.connection_secrets(&req.name).await?;
        let auth_type = req.authorization_type.clone().unwrap_or(old_type.clone());
        let old_auth: ConnectionAuthParameters =
            serde_json::from_str(&old_auth).unwrap_or_default();
        let auth = match req.auth_parameters.clone() {
            // Another type starts from the request's parameters alone.
            Some(new) if auth_type != old_type => new,
            Some(new) => merge_auth(old_auth, new),
            None if auth_type != old_type => ConnectionAuthParameters::default(),
            None => old_auth,
        };
        check_auth(&auth_type, &auth)?;
        let state = initial_state(&auth_type);
        let now = Timestamp::now().0;
        let (n2, d2, t2) = (req.name.clone(), req.description.clone(), auth_type);
        let auth = serde_json::to_string(&auth).unwrap_or_default();
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE eb_connections SET description = coalesce(?2, description), auth_type = ?3,
                        auth = ?4, state = ?5, modified_ms = ?6 WHERE name = ?1",
                    params![n2, d2, t2, auth, state, now],
                )
            })
            .await?;
        let mut c = self.connection_row(&req.name, false).await?;
        c.name = None;
        c.authorization_type = None;
        c.last_authorized_time = Some(Timestamp(now));
        Ok(c)
    }

    /// `DeauthorizeConnection`: the connection's secrets (password, API
    /// key value, OAuth client secret) are dropped and its state is
    /// DEAUTHORIZED; calls through it fail (then the target's retries and
    /// dead-letter queue) until UpdateConnection gives it credentials again.
    pub async fn deauthorize_connection(&self, name: &str) -> BusResult<Connection> {
        let (_, auth) = self.connection_secrets(name).await?;
        let mut kept: ConnectionAuthParameters = serde_json::from_str(&auth).unwrap_or_default();
        if let Some(b) = kept.basic_auth_parameters.as_mut() {
            b.password = None;
        }
        if let Some(k) = kept.api_key_auth_parameters.as_mut() {
            k.api_key_value = None;
        }
        if let Some(serde_json::Value::Object(o)) = kept.o_auth_parameters.as_mut() {
            if let Some(serde_json::Value::Object(client)) = o.get_mut("ClientParameters") {
                client.remove("ClientSecret");
            }
        }
        let kept = serde_json::to_string(&kept).unwrap_or_default();
        let now = Timestamp::now().0;
        let n2 = name.to_string();
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE eb_connections SET auth = ?2, state = 'DEAUTHORIZED', modified_ms = ?3 WHERE name = ?1",
                    params![n2, kept, now],
                )
            })
            .await?;
        let mut c = self.connection_row(name, false).await?;
        c.name = None;
        c.authorization_type = None;
        c.connection_state = "DEAUTHORIZING".into();
        Ok(c)
    }

    /// `DeleteConnection`.
    pub async fn delete_connection(&self, name: &str) -> BusResult<Connection> {
        let mut c = self.connection_row(name, false).await?;
        let n2 = name.to_string();
        self.inner
            .db
            .write(move |tx| tx.execute("DELETE FROM eb_connections WHERE name = ?1", [&n2]))
            .await?;
        c.connection_state = "DELETING".into();
        c.name = None;
        c.authorization_type = None;
        Ok(c)
    }

    /// Auth of a connection by ARN: (type, parameters with secrets); a
    /// deauthorized connection has none to give.
    pub(crate) async fn connection_auth(
        &self,
        arn: &str,
    ) -> BusResult<(String, ConnectionAuthParameters)> {
        let name = arn_tail(arn, ":connection/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default()
            .to_string();
        let n2 = name.clone();
        let row: Option<(String, String, String)> = self
            .inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT auth_type, auth, state FROM eb_connections WHERE name = ?1",
                    [&n2],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })
            .await?;
        let (t, a, state) = row.ok_or_else(|| {
            BusError::ResourceNotFound(format!("Connection {name} does not exist."))
        })?;
        if state == "DEAUTHORIZED" {
            return Err(BusError::IllegalStatus(format!(
                "Connection {name} is deauthorized."
            )));
        }
        Ok((t, serde_json::from_str(&a).unwrap_or_default()))
    }
}
