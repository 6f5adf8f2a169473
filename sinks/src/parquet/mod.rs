//! The Parquet history: `<data_dir>/<table>/date=YYYY-MM-DD/hour=HH/*.parquet`.
//!
//! Any Parquet reader (DuckDB, pyarrow, DataFusion) reads the folders as they are.
//!
//! # Invariants
//! - **Atomic files.** A file is written as `.<name>.tmp` in its final folder, fsynced,
//!   renamed to `<name>`, and the folder fsynced. Readers only look at `*.parquet`, so a
//!   crashed writer leaves nothing they pick up; [`ParquetStore::open`] deletes the
//!   leftovers.
//! - **A window is whole or absent.** A flush's rows are split by the hour of the table's
//!   partition column (`window_start` for `aggregates`), so all rows of one window are in
//!   one file.
//! - **Idempotent re-emission: deterministic names, no manifest.** A file is named after
//!   its flush, `<producer>_<lo>_<hi>_<part>of<parts>` (see [`files`]): the producer (a
//!   Kafka partition, a replayed file) and the sequence range `(lo, hi]` it covers. The
//!   store keeps, per table and producer, the *durable high-water mark*: the greatest
//!   `hi` of a flush whose parts are all on disk. A write at or below it is dropped;
//!   one that straddles it keeps only the rows above it (by the table's sequence column,
//!   `window_end` for `aggregates` and `alerts`). So a worker that restarts from an older
//!   checkpoint and closes the same windows again adds nothing, whether or not it cuts
//!   them into the same flushes.
//!
//!   A manifest was the other choice. It would make readers depend on it, but DESIGN.md
//!   promises that any Parquet reader reads the folders as they are, and a second
//!   file to keep in step with the data is a second thing to get wrong after a crash.
//!   With names, the folder is the truth.
//! - **Crash between the parts of a flush.** On open, a flush with missing parts has its
//!   present parts deleted and does not count toward the high-water mark, so it is
//!   written again whole. (Until then a reader may see some of its windows; each of
//!   them whole.)
//! - **Compaction swaps an hour folder in one step.** The compactor writes the merged
//!   file into a staging folder under `<data_dir>/.staging/`, then exchanges the two
//!   folders with `renameat2(RENAME_EXCHANGE)`: a reader that lists the hour sees the old
//!   files or the new one, never both. The compacted file's footer lists the flush
//!   parts it absorbed ([`files::FLUSHES_KEY`]), so the high-water marks survive it. The
//!   swap happens under the table's write lock and only if the folder still holds
//!   exactly the files that were merged; otherwise that hour is left for the next round.

pub mod files;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Timelike};
use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{self, SortColumn, SortOptions};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::{KeyValue, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use serde::Deserialize;

use self::files::{FileKind, FlushId, FlushPart};
use crate::durable::{create_dir_durable, exchange, sync_dir, write_atomic};
use crate::error::SinkError;
use crate::tables::Table;

/// How the store writes and compacts. Every field has a default; see `Default`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetStoreConfig {
    /// Rows per row group. Large groups keep the footer small and scans sequential; the
    /// page index (below) does the fine-grained pruning inside them.
    pub row_group_rows: usize,
    /// Rows per data page: the granularity of the page index, and so of how little a
    /// one-host query reads.
    pub data_page_rows: usize,
    /// `zstd` (level 1), `snappy` or `none`.
    pub compression: String,
    /// Write a bloom filter on `host`, which lets a reader skip row groups that do not
    /// hold a host.
    pub host_bloom_filter: bool,
    /// Sort each file's rows by the table's sort order (`aggregates`: rule, host,
    /// window_start). Off only to measure what sorting buys.
    pub sort_rows: bool,
    /// Statistics per page (the page index) rather than per row group only.
    pub page_statistics: bool,
    /// An hour folder is compacted once it holds at least this many files...
    pub compact_min_files: usize,
    /// ...and no file has arrived in it for this long.
    #[serde(deserialize_with = "engine::duration::deserialize_duration")]
    pub compact_quiet: Duration,
}

