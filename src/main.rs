//! The `logpulse` binary: CLI, wiring of ingest -> engine -> output, process concerns.

#![forbid(unsafe_code)]

mod cli;
mod error;
mod kafka_producer;
mod machine;
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
        Err(e) => error::report(&e),
    }
}
