//! Non-serving subcommands.

use std::process::ExitCode;

use crate::config::{ProvisionArgs, ProvisionBackend, ServeArgs, Settings, TestEventPatternArgs};

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

/// `mediator provision`: resolves the parts as `serve` does (flags,
/// environment, `--config`), then creates or updates the backend's
/// resources, or with `--dry-run` only prints the plan. Prints one line per
/// resource (`create`/`update`/`unchanged`); exit 2 for a bad
/// configuration, 1 when the cloud refuses (the message names the resource).
pub fn provision(args: ProvisionArgs) -> ExitCode {
    let settings = match Settings::resolve(ServeArgs {
        parts: args.parts.clone(),
        config: args.config.clone(),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
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
        aws_backend::provision::provision(&conf, &settings.part_settings, args.dry_run).await
    });
    match result {
        Ok(steps) => {
            for s in &steps {
                println!("{s}");
            }
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
