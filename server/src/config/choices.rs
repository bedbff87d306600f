//! The closed sets of values some options take, read alike from a flag,
//! the environment and the file.

use clap::ValueEnum;
use serde::Deserialize;

/// Where `serve` keeps its bus, queues and shared state (`--backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In-process EventBridge (with its wire API) and SQLite: nothing to
    /// set up, one process.
    #[default]
    Embedded,
    /// Amazon EventBridge, SQS and DynamoDB (resources made by `mediator
    /// provision --backend aws`), through the standard AWS credential and
    /// region chain.
    Aws,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// What an acknowledged write survives (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit fsynced before it is acknowledged: survives power loss.
    Full,
    /// Survives a crash of the process, not of the machine (faster).
    Normal,
}

impl From<Durability> for store::Durability {
    fn from(d: Durability) -> Self {
        match d {
            Durability::Full => Self::Full,
            Durability::Normal => Self::Normal,
        }
    }
}
