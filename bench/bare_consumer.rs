//! The peer of `logpulse run` in scripts/bench-kafka.sh: a bare rdkafka consumer that
//! reads every message of a topic and does nothing else with it, so its rate is what
//! the broker can serve to one client on this machine.
//!
//! `bare_consumer BROKERS TOPIC GROUP` joins GROUP (which should be new: it starts at
//! the earliest offset), reads until every assigned partition reports its end, and
//! prints one JSON line: messages, bytes, lines (newlines + 1 per message), and the
//! seconds from start to the first message and to the last.
//!
//! Same client settings as logpulse's Kafka source where they bear on speed (the
//! bundled librdkafka, auto-commit and offset store off, a 64 MiB prefetch queue), so
//! the comparison is of what each does with the messages.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, group] = &args[..] else {
        eprintln!("usage: bare_consumer BROKERS TOPIC GROUP");
        std::process::exit(2);
    };
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "65536")
        .set("enable.partition.eof", "true")
        .create()
        .expect("creating the consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribing");

    let (mut messages, mut bytes, mut lines) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None, Duration::ZERO);
    let mut at_end = std::collections::BTreeSet::new();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let payload = message.payload().unwrap_or(&[]);
                messages += 1;
                bytes += payload.len() as u64;
                lines += 1 + memchr::memchr_iter(b'\n', payload).count() as u64;
                first.get_or_insert_with(|| started.elapsed());
                last = started.elapsed();
                at_end.remove(&message.partition());
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
                let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
                if messages > 0 && assigned > 0 && at_end.len() >= assigned {
                    break;
                }
            }
            Some(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure) => {
                eprintln!("bare_consumer: {e} (retrying)");
            }
            Some(Err(e)) => {
                eprintln!("bare_consumer: {e}");
                std::process::exit(1);
            }
        }
    }
    let first = first.unwrap_or_default();
    println!(
        "{{\"messages\":{messages},\"bytes\":{bytes},\"lines\":{lines},\"first_s\":{:.3},\"last_s\":{:.3}}}",
        first.as_secs_f64(),
        last.as_secs_f64()
    );
}
