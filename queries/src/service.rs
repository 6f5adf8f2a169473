use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use sinks::{RecentBatches, Table};
use tokio::sync::Semaphore;

use crate::config::QueryConfig;
use crate::error::QueryError;
use crate::merge_aggregates::MergeNestedAggregates;
use crate::scan_size::{ScanRows, scan_rows};
use crate::views;

/// The open windows of a running worker, for `live_aggregates`.
pub trait LiveSource: Send + Sync {
    /// The open windows' partial aggregates so far, in the `aggregates` schema.
    fn live_aggregates(&self) -> Vec<RecordBatch>;
}

/// A query's answer.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Answers read-only SQL over one data dir (and, in a worker, the recent and open
/// windows held in memory).
pub struct QueryService {
    /// Where the Parquet history is: `<data_dir>/<table>/...`.
    data_dir: PathBuf,
    config: QueryConfig,
    /// The recent `aggregates` batches, when a worker keeps them; `None` reads all of
    /// `aggregates` from Parquet.
    recent: Option<Arc<Mutex<RecentBatches>>>,
    /// The open windows, for `live_aggregates`; `None` leaves that table empty.
    live: Option<Arc<dyn LiveSource>>,
    /// Bounds the queries running at once.
    permits: Arc<Semaphore>,
    /// What queries share: the Parquet footer and statistics caches (entries are checked
    /// against each file's size and mtime, and files are only ever renamed into place,
    /// so a cached footer is never stale). File listings are not cached: each query lists.
    shared: Arc<RuntimeEnv>,
}

/// Where the parts of `aggregates` are registered when it is a union of memory and disk.
const HISTORY: &str = "logpulse_internal.aggregates_history";
const RECENT: &str = "logpulse_internal.aggregates_recent";

impl QueryService {
    pub fn new(data_dir: impl Into<PathBuf>, config: QueryConfig) -> Result<Self, QueryError> {
        config.validate()?;
        let permits = Arc::new(Semaphore::new(config.max_concurrent));
        let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
        let shared = RuntimeEnvBuilder::new()
            .with_cache_manager(caches)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()?;
        Ok(Self { data_dir: data_dir.into(), config, recent: None, live: None, permits, shared })
    }

    pub fn with_recent(mut self, recent: Arc<Mutex<RecentBatches>>) -> Self {
        self.recent = Some(recent);
        self
    }

    pub fn with_live(mut self, live: Arc<dyn LiveSource>) -> Self {
        self.live = Some(live);
        self
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// Runs one read-only statement under the configured limits.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let limit = self.config.timeout;
        tokio::time::timeout(limit, self.run(sql)).await.map_err(|_| QueryError::Timeout(limit))?
    }

