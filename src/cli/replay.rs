//! `logpulse replay -r RULES -s STREAM FILE|-`: the rules over a finite input.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::RecordBatch;
use clap::Args;
use engine::alert::{AlertEvaluator, AlertState, Notification};
use engine::compile::{Decoded, Decoder, Place, StreamId};
use engine::{Engine, RecordMeta};
use ingest::ErrorReason;
use ingest::lines::LineReader;

use crate::error::UsageError;
use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Rule files or globs (repeatable).
    #[arg(short = 'r', long = "rules", required = true)]
    rules: Vec<String>,
    /// The stream the input belongs to.
    #[arg(short = 's', long = "stream")]
    stream: String,
    /// The host of the input when neither the records nor the stream name one (default: this machine's name).
    #[arg(long)]
    host: Option<String>,
    /// Also write the tables (aggregates, qalarm_events, ingest_errors) as Parquet here.
    #[arg(long = "out", value_name = "DATA_DIR")]
    out: Option<PathBuf>,
    /// Who wrote the rows, for idempotent re-runs (default: `replay-` and the input's file
    /// name). Windows this producer already wrote to DATA_DIR are not written again.
    #[arg(long, requires = "out")]
    producer: Option<String>,
    /// Write the notifications that the rule files' alerts would send over the input,
    /// as JSON lines (the live worker's sequence for the same input: backtesting).
    #[arg(long = "alerts", value_name = "FILE")]
    alerts: Option<PathBuf>,
    /// Input file, or `-` for stdin.
    input: String,
}

/// How many records between watermark advances (closing windows as the input moves on).
const ADVANCE_EVERY: u64 = 8192;

