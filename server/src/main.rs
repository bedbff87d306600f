//! `mediator`: the Vendor Mediator and its support console.

use std::process::ExitCode;

use clap::Parser;
use server::config::{Cli, Command, TestEventPatternArgs};
use server::{telemetry, Application, Settings};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: page rendering allocates and frees
/// many small strings on every worker thread, and glibc's malloc took about
/// 40% of the CPU under the overview load bench (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::TestEventPattern(args)) => test_event_pattern(args),
        Some(Command::Provision(args)) => server::cli::provision(args),
        Some(Command::User(cmd)) => server::auth_cli::user(cmd),
        Some(Command::Token(cmd)) => server::auth_cli::token(cmd),
        Some(Command::Backup(args)) => server::cli::backup(&args),
        Some(Command::Restore(args)) => server::cli::restore(&args),
        Some(Command::Completions { shell }) => server::cli::completions(shell),
        Some(Command::Serve(args)) => serve(*args),
        None => serve(cli.serve),
    }
}

fn serve(args: server::config::ServeArgs) -> ExitCode {
    let settings = match Settings::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(settings).await?;
        let token = CancellationToken::new();
        server::cancel_on_signal(token.clone());
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

fn test_event_pattern(args: TestEventPatternArgs) -> ExitCode {
    server::cli::test_event_pattern(&args)
}