    async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let _permit = self.permits.acquire().await.map_err(|e| QueryError::Execution(e.to_string()))?;
        let ctx = self.context().await?;
        let mut state = ctx.state();
        let plan = state.create_logical_plan(sql).await?;
        refuse_writes(&plan)?;
        let plan = state.optimize(&plan)?;
        if self.config.single_partition_rows > 0 && state.config().target_partitions() > 1 {
            // A scan small enough runs on one partition (see `scan_size`). Counting is
            // only a tuning step: if it fails (say, a compaction swapped an hour's files
            // between the listing and a footer read), the query keeps every partition
            // and lists the files again itself.
            match scan_rows(&state, &plan, self.config.single_partition_rows).await {
                Ok(ScanRows::AtMost(rows)) if rows <= self.config.single_partition_rows => {
                    state.config_mut().options_mut().execution.target_partitions = 1;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "counting the rows a query reads failed; all partitions"),
            }
        }
        let physical = state.query_planner().create_physical_plan(&plan, &state).await?;
        let schema: SchemaRef = physical.schema();
        let mut stream = execute_stream(physical, state.task_ctx())?;
        let mut batches = Vec::new();
        let mut bytes = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            bytes += result_bytes(&batch);
            if bytes > self.config.max_result_bytes {
                return Err(QueryError::ResultTooLarge(self.config.max_result_bytes));
            }
            batches.push(batch);
        }
        Ok(QueryResult { schema, batches })
    }

    /// A fresh session for one query: its own memory pool, the tables as they are now.
    async fn context(&self) -> Result<SessionContext, QueryError> {
        let runtime = Arc::new(RuntimeEnv {
            memory_pool: Arc::new(TrackConsumersPool::new(
                GreedyMemoryPool::new(self.config.memory_limit),
                std::num::NonZeroUsize::new(3).expect("3 > 0"),
            )),
            disk_manager: Arc::clone(&self.shared.disk_manager),
            cache_manager: Arc::clone(&self.shared.cache_manager),
            object_store_registry: Arc::clone(&self.shared.object_store_registry),
        });
        let mut config =
            SessionConfig::new().with_information_schema(true).with_create_default_catalog_and_schema(true);
        if self.config.target_partitions > 0 {
            config = config.with_target_partitions(self.config.target_partitions);
        }
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        parquet.enable_page_index = true;
        let state =
            SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        // `count(DISTINCT host)` (sum_view's `hosts`) is rewritten by default into a second
        // GROUP BY over (rule, window, host): a hash table of every host of every window.
        // Keeping it as a per-group set of distinct hosts is 8x faster on the dashboard
        // benchmark (BENCHMARKS.md, "Dashboard queries").
        ctx.remove_optimizer_rule("single_distinct_aggregation_to_group_by");
        // Aggregates over the views' merge re-aggregate in one pass (see `merge_aggregates`).
        ctx.add_optimizer_rule(Arc::new(MergeNestedAggregates));

        for table in [Table::Alerts, Table::QalarmEvents, Table::IngestErrors] {
            ctx.register_table(table.name(), stored_table(&self.data_dir, table)?)?;
        }
        let history = stored_table(&self.data_dir, Table::Aggregates)?;
        match &self.recent {
            None => {
                ctx.register_table("aggregates", history)?;
            }
            Some(recent) => {
                let snapshot = recent.lock().unwrap_or_else(|p| p.into_inner()).snapshot();
                ctx.sql("CREATE SCHEMA logpulse_internal").await?;
                ctx.register_table(HISTORY, history)?;
                let schema = Table::Aggregates.schema();
                ctx.register_table(RECENT, Arc::new(MemTable::try_new(schema, vec![snapshot.batches])?))?;
                let cut = format!("arrow_cast({}, 'Timestamp(Millisecond, Some(\"UTC\"))')", snapshot.cut_ms);
                let union = format!(
                    "CREATE VIEW aggregates AS
                     SELECT * FROM {HISTORY} WHERE window_end <= {cut}
                     UNION ALL
                     SELECT * FROM {RECENT} WHERE window_end > {cut}"
                );
                ctx.sql(&union).await?;
            }
        }
        let live = self.live.as_ref().map(|l| l.live_aggregates()).unwrap_or_default();
        ctx.register_table("live_aggregates", Arc::new(MemTable::try_new(Table::Aggregates.schema(), vec![live])?))?;
        for (name, query) in views::VIEWS {
            ctx.sql(&format!("CREATE VIEW {name} AS {query}")).await?;
        }
        Ok(ctx)
    }
}

/// The table's Parquet folder as a listing table, or an empty table when it has none yet.
fn stored_table(data_dir: &Path, table: Table) -> Result<Arc<dyn datafusion::catalog::TableProvider>, QueryError> {
    let dir = data_dir.join(table.name());
    if !dir.is_dir() {
        return Ok(Arc::new(MemTable::try_new(table.schema(), vec![vec![]])?));
    }
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    // Every file is sorted by the table's sort order (sinks::parquet sorts each flush
    // and each compaction), which lets DataFusion aggregate and merge in order.
    let order = table.sort_columns().iter().map(|c| datafusion::prelude::col(*c).sort(true, false)).collect();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_file_sort_order(vec![order]);
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(table.schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The bytes a result batch holds. Not `get_array_memory_size`, which counts the whole
/// buffer behind every slice of it (operators emit slices of one large buffer).
fn result_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size()))
        .sum()
}

/// Refuses anything but a query, naming what was refused.
fn refuse_writes(plan: &LogicalPlan) -> Result<(), QueryError> {
    let what = match plan {
        LogicalPlan::Ddl(ddl) => Some(statement_name(ddl.name())),
        LogicalPlan::Dml(dml) => Some(dml.op.to_string().to_uppercase()),
        LogicalPlan::Copy(_) => Some("COPY".to_string()),
        LogicalPlan::Statement(statement) => Some(statement_name(statement.name())),
        _ => None,
    };
    if let Some(what) = what {
        return Err(QueryError::ReadOnly(what));
    }
    // Anything of the kind nested inside (DataFusion's own visitor covers subqueries).
    let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    read_only.verify_plan(plan).map_err(|e| QueryError::ReadOnly(e.strip_backtrace()))
}

/// `CreateExternalTable` -> `CREATE EXTERNAL TABLE`.
fn statement_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
