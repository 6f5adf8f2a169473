//! `logpulse sql -d DATA_DIR "SQL" [--format table|csv|json]`: read-only SQL over the
//! tables and views that `replay --out` or a worker wrote.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use queries::output::Format;
use queries::{QueryConfig, QueryService};

use crate::error::UsageError;

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The data dir that `replay --out` or `run` wrote.
    #[arg(short = 'd', long = "data-dir")]
    data_dir: PathBuf,
    /// One read-only statement.
    sql: String,
    /// table, csv or json (an array of row objects).
    #[arg(long, default_value = "table")]
    format: Format,
    /// Time limit of the query.
    #[arg(long, value_parser = engine::duration::parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Memory limit of the query (e.g. 512MiB); over it the query fails.
    #[arg(long, value_parser = parse_bytes, default_value = "512MiB")]
    memory_limit: u64,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).map_err(|e| format!("{e} (e.g. 512MiB, 2GiB)"))
}

pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        return Err(UsageError(format!("no data dir at {}", args.data_dir.display())).into());
    }
    let config = QueryConfig {
        timeout: args.timeout,
        memory_limit: usize::try_from(args.memory_limit).unwrap_or(usize::MAX),
        ..QueryConfig::default()
    };
    let service = QueryService::new(&args.data_dir, config).map_err(|e| UsageError(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = match runtime.block_on(service.sql(&args.sql)) {
        Ok(result) => result,
        Err(e) if e.is_user_error() => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    queries::output::write(&result, args.format, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
