//! One module per page.

pub mod archives;
pub mod audit;
pub mod embeds;
pub mod incidents;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod replays;
pub mod timeline;
pub mod vouchers;
