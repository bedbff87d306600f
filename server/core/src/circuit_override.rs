//! A manual override of a part's circuit, as stored beside its status, and
//! the effective circuit it makes. Plain data; [`crate::overrides`] sets
//! and lists them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A manual override of a part's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideMode {
    /// Open regardless of checks.
    ForceOpen,
    /// Closed regardless of checks.
    ForceClosed,
    /// The circuit never opens.
    Disabled,
    /// No override.
    None,
}

impl OverrideMode {
    /// Name as stored and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideMode::ForceOpen => "force_open",
            OverrideMode::ForceClosed => "force_closed",
            OverrideMode::Disabled => "disabled",
            OverrideMode::None => "none",
        }
    }
}

impl fmt::Display for OverrideMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OverrideMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "force_open" => OverrideMode::ForceOpen,
            "force_closed" => OverrideMode::ForceClosed,
            "disabled" => OverrideMode::Disabled,
            "none" => OverrideMode::None,
            other => {
                return Err(format!(
                    "unknown mode {other:?} (force_open, force_closed, disabled or none)"
                ))
            }
        })
    }
}

/// Whether the circuit is closed (requests may be sent), given the part's
/// stored status (`None`: no row) and its override. Without an override
/// only `down` is open.
pub fn effective_closed(status: Option<&str>, mode: Option<OverrideMode>) -> bool {
    match mode {
        Some(OverrideMode::ForceOpen) => false,
        Some(OverrideMode::ForceClosed | OverrideMode::Disabled) => true,
        Some(OverrideMode::None) | None => status != Some("down"),
    }
}

/// An override in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CircuitOverride {
    /// The mode (never `none`: that is no override).
    pub mode: OverrideMode,
    /// Why it was set.
    pub reason: String,
    /// Who set it.
    pub by: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}
