//! The DynamoDB tables of the mediator: names, keys, indexes and TTL
//! attributes, shared by the stores ([`crate::DynamoStore`]), provisioning
//! and the CloudFormation template's test. The key design is documented in
//! docs/aws.md ("DynamoDB tables, keys and writes").

/// A key attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// String.
    S,
    /// Number.
    N,
}

impl KeyType {
    /// `S` or `N`, as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
        }
    }
}

/// A global secondary index (projection ALL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name.
    pub name: &'static str,
    /// Partition key attribute and type.
    pub pk: (&'static str, KeyType),
    /// Sort key attribute and type.
    pub sk: (&'static str, KeyType),
}

/// A table: on-demand capacity, a partition and a sort key, GSIs and an
/// optional TTL attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table name.
    pub name: String,
    /// Partition key attribute and type.
    pub pk: (&'static str, KeyType),
    /// Sort key attribute and type.
    pub sk: (&'static str, KeyType),
    /// Global secondary indexes.
    pub indexes: Vec<IndexSpec>,
    /// The TTL attribute (epoch seconds), if items expire.
    pub ttl: Option<&'static str>,
}

impl TableSpec {
    /// Every attribute used in a key of the table or an index, once, with
    /// its type (what CreateTable's `AttributeDefinitions` lists).
    pub fn attributes(&self) -> Vec<(&'static str, KeyType)> {
        let mut out: Vec<(&'static str, KeyType)> = Vec::new();
        let keys = [self.pk, self.sk]
            .into_iter()
            .chain(self.indexes.iter().flat_map(|i| [i.pk, i.sk]));
        for k in keys {
            if !out.iter().any(|(n, _)| *n == k.0) {
                out.push(k);
            }
        }
        out
    }
}

/// The mediator's table names (a prefix keeps two deployments in one
/// account apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// Per part: `PART#<p>`/`STATUS` (circuit, overrides, `ver`), and the
    /// `SEQ`/`status_changes` counter.
    pub parts: String,
    /// Status changes (`CHG`/id), the SAAS_STATUS outbox and audit.
    pub changes: String,
    /// Checks (TTL 14 days) and minute/hour/day roll-ups.
    pub monitor: String,
    /// The DataCache: one item per voucher (`pk` = its id, `sk` = `V`)
    /// with its lifecycle; indexed by each reference, by open status and by
    /// status and receive time.
    pub vouchers: String,
    /// Voucher status events: the outbox (`OB#<shard>`, deleted once
    /// published) and the retry ledger (`RL#<part>`, TTL 91 days).
    pub voucher_events: String,
    /// The audit log: `AUDIT`/id (N; the entry's time in ms × 1000 + a
    /// random 0–999, so ids increase with time across replicas).
    pub audit: String,
    /// Replays: `REPLAY#<name>`/`META` (the record and its progress),
    /// `REPLAY#<name>`/`EVENT#<event id>` (a handled replayed event, TTL 91
    /// days), `CHANGE#<id>`/`REPLAY` (the recovery replay of a status
    /// change), `PART#<part>`/`LATEST` (latest interval, resubmitted
    /// total), `CURSOR`/`status_changes` (the recovery trigger's cursor).
    pub replays: String,
    /// Sign-in: `USERS`/`<name>`, `SESSION#<digest>`/`S` (TTL at its end),
    /// `TOKENS`/`<id:020>` and `TOKEN#<digest>`/`T`.
    pub access: String,
    /// The live-change feed replicas relay their console notifications
    /// through: `FEED`/`<at_ms:013>#<replica>#<seq>` (TTL an hour).
    pub feed: String,
    /// The notification outbox: `EVENT#<event id>`/`E` (TTL 91 days),
    /// `DLV`/`<id:020>` (a delivery; open ones in the sparse `due` index),
    /// `CURSOR`/`<source>` and the `SEQ`/`deliveries` counter.
    pub notify: String,
}

/// The default table-name prefix.
pub const DEFAULT_TABLE_PREFIX: &str = "mediator";

/// Replay records by part, newest first by `rord` =
/// `<created_ms:013>#<name>` (only `META` items carry `rpart`).
pub const REPLAYS_BY_PART_INDEX: &str = "by_part";
/// Every replay record (`rall` = `ALL`), newest first by `rord`.
pub const REPLAYS_ALL_INDEX: &str = "all";
/// Sparse index of open notification deliveries (`dq` = `Q`) by when they
/// are due (`due_ms`: the next attempt, or a sending claim's lease end).
pub const NOTIFY_DUE_INDEX: &str = "due";
/// Sparse index of unpublished status changes (`unpub` = "1", by id).
pub const UNPUBLISHED_INDEX: &str = "unpub";
/// Status changes by part and time (history read models).
pub const PART_TIME_INDEX: &str = "part_time";
/// Vouchers by `loyalty_reference` (`lr`), newest first by `rk`.
pub const REF_LR_INDEX: &str = "ref_lr";
/// Vouchers by `merchant_reference` (`mr`), newest first by `rk`.
pub const REF_MR_INDEX: &str = "ref_mr";
/// Vouchers by `loyalty_order_reference` (`lor`), newest first by `rk`.
pub const REF_LOR_INDEX: &str = "ref_lor";
/// Vouchers by status (`st`), newest received first by `rk`: voucher lists
/// by part, status, receive time and attempts (part and attempts filtered).
pub const STATUS_RECEIVED_INDEX: &str = "status_received";
/// Sparse index of vouchers in a non-final status or dead-lettered (`ps` =
/// the status), ordered by `ord` (update time, or lease end while
/// submitting): stuck vouchers, the DLQ, vouchers waiting in retry.
pub const OPEN_INDEX: &str = "open";

impl Default for Tables {
    fn default() -> Self {
        Self::with_prefix(DEFAULT_TABLE_PREFIX)
    }
}

impl Tables {
    /// `<prefix>-parts`, `<prefix>-changes`, `<prefix>-monitor`,
    /// `<prefix>-vouchers`, `<prefix>-voucher-events`, `<prefix>-audit`,
    /// `<prefix>-replays`, `<prefix>-access`, `<prefix>-feed`,
    /// `<prefix>-notify`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            parts: format!("{prefix}-parts"),
            changes: format!("{prefix}-changes"),
            monitor: format!("{prefix}-monitor"),
            vouchers: format!("{prefix}-vouchers"),
            voucher_events: format!("{prefix}-voucher-events"),
            audit: format!("{prefix}-audit"),
            replays: format!("{prefix}-replays"),
            access: format!("{prefix}-access"),
            feed: format!("{prefix}-feed"),
            notify: format!("{prefix}-notify"),
        }
    }

    /// Every table's specification, in provisioning order.
    pub fn specs(&self) -> Vec<TableSpec> {
        vec![
            TableSpec {
                name: self.parts.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![],
                ttl: None,
            },
            TableSpec {
                name: self.changes.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::N),
                indexes: vec![
                    IndexSpec {
                        name: UNPUBLISHED_INDEX,
                        pk: ("unpub", KeyType::S),
                        sk: ("sk", KeyType::N),
                    },
                    IndexSpec {
                        name: PART_TIME_INDEX,
                        pk: ("part", KeyType::S),
                        sk: ("changed_ms", KeyType::N),
                    },
                ],
                ttl: None,
            },
            TableSpec {
                name: self.monitor.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![],
                ttl: Some("ttl"),
            },
            TableSpec {
                name: self.vouchers.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![
                    IndexSpec {
                        name: REF_LR_INDEX,
                        pk: ("lr", KeyType::S),
                        sk: ("rk", KeyType::S),
                    },
                    IndexSpec {
                        name: REF_MR_INDEX,
                        pk: ("mr", KeyType::S),
                        sk: ("rk", KeyType::S),
                    },
                    IndexSpec {
                        name: REF_LOR_INDEX,
                        pk: ("lor", KeyType::S),
                        sk: ("rk", KeyType::S),
                    },
                    IndexSpec {
                        name: OPEN_INDEX,
                        pk: ("ps", KeyType::S),
                        sk: ("ord", KeyType::S),
                    },
                    IndexSpec {
                        name: STATUS_RECEIVED_INDEX,
                        pk: ("st", KeyType::S),
                        sk: ("rk", KeyType::S),
                    },
                ],
                ttl: None,
            },
            TableSpec {
                name: self.voucher_events.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![],
                ttl: Some("ttl"),
            },
            TableSpec {
                name: self.audit.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::N),
                indexes: vec![],
                ttl: None,
            },
            TableSpec {
                name: self.replays.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![
                    IndexSpec {
                        name: REPLAYS_BY_PART_INDEX,
                        pk: ("rpart", KeyType::S),
                        sk: ("rord", KeyType::S),
                    },
                    IndexSpec {
                        name: REPLAYS_ALL_INDEX,
                        pk: ("rall", KeyType::S),
                        sk: ("rord", KeyType::S),
                    },
                ],
                ttl: Some("ttl"),
            },
            TableSpec {
                name: self.access.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![],
                ttl: Some("ttl"),
            },
            TableSpec {
                name: self.feed.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![],
                ttl: Some("ttl"),
            },
            TableSpec {
                name: self.notify.clone(),
                pk: ("pk", KeyType::S),
                sk: ("sk", KeyType::S),
                indexes: vec![IndexSpec {
                    name: NOTIFY_DUE_INDEX,
                    pk: ("dq", KeyType::S),
                    sk: ("due_ms", KeyType::N),
                }],
                ttl: Some("ttl"),
            },
        ]
    }
}
