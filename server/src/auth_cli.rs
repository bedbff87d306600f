//! `mediator user …` and `mediator token …`: manage local users and API
//! tokens in the data directory's database (the server may be running:
//! SQLite serialises the writes), or with `--backend aws` in the DynamoDB
//! tables every replica shares. Every change is written to the audit log
//! as done by `cli:<login user>`.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use mediator_core::access::{Access, AccessError, Principal, Role};
use mediator_core::audit::{Audit, NewAuditEntry};
use serde_json::json;
use store::Database;

use crate::config::{Backend, StoreArgs, TokenCommand, UserCommand};

fn run(store: &StoreArgs, f: impl AsyncFnOnce(Access, Audit) -> anyhow::Result<()>) -> ExitCode {
    let result = (|| -> anyhow::Result<()> {
        let (backend, aws) = store.backend()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            match backend {
                Backend::Embedded => {
                    let db = Database::open(&store.data_dir()?)?;
                    let ports = mediator_sqlite::ports(&db);
                    f(Access::new(ports.access), Audit::new(ports.audit)).await
                }
                Backend::Aws => {
                    let conf = aws_backend::load_config(&aws).await;
                    let tables = aws_backend::tables::Tables::default();
                    aws_backend::check_tables(&conf, &tables)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "backend aws: {e}; run `mediator provision --backend aws` first"
                            )
                        })?;
                    let dynamo = Arc::new(aws_backend::DynamoStore::from_conf(&conf, tables));
                    f(Access::new(dynamo.clone()), Audit::new(dynamo)).await
                }
            }
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Reads the password: the first line of `file`, or of standard input.
fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    let mut line = String::new();
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("password_file: cannot read {}: {e}", path.display())
            })?;
            line = text.lines().next().unwrap_or("").to_owned();
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("password (one line; input is shown, prefer a pipe or --password-file):");
            }
            std::io::stdin().lock().read_line(&mut line)?;
        }
    }
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("password: is empty (give it on standard input or with --password-file)");
    }
    Ok(password)
}

/// Prints `rows` as one pretty JSON array.
fn print_json<T: serde::Serialize>(rows: &[T]) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(rows)?);
    Ok(())
}

/// Runs a `mediator user` command.
pub fn user(cmd: UserCommand) -> ExitCode {
    match cmd {
        UserCommand::Add {
            name,
            role: r,
            password_file,
            store,
        } => {
            let password = match read_password(password_file.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            run(&store, async move |access, audit| {
                let r = Role::from(r);
                let result = access.add_user(&name, r, &password).await;
                if !matches!(result, Err(AccessError::Invalid { .. })) {
                    audit
                        .log(
                            NewAuditEntry::new(&Principal::cli(), "user.add")
                                .target(name.as_str())
                                .detail(json!({ "role": r }))
                                .result(&result),
                        )
                        .await;
                }
                result?;
                println!("added user {name} ({r})");
                Ok(())
            })
        }
        UserCommand::Remove { name, store } => run(&store, async move |access, audit| {
            let result = access.remove_user(&name).await;
            audit
                .log(
                    NewAuditEntry::new(&Principal::cli(), "user.remove")
                        .target(name.as_str())
                        .result(&result),
                )
                .await;
            result?;
            println!("removed user {name} (and its sessions and tokens)");
            Ok(())
        }),
        UserCommand::List { json, store } => run(&store, async move |access, _| {
            let users = access.list_users().await?;
            if json {
                return print_json(&users);
            }
            if users.is_empty() {
                println!("no users: add one with `mediator user add NAME --role admin`");
            }
            for u in users {
                println!("{}\t{}\t{}", u.name, u.role, u.created_at.to_rfc3339());
            }
            Ok(())
        }),
    }
}

/// Runs a `mediator token` command.
pub fn token(cmd: TokenCommand) -> ExitCode {
    match cmd {
        TokenCommand::Add {
            user,
            role: r,
            label,
            store,
        } => run(&store, async move |access, audit| {
            let r = match r {
                Some(r) => Role::from(r),
                None => access
                    .list_users()
                    .await?
                    .into_iter()
                    .find(|u| u.name == user)
                    .map(|u| u.role)
                    .ok_or_else(|| AccessError::UnknownUser(user.clone()))?,
            };
            let result = access.add_token(&user, r, &label).await;
            let target = match &result {
                Ok((id, _)) => format!("token {id}"),
                Err(_) => format!("token of {user}"),
            };
            audit
                .log(
                    NewAuditEntry::new(&Principal::cli(), "token.add")
                        .target(target)
                        .detail(json!({ "user": user, "role": r, "label": label }))
                        .result(&result),
                )
                .await;
            let (id, secret) = result?;
            eprintln!("token {id} for {user} ({r}); shown only now, keep it secret:");
            println!("{secret}");
            Ok(())
        }),
        TokenCommand::Remove { id, store } => run(&store, async move |access, audit| {
            let result = access.remove_token(id).await;
            audit
                .log(
                    NewAuditEntry::new(&Principal::cli(), "token.remove")
                        .target(format!("token {id}"))
                        .result(&result),
                )
                .await;
            result?;
            println!("revoked token {id}");
            Ok(())
        }),
        TokenCommand::List { json, store } => run(&store, async move |access, _| {
            let tokens = access.list_tokens().await?;
            if json {
                return print_json(&tokens);
            }
            for t in tokens {
                let used = t.last_used_at.map_or("never used".to_owned(), |t| {
                    format!("last used {}", t.to_rfc3339())
                });
                println!("{}\t{}\t{}\t{}\t{}", t.id, t.user, t.role, t.label, used);
            }
            Ok(())
        }),
    }
}
