//! SQL over what logpulse keeps: one DataFusion session shape serving the tables
//! `aggregates` (recent batches in memory ∪ Parquet history), `alerts`,
//! `qalarm_events`, `ingest_errors` and, in a worker, `live_aggregates`, plus the views
//! `machine_view`, `sum_view` and `avg_view` of DESIGN.md.
//!
//! # Invariants
//! - **Read-only.** A statement is planned first and refused unless it is a query: no
//!   DDL, DML, `COPY`, `SET` or other statements, and no table function reads files
//!   (only DataFusion's `generate_series` and `range` exist; URL tables are off).
//! - **Bounded.** Each query runs under its own memory pool (no spilling: over the limit
//!   it fails), its own timeout, and a cap on the bytes of its result; at most
//!   `max_concurrent` queries run at once. A runaway query fails alone.
//! - **Consistent.** Each query takes one snapshot of the recent batches, with the cut
//!   that splits them from Parquet (see [`sinks::memory`]), and lists the Parquet files
//!   when it starts; compaction swaps whole hour folders, so a query sees every row once.

#![forbid(unsafe_code)]

mod config;
mod error;
pub mod http;
mod merge_aggregates;
pub mod output;
mod page;
mod scan_size;
pub mod series;
mod service;
pub mod views;

pub use config::QueryConfig;
pub use error::QueryError;
pub use service::{LiveSource, QueryResult, QueryService};
