//! What a replica needs from AWS to serve, checked for its readiness
//! (`/readyz`): every DynamoDB table (existing and ACTIVE or UPDATING),
//! the bus, each part's archive, and the queues it consumes (each part's
//! resubmit queue and the intake queue), each reached with the replica's
//! own credentials. Read-only calls, all at once, each bounded in time.

use std::time::Duration;

use aws_sdk_dynamodb::types::TableStatus;
use mediator_core::events::resubmit_queue;
use mediator_core::PartSettings;
use tokio::task::JoinSet;

use crate::provision::REQUEST_QUEUE;
use crate::tables::Tables;

/// How long one dependency gets to answer (SDK retries included).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// One dependency that is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unready {
    /// What it is: `dynamodb table mediator-parts`, `event bus
    /// loyalty-bus`, `archive LoyaltyVoucherArchive`, `sqs queue
    /// voucher-resubmit`.
    pub dependency: String,
    /// Why, briefly: AWS's error code (`ResourceNotFoundException`,
    /// `AccessDeniedException`), `table status DELETING`, `no answer within
    /// 3s`, or the transport's error.
    pub reason: String,
    /// The full error (AWS's message may name the account and role: for
    /// the log, not for a public answer).
    pub detail: String,
}

/// One thing to check.
#[derive(Debug, Clone)]
enum Dependency {
    Table(String),
    Bus(String),
    Archive(String),
    Queue(String),
}

impl Dependency {
    fn name(&self) -> String {
        match self {
            Dependency::Table(t) => format!("dynamodb table {t}"),
            Dependency::Bus(b) => format!("event bus {b}"),
            Dependency::Archive(a) => format!("archive {a}"),
            Dependency::Queue(q) => format!("sqs queue {q}"),
        }
    }
}

/// The replica's AWS dependencies and the clients that reach them.
#[derive(Debug, Clone)]
pub struct AwsDependencies {
    dynamo: aws_sdk_dynamodb::Client,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    list: Vec<Dependency>,
}

/// `(reason, detail)` of an SDK error: the service's code, or the
/// transport's text.
fn reason<E, R>(e: &aws_sdk_eventbridge::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_eventbridge::error::ProvideErrorMetadata;
    let detail = crate::sdk_message(e);
    let reason = match e.code() {
        Some(code) => code.to_string(),
        None => detail.clone(),
    };
    (reason, detail)
}

impl AwsDependencies {
    /// The tables of `tables`, the bus `bus`, and the archive and resubmit
    /// queue of each of `parts`, plus the intake queue.
    pub fn new(
        conf: &aws_config::SdkConfig,
        tables: &Tables,
        bus: &str,
        parts: &[PartSettings],
    ) -> Self {
        let mut list: Vec<Dependency> = tables
            .specs()
            .into_iter()
            .map(|t| Dependency::Table(t.name))
            .collect();
        list.push(Dependency::Bus(bus.to_string()));
        for p in parts {
            list.push(Dependency::Archive(p.archive_name.clone()));
        }
        for p in parts {
            list.push(Dependency::Queue(resubmit_queue(&p.name)));
        }
        list.push(Dependency::Queue(REQUEST_QUEUE.to_string()));
        Self {
            dynamo: aws_sdk_dynamodb::Client::new(conf),
            events: aws_sdk_eventbridge::Client::new(conf),
            sqs: aws_sdk_sqs::Client::new(conf),
            list,
        }
    }

    /// What is checked, by name.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(Dependency::name).collect()
    }

    /// Checks every dependency at once; answers those that are not usable,
    /// in the order of [`AwsDependencies::names`] (none: ready).
    pub async fn check(&self) -> Vec<Unready> {
        let mut tasks = JoinSet::new();
        for (i, dep) in self.list.iter().cloned().enumerate() {
            let this = self.clone();
            tasks.spawn(async move {
                let outcome = tokio::time::timeout(CHECK_TIMEOUT, this.check_one(&dep)).await;
                let failed = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err((reason, detail))) => Some((reason, detail)),
                    Err(_) => {
                        let r = format!("no answer within {}s", CHECK_TIMEOUT.as_secs());
                        Some((r.clone(), r))
                    }
                };
                (
                    i,
                    failed.map(|(reason, detail)| Unready {
                        dependency: dep.name(),
                        reason,
                        detail,
                    }),
                )
            });
        }
        let mut out: Vec<(usize, Unready)> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((i, Some(u))) => out.push((i, u)),
                Ok((_, None)) => {}
                Err(e) => out.push((
                    usize::MAX,
                    Unready {
                        dependency: "readiness check".into(),
                        reason: e.to_string(),
                        detail: e.to_string(),
                    },
                )),
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, u)| u).collect()
    }

    async fn check_one(&self, dep: &Dependency) -> Result<(), (String, String)> {
        match dep {
            Dependency::Table(name) => {
                let out = self
                    .dynamo
                    .describe_table()
                    .table_name(name)
                    .send()
                    .await
                    .map_err(|e| reason(&e))?;
                match out.table().and_then(|t| t.table_status()) {
                    Some(TableStatus::Active | TableStatus::Updating) | None => Ok(()),
                    Some(s) => {
                        let r = format!("table status {}", s.as_str());
                        Err((r.clone(), r))
                    }
                }
            }
            Dependency::Bus(name) => self
                .events
                .describe_event_bus()
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| reason(&e)),
            Dependency::Archive(name) => self
                .events
                .describe_archive()
                .archive_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| reason(&e)),
            Dependency::Queue(name) => self
                .sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| reason(&e)),
        }
    }
}
