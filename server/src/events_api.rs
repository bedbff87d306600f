//! EventBridge's own wire API (AWS JSON 1.1) over the embedded bus, on its
//! own listener: `POST /` with `X-Amz-Target: AWSEvents.<Operation>`, so the
//! aws CLI (`--endpoint-url`), boto3 and aws-sdk-eventbridge work unchanged.
//! The same listener answers SQS's JSON protocol for the embedded queues
//! (`AmazonSQS.<Operation>`, in [`crate::sqs_api`]).
//! Without configured [`AccessKeys`] any `Authorization` header is
//! accepted (the listener is then loopback only); with them, every request
//! must carry a valid SigV4 signature by one of the keys (checked with
//! `aws-sigv4`, the AWS SDK's own signer).
//!
//! SDKs and the CLI are the only intended callers, never a web page: a
//! request carrying a browser's `Origin` or `Sec-Fetch-*` header is refused,
//! and so is a `Host` that is not a loopback name, the listen address or
//! one of [`WireOptions::allowed_hosts`] — a page that rebinds its own DNS
//! name to 127.0.0.1 still sends its own name, so it cannot drive the API.
//! Errors are `{"__type": "<Code>", "message": "..."}` with HTTP 400 (403
//! without credentials or from a browser, 413 for a body over
//! [`MAX_BODY_BYTES`], 500 for internal or a request over the time limit).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::host::{host_name, is_dns_name};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bus::types::*;
use bus::{Bus, BusError};
use serde::de::DeserializeOwned;
use serde::Serialize;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Largest request body accepted (PutEvents carries at most 256 KB of
/// entries; JSON escaping can make its body larger).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How far a request's `X-Amz-Date` may be from the server's clock (AWS's
/// own bound).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

pub mod regions;

/// What the wire API's handlers share.
#[derive(Clone)]
struct WireState {
    regions: Arc<regions::Regions>,
    keys: Arc<AccessKeys>,
}

/// Who may call the wire API, and how long a call may take.
#[derive(Debug, Clone)]
pub struct WireOptions {
    /// Keys whose signatures are accepted (empty: any credentials).
    pub keys: AccessKeys,
    /// The address the API listens on: its IP is an accepted `Host` (with
    /// an unspecified address, such as `0.0.0.0`, any IP literal is).
    pub listen: Option<SocketAddr>,
    /// Further accepted `Host` names, lower case (see [`parse_allowed_hosts`]).
    pub allowed_hosts: Vec<String>,
    /// Time a request may take, reading its body included.
    pub request_timeout: Duration,
}

impl Default for WireOptions {
    fn default() -> Self {
        Self {
            keys: AccessKeys::default(),
            listen: None,
            allowed_hosts: Vec::new(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The router of the EventBridge wire API, accepting any credentials from
/// loopback names.
pub fn router(bus: Bus) -> axum::Router {
    router_with(bus, WireOptions::default())
}

/// The router of the EventBridge wire API; when `keys` is not empty, every
/// request must be SigV4-signed by one of them.
pub fn router_with_keys(bus: Bus, keys: AccessKeys) -> axum::Router {
    router_with(
        bus,
        WireOptions {
            keys,
            ..WireOptions::default()
        },
    )
}

/// The router of the EventBridge wire API with `options`, every request
/// served by `bus` whatever region it names.
pub fn router_with(bus: Bus, options: WireOptions) -> axum::Router {
    router_with_regions(Arc::new(regions::Regions::single(bus)), options)
}

/// The router of the EventBridge wire API with `options`, each request
/// served by the bus of the region it names ([`regions`]).
pub fn router_with_regions(regions: Arc<regions::Regions>, options: WireOptions) -> axum::Router {
    let gate = Arc::new(options.clone());
    axum::Router::new()
        .route("/", post(dispatch))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(gate, admit))
        .with_state(WireState {
            regions,
            keys: Arc::new(options.keys),
        })
}

/// Parses the extra `Host` names: host names or IP addresses separated by
/// commas (whitespace ignored), without ports.
pub fn parse_allowed_hosts(text: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let is_ip = bare.parse::<IpAddr>().is_ok();
        let is_name = name.len() <= 253 && is_dns_name(name);
        if !is_ip && !is_name {
            return Err(format!(
                "{name:?} is not a host name or IP address (no scheme, port or path)"
            ));
        }
        hosts.push(if is_ip { bare } else { name }.to_ascii_lowercase());
    }
    Ok(hosts)
}

/// Whether a request for `host` may be served: a loopback name or address,
/// the listen address, or an allowed name. A DNS-rebinding page always
/// sends its own (attacker's) name, never one of these.
fn host_allowed(options: &WireOptions, host: &str) -> bool {
    if host == "localhost" || options.allowed_hosts.iter().any(|h| h == host) {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            ip.is_loopback()
                || options
                    .listen
                    .is_some_and(|l| l.ip() == ip || l.ip().is_unspecified())
        }
        Err(_) => false,
    }
}

/// Refuses what a web page could send (browser headers, a foreign `Host`)
/// and bounds the request's time, all in AWS's error shape.
async fn admit(State(options): State<Arc<WireOptions>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let browser = headers
        .keys()
        .find(|k| *k == header::ORIGIN || k.as_str().starts_with("sec-fetch-"));
    if let Some(name) = browser {
        tracing::info!("EventBridge API request refused: {name} (a browser's) present");
        return aws_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!("{name}: requests from web browsers are not accepted by this API"),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(host_name)
        .or_else(|| req.uri().host().map(host_name));
    let Some(host) = host.clone().filter(|h| host_allowed(&options, h)) else {
        let shown: String = host.unwrap_or_default().chars().take(100).collect();
        tracing::info!(host = %shown, "EventBridge API request refused: Host not allowed");
        return aws_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!(
                "Host: {shown:?} is not a name of this API (loopback names, the listen address \
                 and events_allowed_hosts are)"
            ),
        );
    };
    let limit = options.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(host, "EventBridge API request took longer than {limit:?}");
            aws_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalException",
                &format!(
                    "the request did not complete within {:.1} seconds (events_request_timeout)",
                    limit.as_secs_f64()
                ),
            )
        }
    }
}

