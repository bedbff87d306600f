//! Request and response shapes of the EventBridge API, named and serialised
//! exactly as AWS's JSON protocol does (PascalCase fields, epoch-second
//! timestamps), so the wire layer only (de)serialises them. Plain serde
//! types: no web framework or AWS SDK types.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Skip `None` fields when serialising.
macro_rules! shape {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name { $($(#[$fm])* #[serde(default, skip_serializing_if = "crate::types::is_default")] pub $f: $t),* }
    };
}

/// A List* response: the list is always present (`{"Rules": []}` when
/// empty, as AWS answers), `NextToken` only when there is a next page.
macro_rules! list_shape {
    ($(#[$m:meta])* pub struct $name:ident { pub $f:ident : Vec<$t:ty> }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            /// The page's items.
            #[serde(default)]
            pub $f: Vec<$t>,
            /// Opaque token of the next page, if any.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub next_token: Option<String>,
        }
    };
}

pub(crate) fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

// ---- events -----------------------------------------------------------

shape! {
    /// One PutEvents entry.
    pub struct PutEventsRequestEntry {
        pub time: Option<Timestamp>,
        pub source: Option<String>,
        pub resources: Option<Vec<String>>,
        pub detail_type: Option<String>,
        pub detail: Option<String>,
        pub event_bus_name: Option<String>,
        pub trace_header: Option<String>,
    }
}
shape! {
    /// PutEvents request.
    pub struct PutEventsRequest {
        pub entries: Vec<PutEventsRequestEntry>,
        pub endpoint_id: Option<String>,
    }
}
shape! {
    /// Result of one entry: `EventId`, or `ErrorCode` + `ErrorMessage`.
    pub struct PutEventsResultEntry {
        pub event_id: Option<String>,
        pub error_code: Option<String>,
        pub error_message: Option<String>,
    }
}
/// PutEvents response (`FailedEntryCount` is always present).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResponse {
    /// Number of entries that were refused.
    pub failed_entry_count: i64,
    /// One result per request entry, in order.
    pub entries: Vec<PutEventsResultEntry>,
}
shape! {
    /// TestEventPattern request.
    pub struct TestEventPatternRequest { pub event_pattern: String, pub event: String }
}
/// TestEventPattern response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestEventPatternResponse {
    /// Does the event match?
    pub result: bool,
}

// ---- buses ------------------------------------------------------------

