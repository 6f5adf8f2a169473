//! The `logpulse` binary: CLI, wiring of ingest -> engine -> output, process concerns.

mod cli;
mod output;
mod progress;
mod rules;
mod sources;
mod worker;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // A refused rule set (or other usage error) is exit 2; anything else 1.
            if let Some(rule_errors) = e.downcast_ref::<engine::RuleErrors>() {
                eprintln!("{rule_errors}");
                return ExitCode::from(2);
            }
            if let Some(usage) = e.downcast_ref::<cli::UsageError>() {
                eprintln!("logpulse: {usage}");
                return ExitCode::from(2);
            }
            eprintln!("logpulse: {e:#}");
            ExitCode::from(1)
        }
    }
}
