//! How many rows a planned query can read, counted before it runs, so that a small
//! query can run on one partition.
//!
//! DataFusion chooses a query's parallelism (`target_partitions`) before it reads
//! anything, and prunes Parquet files, row groups and pages only as it opens them. So a
//! plan for "one rule, the last hour" is split across every core: the rows are
//! repartitioned by hash, and each aggregate runs twice (partial, then final) on groups
//! that a partial stage cannot reduce. On the dashboard benchmark the top-10 query (60k
//! rows, found through the page index of one hour's file) is about 40% faster on one
//! partition, while queries that read a whole hour (1.2M rows) are faster on two
//! (BENCHMARKS.md, "Dashboard queries").
//!
//! # Invariants
//! - **The rows the scan will read.** For each Parquet file, the count applies the same
//!   tests the scan applies when it opens the file, with DataFusion's own code: the
//!   scan's pushed-down filters against row-group statistics, then against the page
//!   index. Rows in memory tables count whole. Row filters applied while decoding can
//!   only drop more, so the count is an upper bound.
//! - **Unknown is large.** A scan over a provider this module does not know makes the
//!   count [`ScanRows::Unknown`], and the query keeps its full parallelism; so does an
//!   error while counting (the service ignores it: the count is only a tuning step).
//! - **Bounded work.** Counting stops as soon as it passes the limit it is asked about.
//! - **No extra reads for known files.** Footers and page indexes come from the
//!   service's shared metadata cache, where the scans of earlier queries left them; a
//!   file no query has opened yet is read once, and cached for the scan that follows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::parquet::{
    PagePruningAccessPlanFilter, ParquetAccessPlan, ParquetFileMetrics, RowGroupAccess, RowGroupAccessPlanFilter,
};
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr_rewriter::unnormalize_cols;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;

use crate::error::QueryError;

/// What a plan's scans can read at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanRows {
    /// At most this many rows, summed over every scan of the plan.
    AtMost(u64),
    /// More than this many (counting stopped there).
    MoreThan(u64),
    /// Some scan could not be bounded.
    Unknown,
}

/// The rows the scans of `plan` (an optimized logical plan, so that filters sit in its
/// table scans) can read at most. Counting stops once it passes `limit`: the answer is
/// then [`ScanRows::MoreThan`], so a large query reads no more footers than it must.
pub async fn scan_rows(state: &SessionState, plan: &LogicalPlan, limit: u64) -> Result<ScanRows, QueryError> {
    let mut scans = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans.push(scan.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let mut total = 0u64;
    for scan in &scans {
        let Some(rows) = table_scan_rows(state, scan, limit - total).await? else { return Ok(ScanRows::Unknown) };
        total = total.saturating_add(rows);
        if total > limit {
            return Ok(ScanRows::MoreThan(limit));
        }
    }
    Ok(ScanRows::AtMost(total))
}

/// One scan's rows at most, or `None` when it cannot be bounded. A count over `budget`
/// may stop short of the scan's whole count.
async fn table_scan_rows(state: &SessionState, scan: &TableScan, budget: u64) -> Result<Option<u64>, QueryError> {
    let provider = source_as_provider(&scan.source)?;
    if let Some(memory) = provider.downcast_ref::<MemTable>() {
        let mut rows = 0u64;
        for partition in &memory.batches {
            rows += partition.read().await.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        }
        return Ok(Some(rows));
    }
    let Some(listing) = provider.downcast_ref::<ListingTable>() else {
        // Views are inlined before optimization; what is left here (information_schema,
        // table functions) is not ours to bound.
        return Ok(None);
    };
    let Some(table_url) = listing.table_paths().first() else { return Ok(Some(0)) };
    let listed = listing.list_files_for_scan(state, &[], None).await?;
    let files: Vec<_> = listed.file_groups.iter().flat_map(|group| group.iter()).collect();
    let schema = TableProvider::schema(listing);
    let Some(filters) = scan_filter(state, &schema, scan)? else {
        // No filter: every row of every file.
        let mut rows = 0u64;
        for file in &files {
            let Some(n) = file.statistics.as_ref().and_then(|s| s.num_rows.get_value().copied()) else {
                return Ok(None);
            };
            rows = rows.saturating_add(n as u64);
            if rows > budget {
                break;
            }
        }
        return Ok(Some(rows));
    };
    let store = state.runtime_env().object_store(table_url.object_store())?;
    let footers = state.runtime_env().cache_manager.get_file_metadata_cache();
    let metrics = ExecutionPlanMetricsSet::new();
    let file_metrics = ParquetFileMetrics::new(0, "scan_size", &metrics);
    let mut rows = 0u64;
    for file in files {
        // The footer (with its page index) as the scan will read it: from the shared
        // cache after the first query that opened the file.
        let metadata = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
            .with_file_metadata_cache(Some(Arc::clone(&footers)))
            .fetch_metadata()
            .await?;
        let groups = metadata.row_groups();
        let parquet_schema = metadata.file_metadata().schema_descr();
        let mut by_groups = RowGroupAccessPlanFilter::new(ParquetAccessPlan::new_all(groups.len()));
        by_groups.prune_by_statistics(&schema, parquet_schema, groups, &filters.row_groups, &file_metrics);
        let plan = filters.pages.prune_plan_with_page_index(
            by_groups.build(),
            &schema,
            parquet_schema,
            &metadata,
            &file_metrics,
        );
        for (access, group) in plan.inner().iter().zip(groups) {
            rows = rows.saturating_add(match access {
                RowGroupAccess::Skip => 0,
                RowGroupAccess::Scan => group.num_rows() as u64,
                RowGroupAccess::Selection(selection) => selection.row_count() as u64,
            });
        }
        if rows > budget {
            break;
        }
    }
    Ok(Some(rows))
}

/// A scan's pushed-down filters, as tests on row-group statistics and on pages.
struct ScanFilter {
    row_groups: Arc<PruningPredicate>,
    pages: PagePruningAccessPlanFilter,
}

/// The scan's pushed-down filters, or `None` when it has none (or they say nothing
/// about statistics, or cannot be turned into a statistics test: then nothing is ruled
/// out, which only overcounts).
fn scan_filter(state: &SessionState, schema: &SchemaRef, scan: &TableScan) -> Result<Option<ScanFilter>, QueryError> {
    let Some(filter) = conjunction(unnormalize_cols(scan.filters.iter().cloned())) else {
        return Ok(None);
    };
    let df_schema = DFSchema::try_from(Arc::clone(schema))?;
    let physical = state.create_physical_expr(filter, &df_schema)?;
    let Some(row_groups) =
        PruningPredicateBuilder::new().with_file_schema(Arc::clone(schema)).build(Arc::clone(&physical))
    else {
        return Ok(None);
    };
    Ok(Some(ScanFilter { row_groups, pages: PagePruningAccessPlanFilter::new(&physical, Arc::clone(schema)) }))
}
