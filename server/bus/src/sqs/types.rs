//! SQS's request and response shapes on its JSON protocol (PascalCase,
//! attribute values as strings, absent members omitted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Queue attributes: SQS attribute name → value, as text.
pub type Attributes = BTreeMap<String, String>;

/// A message attribute (`DataType` `String`, `Number` or `Binary`, with an
/// optional `.label` suffix).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttributeValue {
    /// Value of a `String` or `Number` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// Value of a `Binary` attribute, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    /// Reserved by SQS; refused when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_list_values: Option<Vec<String>>,
    /// Reserved by SQS; refused when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_list_values: Option<Vec<String>>,
    /// `String`, `Number` or `Binary`, with an optional `.label`.
    pub data_type: String,
}

/// Message attributes by name.
pub type MessageAttributes = BTreeMap<String, MessageAttributeValue>;

/// `CreateQueue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateQueueRequest {
    pub queue_name: Option<String>,
    pub attributes: Option<Attributes>,
    #[serde(rename = "tags")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// `GetQueueUrl`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GetQueueUrlRequest {
    pub queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    pub queue_owner_aws_account_id: Option<String>,
}

/// `ListQueues`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListQueuesRequest {
    pub queue_name_prefix: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

/// Requests naming only a queue (`PurgeQueue`, `DeleteQueue`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct QueueUrlRequest {
    pub queue_url: Option<String>,
}

/// `GetQueueAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GetQueueAttributesRequest {
    pub queue_url: Option<String>,
    pub attribute_names: Option<Vec<String>>,
}

/// `SetQueueAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SetQueueAttributesRequest {
    pub queue_url: Option<String>,
    pub attributes: Option<Attributes>,
}

/// `SendMessage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SendMessageRequest {
    pub queue_url: Option<String>,
    pub message_body: Option<String>,
    pub delay_seconds: Option<i64>,
    pub message_attributes: Option<MessageAttributes>,
    pub message_group_id: Option<String>,
    pub message_deduplication_id: Option<String>,
}

/// One entry of `SendMessageBatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SendMessageBatchRequestEntry {
    pub id: String,
    pub message_body: Option<String>,
    pub delay_seconds: Option<i64>,
    pub message_attributes: Option<MessageAttributes>,
    pub message_group_id: Option<String>,
    pub message_deduplication_id: Option<String>,
}

/// `SendMessageBatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SendMessageBatchRequest {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<SendMessageBatchRequestEntry>>,
}

/// `ReceiveMessage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReceiveMessageRequest {
    pub queue_url: Option<String>,
    /// Older name of `MessageSystemAttributeNames`; both are honoured.
    pub attribute_names: Option<Vec<String>>,
    pub message_system_attribute_names: Option<Vec<String>>,
    pub message_attribute_names: Option<Vec<String>>,
    pub max_number_of_messages: Option<i64>,
    pub visibility_timeout: Option<i64>,
    pub wait_time_seconds: Option<i64>,
    pub receive_request_attempt_id: Option<String>,
}

/// `DeleteMessage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeleteMessageRequest {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
}

/// One entry of `DeleteMessageBatch` or `ChangeMessageVisibilityBatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReceiptBatchEntry {
    pub id: String,
    pub receipt_handle: Option<String>,
    /// `ChangeMessageVisibilityBatch` only.
    pub visibility_timeout: Option<i64>,
}

/// `DeleteMessageBatch` and `ChangeMessageVisibilityBatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReceiptBatchRequest {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<ReceiptBatchEntry>>,
}

/// `ChangeMessageVisibility`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityRequest {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
    pub visibility_timeout: Option<i64>,
}

/// `CreateQueue` and `GetQueueUrl` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlResponse {
    pub queue_url: String,
}

/// `ListQueues` answer: `QueueUrls` absent when no queue matches, as SQS answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetQueueAttributes` answer (`{}` when no attribute was asked for).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
}

/// `SendMessage` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageResponse {
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
}

/// A sent entry of `SendMessageBatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchResultEntry {
    pub id: String,
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
}

/// A refused entry of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultErrorEntry {
    pub id: String,
    pub sender_fault: bool,
    pub code: String,
    pub message: String,
}

/// `SendMessageBatch` answer (`Failed` absent when every entry was sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchResponse {
    pub successful: Vec<SendMessageBatchResultEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

/// A done entry of `DeleteMessageBatch` / `ChangeMessageVisibilityBatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultEntry {
    pub id: String,
}

/// `DeleteMessageBatch` / `ChangeMessageVisibilityBatch` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiptBatchResponse {
    pub successful: Vec<BatchResultEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

/// A received message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_attributes: Option<MessageAttributes>,
}

/// `ReceiveMessage` answer (`{}` when no message came, as SQS answers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
}

/// `StartMessageMoveTask`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StartMessageMoveTaskRequest {
    pub source_arn: Option<String>,
    pub destination_arn: Option<String>,
    pub max_number_of_messages_per_second: Option<i64>,
}

/// `StartMessageMoveTask` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskResponse {
    pub task_handle: String,
}

/// `ListMessageMoveTasks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListMessageMoveTasksRequest {
    pub source_arn: Option<String>,
    pub max_results: Option<i64>,
}

/// `CancelMessageMoveTask`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskRequest {
    pub task_handle: Option<String>,
}

/// One task of `ListMessageMoveTasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageMoveTaskResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
    pub status: String,
    pub source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_number_of_messages_per_second: Option<i64>,
    pub approximate_number_of_messages_moved: i64,
    pub approximate_number_of_messages_to_move: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Epoch milliseconds.
    pub started_timestamp: i64,
}

/// `ListMessageMoveTasks` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksResponse {
    pub results: Vec<MessageMoveTaskResult>,
}
