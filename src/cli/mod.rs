//! Command-line interface (DESIGN.md, "CLI"): parses the arguments and calls into the rest.

mod check;
mod produce;
mod replay;
mod sql;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "logpulse",
    version,
    about = "Stream-processing log analytics: rules -> windowed aggregates -> SQL and alerts"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the rules over a file (or stdin) and print the closed windows as CSV.
    Replay(replay::ReplayArgs),
    /// Validate rule files and print what they compile to.
    Check(check::CheckArgs),
    /// Query the tables and views of a data dir with read-only SQL.
    Sql(sql::SqlArgs),
    /// Run the long-lived worker: sources, rules, Parquet, checkpoints, HTTP API.
    Run(crate::worker::RunArgs),
    /// Load a file into a Kafka topic (raw lines, or Qalarm JSON lines as MessagePack).
    Produce(produce::ProduceArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Check(args) => check::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Run(args) => crate::worker::run(args),
        Command::Produce(args) => produce::run(args),
    }
}