/// Access keys (`ACCESS_KEY_ID` → secret) whose SigV4 signatures the wire
/// API accepts. Empty: signatures are not checked. `Debug` never shows a
/// secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AccessKeys(HashMap<String, String>);

impl std::fmt::Debug for AccessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.0.keys().collect();
        ids.sort();
        f.debug_struct("AccessKeys")
            .field("ids", &ids)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl AccessKeys {
    /// Parses `ID:SECRET` pairs separated by commas (whitespace around a
    /// pair ignored). The reason names the faulty pair by position.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for (i, pair) in text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let Some((id, secret)) = pair.split_once(':') else {
                return Err(format!("pair {} is not ACCESS_KEY_ID:SECRET", i + 1));
            };
            let id_ok =
                !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric());
            if !id_ok {
                return Err(format!(
                    "pair {}: the access key id must be 1 to 128 letters or digits",
                    i + 1
                ));
            }
            if secret.is_empty() || secret.len() > 256 || secret.chars().any(char::is_control) {
                return Err(format!(
                    "pair {} ({id}): the secret must be 1 to 256 characters without control characters",
                    i + 1
                ));
            }
            if keys.insert(id.to_owned(), secret.to_owned()).is_some() {
                return Err(format!("pair {}: access key id {id} given twice", i + 1));
            }
        }
        Ok(Self(keys))
    }

    /// Adds (or replaces) one key.
    pub fn with_key(mut self, id: &str, secret: &str) -> Self {
        self.0.insert(id.to_owned(), secret.to_owned());
        self
    }

    /// Whether no key is configured (signatures are not checked).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a request's signature was refused: AWS's error code, HTTP status and
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AuthError {
    /// AWS's error code (`__type`).
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong, naming the header or field.
    pub message: String,
}

impl AuthError {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    fn incomplete(message: impl Into<String>) -> Self {
        Self::new(
            "IncompleteSignatureException",
            StatusCode::BAD_REQUEST,
            message,
        )
    }
}