shape! {
    /// A tag.
    pub struct Tag { pub key: String, pub value: String }
}
shape! {
    /// CreateEventBus request.
    pub struct CreateEventBusRequest {
        pub name: String,
        pub event_source_name: Option<String>,
        pub description: Option<String>,
        pub kms_key_identifier: Option<String>,
        pub tags: Option<Vec<Tag>>,
    }
}
shape! {
    /// CreateEventBus response.
    pub struct CreateEventBusResponse { pub event_bus_arn: String, pub description: Option<String> }
}
shape! {
    /// Request naming a bus (`Name`), used by Describe/DeleteEventBus.
    pub struct EventBusNameRequest { pub name: Option<String> }
}
shape! {
    /// An event bus (DescribeEventBus response, ListEventBuses item).
    pub struct EventBus {
        pub name: String,
        pub arn: String,
        pub description: Option<String>,
        pub policy: Option<String>,
        pub creation_time: Option<Timestamp>,
        pub last_modified_time: Option<Timestamp>,
    }
}
shape! {
    /// List request shared by most List* operations.
    pub struct ListRequest {
        pub name_prefix: Option<String>,
        pub event_bus_name: Option<String>,
        pub next_token: Option<String>,
        pub limit: Option<i64>,
        pub state: Option<String>,
        pub event_source_arn: Option<String>,
        pub connection_state: Option<String>,
        pub connection_arn: Option<String>,
    }
}
shape! {
    /// TagResource request.
    pub struct TagResourceRequest {
        #[serde(rename = "ResourceARN")]
        pub resource_arn: String,
        pub tags: Vec<Tag>,
    }
}
shape! {
    /// UntagResource request.
    pub struct UntagResourceRequest {
        #[serde(rename = "ResourceARN")]
        pub resource_arn: String,
        pub tag_keys: Vec<String>,
    }
}
shape! {
    /// ListTagsForResource request.
    pub struct ListTagsForResourceRequest {
        #[serde(rename = "ResourceARN")]
        pub resource_arn: String,
    }
}
/// ListTagsForResource response (`Tags` always present).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceResponse {
    /// The resource's tags, by key.
    #[serde(default)]
    pub tags: Vec<Tag>,
}
shape! {
    /// A PutPermission condition (`{"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-…"}`).
    pub struct Condition { pub r#type: String, pub key: String, pub value: String }
}
shape! {
    /// PutPermission request: one statement (Action, Principal, StatementId,
    /// Condition) or a whole policy document (Policy).
    pub struct PutPermissionRequest {
        pub event_bus_name: Option<String>,
        pub action: Option<String>,
        pub principal: Option<String>,
        pub statement_id: Option<String>,
        pub condition: Option<Condition>,
        pub policy: Option<String>,
    }
}
shape! {
    /// RemovePermission request.
    pub struct RemovePermissionRequest {
        pub event_bus_name: Option<String>,
        pub statement_id: Option<String>,
        pub remove_all_permissions: Option<bool>,
    }
}
list_shape! {
    /// ListEventBuses response.
    pub struct ListEventBusesResponse { pub event_buses: Vec<EventBus> }
}

// ---- rules and targets ----------------------------------------------------

shape! {
    /// PutRule request.
    pub struct PutRuleRequest {
        pub name: String,
        pub schedule_expression: Option<String>,
        pub event_pattern: Option<String>,
        pub state: Option<String>,
        pub description: Option<String>,
        pub role_arn: Option<String>,
        pub tags: Option<Vec<Tag>>,
        pub event_bus_name: Option<String>,
    }
}
shape! {
    /// PutRule response.
    pub struct PutRuleResponse { pub rule_arn: String }
}
shape! {
    /// Request naming a rule (Describe/Delete/Enable/DisableRule).
    pub struct RuleNameRequest { pub name: String, pub event_bus_name: Option<String>, pub force: Option<bool> }
}
shape! {
    /// A rule (DescribeRule response, ListRules item).
    pub struct Rule {
        pub name: String,
        pub arn: String,
        pub event_pattern: Option<String>,
        pub schedule_expression: Option<String>,
        pub state: String,
        pub description: Option<String>,
        pub role_arn: Option<String>,
        pub managed_by: Option<String>,
        pub event_bus_name: String,
        pub created_by: Option<String>,
    }
}
list_shape! {
    /// ListRules response.
    pub struct ListRulesResponse { pub rules: Vec<Rule> }
}
shape! {
    /// Target retry policy.
    pub struct RetryPolicy { pub maximum_retry_attempts: Option<i64>, pub maximum_event_age_in_seconds: Option<i64> }
}
shape! {
    /// Target dead-letter queue.
    pub struct DeadLetterConfig { pub arn: Option<String> }
}
shape! {
    /// HTTP parameters of an API-destination target.
    pub struct HttpParameters {
        pub path_parameter_values: Option<Vec<String>>,
        pub header_parameters: Option<std::collections::BTreeMap<String, String>>,
        pub query_string_parameters: Option<std::collections::BTreeMap<String, String>>,
    }
}
shape! {
    /// A rule target.
    pub struct Target {
        pub id: String,
        pub arn: String,
        pub role_arn: Option<String>,
        pub input: Option<String>,
        pub input_path: Option<String>,
        pub http_parameters: Option<HttpParameters>,
        pub dead_letter_config: Option<DeadLetterConfig>,
        pub retry_policy: Option<RetryPolicy>,
    }
}
shape! {
    /// PutTargets request.
    pub struct PutTargetsRequest { pub rule: String, pub event_bus_name: Option<String>, pub targets: Vec<Target> }
}
shape! {
    /// A refused target in PutTargets/RemoveTargets.
    pub struct FailedTargetEntry { pub target_id: String, pub error_code: String, pub error_message: String }
}
/// PutTargets / RemoveTargets response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetsResponse {
    /// Number of refused targets.
    pub failed_entry_count: i64,
    /// The refused targets.
    pub failed_entries: Vec<FailedTargetEntry>,
}
shape! {
    /// ListTargetsByRule request.
    pub struct ListTargetsByRuleRequest { pub rule: String, pub event_bus_name: Option<String>, pub next_token: Option<String>, pub limit: Option<i64> }
}
list_shape! {
    /// ListTargetsByRule response.
    pub struct ListTargetsByRuleResponse { pub targets: Vec<Target> }
}
shape! {
    /// ListRuleNamesByTarget request.
    pub struct ListRuleNamesByTargetRequest { pub target_arn: Option<String>, pub event_bus_name: Option<String>, pub next_token: Option<String>, pub limit: Option<i64> }
}
list_shape! {
    /// ListRuleNamesByTarget response.
    pub struct ListRuleNamesByTargetResponse { pub rule_names: Vec<String> }
}
shape! {
    /// RemoveTargets request.
    pub struct RemoveTargetsRequest { pub rule: String, pub event_bus_name: Option<String>, pub ids: Vec<String>, pub force: Option<bool> }
}

// ---- connections and API destinations ---------------------------------------

