//! The subcommands' entry points: `serve`, `test-event-pattern`,
//! `provision`, `backup`, `restore`, `completions` (`user` and `token` are
//! in `auth_cli`). Each is a plain function, so the `mediator` binary only
//! links code compiled here.

use std::path::Path;
use std::process::ExitCode;

use store::backup::{BackupError, Copied};

use crate::config::{
    BackupArgs, DataDirArgs, ProvisionArgs, ProvisionBackend, RestoreArgs, ServeArgs, Settings,
    TestEventPatternArgs,
};

/// `mediator serve` (and `mediator` alone): resolves the settings, starts
/// the runtime and serves until a signal stops it. Exit 2 for bad settings.
///
/// Runs the async serving code from here, not from `main`: Rust compiles an
/// awaited async function's state machine again in every crate that awaits
/// it, and the binary awaiting `Application::build` and `run_until_stopped`
/// recompiled the whole serving graph (30 of the release build's CPU-seconds).
pub fn serve(args: ServeArgs) -> ExitCode {
    let settings = match resolve_settings(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    crate::telemetry::init(settings.log_format);
    let runtime = match start_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let app = crate::Application::build(settings).await?;
        let token = tokio_util::sync::CancellationToken::new();
        crate::cancel_on_signal(token.clone());
        app.run_until_stopped(token).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings from flags, environment and `--config`; a bad one is
/// printed and ends the command with exit 2.
fn resolve_settings(args: ServeArgs) -> Result<Settings, ExitCode> {
    Settings::resolve(args).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// The multi-threaded runtime a command runs its async work on; if it
/// cannot start, the error is printed and the command ends with exit 1.
fn start_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

/// Reads `@file` arguments, or returns the text itself.
pub fn read_arg(name: &str, value: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read {path}: {e}"))
        }
        None => Ok(value.to_owned()),
    }
}

/// `mediator test-event-pattern`: prints `true`/`false` (exit 0); an invalid
/// pattern or event prints `<Exception>: <reason>` on stderr (exit 2).
pub fn test_event_pattern(args: &TestEventPatternArgs) -> ExitCode {
    let inputs = read_arg("--event-pattern", &args.event_pattern)
        .and_then(|p| Ok((p, read_arg("--event", &args.event)?)));
    let (pattern, event) = match inputs {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match patterns::test_event_pattern(&pattern, &event) {
        Ok(matched) => {
            println!("{matched}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}", e.code(), e.message());
            ExitCode::from(2)
        }
    }
}

/// Provisioning as it goes: each resource's line on standard output when
/// it is done, the wait for new tables on standard error.
fn print_progress(event: &aws_backend::provision::ProvisionEvent<'_>) {
    use aws_backend::provision::ProvisionEvent;
    use std::io::Write;
    match event {
        ProvisionEvent::Step(step) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{step}");
            let _ = out.flush();
        }
        ProvisionEvent::TableWaiting {
            name,
            status,
            waited,
        } => eprintln!(
            "table {name}: {status}, waiting until ACTIVE ({:.0} s so far)",
            waited.as_secs_f64()
        ),
        ProvisionEvent::TableActive { name, waited } => {
            eprintln!("table {name}: ACTIVE after {:.1} s", waited.as_secs_f64())
        }
    }
}

/// `mediator provision`: resolves the parts as `serve` does (flags,
/// environment, `--config`), then creates or updates the backend's
/// resources, or with `--dry-run` only prints the plan. Prints one line per
/// resource (`create`/`update`/`unchanged`) as it is done, and on standard
/// error the wait for each new table to become ACTIVE; exit 2 for a bad
/// configuration, 1 when the cloud refuses (the message names the resource).
pub fn provision(args: ProvisionArgs) -> ExitCode {
    let settings = match resolve_settings(ServeArgs {
        parts: args.parts.clone(),
        config: args.config.clone(),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let runtime = match start_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let ProvisionBackend::Aws = args.backend;
    if let Err(e) = aws_backend::check_retry_environment() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = runtime.block_on(async {
        let conf = aws_backend::load_config(&aws_backend::AwsSettings {
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            max_attempts: None,
        })
        .await;
        aws_backend::provision::provision_with_progress(
            &conf,
            &settings.part_settings,
            args.dry_run,
            Some(std::sync::Arc::new(print_progress)),
        )
        .await
    });
    match result {
        Ok(steps) => {
            let changes = steps
                .iter()
                .filter(|s| s.change != aws_backend::provision::Change::Unchanged)
                .count();
            if args.dry_run {
                println!("dry run: {changes} change(s) planned, nothing written");
            } else {
                println!("{changes} change(s) applied");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The data directory `backup` and `restore` work on; refused for the AWS
/// backend (its state is in DynamoDB).
fn embedded_data_dir(data: &DataDirArgs, command: &str) -> anyhow::Result<std::path::PathBuf> {
    let store = data.store();
    if store.backend()?.0 == crate::config::Backend::Aws {
        anyhow::bail!(
            "backend: {command} copies the embedded database; the aws backend keeps its state \
             in DynamoDB: use its point-in-time recovery (docs/operations.md)"
        );
    }
    store.data_dir()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs `copy` on the data directory of `data` and prints `done` of what
/// it copied; exit 2 for a refusal (no database, an existing file, the
/// database in use, not a usable backup), 1 when SQLite or a file failed.
fn run_copy(
    data: &DataDirArgs,
    command: &str,
    copy: impl FnOnce(&Path) -> Result<Copied, BackupError>,
    done: impl FnOnce(&Path, &Copied) -> String,
) -> ExitCode {
    let data_dir = match embedded_data_dir(data, command) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match copy(&data_dir) {
        Ok(c) => {
            println!("{}", done(&data_dir.join(store::DB_FILE), &c));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                BackupError::Sqlite { .. } | BackupError::Io { .. } => ExitCode::FAILURE,
                _ => ExitCode::from(2),
            }
        }
    }
}

/// `mediator backup FILE`: an online, consistent copy of the embedded
/// database (the server may keep serving).
pub fn backup(args: &BackupArgs) -> ExitCode {
    run_copy(
        &args.data,
        "backup",
        |dir| store::backup::backup(dir, &args.file, args.force),
        |db, c| {
            format!(
                "backed up {} to {}: {} pages, {:.1} MiB, schema version {}, integrity ok, in {:.1} s",
                db.display(),
                args.file.display(),
                c.pages,
                mib(c.bytes),
                c.schema_version,
                c.took.as_secs_f64()
            )
        },
    )
}

/// `mediator restore FILE`: the embedded database becomes the backup;
/// refused while the database is open elsewhere or when FILE is not a
/// backup this binary can use.
pub fn restore(args: &RestoreArgs) -> ExitCode {
    run_copy(
        &args.data,
        "restore",
        |dir| store::backup::restore(&args.file, dir),
        |db, c| {
            format!(
                "restored {} into {}: {} pages, {:.1} MiB, schema version {}, in {:.1} s; \
                 start the mediator to use it",
                args.file.display(),
                db.display(),
                c.pages,
                mib(c.bytes),
                c.schema_version,
                c.took.as_secs_f64()
            )
        },
    )
}

/// `mediator completions SHELL`: the shell's completion script on
/// standard output.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = crate::config::Cli::command();
    clap_complete::generate(shell, &mut cmd, "mediator", &mut std::io::stdout());
    ExitCode::SUCCESS
}