/// Checks the request's SigV4 `Authorization` header against `keys`: parses
/// the credential scope and signed headers, checks `X-Amz-Date` is within
/// [`MAX_CLOCK_SKEW`] of `now`, recomputes the signature over exactly the
/// headers the client signed with `aws-sigv4`, and compares in constant
/// time.
pub fn verify_sigv4(
    keys: &AccessKeys,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthError::new(
            "MissingAuthenticationTokenException",
            StatusCode::FORBIDDEN,
            "Authorization: missing; requests must be signed with AWS Signature Version 4",
        ));
    };
    let auth = auth
        .to_str()
        .map_err(|_| AuthError::incomplete("Authorization: not visible ASCII"))?;
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(AuthError::incomplete(
            "Authorization: only AWS4-HMAC-SHA256 signatures are accepted",
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',').map(str::trim) {
        match field.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::incomplete(
            "Authorization: must give Credential, SignedHeaders and Signature",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, scope_date, region, service, "aws4_request"] = scope[..] else {
        return Err(AuthError::incomplete(
            "Authorization: Credential must be ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let Some(secret) = keys.0.get(key_id) else {
        return Err(AuthError::new(
            "UnrecognizedClientException",
            StatusCode::BAD_REQUEST,
            format!("Credential: access key id {key_id:?} is not configured"),
        ));
    };
    // SQS's operations (for the embedded queues) are signed for `sqs`,
    // EventBridge's for `events`.
    let expected_service = match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(t) if t.starts_with(crate::sqs_api::TARGET_PREFIX) => "sqs",
        _ => "events",
    };
    if service != expected_service {
        return Err(AuthError::incomplete(format!(
            "Credential: service must be {expected_service}, got {service:?}"
        )));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::incomplete("X-Amz-Date: missing"))?;
    let time = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| AuthError::incomplete("X-Amz-Date: must be YYYYMMDDTHHMMSSZ"))?
        .and_utc();
    if !amz_date.starts_with(scope_date) || scope_date.len() != 8 {
        return Err(AuthError::incomplete(
            "Credential: the scope's date must be X-Amz-Date's date",
        ));
    }
    let time: SystemTime = time.into();
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(AuthError::new(
            "InvalidSignatureException",
            StatusCode::BAD_REQUEST,
            format!(
                "X-Amz-Date: signature expired: {amz_date} is more than {} minutes from the server's time",
                MAX_CLOCK_SKEW.as_secs() / 60
            ),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    // The operation must be signed too, or a captured signature could be
    // replayed as another operation on the same body.
    for required in ["host", "x-amz-date", "x-amz-target"] {
        if !names.contains(&required) {
            return Err(AuthError::incomplete(format!(
                "SignedHeaders: must include {required}"
            )));
        }
    }
    let mut signed = Vec::new();
    for name in &names {
        let mut found = false;
        for value in headers.get_all(*name) {
            let value = value.to_str().map_err(|_| {
                AuthError::incomplete(format!("{name}: a signed header must be visible ASCII"))
            })?;
            signed.push((*name, value));
            found = true;
        }
        if !found {
            return Err(AuthError::incomplete(format!(
                "SignedHeaders: {name} is signed but not sent"
            )));
        }
    }
    let mut settings = SigningSettings::default();
    // Sign exactly what the client signed, nothing more or less.
    settings.excluded_headers = None;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(key_id, secret, None, None, "mediator-config")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| AuthError::incomplete(format!("Authorization: {e}")))?
        .into();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = SignableRequest::new(
        method.as_str(),
        path,
        signed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AuthError::incomplete(format!("request cannot be signed: {e}")))?;
    let expected = sign(request, &params)
        .map_err(|e| AuthError::incomplete(format!("request cannot be signed: {e}")))?
        .signature()
        .to_owned();
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(AuthError::new(
            "InvalidSignatureException",
            StatusCode::BAD_REQUEST,
            "Signature: the request signature we calculated does not match the signature you provided; check your secret access key and signing method",
        ));
    }
    Ok(())
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reply(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn error(e: BusError) -> Response {
    let status = if e.is_internal() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = serde_json::json!({ "__type": e.code(), "message": e.message() });
    reply(status, body.to_string())
}

fn ok<T: Serialize>(v: T) -> Response {
    reply(
        StatusCode::OK,
        serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
    )
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, BusError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    // serde would read a JSON array as a struct's fields in order; AWS's
    // protocol takes an object only.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BusError::Validation("body: must be a JSON object".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| BusError::Validation(format!("Request body is not valid: {e}")))
}

fn required(v: Option<String>, field: &str) -> Result<String, BusError> {
    v.ok_or_else(|| BusError::Validation(format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")))
}

fn aws_error(status: StatusCode, code: &str, message: &str) -> Response {
    reply(
        status,
        serde_json::json!({ "__type": code, "message": message }).to_string(),
    )
}

#[tracing::instrument(skip_all, fields(op))]
async fn dispatch(
    State(state): State<WireState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                &format!("body: larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(e) => {
            return aws_error(
                e.status(),
                "ValidationException",
                &format!("body: {}", e.body_text()),
            )
        }
    };
    if !state.keys.is_empty() {
        if let Err(e) = verify_sigv4(
            &state.keys,
            &method,
            &uri,
            &headers,
            &body,
            SystemTime::now(),
        ) {
            tracing::info!(
                code = e.code,
                "EventBridge API request refused: {}",
                e.message
            );
            return aws_error(e.status, e.code, &e.message);
        }
    }
    let bus = match state
        .regions
        .bus(regions::request_region(&headers).as_deref())
        .await
    {
        Ok(bus) => bus,
        Err(e) => return error(e),
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(op) = target.strip_prefix(crate::sqs_api::TARGET_PREFIX) {
        tracing::Span::current().record("op", op);
        return crate::sqs_api::handle(&bus, op, &headers, &body).await;
    }
    let Some(op) = target.strip_prefix("AWSEvents.") else {
        return reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"__type": "UnknownOperationException", "message": format!("Unknown target {target:?}")}).to_string(),
        );
    };
    tracing::Span::current().record("op", op);
    match handle(&bus, op, &body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(op, code = e.code(), "request refused: {e}");
            error(e)
        }
    }
}

async fn handle(bus: &Bus, op: &str, body: &Bytes) -> Result<Response, BusError> {
    let empty = serde_json::json!({});
    Ok(match op {
        "PutEvents" => ok(bus.put_events(parse(body)?).await?),
        "TestEventPattern" => ok(bus.test_event_pattern(&parse(body)?)?),
        "CreateEventBus" => ok(bus.create_event_bus(parse(body)?).await?),
        "DescribeEventBus" => ok(bus.describe_event_bus(parse::<EventBusNameRequest>(body)?.name.as_deref()).await?),
        "ListEventBuses" => ok(bus.list_event_buses(parse(body)?).await?),
        "DeleteEventBus" => {
            let name = required(parse::<EventBusNameRequest>(body)?.name, "name")?;
            bus.delete_event_bus(&name).await?;
            ok(empty)
        }
        "PutRule" => ok(bus.put_rule(parse(body)?).await?),
        "DescribeRule" => {
            let r: RuleNameRequest = parse(body)?;
            ok(bus.describe_rule(&r.name, r.event_bus_name.as_deref()).await?)
        }
        "ListRules" => ok(bus.list_rules(parse(body)?).await?),
        "TagResource" => {
            bus.tag_resource(parse(body)?).await?;
            ok(empty)
        }
        "UntagResource" => {
            bus.untag_resource(parse(body)?).await?;
            ok(empty)
        }
        "ListTagsForResource" => ok(bus.list_tags_for_resource(parse(body)?).await?),
        "PutPermission" => {
            bus.put_permission(parse(body)?).await?;
            ok(empty)
        }
        "RemovePermission" => {
            bus.remove_permission(parse(body)?).await?;
            ok(empty)
        }
        "DeleteRule" => {
            let r: RuleNameRequest = parse(body)?;
            bus.delete_rule(&r.name, r.event_bus_name.as_deref(), r.force.unwrap_or(false)).await?;
            ok(empty)
        }
        "EnableRule" | "DisableRule" => {
            let r: RuleNameRequest = parse(body)?;
            bus.set_rule_state(&r.name, r.event_bus_name.as_deref(), op == "EnableRule").await?;
            ok(empty)
        }
        "PutTargets" => ok(bus.put_targets(parse(body)?).await?),
        "ListTargetsByRule" => ok(bus.list_targets_by_rule(parse(body)?).await?),
        "ListRuleNamesByTarget" => ok(bus.list_rule_names_by_target(parse(body)?).await?),
        "RemoveTargets" => ok(bus.remove_targets(parse(body)?).await?),
        "CreateConnection" => ok(bus.create_connection(parse(body)?).await?),
        "DescribeConnection" => ok(bus.describe_connection(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "ListConnections" => ok(bus.list_connections(parse(body)?).await?),
        "DeleteConnection" => ok(bus.delete_connection(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "UpdateConnection" => ok(bus.update_connection(parse(body)?).await?),
        "DeauthorizeConnection" => ok(bus.deauthorize_connection(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "CreateApiDestination" => ok(bus.create_api_destination(parse(body)?).await?),
        "DescribeApiDestination" => ok(bus.describe_api_destination(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "ListApiDestinations" => ok(bus.list_api_destinations(parse(body)?).await?),
        "UpdateApiDestination" => ok(bus.update_api_destination(parse(body)?).await?),
        "DeleteApiDestination" => {
            bus.delete_api_destination(&required(parse::<NameRequest>(body)?.name, "name")?).await?;
            ok(empty)
        }
        "CreateArchive" => ok(bus.create_archive(parse(body)?).await?),
        "DescribeArchive" => ok(bus.describe_archive(&required(parse::<NameRequest>(body)?.archive_name, "archiveName")?).await?),
        "ListArchives" => ok(bus.list_archives(parse(body)?).await?),
        "UpdateArchive" => ok(bus.update_archive(parse(body)?).await?),
        "DeleteArchive" => {
            bus.delete_archive(&required(parse::<NameRequest>(body)?.archive_name, "archiveName")?).await?;
            ok(empty)
        }
        "StartReplay" => ok(bus.start_replay(parse(body)?).await?),
        "DescribeReplay" => ok(bus.describe_replay(&required(parse::<NameRequest>(body)?.replay_name, "replayName")?).await?),
        "ListReplays" => ok(bus.list_replays(parse(body)?).await?),
        "CancelReplay" => ok(bus.cancel_replay(&required(parse::<NameRequest>(body)?.replay_name, "replayName")?).await?),
        other => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"__type": "UnknownOperationException", "message": format!("Operation {other} is not supported by the embedded event bus.")})
                    .to_string(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};

    /// Headers of a request signed by `aws-sigv4` as the SDK would, at `time`.
    fn signed(id: &str, secret: &str, body: &[u8], time: SystemTime) -> HeaderMap {
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(id, secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("events")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let base = [
            ("host", "127.0.0.1:4010"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AWSEvents.ListEventBuses"),
        ];
        let req =
            SignableRequest::new("POST", "/", base.into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        for (k, v) in base {
            headers.insert(k, v.parse().unwrap());
        }
        let added: Vec<(String, String)> = instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (k, v) in added {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn signatures_are_recomputed_and_bound_to_key_body_and_time() {
        let keys = AccessKeys::default().with_key("AKID", "secret");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let uri: Uri = "/".parse().unwrap();
        let body = b"{}";
        let h = signed("AKID", "secret", body, t);
        let check = |h: &HeaderMap, body: &[u8], now| {
            verify_sigv4(&keys, &Method::POST, &uri, h, body, now).map_err(|e| e.code)
        };
        assert_eq!(check(&h, body, t), Ok(()));
        assert_eq!(check(&h, body, t + Duration::from_secs(14 * 60)), Ok(()));
        assert_eq!(
            check(&h, body, t + Duration::from_secs(16 * 60)),
            Err("InvalidSignatureException"),
            "expired"
        );
        assert_eq!(
            check(&h, b"{ }", t),
            Err("InvalidSignatureException"),
            "body changed"
        );
        let mut changed = h.clone();
        changed.insert("x-amz-target", "AWSEvents.DeleteEventBus".parse().unwrap());
        assert_eq!(check(&changed, body, t), Err("InvalidSignatureException"));
        let wrong = signed("AKID", "not-the-secret", body, t);
        assert_eq!(check(&wrong, body, t), Err("InvalidSignatureException"));
        let unknown = signed("OTHER", "secret", body, t);
        assert_eq!(check(&unknown, body, t), Err("UnrecognizedClientException"));
        let mut missing = h.clone();
        missing.remove(header::AUTHORIZATION);
        assert_eq!(
            check(&missing, body, t),
            Err("MissingAuthenticationTokenException")
        );
        let mut garbled = h;
        garbled.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 nonsense".parse().unwrap(),
        );
        assert_eq!(
            check(&garbled, body, t),
            Err("IncompleteSignatureException")
        );
    }

    #[test]
    fn the_operation_must_be_signed() {
        let keys = AccessKeys::default().with_key("AKID", "secret");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new("AKID", "secret", None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("events")
            .time(t)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        // Signed without X-Amz-Target, which is added afterwards.
        let base = [("host", "127.0.0.1:4010")];
        let req = SignableRequest::new("POST", "/", base.into_iter(), SignableBody::Bytes(b"{}"))
            .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4010".parse().unwrap());
        for (k, v) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers.insert("x-amz-target", "AWSEvents.DeleteEventBus".parse().unwrap());
        let err = verify_sigv4(
            &keys,
            &Method::POST,
            &"/".parse().unwrap(),
            &headers,
            b"{}",
            t,
        )
        .unwrap_err();
        assert_eq!(err.code, "IncompleteSignatureException");
        assert_eq!(err.message, "SignedHeaders: must include x-amz-target");
    }

    #[test]
    fn host_names_are_matched_without_port_case_or_trailing_dot() {
        let options = WireOptions {
            listen: Some("192.0.2.7:4010".parse().unwrap()),
            allowed_hosts: parse_allowed_hosts(" Mediator.Internal , 2001:db8::1 ").unwrap(),
            ..WireOptions::default()
        };
        assert_eq!(options.allowed_hosts, ["mediator.internal", "2001:db8::1"]);
        for host in [
            "localhost",
            "LOCALHOST:4010",
            "127.0.0.1:4010",
            "127.0.0.2",
            "[::1]:4010",
            "192.0.2.7:4010",
            "mediator.internal.",
            "[2001:db8::1]:4010",
        ] {
            assert!(host_allowed(&options, &host_name(host)), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4010",
            "192.0.2.8",
            "localhost.evil.example",
            "",
        ] {
            assert!(!host_allowed(&options, &host_name(host)), "{host}");
        }
        // Listening on every address: any IP literal (a rebinding page
        // always sends a name), still no foreign name.
        let any = WireOptions {
            listen: Some("0.0.0.0:4010".parse().unwrap()),
            ..WireOptions::default()
        };
        assert!(host_allowed(&any, &host_name("10.1.2.3:4010")));
        assert!(!host_allowed(&any, &host_name("evil.example:4010")));
        for bad in ["http://x", "x:80", "a/b", "a..b"] {
            assert!(parse_allowed_hosts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn access_keys_parse_and_name_the_faulty_pair() {
        let k = AccessKeys::parse(" A1:s1 , B2:s:2 ").unwrap();
        assert_eq!(
            k,
            AccessKeys::default()
                .with_key("A1", "s1")
                .with_key("B2", "s:2")
        );
        assert!(!format!("{k:?}").contains("s1"));
        assert_eq!(
            AccessKeys::parse("A1:s1,A1:s2").unwrap_err(),
            "pair 2: access key id A1 given twice"
        );
        assert!(AccessKeys::parse("a/b:s")
            .unwrap_err()
            .starts_with("pair 1:"));
        assert!(AccessKeys::parse("").unwrap().is_empty());
    }
}