impl Default for ParquetStoreConfig {
    fn default() -> Self {
        Self {
            row_group_rows: 1 << 20,
            data_page_rows: 8 * 1024,
            compression: "zstd".to_string(),
            host_bloom_filter: false,
            sort_rows: true,
            page_statistics: true,
            compact_min_files: 4,
            compact_quiet: Duration::from_secs(120),
        }
    }
}

impl ParquetStoreConfig {
    /// Checks the config and opens (and recovers) the store under `data_dir`.
    pub fn build(self, data_dir: impl Into<PathBuf>) -> Result<ParquetStore, SinkError> {
        if self.row_group_rows == 0 || self.data_page_rows == 0 {
            return Err(SinkError::Config("row_group_rows and data_page_rows must be positive".into()));
        }
        if !matches!(self.compression.as_str(), "zstd" | "snappy" | "none") {
            return Err(SinkError::Config(format!(
                "compression '{}' is not one of zstd, snappy, none",
                self.compression
            )));
        }
        if self.compact_min_files < 2 {
            return Err(SinkError::Config("compact_min_files must be at least 2".into()));
        }
        ParquetStore::open(data_dir.into(), self)
    }

    fn writer_properties(&self, table: Table, flushes: Option<&[FlushPart]>) -> WriterProperties {
        let schema = table.schema();
        let sorting = table
            .sort_columns()
            .iter()
            .map(|c| SortingColumn {
                column_idx: schema.index_of(c).expect("sort column in schema") as i32,
                descending: false,
                nulls_first: false,
            })
            .collect();
        let compression = match self.compression.as_str() {
            "zstd" => Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")),
            "snappy" => Compression::SNAPPY,
            _ => Compression::UNCOMPRESSED,
        };
        let metadata = flushes.map(|parts| {
            vec![KeyValue::new(files::FLUSHES_KEY.to_string(), serde_json::to_string(parts).expect("serializable"))]
        });
        let mut builder = WriterProperties::builder()
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_data_page_row_count_limit(self.data_page_rows)
            .set_statistics_enabled(if self.page_statistics {
                EnabledStatistics::Page
            } else {
                EnabledStatistics::Chunk
            })
            .set_compression(compression)
            .set_sorting_columns(self.sort_rows.then_some(sorting))
            .set_key_value_metadata(metadata);
        if self.host_bloom_filter && table == Table::Aggregates {
            builder = builder.set_column_bloom_filter_enabled(ColumnPath::from("host"), true);
        }
        builder.build()
    }
}

/// The sequence range `(lo, hi]` a flush covers, in the producer's own order: for
/// `aggregates` and `alerts`, window ends in unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub lo: i64,
    pub hi: i64,
}

/// What a [`ParquetStore::write`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteOutcome {
    pub rows_written: usize,
    /// Rows at or below the producer's durable high-water mark: already on disk.
    pub rows_skipped: usize,
    pub files: Vec<PathBuf>,
}

/// What [`ParquetStore::open`] cleaned up.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// Temp files of writes that never completed.
    pub temp_files_removed: usize,
    /// Parts of flushes that were not all written.
    pub partial_parts_removed: usize,
}

/// What one compaction round did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CompactionReport {
    pub hours_compacted: usize,
    pub files_merged: usize,
    /// Hours skipped because a writer added a file while they were being merged.
    pub hours_raced: usize,
}

/// Per table: the lock that keeps writers and the compactor's swap apart, and what it guards.
#[derive(Debug, Default)]
struct TableState {
    /// Durable high-water mark per (sanitized) producer.
    high_water: HashMap<String, i64>,
}

/// The Parquet history of every table under one data dir.
#[derive(Debug)]
pub struct ParquetStore {
    data_dir: PathBuf,
    config: ParquetStoreConfig,
    tables: BTreeMap<Table, Mutex<TableState>>,
    recovery: Recovery,
}

