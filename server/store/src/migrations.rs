//! Versioned schema migrations, applied in order at start-up.
//!
//! Never edit a migration that has shipped: append a new one. The version is
//! kept in SQLite's `user_version`.

use rusqlite_migration::{Migrations, M};

const STEPS: &[&str] = &[
    // 1: current status of each SaaS part (the seed design's status table).
    "CREATE TABLE part_status (
        part            TEXT PRIMARY KEY NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('unknown', 'pending', 'up', 'down')),
        changed_at      TEXT,
        prev_status     TEXT,
        prev_change_at  TEXT,
        updated_at      TEXT NOT NULL
    ) STRICT;",
];

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(STEPS.iter().map(|sql| M::up(sql)).collect())
}

pub(crate) fn latest_version() -> u32 {
    STEPS.len() as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