/// How many records share one reading of the clock (the read time of records
/// without their own time): the clock is not free at millions of lines a second.
const CLOCK_EVERY: u64 = 256;

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let set = Arc::new(crate::rules::load(&args.rules)?);
    let Some(stream_id) = set.streams.iter().position(|s| s.name == args.stream) else {
        let names: Vec<&str> = set.streams.iter().map(|s| s.name.as_str()).collect();
        return Err(UsageError(format!("unknown stream '{}' (streams: {})", args.stream, names.join(", "))).into());
    };
    let host = args.host.clone().unwrap_or_else(crate::machine::hostname);
    let (reader, total_bytes, source_name): (Box<dyn Read>, Option<u64>, String) = if args.input == "-" {
        (Box::new(std::io::stdin().lock()), None, "stdin".to_string())
    } else {
        let file = File::open(&args.input).map_err(|e| UsageError(format!("cannot open {}: {e}", args.input)))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len, args.input.clone())
    };

    // Open (and recover) the store before the work, so that a bad data dir fails fast.
    let store = match &args.out {
        Some(dir) => Some(
            sinks::ParquetStoreConfig::default()
                .build(dir)
                .map_err(|e| UsageError(format!("cannot use {} as a data dir: {e}", dir.display())))?,
        ),
        None => None,
    };
    let mut qalarm_events = (store.is_some() && matches!(set.streams[stream_id].decoder, Decoder::Qalarm))
        .then(sinks::tables::QalarmEventsBuilder::default);

    let alerts_out = match &args.alerts {
        Some(path) => Some(BufWriter::new(
            File::create(path).map_err(|e| UsageError(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let sql_alerts = set.alerts.iter().filter(|a| matches!(a.kind, engine::compile::AlertKind::Sql { .. })).count();
    if alerts_out.is_some() && sql_alerts > 0 {
        eprintln!(
            "logpulse: {sql_alerts} sql alert(s) not backtested: they run on the worker's clock (`every`), not on event time"
        );
    }
    let mut run = Run {
        alerts: alerts_out.is_some().then(|| AlertEvaluator::new(Arc::clone(&set))),
        notifications: Vec::new(),
        engine: Engine::new(Arc::clone(&set)),
        batches: Vec::new(),
        errors: Vec::new(),
        progress: Progress::new(total_bytes),
        records: 0,
        now: crate::machine::now_ms(),
    };
    let stream = &set.streams[stream_id];
    let bytes_read: u64;

    if let Decoder::Qalarm = stream.decoder {
        // MessagePack has no lines: the whole input is one record of events back to back.
        let mut bytes = Vec::new();
        let mut reader = reader;
        reader.read_to_end(&mut bytes).with_context(|| format!("reading {source_name}"))?;
        bytes_read = bytes.len() as u64;
        // The arrival time only dates year-less text times: none here.
        for decoded in stream.decode_record(&bytes, run.now) {
            let offset = match decoded.place {
                Place::Offset(offset) => offset,
                Place::Line(_) => unreachable!("a Qalarm record has no lines"),
            };
            let now = run.next_record();
            run.count(stream_id, decoded, now, &host, || format!("{source_name}@{offset}"), qalarm_events.as_mut());
            run.after_record(offset as u64);
        }
    } else {
        let mut lines = LineReader::new(reader, stream.max_line_bytes);
        while let Some(line) = lines.next_line().with_context(|| format!("reading {source_name}"))? {
            let now = run.next_record();
            let number = line.number();
            let decoded = stream.decode_text_line(line, now);
            run.count(stream_id, decoded, now, &host, || format!("{source_name}:{number}"), None);
            run.after_record(lines.bytes_read());
        }
        bytes_read = lines.bytes_read();
    }
    run.engine.finish();
    run.take_closed();
    run.take_errors();
    let Run { engine, batches, mut progress, records, errors, notifications, .. } = run;
    progress.finish(bytes_read, records);
    if let (Some(mut out), Some(path)) = (alerts_out, &args.alerts) {
        use std::io::Write;
        for n in &notifications {
            serde_json::to_writer(&mut out, n)?;
            out.write_all(b"\n")?;
        }
        out.flush().with_context(|| format!("writing {}", path.display()))?;
        let firing = notifications.iter().filter(|n| n.state == AlertState::Firing).count();
        eprintln!(
            "logpulse: {} notification(s) ({firing} firing, {} resolved) written to {}",
            notifications.len(),
            notifications.len() - firing,
            path.display()
        );
    }

    let sorted = crate::output::sort_aggregates(&batches)?;
    if let (Some(store), Some(dir)) = (&store, &args.out) {
        let producer = args.producer.clone().unwrap_or_else(|| default_producer(&args.input));
        let tables = Tables {
            aggregates: std::slice::from_ref(&sorted),
            qalarm_events: qalarm_events.as_mut(),
            errors: &errors,
            records,
        };
        write_tables(store, &producer, tables).with_context(|| format!("writing {}", dir.display()))?;
    }
    let stdout = std::io::stdout().lock();
    crate::output::write_aggregates_csv(&sorted, BufWriter::with_capacity(1 << 16, stdout))?;
    summarize_errors(&engine, &errors, records);
    Ok(ExitCode::SUCCESS)
}

/// `replay-` and the input's file name (`replay-stdin` for `-`).
fn default_producer(input: &str) -> String {
    let name = if input == "-" {
        "stdin".to_string()
    } else {
        std::path::Path::new(input).file_name().map_or_else(|| input.to_string(), |n| n.to_string_lossy().into_owned())
    };
    format!("replay-{name}")
}

/// What a replay hands the store.
struct Tables<'a> {
    aggregates: &'a [RecordBatch],
    qalarm_events: Option<&'a mut sinks::tables::QalarmEventsBuilder>,
    errors: &'a [ingest::IngestError],
    /// Records read: the sequence range of the per-record tables is `(0, records]`.
    records: u64,
}

/// One flush per table. The aggregates flush covers every window end up to the last
/// one, so a re-run over the same input (after a crash, say) adds nothing.
fn write_tables(store: &sinks::ParquetStore, producer: &str, tables: Tables<'_>) -> anyhow::Result<()> {
    use sinks::{SeqRange, Table};

    let last_end = engine::batch::max_window_end(tables.aggregates);
    let records = i64::try_from(tables.records).unwrap_or(i64::MAX);
    let mut flushes = Vec::new();
    if let Some(hi) = last_end {
        flushes.push((Table::Aggregates, SeqRange { lo: 0, hi }, tables.aggregates.to_vec()));
    }
    if let Some(builder) = tables.qalarm_events.filter(|b| !b.is_empty()) {
        flushes.push((Table::QalarmEvents, SeqRange { lo: 0, hi: records }, vec![builder.finish()]));
    }
    if !tables.errors.is_empty() {
        let mut builder = sinks::tables::IngestErrorsBuilder::default();
        tables.errors.iter().for_each(|e| builder.push(e));
        flushes.push((Table::IngestErrors, SeqRange { lo: 0, hi: records }, vec![builder.finish()]));
    }
    for (table, range, batches) in flushes {
        let outcome = store.write(table, producer, range, &batches)?;
        if outcome.rows_skipped > 0 {
            eprintln!(
                "logpulse: {} {table} rows were already in {} from producer '{producer}'; not written again \
                 (use --producer or another data dir to keep both)",
                outcome.rows_skipped,
                store.data_dir().display()
            );
        }
    }
    Ok(())
}

/// The replay's per-record cadence: one clock reading per [`CLOCK_EVERY`]
/// records, and closed windows collected every [`ADVANCE_EVERY`].
struct Run {
    engine: Engine,
    /// With `--alerts`: the evaluator, fed each batch of closed windows.
    alerts: Option<AlertEvaluator>,
    /// The notifications so far, in order.
    notifications: Vec<Notification>,
    /// Closed windows taken from the engine so far.
    batches: Vec<RecordBatch>,
    /// `ingest_errors` rows taken from the engine so far (at most [`MAX_ERROR_ROWS`]).
    errors: Vec<ingest::IngestError>,
    progress: Progress,
    /// Records seen, good and bad.
    records: u64,
    /// The read time given to records without their own time.
    now: i64,
}

/// The most `ingest_errors` rows a replay keeps (every error is still counted).
const MAX_ERROR_ROWS: usize = 1_000_000;

impl Run {
    fn take_errors(&mut self) {
        let room = MAX_ERROR_ROWS - self.errors.len();
        self.errors.extend(self.engine.take_errors().into_iter().take(room));
    }

    /// Takes the windows closed so far, and evaluates the alerts on them.
    fn take_closed(&mut self) {
        let closed = self.engine.take_closed();
        if let Some(evaluator) = self.alerts.as_mut() {
            if let Some(batch) = &closed {
                evaluator.add_batch(batch);
            }
            let engine = &self.engine;
            self.notifications.extend(evaluator.advance_all(|rule| engine.closed_through(rule)));
        }
        self.batches.extend(closed);
    }

    /// Counts a record and returns the read time to give it.
    fn next_record(&mut self) -> i64 {
        if self.records.is_multiple_of(CLOCK_EVERY) {
            self.now = crate::machine::now_ms();
        }
        self.records += 1;
        self.now
    }

    /// Counts one decoded item read at `now`: its event into the engine (and, for a
    /// Qalarm stream written to a data dir, into `qalarm_events`), or why it was not counted.
    fn count(
        &mut self,
        stream: StreamId,
        decoded: Decoded<'_>,
        now: i64,
        host: &str,
        source: impl Fn() -> String,
        qalarm_events: Option<&mut sinks::tables::QalarmEventsBuilder>,
    ) {
        match decoded.result {
            Ok(event) => {
                let meta = RecordMeta { default_host: host, default_time_ms: now, now_ms: now };
                self.engine.process(stream, &event, &meta, &source);
                if let Some(builder) = qalarm_events {
                    builder.push(&event, event.time_ms.unwrap_or(now));
                }
            }
            Err(bad) => self.engine.record_error(stream, source(), bad.reason, &bad.sample, now),
        }
    }

    /// Closes the windows the watermark passed, now and then; `position` is in input bytes.
    fn after_record(&mut self, position: u64) {
        if self.records.is_multiple_of(ADVANCE_EVERY) {
            self.engine.advance(None);
            self.take_closed();
            self.take_errors();
            self.progress.update(position, self.records);
        }
    }
}

/// One line per reason with a count and the first example, on stderr.
fn summarize_errors(engine: &Engine, errors: &[ingest::IngestError], records: u64) {
    let stats = engine.stats();
    if stats.errors_by_reason.is_empty() {
        return;
    }
    let mut first: BTreeMap<ErrorReason, &ingest::IngestError> = BTreeMap::new();
    for e in errors {
        first.entry(e.reason).or_insert(e);
    }
    let total: u64 = stats.errors_by_reason.values().sum();
    eprintln!("logpulse: {total} of {records} records not counted:");
    for (reason, example) in first {
        let count = stats.errors_by_reason.get(reason.as_str()).copied().unwrap_or(0);
        let mut sample: String = example.sample.chars().take(120).collect();
        if sample.len() < example.sample.len() {
            sample.push('…');
        }
        eprintln!("  {reason}: {count} (first at {}: {sample:?})", example.source);
    }
}