impl ParquetStore {
    fn open(data_dir: PathBuf, config: ParquetStoreConfig) -> Result<Self, SinkError> {
        create_dir_durable(&data_dir)?;
        remove_dead_staging(&data_dir.join(STAGING))?;
        let mut recovery = Recovery::default();
        let mut tables = BTreeMap::new();
        for table in Table::ALL {
            let _file = lock_file(&data_dir, table);
            let state = recover_table(&data_dir.join(table.name()), &mut recovery)?;
            tables.insert(table, Mutex::new(state));
        }
        Ok(Self { data_dir, config, tables, recovery })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.data_dir.join(table.name())
    }

    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The producer's durable high-water mark for `table`, if it ever wrote there.
    pub fn high_water(&self, table: Table, producer: &str) -> Option<i64> {
        self.lock(table).high_water.get(&files::sanitize_producer(producer)).copied()
    }

    /// The table's lock, held by writers and the compactor's swap: the in-process mutex
    /// and an `flock` on `<data_dir>/.locks/<table>.lock`, so that several workers may
    /// share one data dir (a consumer group's members each own some partitions).
    fn lock(&self, table: Table) -> TableGuard<'_> {
        let state = self.tables[&table].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let file = lock_file(&self.data_dir, table);
        TableGuard { state, _file: file }
    }

    /// Re-reads every producer's durable high-water mark from the files, under the
    /// tables' locks: another process sharing the data dir may have written for a
    /// producer (a Kafka partition) that this one now takes over.
    pub fn refresh(&self) -> Result<(), SinkError> {
        let mut recovery = Recovery::default();
        for table in Table::ALL {
            let mut guard = self.lock(table);
            *guard.state = recover_table(&self.data_dir.join(table.name()), &mut recovery)?;
        }
        Ok(())
    }

    /// Writes one flush of `producer` covering `range`, atomically per file and
    /// idempotently per producer (see the module docs).
    pub fn write(
        &self,
        table: Table,
        producer: &str,
        range: SeqRange,
        batches: &[RecordBatch],
    ) -> Result<WriteOutcome, SinkError> {
        let schema = table.schema();
        for batch in batches {
            if batch.schema().fields() != schema.fields() {
                return Err(SinkError::Schema { table: table.name(), detail: format!("{:?}", batch.schema()) });
            }
        }
        let producer = files::sanitize_producer(producer);
        let mut state = self.lock(table);
        let mut outcome = WriteOutcome::default();
        let durable = state.high_water.get(&producer).copied();
        if durable.is_some_and(|durable| range.hi <= durable) {
            outcome.rows_skipped = batches.iter().map(RecordBatch::num_rows).sum();
            return Ok(outcome);
        }
        let mut batch = compute::concat_batches(&schema, batches)?;
        let mut lo = range.lo;
        if let Some(durable) = durable
            && let (Some(_), true) = (table.seq_column(), lo < durable)
        {
            let kept = rows_after(table, &batch, durable)?;
            outcome.rows_skipped = batch.num_rows() - kept.num_rows();
            batch = kept;
            lo = durable;
        }
        if batch.num_rows() > 0 {
            let sorted = if self.config.sort_rows { sort_batch(table, &batch)? } else { batch.clone() };
            let by_hour = split_by_hour(table, &sorted)?;
            let parts = by_hour.len() as u32;
            let flush = FlushId { producer: producer.clone(), lo, hi: range.hi, parts };
            let props = self.config.writer_properties(table, None);
            for (index, (hour, rows)) in by_hour.into_iter().enumerate() {
                let part = FlushPart { flush: flush.clone(), part: index as u32 + 1 };
                let dir = self.hour_dir(table, hour);
                create_dir_durable(&dir)?;
                let path = write_parquet_atomic(&dir, &part.file_name(), &rows, props.clone())?;
                outcome.files.push(path);
            }
            outcome.rows_written = batch.num_rows();
            state.high_water.insert(producer, range.hi);
        }
        Ok(outcome)
    }

    fn hour_dir(&self, table: Table, hour: i64) -> PathBuf {
        let t = DateTime::from_timestamp(hour * 3600, 0).expect("hour in chrono's range");
        self.table_dir(table)
            .join(format!("date={:04}-{:02}-{:02}", t.year(), t.month(), t.day()))
            .join(format!("hour={:02}", t.hour()))
    }

    /// Compacts every hour folder that is ready: at least `compact_min_files` files and
    /// none newer than `compact_quiet`. `force` ignores both (any folder with two or more
    /// files is compacted).
    pub fn compact(&self, force: bool) -> Result<CompactionReport, SinkError> {
        let mut report = CompactionReport::default();
        for table in Table::ALL {
            for dir in hour_dirs(&self.table_dir(table))? {
                let listed = list_data_files(&dir)?;
                let ready = if force {
                    listed.len() >= 2
                } else {
                    listed.len() >= self.config.compact_min_files
                        && newest_mtime(&dir, &listed)?
                            .is_some_and(|t| t.elapsed().unwrap_or_default() >= self.config.compact_quiet)
                };
                if !ready {
                    continue;
                }
                if self.compact_hour(table, &dir, &listed)? {
                    report.hours_compacted += 1;
                    report.files_merged += listed.len();
                } else {
                    report.hours_raced += 1;
                }
            }
        }
        Ok(report)
    }

    /// Merges `listed` (the data files of `dir`) into one file and swaps it in; false if
    /// the folder changed meanwhile.
    fn compact_hour(&self, table: Table, dir: &Path, listed: &BTreeSet<String>) -> Result<bool, SinkError> {
        let mut batches = Vec::new();
        let mut parts = Vec::new();
        for name in listed {
            let path = dir.join(name);
            let (file_batches, file_parts) = read_file(&path)?;
            batches.extend(file_batches);
            parts.extend(file_parts);
        }
        parts.sort();
        let mut merged = compute::concat_batches(&table.schema(), &batches)?;
        if self.config.sort_rows {
            merged = sort_batch(table, &merged)?;
        }
        let generation = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let staging =
            self.data_dir.join(STAGING).join(format!("{}-{}-{generation:x}", table.name(), std::process::id()));
        create_dir_durable(&staging)?;
        let props = self.config.writer_properties(table, Some(&parts));
        write_parquet_atomic(&staging, &files::compacted_name(generation), &merged, props)?;

        let _writers = self.lock(table);
        if list_data_files(dir)? != *listed {
            drop(_writers);
            fs::remove_dir_all(&staging).map_err(SinkError::io(&staging))?;
            return Ok(false);
        }
        exchange(&staging, dir)?;
        sync_dir(dir.parent().expect("an hour folder has a date folder"))?;
        drop(_writers);
        fs::remove_dir_all(&staging).map_err(SinkError::io(&staging))?;
        Ok(true)
    }

    /// Runs [`Self::compact`] every `every` on a thread of its own until the returned
    /// handle is stopped or dropped.
    pub fn spawn_compactor(self: &Arc<Self>, every: Duration) -> Compactor {
        let store = Arc::clone(self);
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let stopping = Arc::clone(&stop);
        let failed = Arc::new(AtomicBool::new(false));
        let failed_flag = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("parquet-compactor".into())
            .spawn(move || {
                let (lock, wake) = &*stopping;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped {
                    stopped = wake.wait_timeout(stopped, every).unwrap_or_else(|p| p.into_inner()).0;
                    if *stopped {
                        break;
                    }
                    drop(stopped);
                    if let Err(e) = store.compact(false) {
                        // A failed round leaves the old files in place; the next round retries.
                        eprintln!("logpulse: compaction: {e}");
                        failed_flag.store(true, Ordering::Relaxed);
                    }
                    stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                }
            })
            .expect("spawn the compactor thread");
        Compactor { stop, thread: Some(thread), failed }
    }
}

