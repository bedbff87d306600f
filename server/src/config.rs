//! Command line, environment and configuration file, merged into [`Settings`].
//!
//! Precedence, highest first: command-line flag, environment variable,
//! configuration file (`--config`), built-in default.
//!
//! * `cli` — the commands and their options (clap).
//! * `choices` — the closed sets of values some options take.
//! * `file` — the configuration file's shape (serde, unknown keys refused).
//! * `checks` — the range of every bounded setting, defined once for the
//!   flag, the environment, the file and a part's table.
//! * `listeners` — the listeners' time limits, connection caps and the
//!   EventBridge API's `Host` names.
//! * `parts` — the part list and each part's `[parts.<name>]` table (serde,
//!   unknown keys refused; `values` — its values' types, checked with the
//!   reason the error gives).
//! * `notify` — the `[notify]` table and its channels (unknown keys refused).
//! * `settings` — [`Settings`], resolved from all of the above.

mod checks;
mod choices;
mod cli;
mod file;
pub mod leptos;
mod listeners;
mod notify;
mod parts;
mod settings;
#[cfg(test)]
mod tests;
mod values;

pub use crate::auth::{AuthMode, CookieSecure};
pub use choices::{Backend, Durability, LogFormat};
pub use cli::{
    BackupArgs, Cli, Command, DataDirArgs, ProvisionArgs, ProvisionBackend, RestoreArgs, RoleArg,
    ServeArgs, StoreArgs, TestEventPatternArgs, TokenCommand, UserCommand,
};
pub use file::FileConfig;
pub use notify::{NotifyConfig, PAGERDUTY_URL};
pub use settings::Settings;
