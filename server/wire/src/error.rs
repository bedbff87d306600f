//! The error body every JSON API refusal carries.

use serde::{Deserialize, Serialize};

/// An error: `error` says what is wrong; `field` names the request field
/// (or `part`, `name`, `body`, `role`) it concerns, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ApiErrorBody))]
pub struct ErrorBody {
    /// What went wrong, e.g. `loyalty_request_id: is required`.
    pub error: String,
    /// The field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// `error`, naming `field` when given.
    pub fn new(error: impl Into<String>, field: Option<&str>) -> Self {
        ErrorBody {
            error: error.into(),
            field: field.map(str::to_owned),
        }
    }
}
