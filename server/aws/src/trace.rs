//! Spans on the AWS SDK calls: each call runs in a debug-level `aws` span
//! naming the service, the operation and the table, bus or queue it
//! concerns (the SDK's own `<Service>.<Operation>` span nests inside), so a
//! request's, a command's or a background step's log shows the AWS calls
//! it made and where they went.

use tracing::Span;

/// A DynamoDB call on `table` (for a transaction or a batch over several
/// tables: what it writes).
pub(crate) fn dynamodb(operation: &'static str, table: &str) -> Span {
    tracing::debug_span!("aws", service = "dynamodb", operation, table)
}

/// An EventBridge call on `bus` (for an archive or a replay: the archive's
/// or the replay's name, which names its bus).
pub(crate) fn eventbridge(operation: &'static str, bus: &str) -> Span {
    tracing::debug_span!("aws", service = "eventbridge", operation, bus)
}

/// An SQS call on `queue` (its URL, or its name before the URL is known).
pub(crate) fn sqs(operation: &'static str, queue: &str) -> Span {
    tracing::debug_span!("aws", service = "sqs", operation, queue)
}

/// An EventBridge call on an archive, a replay or another resource that
/// is not named by its bus: `resource` is its name.
pub(crate) fn eventbridge_resource(operation: &'static str, resource: &str) -> Span {
    tracing::debug_span!("aws", service = "eventbridge", operation, resource)
}

/// The tables a DynamoDB transaction touches, as one field value.
pub(crate) fn tables_of(items: &[aws_sdk_dynamodb::types::TransactWriteItem]) -> String {
    let mut tables: Vec<&str> = items
        .iter()
        .filter_map(|i| {
            i.put()
                .map(|p| p.table_name())
                .or_else(|| i.update().map(|u| u.table_name()))
                .or_else(|| i.delete().map(|d| d.table_name()))
                .or_else(|| i.condition_check().map(|c| c.table_name()))
        })
        .collect();
    tables.sort_unstable();
    tables.dedup();
    tables.join(",")
}
