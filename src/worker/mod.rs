//! `logpulse run -c logpulse.toml`: the long-running worker.
//!
//! Threads: one per source (Kafka consumer, file glob, stdin), each owning its lanes
//! (see [`lane`]) end to end; the store's compactor; and a small tokio runtime for
//! the HTTP API and signals. Data flows one way: source thread -> engine -> Parquet
//! and checkpoints -> queries.
//!
//! [`startup`] refuses what it can before any input is read; [`serve`] runs until
//! SIGTERM/SIGINT, a failed source, or the end of every finite source (`follow = false`,
//! stdin), then shuts down gracefully: the sources stop fetching, every lane writes its
//! closed windows and a checkpoint, Kafka sources commit, the HTTP server drains, and
//! the process exits 0.

mod alerts;
mod checks;
mod config;
mod file_lanes;
mod kafka_lanes;
mod lane;
mod ledger;
mod live;
mod metrics;
mod notify;
mod reload;
mod serve;
mod sql_alerts;
mod startup;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The worker config (DESIGN.md, "Worker config").
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

/// `logpulse run`: starts the worker, then serves until it stops.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    serve::serve(startup::start(&args.config)?)
}
