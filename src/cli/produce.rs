//! `logpulse produce -b BROKERS -t TOPIC [--format raw|qalarm] FILE|-`: loads a file into Kafka.
//!
//! - raw: lines are sent as they are, `--lines-per-message` to a message (joined by
//!   `\n`), keyed by `--host` (default: this machine's name), which is where a worker
//!   takes the host of lines whose stream names none;
//! - qalarm: JSON lines in, one MessagePack map per message out (the SDKs' encoding),
//!   keyed by the event's `server_ip`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::atomic::Ordering;

use crate::error::UsageError;
use crate::kafka_producer::{Deliveries, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProduceFormat {
    Raw,
    Qalarm,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap brokers, `host:port[,host:port]`.
    #[arg(short = 'b', long = "brokers")]
    brokers: String,
    #[arg(short = 't', long = "topic")]
    topic: String,
    #[arg(long, value_enum, default_value = "raw")]
    format: ProduceFormat,
    /// Raw lines per message.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    lines_per_message: u32,
    /// The key of raw messages: the host the lines come from (default: this machine's name).
    #[arg(long)]
    host: Option<String>,
    /// Send every message to this partition (default: by key).
    #[arg(long)]
    partition: Option<i32>,
    /// librdkafka producer properties, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Input file, or `-` for stdin.
    input: String,
}

pub fn run(args: ProduceArgs) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn Read> = if args.input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&args.input).map_err(|e| UsageError(format!("cannot open {}: {e}", args.input)))?)
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.brokers)
        .set("linger.ms", "20")
        .set("message.timeout.ms", "60000")
        .set("compression.type", "lz4");
    for property in &args.properties {
        let (key, value) =
            property.split_once('=').ok_or_else(|| UsageError(format!("-X {property}: expected KEY=VALUE")))?;
        config.set(key, value);
    }
    let producer: BaseProducer<Deliveries> =
        config.create_with_context(Deliveries::default()).context("creating the Kafka producer")?;
    let host = args.host.clone().unwrap_or_else(crate::machine::hostname);
    let mut sender = Sender { producer: &producer, topic: &args.topic, partition: args.partition, messages: 0 };
    let started = Instant::now();
    let mut lines_read = 0u64;
    let mut bad = 0u64;
    let mut batch: Vec<u8> = Vec::new();
    let mut in_batch = 0u32;
    let mut line = Vec::new();
    let mut input = BufReader::with_capacity(1 << 20, reader);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).with_context(|| format!("reading {}", args.input))? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        lines_read += 1;
        match args.format {
            ProduceFormat::Raw => {
                if in_batch > 0 {
                    batch.push(b'\n');
                }
                batch.extend_from_slice(&line);
                in_batch += 1;
                if in_batch == args.lines_per_message {
                    sender.send(&batch, Some(&host))?;
                    batch.clear();
                    in_batch = 0;
                }
            }
            ProduceFormat::Qalarm => {
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                match ingest::qalarm::QalarmEvent::from_json_line(&text) {
                    Ok(event) => {
                        let key = (!event.server_ip.is_empty()).then_some(event.server_ip.as_str());
                        sender.send(&event.to_msgpack(), key)?;
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("logpulse: {}:{lines_read}: {e}; line skipped", args.input);
                    }
                }
            }
        }
    }
    if in_batch > 0 {
        sender.send(&batch, Some(&host))?;
    }
    producer.flush(Duration::from_secs(60)).context("delivering the last messages")?;
    let messages = sender.messages;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first =
            producer.context().first_error.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        anyhow::bail!("{failed} of {messages} messages were not delivered to {} (first error: {first})", args.topic);
    }
    eprintln!(
        "logpulse: produced {messages} messages ({lines_read} lines) to {} in {:.1}s{}",
        args.topic,
        started.elapsed().as_secs_f64(),
        if bad > 0 { format!("; {bad} lines skipped") } else { String::new() }
    );
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