/// The background compactor; stops (finishing the round in progress) when dropped.
pub struct Compactor {
    /// Set to true, then notified, to stop the thread between rounds.
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Whether any round has failed (the error went to stderr).
    failed: Arc<AtomicBool>,
}

impl Compactor {
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where compaction builds its folders; outside every table folder, so no reader lists it.
const STAGING: &str = ".staging";

/// A table's in-process state, locked, with the inter-process lock held alongside.
struct TableGuard<'a> {
    state: MutexGuard<'a, TableState>,
    /// The `flock`ed lock file; closing it releases the lock. `None` when locking is not
    /// possible (a read-only data dir): then only this process is serialized.
    _file: Option<File>,
}

impl std::ops::Deref for TableGuard<'_> {
    type Target = TableState;
    fn deref(&self) -> &TableState {
        &self.state
    }
}

impl std::ops::DerefMut for TableGuard<'_> {
    fn deref_mut(&mut self) -> &mut TableState {
        &mut self.state
    }
}

/// Opens and exclusively `flock`s the table's lock file (blocking).
fn lock_file(data_dir: &Path, table: Table) -> Option<File> {
    let dir = data_dir.join(".locks");
    fs::create_dir_all(&dir).ok()?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{}.lock", table.name())))
        .ok()?;
    loop {
        match file.lock() {
            Ok(()) => return Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Removes the staging folders of compactions whose process is gone (a live process
/// sharing the data dir may be using its own).
fn remove_dead_staging(staging: &Path) -> Result<(), SinkError> {
    let entries = match fs::read_dir(staging) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SinkError::Io { path: staging.to_path_buf(), source: e }),
    };
    for entry in entries {
        let entry = entry.map_err(SinkError::io(staging))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid: Option<u32> = name.rsplit('-').nth(1).and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|pid| pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(SinkError::io(&path))?;
        }
    }
    Ok(())
}

fn recover_table(dir: &Path, recovery: &mut Recovery) -> Result<TableState, SinkError> {
    let mut found: HashMap<FlushId, BTreeSet<u32>> = HashMap::new();
    let mut uncompacted: HashMap<FlushId, Vec<PathBuf>> = HashMap::new();
    for hour in hour_dirs(dir)? {
        for entry in fs::read_dir(&hour).map_err(SinkError::io(&hour))? {
            let entry = entry.map_err(SinkError::io(&hour))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            match files::classify(&name) {
                FileKind::Temp => {
                    fs::remove_file(&path).map_err(SinkError::io(&path))?;
                    recovery.temp_files_removed += 1;
                }
                FileKind::Part(part) => {
                    found.entry(part.flush.clone()).or_default().insert(part.part);
                    uncompacted.entry(part.flush).or_default().push(path);
                }
                FileKind::Compacted => {
                    for part in read_flush_parts(&path)? {
                        found.entry(part.flush).or_default().insert(part.part);
                    }
                }
                FileKind::Foreign => {}
            }
        }
    }
    let mut state = TableState::default();
    for (flush, parts) in found {
        if parts.len() as u32 == flush.parts {
            let mark = state.high_water.entry(flush.producer.clone()).or_insert(flush.hi);
            *mark = (*mark).max(flush.hi);
        } else {
            for path in uncompacted.remove(&flush).unwrap_or_default() {
                fs::remove_file(&path).map_err(SinkError::io(&path))?;
                recovery.partial_parts_removed += 1;
            }
        }
    }
    Ok(state)
}

/// The `date=*/hour=*` folders of a table, oldest first.
fn hour_dirs(table_dir: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let mut out = Vec::new();
    for date in sorted_subdirs(table_dir, "date=")? {
        out.extend(sorted_subdirs(&date, "hour=")?);
    }
    Ok(out)
}

fn sorted_subdirs(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, SinkError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SinkError::Io { path: dir.to_path_buf(), source: e }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(SinkError::io(dir))?;
        if entry.file_name().to_string_lossy().starts_with(prefix) && entry.path().is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The names of the data files (flush parts and compacted files) in an hour folder.
fn list_data_files(dir: &Path) -> Result<BTreeSet<String>, SinkError> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(SinkError::io(dir))? {
        let name = entry.map_err(SinkError::io(dir))?.file_name().to_string_lossy().into_owned();
        if matches!(files::classify(&name), FileKind::Part(_) | FileKind::Compacted) {
            out.insert(name);
        }
    }
    Ok(out)
}

fn newest_mtime(dir: &Path, names: &BTreeSet<String>) -> Result<Option<SystemTime>, SinkError> {
    let mut newest = None;
    for name in names {
        let path = dir.join(name);
        let modified = fs::metadata(&path).and_then(|m| m.modified()).map_err(SinkError::io(&path))?;
        newest = newest.max(Some(modified));
    }
    Ok(newest)
}

/// A file's rows, and the flush parts it holds (from its name, or a compacted footer).
fn read_file(path: &Path) -> Result<(Vec<RecordBatch>, Vec<FlushPart>), SinkError> {
    let file = File::open(path).map_err(SinkError::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(SinkError::parquet(path))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parts = match files::classify(&name) {
        FileKind::Part(part) => vec![part],
        _ => flush_parts_from_metadata(path, builder.metadata().file_metadata().key_value_metadata())?,
    };
    let reader = builder.with_batch_size(64 * 1024).build().map_err(SinkError::parquet(path))?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((batches, parts))
}

fn read_flush_parts(path: &Path) -> Result<Vec<FlushPart>, SinkError> {
    let file = File::open(path).map_err(SinkError::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(SinkError::parquet(path))?;
    flush_parts_from_metadata(path, builder.metadata().file_metadata().key_value_metadata())
}

fn flush_parts_from_metadata(path: &Path, metadata: Option<&Vec<KeyValue>>) -> Result<Vec<FlushPart>, SinkError> {
    let value = metadata
        .and_then(|kv| kv.iter().find(|kv| kv.key == files::FLUSHES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| SinkError::Corrupt {
            path: path.into(),
            message: format!("no {} in footer", files::FLUSHES_KEY),
        })?;
    serde_json::from_str(value).map_err(|e| SinkError::Corrupt { path: path.into(), message: e.to_string() })
}

pub(crate) fn sort_batch(table: Table, batch: &RecordBatch) -> Result<RecordBatch, SinkError> {
    let columns: Vec<SortColumn> = table
        .sort_columns()
        .iter()
        .map(|name| SortColumn {
            values: batch.column_by_name(name).expect("sort column").clone(),
            options: Some(SortOptions { descending: false, nulls_first: false }),
        })
        .collect();
    let indices = compute::lexsort_to_indices(&columns, None)?;
    Ok(compute::take_record_batch(batch, &indices)?)
}

/// Rows per hour (unix hours) of the partition column, each keeping the input's order.
fn split_by_hour(table: Table, batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, SinkError> {
    let times = batch
        .column_by_name(table.partition_column())
        .expect("partition column")
        .as_primitive::<TimestampMillisecondType>();
    let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (row, ms) in times.values().iter().enumerate() {
        rows.entry(ms.div_euclid(3_600_000)).or_default().push(row as u32);
    }
    if rows.len() == 1 {
        let hour = *rows.keys().next().expect("one hour");
        return Ok(vec![(hour, batch.clone())]);
    }
    rows.into_iter()
        .map(|(hour, indices)| Ok((hour, compute::take_record_batch(batch, &UInt32Array::from(indices))?)))
        .collect()
}

/// Writes `batch` as the Parquet file `dir/name`, atomically ([`write_atomic`]).
fn write_parquet_atomic(
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<PathBuf, SinkError> {
    let temp = dir.join(files::temp_name(name));
    let path = dir.join(name);
    write_atomic(&temp, &path, Some("parquet.before_rename"), |file| {
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(SinkError::parquet(&temp))?;
        writer.write(batch).map_err(SinkError::parquet(&temp))?;
        writer.into_inner().map_err(SinkError::parquet(&temp))
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests;

/// The rows of a `table` batch whose sequence column is after `mark`: what
/// [`ParquetStore::write`] keeps of a flush that overlaps the producer's durable mark.
/// Callers that need to know which rows were new use the same rule.
pub fn rows_after(table: Table, batch: &RecordBatch, mark: i64) -> Result<RecordBatch, SinkError> {
    let seq = table
        .seq_column()
        .and_then(|name| batch.column_by_name(name)?.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| SinkError::Schema { table: table.name(), detail: "no sequence column".to_string() })?;
    let keep = compute::kernels::cmp::gt(
        seq,
        &datafusion::arrow::array::Scalar::new(
            datafusion::arrow::array::TimestampMillisecondArray::from(vec![mark]).with_timezone("UTC"),
        ),
    )?;
    Ok(compute::filter_record_batch(batch, &keep)?)
}
