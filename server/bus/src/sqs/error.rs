//! [`SqsError`]: SQS's errors as its JSON protocol answers them: the
//! `__type` code, the older query-protocol code SQS still sends in
//! `x-amzn-query-error` (what the CLI and boto3 show as the error code), the
//! message and the HTTP status.

use crate::BusError;

/// An error of the embedded queues' SQS API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SqsError {
    /// `__type` on the JSON protocol (`QueueDoesNotExist`).
    pub code: &'static str,
    /// The query protocol's code (`AWS.SimpleQueueService.NonExistentQueue`).
    pub query_code: &'static str,
    /// What is wrong, in SQS's words.
    pub message: String,
    /// The HTTP status (400, 403 for a purge too soon, 500 for storage failures).
    pub status: u16,
}

impl SqsError {
    fn new(code: &'static str, query_code: &'static str, message: impl Into<String>) -> Self {
        SqsError {
            code,
            query_code,
            message: message.into(),
            status: 400,
        }
    }

    /// Whether the caller is at fault (`Sender`) rather than the server.
    pub fn is_sender_fault(&self) -> bool {
        self.status < 500
    }

    /// The queue named by the request does not exist.
    pub fn no_queue() -> Self {
        Self::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    /// A parameter's value is refused.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterValueException",
            "InvalidParameterValue",
            message,
        )
    }

    /// `Value V for parameter P is invalid. Reason: R`.
    pub fn invalid_value(value: impl std::fmt::Display, parameter: &str, reason: &str) -> Self {
        Self::invalid_parameter(format!(
            "Value {value} for parameter {parameter} is invalid. Reason: {reason}"
        ))
    }

    /// A required parameter is missing.
    pub fn missing(parameter: &str) -> Self {
        Self::new(
            "MissingRequiredParameterException",
            "MissingParameter",
            format!("The request must contain the parameter {parameter}."),
        )
    }

    /// A queue attribute SQS does not know (or not for this queue type).
    pub fn invalid_attribute_name(message: impl Into<String>) -> Self {
        Self::new("InvalidAttributeName", "InvalidAttributeName", message)
    }

    /// A queue attribute's value is refused.
    pub fn invalid_attribute_value(name: &str, reason: Option<&str>) -> Self {
        let message = match reason {
            Some(r) => format!("Invalid value for the parameter {name}. Reason: {r}"),
            None => format!("Invalid value for the parameter {name}."),
        };
        Self::new("InvalidAttributeValue", "InvalidAttributeValue", message)
    }

    /// CreateQueue of an existing queue with other attributes.
    pub fn queue_exists(attribute: &str) -> Self {
        Self::new(
            "QueueNameExists",
            "QueueAlreadyExists",
            format!(
                "A queue already exists with the same name and a different value for attribute {attribute}"
            ),
        )
    }

    /// A receipt handle that no receive could have given.
    pub fn receipt_invalid(handle: &str) -> Self {
        Self::new(
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    }

    /// A batch without entries.
    pub fn empty_batch(entry: &str) -> Self {
        Self::new(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            format!("There should be at least one {entry} in the request."),
        )
    }

    /// A batch of more than ten entries.
    pub fn too_many_entries(n: usize) -> Self {
        Self::new(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!("Maximum number of entries per request are 10. You have sent {n}."),
        )
    }

    /// Two batch entries with one id.
    pub fn ids_not_distinct(id: &str) -> Self {
        Self::new(
            "BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            format!("Id {id} repeated."),
        )
    }

    /// A batch entry id of other characters or over 80 long.
    pub fn invalid_batch_id() -> Self {
        Self::new(
            "InvalidBatchEntryId",
            "AWS.SimpleQueueService.InvalidBatchEntryId",
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
        )
    }

    /// A batch whose messages add up to more than a message may be.
    pub fn batch_too_long(max: usize, sent: usize) -> Self {
        Self::new(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {max} bytes. You have sent {sent} bytes."
            ),
        )
    }

    /// A second PurgeQueue within 60 seconds.
    pub fn purge_in_progress(queue: &str) -> Self {
        SqsError {
            status: 403,
            ..Self::new(
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                format!("Only one PurgeQueue operation on {queue} is allowed every 60 seconds."),
            )
        }
    }

    /// A queue named by ARN (message move tasks) or a task that does not exist.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        SqsError {
            status: 404,
            ..Self::new(
                "ResourceNotFoundException",
                "ResourceNotFoundException",
                message,
            )
        }
    }

    /// An operation of SQS's API the embedded queues do not offer.
    pub fn unsupported_operation(op: &str) -> Self {
        Self::new(
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            format!("Operation {op} is not supported by the embedded queues."),
        )
    }

    /// The request body is not a JSON object of the operation's shape.
    pub fn malformed(reason: impl std::fmt::Display) -> Self {
        Self::invalid_parameter(format!("The request body is not valid: {reason}"))
    }

    /// Storage failed.
    pub fn internal(message: impl Into<String>) -> Self {
        SqsError {
            status: 500,
            ..Self::new("InternalError", "InternalError", message)
        }
    }
}

impl From<BusError> for SqsError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::ResourceNotFound(_) => SqsError::no_queue(),
            BusError::Internal(m) => SqsError::internal(m),
            other => SqsError::invalid_parameter(other.message()),
        }
    }
}

impl From<store::DbError> for SqsError {
    fn from(e: store::DbError) -> Self {
        SqsError::internal(e.to_string())
    }
}

/// Result alias of the SQS API.
pub type SqsResult<T> = Result<T, SqsError>;
