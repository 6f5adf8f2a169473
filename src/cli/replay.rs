//! `logpulse replay -r RULES -s STREAM FILE|-`: the rules over a finite input.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::RecordBatch;
use clap::Args;
use engine::compile::Decoder;
use engine::{Engine, RecordMeta};
use ingest::ErrorReason;
use ingest::lines::{Line, LineReader};

use super::UsageError;
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
    let host = args.host.clone().unwrap_or_else(machine_hostname);
    let (reader, total_bytes, source_name): (Box<dyn Read>, Option<u64>, String) = if args.input == "-" {
        (Box::new(std::io::stdin().lock()), None, "stdin".to_string())
    } else {
        let file = File::open(&args.input).map_err(|e| UsageError(format!("cannot open {}: {e}", args.input)))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len, args.input.clone())
    };

    let mut run = Run {
        engine: Engine::new(Arc::clone(&set)),
        batches: Vec::new(),
        progress: Progress::new(total_bytes),
        records: 0,
        now: now_ms(),
    };
    let stream = &set.streams[stream_id];
    let bytes_read: u64;

    if let Decoder::Qalarm = stream.decoder {
        let mut bytes = Vec::new();
        let mut reader = reader;
        reader.read_to_end(&mut bytes).with_context(|| format!("reading {source_name}"))?;
        bytes_read = bytes.len() as u64;
        for (offset, result) in ingest::qalarm::StreamDecoder::new(&bytes) {
            let now = run.next_record();
            match result {
                Ok(event) => {
                    let meta = RecordMeta { lane: 0, default_host: &host, default_time_ms: now, now_ms: now };
                    run.engine.process(stream_id, &event, &meta, || format!("{source_name}@{offset}"));
                }
                Err(e) => {
                    let end = (offset + ingest::error::SAMPLE_BYTES).min(bytes.len());
                    let source = format!("{source_name}@{offset}");
                    run.engine.record_error(stream_id, source, e.reason, &bytes[offset..end], now);
                }
            }
            run.after_record(offset as u64);
        }
    } else {
        let mut lines = LineReader::new(reader, stream.max_line_bytes);
        while let Some(line) = lines.next_line().with_context(|| format!("reading {source_name}"))? {
            let now = run.next_record();
            match line {
                Line::Text { number, text } => match stream.decode_line(text) {
                    Ok(event) => {
                        let meta = RecordMeta { lane: 0, default_host: &host, default_time_ms: now, now_ms: now };
                        run.engine.process(stream_id, &event, &meta, || format!("{source_name}:{number}"));
                    }
                    Err(e) => {
                        let source = format!("{source_name}:{number}");
                        run.engine.record_error(stream_id, source, e.reason, text.as_bytes(), now)
                    }
                },
                Line::Bad { number, reason, sample } => {
                    run.engine.record_error(stream_id, format!("{source_name}:{number}"), reason, sample.as_bytes(), now)
                }
            }
            run.after_record(lines.bytes_read());
        }
        bytes_read = lines.bytes_read();
    }
    let Run { mut engine, mut batches, mut progress, records, .. } = run;
    engine.finish();
    batches.extend(engine.take_closed());
    progress.finish(bytes_read, records);

    let sorted = crate::output::sort_aggregates(&batches)?;
    let stdout = std::io::stdout().lock();
    crate::output::write_aggregates_csv(&sorted, BufWriter::with_capacity(1 << 16, stdout))?;
    summarize_errors(&mut engine, records);
    Ok(ExitCode::SUCCESS)
}

/// The replay's per-record cadence: one clock reading per [`CLOCK_EVERY`]
/// records, and closed windows collected every [`ADVANCE_EVERY`].
struct Run {
    engine: Engine,
    /// Closed windows taken from the engine so far.
    batches: Vec<RecordBatch>,
    progress: Progress,
    /// Records seen, good and bad.
    records: u64,
    /// The read time given to records without their own time.
    now: i64,
}

impl Run {
    /// Counts a record and returns the read time to give it.
    fn next_record(&mut self) -> i64 {
        if self.records.is_multiple_of(CLOCK_EVERY) {
            self.now = now_ms();
        }
        self.records += 1;
        self.now
    }

    /// Closes the windows the watermark passed, now and then; `position` is in input bytes.
    fn after_record(&mut self, position: u64) {
        if self.records.is_multiple_of(ADVANCE_EVERY) {
            self.engine.advance(None);
            self.batches.extend(self.engine.take_closed());
            self.progress.update(position, self.records);
        }
    }
}

/// One line per reason with a count and the first example, on stderr.
fn summarize_errors(engine: &mut Engine, records: u64) {
    let errors = engine.take_errors();
    let stats = engine.stats();
    if stats.errors_by_reason.is_empty() {
        return;
    }
    let mut first: BTreeMap<ErrorReason, &ingest::IngestError> = BTreeMap::new();
    for e in &errors {
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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}