shape! {
    /// Basic auth parameters.
    pub struct BasicAuthParameters { pub username: Option<String>, pub password: Option<String> }
}
shape! {
    /// API-key auth parameters.
    pub struct ApiKeyAuthParameters { pub api_key_name: Option<String>, pub api_key_value: Option<String> }
}
shape! {
    /// Connection auth parameters (OAuth is accepted and stored, not performed).
    pub struct ConnectionAuthParameters {
        pub basic_auth_parameters: Option<BasicAuthParameters>,
        pub api_key_auth_parameters: Option<ApiKeyAuthParameters>,
        pub o_auth_parameters: Option<serde_json::Value>,
        pub invocation_http_parameters: Option<serde_json::Value>,
    }
}
shape! {
    /// CreateConnection request.
    pub struct CreateConnectionRequest {
        pub name: String,
        pub description: Option<String>,
        pub authorization_type: String,
        pub auth_parameters: ConnectionAuthParameters,
    }
}
shape! {
    /// A connection (Create/Describe/Delete response, list item).
    pub struct Connection {
        pub connection_arn: String,
        pub name: Option<String>,
        pub description: Option<String>,
        pub connection_state: String,
        pub state_reason: Option<String>,
        pub authorization_type: Option<String>,
        pub secret_arn: Option<String>,
        pub auth_parameters: Option<ConnectionAuthParameters>,
        pub creation_time: Option<Timestamp>,
        pub last_modified_time: Option<Timestamp>,
        pub last_authorized_time: Option<Timestamp>,
    }
}
shape! {
    /// Request naming a connection / API destination / archive / replay.
    pub struct NameRequest {
        pub name: Option<String>,
        pub archive_name: Option<String>,
        pub replay_name: Option<String>,
    }
}
shape! {
    /// UpdateConnection request (absent fields keep their value).
    pub struct UpdateConnectionRequest {
        pub name: String,
        pub description: Option<String>,
        pub authorization_type: Option<String>,
        pub auth_parameters: Option<ConnectionAuthParameters>,
    }
}
list_shape! {
    /// ListConnections response.
    pub struct ListConnectionsResponse { pub connections: Vec<Connection> }
}
shape! {
    /// CreateApiDestination request.
    pub struct CreateApiDestinationRequest {
        pub name: String,
        pub description: Option<String>,
        pub connection_arn: String,
        pub invocation_endpoint: String,
        pub http_method: String,
        pub invocation_rate_limit_per_second: Option<i64>,
    }
}
shape! {
    /// UpdateApiDestination request (absent fields keep their value).
    pub struct UpdateApiDestinationRequest {
        pub name: String,
        pub description: Option<String>,
        pub connection_arn: Option<String>,
        pub invocation_endpoint: Option<String>,
        pub http_method: Option<String>,
        pub invocation_rate_limit_per_second: Option<i64>,
    }
}
shape! {
    /// An API destination.
    pub struct ApiDestination {
        pub api_destination_arn: String,
        pub name: Option<String>,
        pub description: Option<String>,
        pub api_destination_state: Option<String>,
        pub connection_arn: Option<String>,
        pub invocation_endpoint: Option<String>,
        pub http_method: Option<String>,
        pub invocation_rate_limit_per_second: Option<i64>,
        pub creation_time: Option<Timestamp>,
        pub last_modified_time: Option<Timestamp>,
    }
}
list_shape! {
    /// ListApiDestinations response.
    pub struct ListApiDestinationsResponse { pub api_destinations: Vec<ApiDestination> }
}

// ---- archives -----------------------------------------------------------------

shape! {
    /// CreateArchive request.
    pub struct CreateArchiveRequest {
        pub archive_name: String,
        pub event_source_arn: String,
        pub description: Option<String>,
        pub event_pattern: Option<String>,
        pub retention_days: Option<i64>,
    }
}
shape! {
    /// UpdateArchive request.
    pub struct UpdateArchiveRequest {
        pub archive_name: String,
        pub description: Option<String>,
        pub event_pattern: Option<String>,
        pub retention_days: Option<i64>,
    }
}
shape! {
    /// An archive (Describe response, list item, Create/Update response subset).
    pub struct Archive {
        pub archive_arn: Option<String>,
        pub archive_name: Option<String>,
        pub event_source_arn: Option<String>,
        pub description: Option<String>,
        pub event_pattern: Option<String>,
        pub state: String,
        pub state_reason: Option<String>,
        pub retention_days: Option<i64>,
        pub size_bytes: Option<i64>,
        pub event_count: Option<i64>,
        pub creation_time: Option<Timestamp>,
    }
}
list_shape! {
    /// ListArchives response.
    pub struct ListArchivesResponse { pub archives: Vec<Archive> }
}

// ---- replays ----------------------------------------------------------------------

shape! {
    /// Replay destination.
    pub struct ReplayDestination { pub arn: String, pub filter_arns: Option<Vec<String>> }
}
shape! {
    /// StartReplay request.
    pub struct StartReplayRequest {
        pub replay_name: String,
        pub description: Option<String>,
        pub event_source_arn: String,
        pub event_start_time: Option<Timestamp>,
        pub event_end_time: Option<Timestamp>,
        pub destination: ReplayDestination,
    }
}
shape! {
    /// A replay (Describe response, list item, Start/Cancel response subset).
    pub struct Replay {
        pub replay_name: Option<String>,
        pub replay_arn: Option<String>,
        pub description: Option<String>,
        pub state: String,
        pub state_reason: Option<String>,
        pub event_source_arn: Option<String>,
        pub destination: Option<ReplayDestination>,
        pub event_start_time: Option<Timestamp>,
        pub event_end_time: Option<Timestamp>,
        pub event_last_replayed_time: Option<Timestamp>,
        pub replay_start_time: Option<Timestamp>,
        pub replay_end_time: Option<Timestamp>,
    }
}
list_shape! {
    /// ListReplays response.
    pub struct ListReplaysResponse { pub replays: Vec<Replay> }
}
