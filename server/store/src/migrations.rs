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
    // 2: embedded EventBridge (server/bus). Times are epoch milliseconds.
    "CREATE TABLE eb_buses (
        name        TEXT PRIMARY KEY NOT NULL,
        description TEXT,
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE eb_rules (
        bus          TEXT NOT NULL,
        name         TEXT NOT NULL,
        pattern      TEXT,
        schedule     TEXT,
        state        TEXT NOT NULL CHECK (state IN ('ENABLED', 'DISABLED')),
        description  TEXT,
        role_arn     TEXT,
        managed_by   TEXT,
        archive_id   INTEGER,
        created_ms   INTEGER NOT NULL,
        PRIMARY KEY (bus, name)
    ) STRICT;
    CREATE TABLE eb_targets (
        bus     TEXT NOT NULL,
        rule    TEXT NOT NULL,
        id      TEXT NOT NULL,
        spec    TEXT NOT NULL,
        PRIMARY KEY (bus, rule, id)
    ) STRICT;
    CREATE TABLE eb_archives (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        bus            TEXT NOT NULL,
        pattern        TEXT,
        description    TEXT,
        retention_days INTEGER NOT NULL,
        state          TEXT NOT NULL,
        event_count    INTEGER NOT NULL DEFAULT 0,
        size_bytes     INTEGER NOT NULL DEFAULT 0,
        created_ms     INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE eb_archive_events (
        seq        INTEGER PRIMARY KEY,
        archive_id INTEGER NOT NULL,
        event_time INTEGER NOT NULL,
        body       BLOB NOT NULL
    ) STRICT;
    CREATE INDEX eb_archive_events_time ON eb_archive_events (archive_id, event_time);
    CREATE TABLE eb_queues (
        name               TEXT PRIMARY KEY NOT NULL,
        visibility_ms      INTEGER NOT NULL,
        max_receive_count  INTEGER,
        dead_letter_queue  TEXT,
        created_ms         INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE eb_queue_messages (
        id            INTEGER PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          BLOB NOT NULL,
        sent_ms       INTEGER NOT NULL,
        visible_ms    INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt       TEXT
    ) STRICT;
    CREATE INDEX eb_queue_messages_queue ON eb_queue_messages (queue, id);
    CREATE TABLE eb_deliveries (
        id          INTEGER PRIMARY KEY,
        target_arn  TEXT NOT NULL,
        rule_arn    TEXT NOT NULL,
        target_id   TEXT NOT NULL,
        spec        TEXT NOT NULL,
        body        BLOB NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        first_ms    INTEGER NOT NULL,
        next_ms     INTEGER NOT NULL,
        last_error  TEXT
    ) STRICT;
    CREATE INDEX eb_deliveries_due ON eb_deliveries (next_ms);
    CREATE TABLE eb_connections (
        name        TEXT PRIMARY KEY NOT NULL,
        uuid        TEXT NOT NULL,
        description TEXT,
        auth_type   TEXT NOT NULL,
        auth        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE eb_api_destinations (
        name           TEXT PRIMARY KEY NOT NULL,
        uuid           TEXT NOT NULL,
        description    TEXT,
        connection_arn TEXT NOT NULL,
        endpoint       TEXT NOT NULL,
        method         TEXT NOT NULL,
        rate_limit     INTEGER,
        created_ms     INTEGER NOT NULL,
        modified_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE eb_replays (
        name             TEXT PRIMARY KEY NOT NULL,
        description      TEXT,
        archive          TEXT NOT NULL,
        archive_id       INTEGER NOT NULL,
        bus              TEXT NOT NULL,
        start_ms         INTEGER NOT NULL,
        end_ms           INTEGER NOT NULL,
        filter_arns      TEXT,
        state            TEXT NOT NULL,
        state_reason     TEXT,
        started_ms       INTEGER NOT NULL,
        ended_ms         INTEGER,
        last_replayed_ms INTEGER,
        cursor_time      INTEGER NOT NULL,
        cursor_seq       INTEGER NOT NULL
    ) STRICT;",
    // 3: status monitor: circuit counters, every health check, roll-ups for
    // the timelines, and the history (and publication outbox) of status
    // changes. Times are epoch milliseconds.
    "ALTER TABLE part_status ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE part_status ADD COLUMN successes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE part_status ADD COLUMN last_check_ms INTEGER;
    ALTER TABLE part_status ADD COLUMN last_check_ok INTEGER;
    ALTER TABLE part_status ADD COLUMN last_error TEXT;
    CREATE TABLE mon_checks (
        id          INTEGER PRIMARY KEY,
        part        TEXT NOT NULL,
        at_ms       INTEGER NOT NULL,
        ok          INTEGER NOT NULL,
        latency_ms  INTEGER NOT NULL,
        error       TEXT
    ) STRICT;
    CREATE INDEX mon_checks_part_at ON mon_checks (part, at_ms);
    CREATE TABLE mon_rollups (
        part            TEXT NOT NULL,
        granularity     TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day')),
        bucket_ms       INTEGER NOT NULL,
        checks          INTEGER NOT NULL,
        failures        INTEGER NOT NULL,
        latency_ms_sum  INTEGER NOT NULL,
        latency_ms_max  INTEGER NOT NULL,
        PRIMARY KEY (part, granularity, bucket_ms)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE mon_status_changes (
        id              INTEGER PRIMARY KEY,
        part            TEXT NOT NULL,
        status          TEXT NOT NULL,
        changed_ms      INTEGER NOT NULL,
        prev_status     TEXT NOT NULL,
        prev_change_ms  INTEGER,
        published       INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX mon_status_changes_part ON mon_status_changes (part, changed_ms);
    CREATE INDEX mon_status_changes_unpublished ON mon_status_changes (id) WHERE published = 0;",
    // 4: submission flow and recovery. `vouchers` is the DataCache (one row
    // per loyalty_request_id; `attempts` is also the claim token of the
    // current `submitting` lease), `voucher_history` its lifecycle,
    // `voucher_events` the ledger and publication outbox of status events,
    // `rec_replays` the replays the mediator started with their progress,
    // `rec_replay_items` one row per replayed event handled (so counters are
    // exact under redelivery), `rec_latest` each part's latest replay
    // interval, `rec_cursor` how far the recovery loop has read
    // `mon_status_changes` (starting after the existing history).
    "CREATE TABLE vouchers (
        loyalty_request_id       TEXT PRIMARY KEY NOT NULL,
        part                     TEXT NOT NULL,
        loyalty_reference        TEXT NOT NULL,
        merchant_reference       TEXT NOT NULL,
        loyalty_order_reference  TEXT NOT NULL,
        payload                  TEXT NOT NULL,
        status                   TEXT NOT NULL CHECK (status IN
            ('received', 'submitting', 'retry', 'submitted', 'error', 'dead_lettered')),
        attempts                 INTEGER NOT NULL DEFAULT 0,
        lease_until_ms           INTEGER,
        received_ms              INTEGER NOT NULL,
        updated_ms               INTEGER NOT NULL,
        last_error               TEXT
    ) STRICT;
    CREATE INDEX vouchers_part_status ON vouchers (part, status);
    CREATE TABLE voucher_history (
        id                  INTEGER PRIMARY KEY,
        loyalty_request_id  TEXT NOT NULL,
        status              TEXT NOT NULL,
        at_ms               INTEGER NOT NULL,
        detail              TEXT NOT NULL
    ) STRICT;
    CREATE INDEX voucher_history_voucher ON voucher_history (loyalty_request_id, id);
    CREATE TABLE voucher_events (
        id                  INTEGER PRIMARY KEY,
        loyalty_request_id  TEXT NOT NULL,
        part                TEXT NOT NULL,
        status              TEXT NOT NULL,
        at_ms               INTEGER NOT NULL,
        published           INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX voucher_events_part_status ON voucher_events (part, status, at_ms);
    CREATE INDEX voucher_events_unpublished ON voucher_events (id) WHERE published = 0;
    CREATE TABLE rec_replays (
        name              TEXT PRIMARY KEY NOT NULL,
        part              TEXT NOT NULL,
        archive           TEXT NOT NULL,
        start_ms          INTEGER NOT NULL,
        end_ms            INTEGER NOT NULL,
        created_ms        INTEGER NOT NULL,
        trigger           TEXT NOT NULL,
        status_change_id  INTEGER UNIQUE,
        started           INTEGER NOT NULL DEFAULT 0,
        start_error       TEXT,
        expected          INTEGER NOT NULL,
        processed         INTEGER NOT NULL DEFAULT 0,
        resubmitted       INTEGER NOT NULL DEFAULT 0,
        skipped           INTEGER NOT NULL DEFAULT 0,
        failed            INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX rec_replays_part ON rec_replays (part, created_ms);
    CREATE TABLE rec_replay_items (
        replay    TEXT NOT NULL,
        event_id  TEXT NOT NULL,
        loyalty_request_id TEXT NOT NULL,
        outcome   TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        PRIMARY KEY (replay, event_id)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE rec_latest (
        part      TEXT PRIMARY KEY NOT NULL,
        replay    TEXT NOT NULL,
        start_ms  INTEGER NOT NULL,
        end_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE rec_cursor (
        name   TEXT PRIMARY KEY NOT NULL,
        value  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO rec_cursor (name, value)
        SELECT 'status_changes', coalesce(max(id), 0) FROM mon_status_changes;",
    // 5: DLQ redrive. Failed attempts count from the last redrive (attempts
    // stays the monotonic claim token); the DLQ is listed by status and time.
    "ALTER TABLE vouchers ADD COLUMN redrive_base INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX vouchers_status_updated ON vouchers (status, updated_ms, loyalty_request_id);",
    // 6: manual circuit overrides per part (mediator-core `overrides`): the
    // mode in force (NULL: none), why, who and when (RFC 3339).
    "ALTER TABLE part_status ADD COLUMN override_mode TEXT
        CHECK (override_mode IN ('force_open', 'force_closed', 'disabled'));
    ALTER TABLE part_status ADD COLUMN override_reason TEXT;
    ALTER TABLE part_status ADD COLUMN override_by TEXT;
    ALTER TABLE part_status ADD COLUMN override_at TEXT;",
    // 7: who started each replay (`by`: an operator's name, `api`, or
    // `recovery` / `sweeper` for automatic ones; older manual replays stay
    // NULL), and voucher search by any of the four references.
    "ALTER TABLE rec_replays ADD COLUMN started_by TEXT;
    UPDATE rec_replays SET started_by = trigger WHERE trigger IN ('recovery', 'sweeper');
    CREATE INDEX vouchers_loyalty_reference ON vouchers (loyalty_reference, received_ms);
    CREATE INDEX vouchers_merchant_reference ON vouchers (merchant_reference, received_ms);
    CREATE INDEX vouchers_loyalty_order_reference ON vouchers (loyalty_order_reference, received_ms);",
    // 8: sign-in and audit (mediator-core `access`, `audit`). Passwords are
    // argon2 PHC strings; session and API tokens are stored as SHA-256
    // digests only (the secret is shown once). The audit log is append-only.
    "CREATE TABLE auth_users (
        name           TEXT PRIMARY KEY NOT NULL,
        role           TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash  TEXT NOT NULL,
        created_ms     INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE auth_sessions (
        token_hash  BLOB PRIMARY KEY NOT NULL,
        user_name   TEXT NOT NULL REFERENCES auth_users (name) ON DELETE CASCADE,
        csrf_token  TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX auth_sessions_user ON auth_sessions (user_name);
    CREATE TABLE auth_tokens (
        id          INTEGER PRIMARY KEY,
        token_hash  BLOB NOT NULL UNIQUE,
        user_name   TEXT NOT NULL REFERENCES auth_users (name) ON DELETE CASCADE,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        label       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        last_used_ms INTEGER
    ) STRICT;
    CREATE TABLE audit_log (
        id       INTEGER PRIMARY KEY,
        at_ms    INTEGER NOT NULL,
        actor    TEXT NOT NULL,
        role     TEXT,
        via      TEXT NOT NULL,
        action   TEXT NOT NULL,
        target   TEXT,
        reason   TEXT,
        outcome  TEXT NOT NULL,
        detail   TEXT
    ) STRICT;
    CREATE INDEX audit_log_at ON audit_log (at_ms);",
    // 9: who polls each part (the monitor lease; one holder per part).
    "CREATE TABLE mon_leases (
        part     TEXT PRIMARY KEY,
        owner    TEXT NOT NULL,
        until_ms INTEGER NOT NULL
    ) STRICT;",
    // 10: which replica recovers each down→up change (one replay each).
    "ALTER TABLE mon_status_changes ADD COLUMN replay_by TEXT;",
    // 11: embedded EventBridge connections: the id of the connection's own
    // secret (`UUID-XXXXXX`, as AWS names it; NULL on older rows, whose
    // secret ARN keeps the connection's id) and the connection's state
    // (OAuth connections stay AUTHORIZING: no token call is made).
    "ALTER TABLE eb_connections ADD COLUMN secret_id TEXT;
    ALTER TABLE eb_connections ADD COLUMN state TEXT NOT NULL DEFAULT 'AUTHORIZED';
    UPDATE eb_connections SET state = 'AUTHORIZING' WHERE auth_type = 'OAUTH_CLIENT_CREDENTIALS';",
    // 12: embedded EventBridge tags (of a bus: rule = ''; of a rule) and
    // each bus's resource policy (PutPermission; DescribeEventBus's Policy).
    "CREATE TABLE eb_tags (
        bus    TEXT NOT NULL,
        rule   TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (bus, rule, key)
    ) STRICT;
    ALTER TABLE eb_buses ADD COLUMN policy TEXT;",
    // 13: embedded EventBridge scheduled rules: when each fires next (epoch
    // milliseconds; NULL until counted, for a rule without a schedule and
    // for a disabled one). Advanced in the transaction that writes a
    // firing's deliveries.
    "ALTER TABLE eb_rules ADD COLUMN next_fire_ms INTEGER;",
    // 14: embedded queues through SQS's API: the queue attributes beyond the
    // visibility timeout and redrive policy (a JSON object of SQS attribute
    // name → value), when they last changed, and per message its SQS
    // message attributes (JSON), first receive time and, once moved to a
    // dead-letter queue, the queue it came from (where a message move task
    // sends it back).
    "ALTER TABLE eb_queues ADD COLUMN attributes TEXT;
    ALTER TABLE eb_queues ADD COLUMN modified_ms INTEGER;
    ALTER TABLE eb_queue_messages ADD COLUMN message_attributes TEXT;
    ALTER TABLE eb_queue_messages ADD COLUMN first_receive_ms INTEGER;
    ALTER TABLE eb_queue_messages ADD COLUMN dead_letter_source TEXT;",
    // 15: voucher lists without a reference (mediator-core
    // `voucher_filter`), newest received first: by part and status, by
    // part, by status, or all. The part-and-status index also serves the
    // per-(part, status) counts, so it replaces `vouchers_part_status`.
    "CREATE INDEX vouchers_part_status_received
        ON vouchers (part, status, received_ms, loyalty_request_id);
    DROP INDEX vouchers_part_status;
    CREATE INDEX vouchers_part_received ON vouchers (part, received_ms, loyalty_request_id);
    CREATE INDEX vouchers_status_received ON vouchers (status, received_ms, loyalty_request_id);
    CREATE INDEX vouchers_received ON vouchers (received_ms, loyalty_request_id);",
    // 16: health-check latency histograms of the monitor's roll-ups: per
    // roll-up (part, granularity, bucket_ms of `mon_rollups`), the checks
    // counted in each latency bin (mediator-core `latency`: one bin per ms
    // below 8 ms, then four per power of two). A row exists once a check
    // fell in its bin; roll-ups written before have none.
    "CREATE TABLE mon_latency_bins (
        part         TEXT NOT NULL,
        granularity  TEXT NOT NULL CHECK (granularity IN ('minute', 'hour', 'day')),
        bucket_ms    INTEGER NOT NULL,
        bin          INTEGER NOT NULL,
        checks       INTEGER NOT NULL,
        PRIMARY KEY (part, granularity, bucket_ms, bin)
    ) STRICT, WITHOUT ROWID;",
    // 17: outbound notifications (mediator-core `notify`): each fact once
    // per event id (`body` is the notification's JSON), one delivery per
    // (event, channel) with its attempts (also the claim token of a
    // `sending` lease), and the cursors of the sources that fill them.
    // Times are epoch milliseconds.
    "CREATE TABLE notify_events (
        event_id    TEXT PRIMARY KEY NOT NULL,
        kind        TEXT NOT NULL,
        part        TEXT,
        body        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE notify_deliveries (
        id              INTEGER PRIMARY KEY,
        event_id        TEXT NOT NULL,
        channel         TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_ms         INTEGER NOT NULL,
        lease_until_ms  INTEGER,
        last_error      TEXT,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        UNIQUE (event_id, channel)
    ) STRICT;
    CREATE INDEX notify_deliveries_due ON notify_deliveries (next_ms)
        WHERE status IN ('pending', 'sending');
    CREATE TABLE notify_cursors (
        name   TEXT PRIMARY KEY NOT NULL,
        value  INTEGER NOT NULL
    ) STRICT;",
    // 18: maintenance windows (mediator-core `maintenance`): per part, the
    // hold from `start_ms` to `end_ms` (or `ended_ms` when ended early or
    // cancelled), who and why, and the replay started once it ended. The
    // voucher store's hold and claim read it in their own transaction.
    // Times are epoch milliseconds.
    "CREATE TABLE maintenance_windows (
        id          TEXT PRIMARY KEY NOT NULL,
        part        TEXT NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER NOT NULL CHECK (end_ms > start_ms),
        reason      TEXT NOT NULL,
        by_name     TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        ended_ms    INTEGER,
        ended_by    TEXT,
        end_reason  TEXT,
        replay      TEXT
    ) STRICT;
    CREATE INDEX maintenance_windows_part ON maintenance_windows (part, start_ms);",
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
