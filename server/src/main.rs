//! `mediator`: the Vendor Mediator and its support console.

use std::process::ExitCode;

use clap::Parser;
use server::config::{Cli, Command};

/// mimalloc rather than glibc's malloc: page rendering allocates and frees
/// many small strings on every worker thread, and glibc's malloc took about
/// 40% of the CPU under the overview load bench (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::TestEventPattern(args)) => server::cli::test_event_pattern(&args),
        Some(Command::Provision(args)) => server::cli::provision(args),
        Some(Command::User(cmd)) => server::auth_cli::user(cmd),
        Some(Command::Token(cmd)) => server::auth_cli::token(cmd),
        Some(Command::Backup(args)) => server::cli::backup(&args),
        Some(Command::Restore(args)) => server::cli::restore(&args),
        Some(Command::Completions { shell }) => server::cli::completions(shell),
        Some(Command::Serve(args)) => server::cli::serve(*args),
        None => server::cli::serve(cli.serve),
    }
}
