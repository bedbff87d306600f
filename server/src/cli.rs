//! Non-serving subcommands.

use std::process::ExitCode;

use crate::config::TestEventPatternArgs;

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
